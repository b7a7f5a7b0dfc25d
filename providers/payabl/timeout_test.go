package payabl

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/caddy-payments/caddy-payments/providers"
)

// A payout whose reply does not come in time is an unknown outcome that
// must not be retried: payabl has no idempotency key (adversarial review
// of issue 10).
func TestTimeoutOnMoneyCallIsNotRetryable(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-release // payabl accepted the request and is slow to answer
	}))
	t.Cleanup(func() { close(release); srv.Close() })
	p := testProvider(t, srv.URL+"/pay/backoffice")
	req := &providers.CreatePayout{Reference: "PO-R2", Amount: 999, Currency: "EUR",
		BankAccount: &providers.BankAccount{Country: "FI", IBAN: "FI2618203060000015"},
		Customer:    &providers.Customer{BirthDate: "1990-02-08"}}
	_, err := p.CreatePayout(context.Background(), &providers.HTTPDoer{Timeout: 200 * time.Millisecond}, req)
	if e := providers.AsError(err); e.RequestSent != providers.SentUnknown || e.Retryable {
		t.Fatalf("request_sent=%q retryable=%v (%v)", e.RequestSent, e.Retryable, e)
	}
}
