package payabl

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/caddy-payments/caddy-payments/providers"
)

// A chargeback report that fails (payabl documents 504s on large report
// ranges) leaves the dispute unknown; the payment's own fetch still
// works, so credited notifications can be confirmed and the reconciler
// can read the payment (adversarial review of issue 10).
func TestChargebackReportOutageLeavesPaymentReadable(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		if r.PostForm.Get("type") == "chb" {
			w.WriteHeader(http.StatusGatewayTimeout)
			fmt.Fprint(w, "Gateway Timeout")
			return
		}
		fmt.Fprint(w, `<?xml version="1.0" encoding="ISO-8859-1"?><response><process><status>0</status></process>`+
			`<transaction><transaction_id>111</transaction_id><amount>25.00</amount><currency>EUR</currency>`+
			`<error_code>0</error_code><type>capture</type><order_id>ORD-111</order_id></transaction></response>`)
	}))
	t.Cleanup(srv.Close)
	p := testProvider(t, srv.URL)
	pay, err := p.GetPayment(context.Background(), &providers.HTTPDoer{}, "111")
	if err != nil {
		t.Fatalf("the payment is unreadable while the chargeback report is down: %v", err)
	}
	if pay.Status != providers.StatusProcessing || pay.Confirms != providers.StatusSucceeded || pay.Dispute != "" {
		t.Fatalf("%+v", pay)
	}
}
