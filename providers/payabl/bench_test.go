//go:build unix

package payabl

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/caddy-payments/caddy-payments/internal/benchcpu"
	"github.com/caddy-payments/caddy-payments/providers"
)

// Benchmarks of the provider transforms (issue 11, item 6; target: each
// ≤ 10 µs and ≤ 40 allocations per operation):
//
//	go test -run '^$' -bench . -benchtime 2000x ./providers/payabl/
//
// Everything runs in memory: the Doer below answers without a network.

// benchProvider is testProvider for benchmarks: the public sandbox
// account (secret b185, which the seed notifications are signed with).
func benchProvider(b testing.TB) *Provider {
	b.Helper()
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	b.Cleanup(cancel)
	p := &Provider{MerchantID: "gateway_test", Secret: "not-the-demo-secret", Endpoint: "https://sandbox.payabl.com/pay/backoffice"}
	if err := p.Provision(ctx); err != nil {
		b.Fatalf("Provision: %v", err)
	}
	if err := p.Validate(); err != nil {
		b.Fatalf("Validate: %v", err)
	}
	p.secret, p.secrets = "b185", []string{"b185"}
	p.now = func() time.Time { return time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC) }
	return p
}

// benchPreauthReply is the seed's payment_preauthorize response example
// (status 2000 with a percent-encoded redirect_url), as in
// TestPreauthReplySeedExample; its amount and currency are those of
// productExample.
const benchPreauthReply = "transactionid=104579097&transid=104579097&status=2000&errormessage=pending&errmsg=pending&amount=19.99&price=19.99&" +
	"currency=EUR&orderid=ORD-1001&payment_method=116&redirect_url=https%3A%2F%2Fsandbox.payabl.com%2Fpay%2F73b4" +
	"08a26b3a06968cf3234140da43b6e803e574%2Fpayment%2Fredirect_to_bank&user_id=504459"

// benchDoer answers every request with one fixed reply, in memory.
type benchDoer struct{ reply providers.Reply }

func (d *benchDoer) Do(_ context.Context, req *http.Request) (*providers.Reply, error) {
	if req.Body != nil {
		req.Body.Close()
	}
	r := d.reply
	return &r, nil
}

// BenchmarkCreateRequest is what CreatePayment does before the call: the
// payabl limits and mapping (preauthParams) and the signed, Latin-1
// form-encoded request (newRequest).
func BenchmarkCreateRequest(b *testing.B) {
	p := benchProvider(b)
	req := productExample()
	ctx := context.Background()
	build := func() *http.Request {
		params, err := p.preauthParams(req)
		if err != nil {
			b.Fatal(err)
		}
		r, err := p.newRequest(ctx, opPreauthorize, params)
		if err != nil {
			b.Fatal(err)
		}
		return r
	}
	got, err := io.ReadAll(build().Body)
	if err != nil {
		b.Fatal(err)
	}
	want, err := os.ReadFile(filepath.Join("testdata", "preauth_request.golden"))
	if err != nil {
		b.Fatal(err)
	}
	if string(got) != string(want) {
		b.Fatalf("request body = %s\nwant %s", got, want)
	}
	b.ReportAllocs()
	b.ResetTimer()
	stop := benchcpu.PerOp(b)
	for i := 0; i < b.N; i++ {
		build()
	}
	stop()
}

// BenchmarkCreateReply maps the seed's create reply to the canonical
// payment (paymentFromPreauth).
func BenchmarkCreateReply(b *testing.B) {
	p := benchProvider(b)
	req := productExample()
	body := []byte(benchPreauthReply)
	pay, err := p.paymentFromPreauth(req, body)
	if err != nil {
		b.Fatal(err)
	}
	if pay.Status != providers.StatusRequiresAction || pay.ProviderReference != "104579097" || pay.NextAction == nil {
		b.Fatalf("payment = %+v", pay)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	b.ResetTimer()
	stop := benchcpu.PerOp(b)
	for i := 0; i < b.N; i++ {
		if _, err := p.paymentFromPreauth(req, body); err != nil {
			b.Fatal(err)
		}
	}
	stop()
}

// BenchmarkCreatePayment is the whole CreatePayment (build, sign, parse)
// against an in-memory Doer answering the seed's reply.
func BenchmarkCreatePayment(b *testing.B) {
	p := benchProvider(b)
	req := productExample()
	do := &benchDoer{reply: providers.Reply{StatusCode: http.StatusOK, Body: []byte(benchPreauthReply)}}
	ctx := context.Background()
	if pay, err := p.CreatePayment(ctx, do, req); err != nil || pay.Status != providers.StatusRequiresAction {
		b.Fatalf("CreatePayment = %+v, %v", pay, err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	stop := benchcpu.PerOp(b)
	for i := 0; i < b.N; i++ {
		if _, err := p.CreatePayment(ctx, do, req); err != nil {
			b.Fatal(err)
		}
	}
	stop()
}

// BenchmarkVerifyNotification verifies and normalises the seed's
// "successful capture, additional parameters" notification (SHA-256
// security under b185, bank fields masked in ProviderEvent).
func BenchmarkVerifyNotification(b *testing.B) {
	p := benchProvider(b)
	body, err := os.ReadFile(filepath.Join("testdata", "notifications", "seed_successful_capture_additional.txt"))
	if err != nil {
		b.Fatal(err)
	}
	in := &providers.IncomingNotification{Method: http.MethodPost, Body: body}
	n, err := p.VerifyNotification(in)
	if err != nil {
		b.Fatal(err)
	}
	if n.EventType != "payment.succeeded" || n.ProviderRef != "104579097" || n.EventKey == "" {
		b.Fatalf("notification = %+v", n)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	b.ResetTimer()
	stop := benchcpu.PerOp(b)
	for i := 0; i < b.N; i++ {
		if _, err := p.VerifyNotification(in); err != nil {
			b.Fatal(err)
		}
	}
	stop()
}

// TestVerifyNotificationAllocs holds the benchmarked notification to the
// issue's target of at most 40 allocations (it was 42, with the event
// built as maps). Allocations do not depend on the machine's load.
func TestVerifyNotificationAllocs(t *testing.T) {
	p := benchProvider(t)
	body, err := os.ReadFile(filepath.Join("testdata", "notifications", "seed_successful_capture_additional.txt"))
	if err != nil {
		t.Fatal(err)
	}
	in := &providers.IncomingNotification{Method: http.MethodPost, Body: body}
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := p.VerifyNotification(in); err != nil {
			t.Fatal(err)
		}
	})
	if allocs > 40 {
		t.Fatalf("%v allocations per notification, want at most 40", allocs)
	}
}
