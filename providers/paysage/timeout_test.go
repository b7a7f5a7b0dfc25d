package paysage

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/caddy-payments/caddy-payments/providers"
)

// A payment create or refund whose reply does not come in time is an
// unknown outcome that must not be retried blindly when no idempotency
// key went with it (a retry could move the money twice); with a key,
// PaySage's RequestID makes the retry safe (adversarial review of issue 10).
func TestTimeoutOnMoneyCallIsNotRetryable(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-release }))
	t.Cleanup(func() { close(release); srv.Close() })
	p := newProvider(t, srv.URL)
	slow := &providers.HTTPDoer{Client: &http.Client{}, Timeout: 200 * time.Millisecond}

	rreq := refundRequest()
	rreq.IdempotencyKey = ""
	_, err := p.Refund(context.Background(), slow, rreq)
	if e := providers.AsError(err); e.RequestSent != providers.SentUnknown || e.Retryable {
		t.Fatalf("refund: request_sent=%q retryable=%v (%v)", e.RequestSent, e.Retryable, e)
	}
	req := seedPayment()
	req.IdempotencyKey = ""
	_, err = p.CreatePayment(context.Background(), slow, req)
	if e := providers.AsError(err); e.RequestSent != providers.SentUnknown || e.Retryable {
		t.Fatalf("create: request_sent=%q retryable=%v (%v)", e.RequestSent, e.Retryable, e)
	}
	req.IdempotencyKey = "key-1"
	_, err = p.CreatePayment(context.Background(), slow, req)
	if e := providers.AsError(err); e.RequestSent != providers.SentUnknown || !e.Retryable {
		t.Fatalf("create with a key: request_sent=%q retryable=%v (%v)", e.RequestSent, e.Retryable, e)
	}
}
