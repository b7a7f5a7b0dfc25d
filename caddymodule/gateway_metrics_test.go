package caddymodule

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/caddy-payments/caddy-payments/providers/fake"
)

// scrapeMetrics reads the admin endpoint's /metrics.
func scrapeMetrics(t *testing.T) string {
	t.Helper()
	resp, err := http.Get("http://localhost:2999/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return string(raw)
}

// metricValue sums the samples of name whose labels include every one of
// labels ("k", "v", "k", "v", …); found is false when no sample matches.
func metricValue(scrape, name string, labels ...string) (sum float64, found bool) {
	for _, line := range strings.Split(scrape, "\n") {
		rest, ok := strings.CutPrefix(line, name)
		if !ok || (rest != "" && rest[0] != '{' && rest[0] != ' ') {
			continue
		}
		sp := strings.LastIndexByte(rest, ' ')
		if sp < 0 {
			continue
		}
		set, val := rest[:sp], rest[sp+1:]
		match := true
		for i := 0; i+1 < len(labels); i += 2 {
			if !strings.Contains(set, labels[i]+`="`+labels[i+1]+`"`) {
				match = false
			}
		}
		if v, err := strconv.ParseFloat(val, 64); err == nil && match {
			sum, found = sum+v, true
		}
	}
	return sum, found
}

// TestGatewayMetrics: after a payment (created with an Idempotency-Key,
// replayed, reused with another body), a declined create, a refund, a
// forged notification, genuine ones that the shop first refuses, then
// accepts on redelivery, a repeat of one, and reconcile checks, Caddy's /metrics shows every series with the
// right labels, and nothing merchant-specific or secret.
func TestGatewayMetrics(t *testing.T) {
	fs := fake.NewServer(fakeSecret)
	fsrv := httptest.NewServer(fs)
	t.Cleanup(fsrv.Close)
	sh := newShop(t)
	loadCaddyWith(t, "\tmetrics\n", fakeSite(t, 9080, fsrv.URL, sh.srv.URL,
		fmt.Sprintf("retry_schedule 1s\nreconcile_schedule 300ms\nstorage_path %s", filepath.Join(t.TempDir(), "state.db"))))

	// A payment, with an Idempotency-Key: replayed, then reused.
	post := func(key string, body map[string]any) int {
		req, _ := http.NewRequest("POST", gwBase+"/payments", strings.NewReader(mustJSON(body)))
		req.Header.Set("Authorization", "Bearer "+testToken)
		req.Header.Set("Idempotency-Key", key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	const ref, amount = "ORD-METRICS-7731", 23457
	if code := post("idem-metrics-1", fakePayment(ref, amount)); code != 201 {
		t.Fatalf("create: %d", code)
	}
	if code := post("idem-metrics-1", fakePayment(ref, amount)); code != 201 {
		t.Fatalf("replay: %d", code)
	}
	if code := post("idem-metrics-1", fakePayment(ref+"-X", amount)); code != 409 {
		t.Fatalf("reused key: %d", code)
	}
	_, found := api(t, "GET", "/payments?provider=fake&reference="+ref, testToken, nil)
	id, _ := found["id"].(string)
	provRef, _ := found["provider_reference"].(string)
	if id == "" || provRef == "" {
		t.Fatalf("find: %v", found)
	}
	if code, _ := api(t, "POST", "/payments", testToken, fakePayment("ORD-METRICS-DECLINE", fake.AmountDecline)); code/100 != 4 {
		t.Fatalf("decline: %d", code)
	}

	// The shop refuses the events at first: queued, then redelivered.
	sh.status.Store(503)
	sent, err := fs.Checkout(context.Background(), provRef, true)
	if err != nil || len(sent) == 0 {
		t.Fatalf("checkout: %v %d", err, len(sent))
	}
	if age, ok := metricValue(scrapeMetrics(t), "caddy_payments_outbox_oldest_age_seconds"); !ok || age <= 0 {
		t.Errorf("oldest outbox age while events wait: %v %v, want > 0", age, ok)
	}
	sh.status.Store(200)
	waitFor(t, "redelivery accepted (deliveries_total accepted, attempt 2-3)", func() bool {
		v, _ := metricValue(scrapeMetrics(t), "caddy_payments_deliveries_total", "result", "accepted", "attempt", "2-3")
		return v >= 1
	})

	// A repeat of a delivered notification, and a forged one.
	last := sent[len(sent)-1]
	dup, _ := http.NewRequest("POST", gwBase+"/notifications/fake", bytes.NewReader(last.Body))
	dup.Header = last.Header.Clone()
	if resp, err := http.DefaultClient.Do(dup); err != nil || resp.StatusCode != 200 {
		t.Fatalf("repeated notification: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
	req, _ := http.NewRequest("POST", gwBase+"/notifications/fake", bytes.NewReader(sent[0].Body))
	req.Header.Set(fake.SignatureHeader, strings.Repeat("0", 64))
	req.Header.Set("Content-Type", "application/json")
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 401 {
		t.Fatalf("forged notification: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
	// A refund and a read.
	if code, out := api(t, "POST", "/payments/"+id+"/refunds", testToken, map[string]any{"amount": 1000}); code != 201 {
		t.Fatalf("refund: %d %v", code, out)
	}
	if code, _ := api(t, "GET", "/payments/"+id, testToken, nil); code != 200 {
		t.Fatalf("get: %d", code)
	}
	// A payment left pending is re-fetched by the reconciler.
	if code, _ := api(t, "POST", "/payments", testToken, fakePayment("ORD-METRICS-PENDING", 700)); code != 201 {
		t.Fatalf("create: %d", code)
	}
	waitFor(t, "a reconcile fetch of the pending payment counted", func() bool {
		v, _ := metricValue(scrapeMetrics(t), "caddy_payments_reconcile_checks_total", "provider", "fake", "result", "unchanged")
		return v >= 1
	})
	waitFor(t, "outbox empty", func() bool {
		v, ok := metricValue(scrapeMetrics(t), "caddy_payments_outbox_depth")
		return ok && v == 0
	})

	scrape := scrapeMetrics(t)
	want := []struct {
		name   string
		labels []string
	}{
		{"caddy_payments_provider_calls_total", []string{"provider", "fake", "operation", "create_payment", "outcome", "ok", "request_sent", "yes"}},
		{"caddy_payments_provider_calls_total", []string{"provider", "fake", "operation", "create_payment", "outcome", "rejected", "request_sent", "yes"}},
		{"caddy_payments_provider_calls_total", []string{"provider", "fake", "operation", "refund", "outcome", "ok"}},
		{"caddy_payments_provider_calls_total", []string{"provider", "fake", "operation", "get_payment", "outcome", "ok"}},
		{"caddy_payments_provider_calls_total", []string{"provider", "fake", "operation", "find_payment", "outcome", "ok"}},
		{"caddy_payments_provider_call_duration_seconds_count", []string{"provider", "fake", "operation", "create_payment", "outcome", "ok", "request_sent", "yes"}},
		{"caddy_payments_provider_call_duration_seconds_bucket", []string{"provider", "fake", "operation", "refund", "le", "+Inf"}},
		{"caddy_payments_api_requests_total", []string{"route", "/payments", "method", "POST", "status", "201"}},
		{"caddy_payments_api_requests_total", []string{"route", "/payments", "method", "POST", "status", "409"}},
		{"caddy_payments_api_requests_total", []string{"route", "/payments/{id}", "method", "GET", "status", "200"}},
		{"caddy_payments_api_requests_total", []string{"route", "/payments/{id}/refunds", "method", "POST", "status", "201"}},
		{"caddy_payments_api_requests_total", []string{"route", "/notifications/{name}", "method", "POST", "status", "401"}},
		{"caddy_payments_notifications_total", []string{"provider", "fake", "result", "verified"}},
		{"caddy_payments_notifications_total", []string{"provider", "fake", "result", "rejected"}},
		{"caddy_payments_notifications_total", []string{"provider", "fake", "result", "duplicate"}},
		{"caddy_payments_deliveries_total", []string{"result", "rejected", "attempt", "1"}},
		{"caddy_payments_deliveries_total", []string{"result", "accepted", "attempt", "2-3"}},
		{"caddy_payments_idempotency_total", []string{"route", "/payments", "result", "replayed"}},
		{"caddy_payments_idempotency_total", []string{"route", "/payments", "result", "key_reused"}},
		{"caddy_payments_outbox_depth", nil},
		{"caddy_payments_outbox_oldest_age_seconds", nil},
		{"caddy_payments_reconcile_backlog", nil}, // counted in store/backlog_test.go; 0 here unless a check waits
	}
	for _, w := range want {
		if v, ok := metricValue(scrape, w.name, w.labels...); !ok || v <= 0 && !strings.HasPrefix(w.name, "caddy_payments_outbox") && w.name != "caddy_payments_reconcile_backlog" {
			t.Errorf("no %s%v sample (or 0) in /metrics", w.name, w.labels)
		}
	}
	if v, _ := metricValue(scrape, "caddy_payments_idempotency_total", "result", "replayed"); v != 1 {
		t.Errorf("replays counted %v times, want 1", v)
	}

	// Nothing about the merchant, the money, the objects or the secrets.
	var ours strings.Builder
	for _, line := range strings.Split(scrape, "\n") {
		if strings.HasPrefix(line, "caddy_payments_") {
			ours.WriteString(line + "\n")
		}
	}
	for _, s := range []string{fakeSecret, testToken, strings.TrimPrefix(testWhsec, "whsec_"), ref, id, provRef, "jane@example.com"} {
		if strings.Contains(scrape, s) {
			t.Errorf("/metrics contains %q", s)
		}
	}
	for _, s := range []string{strconv.Itoa(amount), "cust-1", "pay_", "evt_"} {
		if strings.Contains(ours.String(), s) {
			t.Errorf("a caddy_payments_ series contains %q", s)
		}
	}
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}
