package caddymodule

import (
	"context"
	"fmt"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"go.opentelemetry.io/contrib/exporters/autoexport"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/caddy-payments/caddy-payments/providers/fake"
)

// caddyTraces receives the spans of Caddy's `tracing` directive: an
// OTEL_TRACES_EXPORTER of its own, registered once per test binary.
var (
	caddyTraces     = tracetest.NewInMemoryExporter()
	caddyTracesOnce sync.Once
)

// TestGatewaySpansJoinCaddysTrace: with Caddy's `tracing` directive, a
// create's provider call and a notification's delivery to the shop are
// child spans of Caddy's request span, with their attributes, and no
// secret, reference, amount or URL in any of the gateway's spans.
func TestGatewaySpansJoinCaddysTrace(t *testing.T) {
	caddyTracesOnce.Do(func() {
		autoexport.RegisterSpanExporter("caddy-payments-test", func(context.Context) (sdktrace.SpanExporter, error) {
			return caddyTraces, nil
		})
	})
	caddyTraces.Reset()
	t.Setenv("OTEL_TRACES_EXPORTER", "caddy-payments-test")
	t.Setenv("OTEL_BSP_SCHEDULE_DELAY", "50")

	fs := fake.NewServer(fakeSecret)
	fsrv := httptest.NewServer(fs)
	t.Cleanup(fsrv.Close)
	sh := newShop(t)
	site := fakeSite(t, 9080, fsrv.URL, sh.srv.URL, fmt.Sprintf("storage_path %s", filepath.Join(t.TempDir(), "state.db")))
	site = strings.Replace(site, "\tpayments {", "\ttracing {\n\t\tspan gateway\n\t}\n\tpayments {", 1)
	loadCaddy(t, site)

	const ref, amount = "ORD-TRACE-5521", 31337
	code, pay := api(t, "POST", "/payments", testToken, fakePayment(ref, amount))
	if code != 201 {
		t.Fatalf("create: %d %v", code, pay)
	}
	if sent, err := fs.Checkout(context.Background(), pay["provider_reference"].(string), true); err != nil || len(sent) == 0 || sent[0].StatusCode != 200 {
		t.Fatalf("checkout: %v %v", sent, err)
	}

	var create, deliver sdktrace.ReadOnlySpan
	byID := map[string]sdktrace.ReadOnlySpan{}
	waitFor(t, "the create's and the delivery's spans", func() bool {
		for _, s := range caddyTraces.GetSpans().Snapshots() {
			byID[s.SpanContext().SpanID().String()] = s
			switch s.Name() {
			case "payments provider create_payment":
				create = s
			case "payments deliver event":
				deliver = s
			}
		}
		return create != nil && deliver != nil && byID[create.Parent().SpanID().String()] != nil && byID[deliver.Parent().SpanID().String()] != nil
	})
	for _, s := range []sdktrace.ReadOnlySpan{create, deliver} {
		p := byID[s.Parent().SpanID().String()]
		if p.Name() != "gateway" || p.SpanContext().TraceID() != s.SpanContext().TraceID() {
			t.Errorf("span %s: parent %q, want Caddy's request span \"gateway\" of the same trace", s.Name(), p.Name())
		}
	}
	attrs := func(s sdktrace.ReadOnlySpan) map[string]string {
		m := map[string]string{}
		for _, a := range s.Attributes() {
			m[string(a.Key)] = a.Value.Emit()
		}
		return m
	}
	if a := attrs(create); a["payments.provider"] != "fake" || a["payments.operation"] != "create_payment" ||
		a["http.response.status_code"] == "" || a["payments.request_sent"] != "yes" || a["payments.outcome"] != "ok" {
		t.Errorf("create span attributes: %v", a)
	}
	if a := attrs(deliver); a["payments.provider"] != "fake" || a["payments.attempt"] != "1" ||
		a["http.response.status_code"] != "200" || a["payments.delivery_result"] != "accepted" {
		t.Errorf("delivery span attributes: %v", a)
	}
	for _, s := range caddyTraces.GetSpans().Snapshots() {
		if !strings.HasPrefix(s.Name(), "payments ") {
			continue // Caddy's own
		}
		for k, v := range attrs(s) {
			for _, bad := range []string{fakeSecret, testToken, strings.TrimPrefix(testWhsec, "whsec_"), ref, fmt.Sprint(amount), pay["id"].(string), fsrv.URL, "/payments", "?"} {
				if strings.Contains(v, bad) {
					t.Errorf("span %s attribute %s = %q carries %q", s.Name(), k, v, bad)
				}
			}
		}
	}
}
