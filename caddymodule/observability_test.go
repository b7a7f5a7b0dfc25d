package caddymodule

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/caddy-payments/caddy-payments/providers"
	"github.com/caddy-payments/caddy-payments/store"
)

// metricsHandler is a Handler with what registerMetrics and the counting
// need, on a temporary bolt store.
func metricsHandler(t *testing.T, ctx caddy.Context) *Handler {
	t.Helper()
	db, err := store.OpenBolt(filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return &Handler{store: db, ctx: ctx, now: time.Now, outboxDepth: new(atomic.Int64)}
}

// gatheredNames registers a gateway's metrics on a fresh config context,
// touches every collector, and returns the metric names the registry
// gathers.
func gatheredNames(t *testing.T) []string {
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	t.Cleanup(cancel)
	h := metricsHandler(t, ctx)
	if err := h.registerMetrics(ctx); err != nil {
		t.Fatal(err)
	}
	// A second gateway in the same config shares the collectors.
	h2 := metricsHandler(t, ctx)
	if err := h2.registerMetrics(ctx); err != nil {
		t.Fatalf("second registration in one config: %v", err)
	}
	if h2.metrics.deliveries != h.metrics.deliveries || h2.metrics.providerDuration != h.metrics.providerDuration {
		t.Error("the second gateway of a config got collectors of its own, which are never scraped")
	}
	m := h2.metrics
	m.countProviderCall("a", providers.OpGetPayment, "ok", providers.SentYes, time.Millisecond)
	m.countAPI("/payments", "GET", 200)
	h2.countNotification("a", "verified")
	m.countDelivery(forwardResult{Status: 200, Answered: true}, 1)
	m.countReconcile("a", "changed")
	m.countIdempotency("/payments", "replayed")
	m.countRouteAttempt("a", attemptCreated)
	m.setBreakerState("a", healthOK)
	mfs, err := ctx.GetMetricsRegistry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, mf := range mfs {
		if strings.HasPrefix(mf.GetName(), "caddy_payments_") {
			names = append(names, mf.GetName())
		}
	}
	return names
}

// TestMetricNamesAreTheRegisteredOnes: metricNames (the list
// docs/operations.md and the dashboard test rely on) is exactly what the gateway registers.
func TestMetricNamesAreTheRegisteredOnes(t *testing.T) {
	got := gatheredNames(t)
	want := slices.Clone(metricNames)
	sort.Strings(got)
	sort.Strings(want)
	if !slices.Equal(got, want) {
		t.Fatalf("registered %v\nmetricNames %v", got, want)
	}
}

// TestGrafanaDashboard: docs/grafana-dashboard.json parses, has panels,
// and every metric its queries (panels and variables) use is one the
// gateway registers, so the dashboard cannot drift from the code.
func TestGrafanaDashboard(t *testing.T) {
	raw, err := os.ReadFile("../docs/grafana-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Title  string           `json:"title"`
		Panels []map[string]any `json:"panels"`
	}
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatalf("dashboard JSON: %v", err)
	}
	if dash.Title == "" || len(dash.Panels) < 4 {
		t.Fatalf("dashboard has title %q and %d panels", dash.Title, len(dash.Panels))
	}
	registered := map[string]bool{}
	for _, n := range gatheredNames(t) {
		registered[n] = true
	}
	name := regexp.MustCompile(`[a-zA-Z_:][a-zA-Z0-9_:]*`)
	used := map[string]bool{}
	var exprs int
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, x := range v {
				if s, ok := x.(string); ok && (k == "expr" || k == "query") {
					exprs++
					for _, n := range name.FindAllString(s, -1) {
						if strings.HasPrefix(n, "caddy_") {
							used[n] = true
						}
					}
				}
				walk(x)
			}
		case []any:
			for _, x := range v {
				walk(x)
			}
		}
	}
	var all any
	json.Unmarshal(raw, &all)
	walk(all) // panels and the template variables' queries
	if exprs == 0 {
		t.Fatal("no queries (expr) in the dashboard")
	}
	for n := range used {
		base := n
		for _, suffix := range []string{"_bucket", "_count", "_sum"} {
			if b, ok := strings.CutSuffix(n, suffix); ok && registered[b] {
				base = b
			}
		}
		if !registered[base] {
			t.Errorf("the dashboard queries %s, which the gateway does not register", n)
		}
	}
	for _, n := range []string{"caddy_payments_provider_call_duration_seconds_bucket", "caddy_payments_outbox_depth",
		"caddy_payments_outbox_oldest_age_seconds", "caddy_payments_notifications_total", "caddy_payments_api_requests_total"} {
		if !used[n] {
			t.Errorf("the dashboard shows nothing of %s", n)
		}
	}
}

// TestSpans: with a trace in the context (Caddy's `tracing`), a provider
// call made through the host's doer path and an event's delivery to the
// shop are child spans of it, with the account, operation, status and
// request_sent, and none of the request's secrets; without a trace they
// cost nothing and record nothing. The metrics count them too.
func TestSpans(t *testing.T) {
	const secretQuery, secretHeader, secretBody = "sk_query_5ecret", "Bearer sk_header_5ecret", "sk_body_5ecret"
	provider := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		if r.URL.Path == "/down" {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte(`{"status":"paid"}`))
	}))
	defer provider.Close()

	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	defer tp.Shutdown(context.Background())
	ctx, parent := tp.Tracer("caddy").Start(context.Background(), "caddy request")

	key, _ := decodeWhsec(testWhsec)
	pub, _ := url.Parse("http://localhost:9080")
	h := &Handler{
		doer:    &providers.HTTPDoer{Client: provider.Client(), Timeout: 2 * time.Second},
		metrics: newGatewayMetrics(),
		now:     time.Now, fwdKeys: [][]byte{key}, publicURL: pub,
	}
	send := func(ctx context.Context, op, path string) (*providers.Reply, error) {
		req, _ := http.NewRequest(http.MethodPost, provider.URL+path+"?api_key="+secretQuery, strings.NewReader(secretBody))
		req.Header.Set("Authorization", secretHeader)
		return h.call("acct_a", op).Do(ctx, req)
	}
	if reply, err := send(ctx, providers.OpGetPayment, "/tx"); err != nil || reply.StatusCode != 200 {
		t.Fatalf("provider call: %v %v", reply, err)
	}
	if _, err := send(ctx, providers.OpRefund, "/down"); err != nil {
		t.Fatal(err)
	}
	// Nothing listens on a closed server: nothing was sent.
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	req, _ := http.NewRequest(http.MethodGet, closed.URL+"/x", nil)
	if _, err := h.call("acct_a", providers.OpCreatePayment).Do(ctx, req); err == nil {
		t.Fatal("a call to a closed port worked")
	}
	// A call without a trace records no span.
	if _, err := send(context.Background(), providers.OpGetPayment, "/tx"); err != nil {
		t.Fatal(err)
	}

	shopStatus := http.StatusServiceUnavailable
	next := caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		w.WriteHeader(shopStatus)
		return nil
	})
	via := httptest.NewRequest(http.MethodPost, "/notifications/acct_a", nil).WithContext(ctx)
	if res := h.deliver(via, next, "acct_a", "evt_0123", "payment.succeeded", 1, []byte(`{"id":"evt_0123"}`), nil, time.Second); res.Accepted() {
		t.Fatal("a 503 was taken as accepted")
	}
	shopStatus = http.StatusNoContent
	if res := h.deliver(via, next, "acct_a", "evt_0123", "payment.succeeded", 4, []byte(`{"id":"evt_0123"}`), nil, time.Second); !res.Accepted() {
		t.Fatal("a 204 was not taken as accepted")
	}
	parent.End()

	spans := rec.Ended()
	byName := map[string][]sdktrace.ReadOnlySpan{}
	for _, s := range spans {
		byName[s.Name()] = append(byName[s.Name()], s)
		if s.Name() == "caddy request" {
			continue
		}
		if s.Parent().SpanID() != parent.SpanContext().SpanID() || s.SpanContext().TraceID() != parent.SpanContext().TraceID() {
			t.Errorf("span %s is not a child of the request's span", s.Name())
		}
		for _, a := range s.Attributes() {
			v := a.Value.Emit()
			for _, secret := range []string{secretQuery, secretHeader, "sk_header", secretBody, provider.URL, "?"} {
				if strings.Contains(v, secret) {
					t.Errorf("span %s attribute %s = %q carries %q", s.Name(), a.Key, v, secret)
				}
			}
		}
	}
	attrs := func(s sdktrace.ReadOnlySpan) map[attribute.Key]string {
		m := map[attribute.Key]string{}
		for _, a := range s.Attributes() {
			m[a.Key] = a.Value.Emit()
		}
		return m
	}
	type want map[attribute.Key]string
	check := func(name string, i int, w want) {
		t.Helper()
		if len(byName[name]) <= i {
			t.Errorf("no span %s #%d; spans: %v", name, i+1, byName)
			return
		}
		got := attrs(byName[name][i])
		for k, v := range w {
			if got[k] != v {
				t.Errorf("span %s #%d: %s = %q, want %q (all: %v)", name, i+1, k, got[k], v, got)
			}
		}
	}
	if n := len(byName["payments provider get_payment"]); n != 1 {
		t.Errorf("%d get_payment spans, want 1 (the untraced call records none)", n)
	}
	check("payments provider get_payment", 0, want{"payments.provider": "acct_a", "payments.operation": "get_payment",
		"http.response.status_code": "200", "payments.request_sent": "yes", "payments.outcome": "ok"})
	check("payments provider refund", 0, want{"payments.operation": "refund", "http.response.status_code": "503",
		"payments.request_sent": "yes", "payments.outcome": "error"})
	check("payments provider create_payment", 0, want{"payments.operation": "create_payment", "payments.request_sent": "no", "payments.outcome": "error"})
	check("payments deliver event", 0, want{"payments.provider": "acct_a", "payments.attempt": "1",
		"http.response.status_code": "503", "payments.delivery_result": "rejected"})
	check("payments deliver event", 1, want{"payments.attempt": "4", "http.response.status_code": "204", "payments.delivery_result": "accepted"})

	// The same calls in the metrics.
	reg := newTestRegistry(t, h.metrics)
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"caddy_payments_provider_calls_total", map[string]string{"provider": "acct_a", "operation": "get_payment", "outcome": "ok", "request_sent": "yes"}, 2},
		{"caddy_payments_provider_calls_total", map[string]string{"operation": "refund", "outcome": "error", "request_sent": "yes"}, 1},
		{"caddy_payments_provider_calls_total", map[string]string{"operation": "create_payment", "outcome": "error", "request_sent": "no"}, 1},
		{"caddy_payments_deliveries_total", map[string]string{"result": "rejected", "attempt": "1"}, 1},
		{"caddy_payments_deliveries_total", map[string]string{"result": "accepted", "attempt": "4+"}, 1},
	} {
		if got := reg(c.name, c.labels); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
}

// newTestRegistry registers m's counters on a registry of their own and
// returns a reader of a counter's value.
func newTestRegistry(t *testing.T, m *gatewayMetrics) func(name string, labels map[string]string) float64 {
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	t.Cleanup(cancel)
	reg := ctx.GetMetricsRegistry()
	if err := errors.Join(reg.Register(m.providerCalls), reg.Register(m.deliveries)); err != nil {
		t.Fatal(err)
	}
	return func(name string, labels map[string]string) float64 {
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		sum := 0.0
		for _, mf := range mfs {
			if mf.GetName() != name {
				continue
			}
		metric:
			for _, mt := range mf.GetMetric() {
				have := map[string]string{}
				for _, lp := range mt.GetLabel() {
					have[lp.GetName()] = lp.GetValue()
				}
				for k, v := range labels {
					if have[k] != v {
						continue metric
					}
				}
				sum += mt.GetCounter().GetValue()
			}
		}
		return sum
	}
}
