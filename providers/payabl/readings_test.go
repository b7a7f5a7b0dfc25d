package payabl

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/caddy-payments/caddy-payments/providers"
)

// sandboxFlow is a provider on a sandbox with the given reading, a
// notification collector, and helpers to create and approve a payment.
type sandboxFlow struct {
	p     *Provider
	sb    *httptest.Server
	notes *collector
	hook  *httptest.Server
}

func newSandboxFlow(t *testing.T, accepted string, delay time.Duration) *sandboxFlow {
	t.Helper()
	f := &sandboxFlow{sb: newSandboxWith(t, accepted, delay)}
	f.notes = &collector{notes: map[string][]*providers.IncomingNotification{}, got: make(chan struct{}, 1)}
	f.hook = httptest.NewServer(f.notes)
	t.Cleanup(f.hook.Close)
	f.p = &Provider{MerchantID: "conformance_test", Secret: cfSecret, Endpoint: f.sb.URL + "/sandbox/payabl/pay/backoffice"}
	if err := f.p.Provision(caddyCtx(t)); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *sandboxFlow) createApprove(t *testing.T, ref string, amount int64) string {
	t.Helper()
	req := productExample()
	req.Reference, req.Amount, req.NotificationURL = ref, amount, f.hook.URL+"/notifications/payabl"
	pay, err := f.p.CreatePayment(context.Background(), &providers.HTTPDoer{}, req)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post(f.sb.URL+"/sandbox/payabl/_sandbox/payments/"+pay.ProviderReference+"/approve", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return pay.ProviderReference
}

// Issue 10, item 7, under both readings of tx_diagnose between accepted and
// credited: a fetched 0 is processing (Confirms succeeded), never
// succeeded; 2000 is requires_action; after credited both read processing
// confirming succeeded, and only the verified credited notification says
// payment.succeeded. send_notification then re-sends that notification,
// signed, as a new signed tuple.
func TestReadingsAgainstSandbox(t *testing.T) {
	for _, c := range []struct {
		reading  string
		accepted providers.Status
		confirms providers.Status
	}{
		{"0", providers.StatusProcessing, providers.StatusSucceeded},
		{"2000", providers.StatusRequiresAction, ""},
	} {
		t.Run("diagnose_accepted_"+c.reading, func(t *testing.T) {
			f := newSandboxFlow(t, c.reading, 2*time.Second)
			id := f.createApprove(t, "RD-"+c.reading, 1999)
			first := f.notes.wait(t, id, func(l []*providers.IncomingNotification) bool { return len(l) >= 1 })
			pay, err := f.p.GetPayment(context.Background(), &providers.HTTPDoer{}, id)
			if err != nil {
				t.Fatal(err)
			}
			f.notes.mu.Lock()
			stillAccepted := len(f.notes.notes[id]) == 1
			f.notes.mu.Unlock()
			if stillAccepted && (pay.Status != c.accepted || pay.Confirms != c.confirms || pay.Dispute != "") {
				t.Fatalf("accepted, not credited: %+v", pay)
			}
			n1, err := f.p.VerifyNotification(first[0])
			if err != nil || n1.EventType != "payment.processing" {
				t.Fatalf("first notification: %+v %v", n1, err)
			}

			all := f.notes.wait(t, id, func(l []*providers.IncomingNotification) bool { return len(l) >= 2 })
			pay, err = f.p.GetPayment(context.Background(), &providers.HTTPDoer{}, id)
			if err != nil {
				t.Fatal(err)
			}
			if pay.Status != providers.StatusProcessing || pay.Confirms != providers.StatusSucceeded || pay.Amount != 1999 || pay.Currency != "EUR" {
				t.Fatalf("credited: %+v", pay)
			}
			n2, err := f.p.VerifyNotification(all[1])
			if err != nil || n2.EventType != "payment.succeeded" || n2.Trust.Status != providers.Unsigned {
				t.Fatalf("credited notification: %+v %v", n2, err)
			}

			if err := f.p.ResendNotification(context.Background(), &providers.HTTPDoer{}, id); err != nil {
				t.Fatal(err)
			}
			again := f.notes.wait(t, id, func(l []*providers.IncomingNotification) bool { return len(l) >= 3 })
			n3, err := f.p.VerifyNotification(again[2])
			if err != nil || n3.EventType != "payment.succeeded" || n3.EventKey == n2.EventKey || eventOf(t, n3.ProviderEvent)["unsigned"].(map[string]any)["payment_state"] != "credited" {
				t.Fatalf("resent notification: %+v %v", n3, err)
			}
		})
	}
}

// A chargeback (sandbox magic 15.15): the chb notification claims
// payment.disputed; GetPayment establishes it from the chargeback report.
func TestChargebackAgainstSandbox(t *testing.T) {
	f := newSandboxFlow(t, "", 0)
	id := f.createApprove(t, "CHB-1", 1515)
	all := f.notes.wait(t, id, func(l []*providers.IncomingNotification) bool { return len(l) >= 3 })
	n, err := f.p.VerifyNotification(all[2])
	if err != nil || n.EventType != "payment.disputed" || n.ProviderRef != id {
		t.Fatalf("chb notification: %+v %v", n, err)
	}
	pay, err := f.p.GetPayment(context.Background(), &providers.HTTPDoer{}, id)
	if err != nil {
		t.Fatal(err)
	}
	if pay.Dispute == "" || pay.Dispute != "chb_"+id+"_"+time.Now().UTC().Format("20060102") {
		t.Fatalf("dispute = %q", pay.Dispute)
	}
	// An ordinary payment has none.
	id2 := f.createApprove(t, "CHB-2", 1999)
	f.notes.wait(t, id2, func(l []*providers.IncomingNotification) bool { return len(l) >= 2 })
	if pay, err := f.p.GetPayment(context.Background(), &providers.HTTPDoer{}, id2); err != nil || pay.Dispute != "" {
		t.Fatalf("no chargeback: %+v %v", pay, err)
	}
}
