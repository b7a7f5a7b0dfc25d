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
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddy-payments/caddy-payments/providers/fake"
)

const (
	gwBase      = "http://localhost:9080"
	testToken   = "test-token-0123456789abcdef"
	testWhsec   = specSecret
	fakeSecret  = "fake-provider-secret-42"
	testTimeout = 2 * time.Second
)

// fakeCreates counts create calls that reached the fake provider.
var fakeCreates atomic.Int32

// shop is a stand-in for the merchant's shop behind the gateway. It
// records what reaches it and verifies forwarded events with an
// independent Standard Webhooks verifier.
type shop struct {
	srv    *httptest.Server
	status atomic.Int32
	delay  atomic.Int64 // nanoseconds the shop takes to answer an event
	mu     sync.Mutex
	events []shopEvent
	other  []*http.Request
}

type shopEvent struct {
	Header   http.Header
	Body     []byte
	Verified error
	Path     string
	Status   int // what the shop answered
}

func newShop(t *testing.T) *shop {
	s := &shop{}
	s.status.Store(200)
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if r.Header.Get("webhook-id") != "" {
			if d := time.Duration(s.delay.Load()); d > 0 {
				select {
				case <-time.After(d):
				case <-r.Context().Done():
					return // the gateway gave up; the event is not counted
				}
			}
			status := int(s.status.Load())
			s.mu.Lock()
			s.events = append(s.events, shopEvent{Header: r.Header.Clone(), Body: body, Path: r.URL.Path, Status: status,
				Verified: verifyStandardWebhook(testWhsec, r.Header, body, time.Now())})
			s.mu.Unlock()
			w.WriteHeader(status)
			return
		}
		s.mu.Lock()
		s.other = append(s.other, r.Clone(context.Background()))
		s.mu.Unlock()
		w.Header().Set("X-Shop", "yes")
		fmt.Fprintf(w, "shop page %s", r.URL.Path)
	}))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *shop) Events() []shopEvent {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]shopEvent(nil), s.events...)
}

// fakeSite is the Caddyfile site of a gateway on port with the fake
// provider at endpoint, in front of the shop at shopURL; options are more
// payments options, one per line. It sets the environment the site's
// {env.*} placeholders read.
func fakeSite(t *testing.T, port int, endpoint, shopURL, options string) string {
	t.Setenv("FAKE_PAY_SECRET", fakeSecret)
	t.Setenv("PAYMENTS_TEST_TOKEN", testToken)
	t.Setenv("PAYMENTS_TEST_WHSEC", testWhsec)
	var opts strings.Builder
	depth := 2
	for _, line := range strings.Split(options, "\n") {
		if strings.HasPrefix(line, "}") {
			depth--
		}
		opts.WriteString(strings.Repeat("\t", depth) + line + "\n")
		if strings.HasSuffix(line, "{") {
			depth++
		}
	}
	return fmt.Sprintf(`
http://localhost:%d {
	payments {
		provider fake {
			endpoint %s
			secret {env.FAKE_PAY_SECRET}
		}
		api_token {env.PAYMENTS_TEST_TOKEN}
		forward_secret {env.PAYMENTS_TEST_WHSEC}
		public_url http://localhost:9080
%s	}
	reverse_proxy %s
}
`, port, endpoint, opts.String(), shopURL)
}

// fakeGateway starts Caddy in-process with the gateway in front of a shop,
// using the test-only fake provider.
func fakeGateway(t *testing.T) (*fake.Server, *shop) {
	fs := fake.NewServer(fakeSecret)
	fs.SlowDelay = 4 * time.Second
	fsrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && r.URL.Path == "/payments" {
			fakeCreates.Add(1)
		}
		fs.ServeHTTP(w, r)
	}))
	t.Cleanup(fsrv.Close)
	sh := newShop(t)
	loadCaddy(t, fakeSite(t, 9080, fsrv.URL, sh.srv.URL, fmt.Sprintf("max_body 8KiB\ntimeout 2s\nretry_schedule 300ms 300ms\nstorage_path %s", filepath.Join(t.TempDir(), "state.db"))))
	return fs, sh
}

// api calls the gateway's canonical API.
func api(t *testing.T, method, path, token string, body any) (int, map[string]any) {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		buf, _ := json.Marshal(b)
		rd = bytes.NewReader(buf)
	}
	req, _ := http.NewRequest(method, gwBase+path, rd)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("%s %s: answer is not JSON (%d): %s", method, path, resp.StatusCode, raw)
	}
	return resp.StatusCode, out
}

func errField(m map[string]any, k string) any {
	e, _ := m["error"].(map[string]any)
	return e[k]
}

func fakePayment(ref string, amount int64) map[string]any {
	return map[string]any{
		"reference": ref, "amount": amount, "currency": "EUR", "description": "Order",
		"customer":   map[string]any{"id": "cust-1", "email": "jane@example.com", "country": "SE"},
		"return_url": "https://shop.example/return", "success_url": "https://shop.example/ok", "failure_url": "https://shop.example/failed",
	}
}

func TestGatewayWithFakeProvider(t *testing.T) {
	fs, sh := fakeGateway(t)

	t.Run("create and get", func(t *testing.T) {
		code, pay := api(t, "POST", "/payments", testToken, fakePayment("ORD-1", 1999))
		if code != 201 {
			t.Fatalf("create: %d %v", code, pay)
		}
		if pay["object"] != "payment" || pay["provider"] != "fake" || pay["status"] != "requires_action" || pay["amount"] != float64(1999) || pay["currency"] != "EUR" {
			t.Fatalf("create answer: %v", pay)
		}
		na, _ := pay["next_action"].(map[string]any)
		if na["type"] != "redirect" || !strings.HasPrefix(fmt.Sprint(na["url"]), "http") {
			t.Fatalf("next_action: %v", na)
		}
		id := pay["id"].(string)
		if strings.Contains(id, "1999") {
			t.Fatalf("id embeds the amount: %s", id)
		}
		code, got := api(t, "GET", "/payments/"+id, testToken, nil)
		if code != 200 || got["id"] != id || got["reference"] != "ORD-1" || got["amount"] != float64(1999) {
			t.Fatalf("get: %d %v", code, got)
		}
		code, found := api(t, "GET", "/payments?provider=fake&reference=ORD-1", testToken, nil)
		if code != 200 || found["id"] != id {
			t.Fatalf("find: %d %v", code, found)
		}
		code, nf := api(t, "GET", "/payments?provider=fake&reference=NOPE-1", testToken, nil)
		if code != 404 || errField(nf, "type") != "not_found" {
			t.Fatalf("find unknown: %d %v", code, nf)
		}
		code, nf = api(t, "GET", "/payments/pay_bm90LWFuLWlk", testToken, nil)
		if code != 404 {
			t.Fatalf("get unknown id: %d %v", code, nf)
		}
	})

	t.Run("bad input is rejected naming the field and nothing is sent", func(t *testing.T) {
		before := len(fs.Notifications())
		cases := []struct {
			body  string
			field string
		}{
			{`{"reference":"R-1","amount":19.99,"currency":"EUR","return_url":"https://s.example/r"}`, "amount"},
			{`{"reference":"R-1","amount":1999,"currency":"EUR","return_url":"https://s.example/r","surprise":1}`, "surprise"},
			{`{"reference":"R-1","amount":1999,"currency":"ZZZ","return_url":"https://s.example/r"}`, "currency"},
			{`{"reference":"R-1","amount":1999,"currency":"EUR","return_url":"https://s.example/r","customer":{"country":"Sweden"}}`, "customer.country"},
			{`{"reference":"R-1","amount":1999,"currency":"EUR","return_url":"https://s.example/r","provider":"nope"}`, "provider"},
			{`{"reference":"R-1","amount":1999,`, ""},
		}
		for _, c := range cases {
			code, out := api(t, "POST", "/payments", testToken, c.body)
			if code != 400 || errField(out, "type") != "invalid_request" || errField(out, "request_sent") != "no" {
				t.Errorf("%s: %d %v", c.body, code, out)
			}
			if c.field != "" && errField(out, "field") != c.field {
				t.Errorf("%s: field %v, want %s", c.body, errField(out, "field"), c.field)
			}
		}
		if len(fs.Notifications()) != before {
			t.Error("something reached the provider")
		}
	})

	t.Run("token", func(t *testing.T) {
		code, out := api(t, "GET", "/providers", "", nil)
		if code != 401 || errField(out, "type") != "authentication" {
			t.Fatalf("no token: %d %v", code, out)
		}
		code, _ = api(t, "GET", "/providers", "wrong-token-0123456789abcdef", nil)
		if code != 401 {
			t.Fatalf("wrong token: %d", code)
		}
		code, out = api(t, "GET", "/providers", testToken, nil)
		if code != 200 {
			t.Fatalf("providers: %d %v", code, out)
		}
		raw, _ := json.Marshal(out)
		if strings.Contains(string(raw), fakeSecret) {
			t.Fatal("GET /providers shows a secret")
		}
	})

	t.Run("secrets stay out of the adapted config", func(t *testing.T) {
		resp, err := http.Get("http://localhost:2999/config/")
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		for _, s := range []string{fakeSecret, testToken, strings.TrimPrefix(testWhsec, "whsec_")} {
			if bytes.Contains(raw, []byte(s)) {
				t.Errorf("/config/ contains a secret")
			}
		}
		if !bytes.Contains(raw, []byte("{env.FAKE_PAY_SECRET}")) {
			t.Errorf("/config/ should keep the placeholder: %s", raw)
		}
	})

	t.Run("body cap", func(t *testing.T) {
		big := fakePayment("ORD-BIG", 100)
		big["description"] = strings.Repeat("x", 9000)
		code, out := api(t, "POST", "/payments", testToken, big)
		if code != 413 || errField(out, "code") != "body_too_large" {
			t.Fatalf("%d %v", code, out)
		}
	})

	t.Run("other paths pass through untouched", func(t *testing.T) {
		req, _ := http.NewRequest("PUT", gwBase+"/cart/items?x=1", strings.NewReader("hello"))
		req.Header.Set("X-Custom", "kept")
		req.Header.Set("Authorization", "Basic c2hvcDpzaG9w")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(body) != "shop page /cart/items" || resp.Header.Get("X-Shop") != "yes" {
			t.Fatalf("passthrough: %d %q", resp.StatusCode, body)
		}
		sh.mu.Lock()
		last := sh.other[len(sh.other)-1]
		sh.mu.Unlock()
		if last.Method != "PUT" || last.URL.RawQuery != "x=1" || last.Header.Get("X-Custom") != "kept" || last.Header.Get("Authorization") != "Basic c2hvcDpzaG9w" {
			t.Fatalf("shop got a changed request: %s %s %v", last.Method, last.URL, last.Header)
		}
	})

	t.Run("verified notifications are forwarded signed, once", func(t *testing.T) {
		code, pay := api(t, "POST", "/payments", testToken, fakePayment("ORD-2", 2500))
		if code != 201 {
			t.Fatalf("create: %d %v", code, pay)
		}
		before := len(sh.Events())
		sent, err := fs.Checkout(context.Background(), pay["provider_reference"].(string), true)
		if err != nil {
			t.Fatal(err)
		}
		if len(sent) != 2 {
			t.Fatalf("want 2 notifications, got %d", len(sent))
		}
		for _, n := range sent {
			if n.StatusCode != 200 {
				t.Fatalf("provider not acknowledged: %d %s %s", n.StatusCode, n.Reply, n.Err)
			}
		}
		evs := sh.Events()[before:]
		if len(evs) != 2 {
			t.Fatalf("shop got %d events, want 2", len(evs))
		}
		wantTypes := []string{"payment.processing", "payment.succeeded"}
		for i, ev := range evs {
			if ev.Verified != nil {
				t.Fatalf("event %d does not verify: %v", i, ev.Verified)
			}
			if ev.Header.Get("X-Fake-Signature") != "" || ev.Header.Get("Authorization") != "" {
				t.Fatalf("provider headers leaked to the shop: %v", ev.Header)
			}
			if ev.Header.Get("Content-Type") != "application/json" || ev.Path != "/notifications/fake" {
				t.Fatalf("event %d: %v %s", i, ev.Header, ev.Path)
			}
			var e map[string]any
			if err := json.Unmarshal(ev.Body, &e); err != nil {
				t.Fatal(err)
			}
			data, _ := e["data"].(map[string]any)
			if e["type"] != wantTypes[i] || e["id"] != ev.Header.Get("webhook-id") || data["id"] != pay["id"] || data["amount"] != float64(2500) {
				t.Fatalf("event %d: %s", i, ev.Body)
			}
		}
		// The provider sends the last one again: acknowledged, not forwarded twice.
		again := fs.Resend(context.Background(), sent[1])
		if again.StatusCode != 200 {
			t.Fatalf("resend not acknowledged: %d", again.StatusCode)
		}
		if n := len(sh.Events()) - before; n != 2 {
			t.Fatalf("a duplicate was forwarded: %d events", n)
		}
		code, got := api(t, "GET", "/payments/"+pay["id"].(string), testToken, nil)
		if code != 200 || got["status"] != "succeeded" {
			t.Fatalf("after approve: %d %v", code, got)
		}
	})

	t.Run("tampered or unsigned notifications never reach the shop", func(t *testing.T) {
		code, pay := api(t, "POST", "/payments", testToken, fakePayment("ORD-3", 3000))
		if code != 201 {
			t.Fatal(code)
		}
		before := len(sh.Events())
		sh.status.Store(500) // so the real ones are not acknowledged and can be replayed tampered
		sent, _ := fs.Checkout(context.Background(), pay["provider_reference"].(string), true)
		sh.status.Store(200)
		base := len(sh.Events())
		for _, mutate := range []func(h http.Header, b []byte) []byte{
			func(h http.Header, b []byte) []byte { return bytes.Replace(b, []byte(`3000`), []byte(`3`), 1) },
			func(h http.Header, b []byte) []byte { h.Del(fake.SignatureHeader); return b },
			func(h http.Header, b []byte) []byte { h.Set(fake.SignatureHeader, strings.Repeat("0", 64)); return b },
		} {
			n := sent[1]
			h := n.Header.Clone()
			body := mutate(h, bytes.Clone(n.Body))
			req, _ := http.NewRequest("POST", gwBase+"/notifications/fake", bytes.NewReader(body))
			req.Header = h
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != 401 {
				t.Fatalf("tampered notification answered %d", resp.StatusCode)
			}
		}
		if len(sh.Events()) != base {
			t.Fatal("a tampered notification reached the shop")
		}
		_ = before
	})

	t.Run("shop failing: the event is stored, the provider acknowledged, the outbox redelivers", func(t *testing.T) {
		code, pay := api(t, "POST", "/payments", testToken, fakePayment("ORD-4", 4000))
		if code != 201 {
			t.Fatal(code)
		}
		sh.status.Store(503)
		before := len(sh.Events())
		sent, _ := fs.Checkout(context.Background(), pay["provider_reference"].(string), false)
		if len(sent) != 1 || sent[0].StatusCode != 200 {
			t.Fatalf("the provider must be acknowledged once the event is stored: %+v", sent)
		}
		id := pay["id"].(string)
		mine := func() []shopEvent {
			var out []shopEvent
			for _, ev := range sh.Events()[before:] {
				if bytes.Contains(ev.Body, []byte(`"id":"`+id+`"`)) {
					out = append(out, ev)
				}
			}
			return out
		}
		waitFor(t, "redelivery attempts while the shop is down", func() bool { return len(mine()) >= 2 })
		sh.status.Store(200)
		waitFor(t, "the redelivery the shop accepts", func() bool {
			evs := mine()
			return evs[len(evs)-1].Status == 200
		})
		evs := mine()
		first := evs[0]
		for _, ev := range evs {
			if ev.Header.Get("webhook-id") != first.Header.Get("webhook-id") || !bytes.Equal(ev.Body, first.Body) || ev.Verified != nil {
				t.Fatalf("a redelivery differs from the first attempt or does not verify: %s vs %s", ev.Header, first.Header)
			}
		}
		if !bytes.Contains(first.Body, []byte(`"payment.failed"`)) {
			t.Fatalf("event: %s", first.Body)
		}
		n := len(mine())
		time.Sleep(700 * time.Millisecond)
		if len(mine()) != n {
			t.Fatal("the outbox kept sending after the shop accepted")
		}
		_ = before
		// The provider repeating the notification does not forward it again.
		again := fs.Resend(context.Background(), sent[0])
		if again.StatusCode != 200 || len(mine()) != n {
			t.Fatalf("repeat after delivery: %d, %d events", again.StatusCode, len(mine())-n)
		}
	})

	t.Run("a failed payment moves up only when a fetch confirms it", func(t *testing.T) {
		code, pay := api(t, "POST", "/payments", testToken, fakePayment("ORD-LATE", 5000))
		if code != 201 {
			t.Fatal(code)
		}
		ref := pay["provider_reference"].(string)
		if _, err := fs.Checkout(context.Background(), ref, false); err != nil {
			t.Fatal(err)
		}
		before := len(sh.Events())
		// A correctly signed message claiming success for the failed payment:
		// the provider (fetched) still says failed, so nothing moves.
		body := []byte(`{"event_id":"fe_late_1","type":"payment.status","payment_id":"` + ref +
			`","reference":"ORD-LATE","status":"succeeded","amount":5000,"currency":"EUR"}`)
		req, _ := http.NewRequest("POST", gwBase+"/notifications/fake", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set(fake.SignatureHeader, fake.Sign(fakeSecret, body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("verified notification not acknowledged: %d", resp.StatusCode)
		}
		if len(sh.Events()) != before {
			t.Fatal("an unconfirmed upward move out of failed was forwarded")
		}
		code, got := api(t, "GET", "/payments/"+pay["id"].(string), testToken, nil)
		if code != 200 || got["status"] != "failed" {
			t.Fatalf("status moved without confirmation: %v", got)
		}
	})

	t.Run("idempotency: replay, conflict, in flight, validation not stored", func(t *testing.T) {
		post := func(key string, body any) (int, http.Header, map[string]any) {
			buf, _ := json.Marshal(body)
			req, _ := http.NewRequest("POST", gwBase+"/payments", bytes.NewReader(buf))
			req.Header.Set("Authorization", "Bearer "+testToken)
			req.Header.Set("Idempotency-Key", key)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var out map[string]any
			_ = json.NewDecoder(resp.Body).Decode(&out)
			return resp.StatusCode, resp.Header, out
		}
		before := fakeCreates.Load()
		code, h1, first := post("key-1", fakePayment("ORD-IDEM-1", 700))
		if code != 201 || h1.Get("Idempotent-Replayed") != "" {
			t.Fatalf("first: %d %v", code, first)
		}
		// Same body, keys in another order and other white space: replayed.
		code, h2, again := post("key-1", map[string]any{"currency": "EUR", "amount": 700, "reference": "ORD-IDEM-1",
			"description": "Order", "customer": map[string]any{"country": "SE", "email": "jane@example.com", "id": "cust-1"},
			"failure_url": "https://shop.example/failed", "success_url": "https://shop.example/ok", "return_url": "https://shop.example/return"})
		if code != 201 || h2.Get("Idempotent-Replayed") != "true" || again["id"] != first["id"] {
			t.Fatalf("replay: %d %v %v", code, h2, again)
		}
		if n := fakeCreates.Load() - before; n != 1 {
			t.Fatalf("the provider saw %d creates, want 1", n)
		}
		code, _, conflict := post("key-1", fakePayment("ORD-IDEM-1", 701))
		if code != 409 || errField(conflict, "type") != "idempotency_conflict" {
			t.Fatalf("conflict: %d %v", code, conflict)
		}
		// A validation failure is not stored: the corrected request may reuse the key.
		bad := fakePayment("ORD-IDEM-2", 800)
		bad["currency"] = "XXX1"
		if code, _, out := post("key-2", bad); code != 400 {
			t.Fatalf("bad: %d %v", code, out)
		}
		if code, _, out := post("key-2", fakePayment("ORD-IDEM-2", 800)); code != 201 {
			t.Fatalf("corrected request with the same key: %d %v", code, out)
		}
		// A duplicate while the first is in flight never reaches the provider.
		before = fakeCreates.Load()
		done := make(chan int)
		go func() {
			code, _, _ := post("key-3", fakePayment("ORD-IDEM-3", fake.AmountSlow))
			done <- code
		}()
		time.Sleep(300 * time.Millisecond)
		code, _, busy := post("key-3", fakePayment("ORD-IDEM-3", fake.AmountSlow))
		if code != 409 || errField(busy, "code") != "request_in_progress" || errField(busy, "retryable") != true {
			t.Fatalf("in flight: %d %v", code, busy)
		}
		if first := <-done; first != 504 {
			t.Fatalf("slow first: %d", first)
		}
		// Its unknown outcome is stored and replayed, not retried.
		code, h3, replay := post("key-3", fakePayment("ORD-IDEM-3", fake.AmountSlow))
		if code != 504 || h3.Get("Idempotent-Replayed") != "true" || errField(replay, "request_sent") != "unknown" {
			t.Fatalf("replayed timeout: %d %v", code, replay)
		}
		if n := fakeCreates.Load() - before; n != 1 {
			t.Fatalf("the provider saw %d creates for key-3, want 1", n)
		}
		if code, _, out := post("", fakePayment("ORD-IDEM-4", 900)); code != 201 {
			t.Fatalf("no key: %d %v", code, out)
		}
		long := strings.Repeat("k", 256)
		if code, _, out := post(long, fakePayment("ORD-IDEM-5", 900)); code != 400 || errField(out, "field") != "Idempotency-Key" {
			t.Fatalf("long key: %d %v", code, out)
		}
	})

	t.Run("refunds never exceed the paid amount", func(t *testing.T) {
		code, pay := api(t, "POST", "/payments", testToken, fakePayment("ORD-5", 1999))
		if code != 201 {
			t.Fatal(code)
		}
		if _, err := fs.Checkout(context.Background(), pay["provider_reference"].(string), true); err != nil {
			t.Fatal(err)
		}
		id := pay["id"].(string)
		code, r1 := api(t, "POST", "/payments/"+id+"/refunds", testToken, map[string]any{"amount": 500, "reference": "RF-1"})
		if code != 201 || r1["object"] != "refund" || r1["amount"] != float64(500) || r1["payment_id"] != id {
			t.Fatalf("refund 1: %d %v", code, r1)
		}
		code, r2 := api(t, "POST", "/payments/"+id+"/refunds", testToken, map[string]any{"amount": 500})
		if code != 201 {
			t.Fatalf("refund 2: %d %v", code, r2)
		}
		code, over := api(t, "POST", "/payments/"+id+"/refunds", testToken, map[string]any{"amount": 1000})
		if code != 400 || errField(over, "field") != "amount" {
			t.Fatalf("over-refund: %d %v", code, over)
		}
		code, rest := api(t, "POST", "/payments/"+id+"/refunds", testToken, map[string]any{})
		if code != 201 || rest["amount"] != float64(999) {
			t.Fatalf("refund of the rest: %d %v", code, rest)
		}
		code, none := api(t, "POST", "/payments/"+id+"/refunds", testToken, map[string]any{})
		if code != 400 {
			t.Fatalf("refund of nothing: %d %v", code, none)
		}
		code, got := api(t, "GET", "/refunds/"+r1["id"].(string), testToken, nil)
		if code != 200 || got["amount"] != float64(500) || got["payment_id"] != id {
			t.Fatalf("get refund: %d %v", code, got)
		}
		code, p := api(t, "GET", "/payments/"+id, testToken, nil)
		if code != 200 || p["amount_refunded"] != float64(1999) {
			t.Fatalf("amount_refunded: %d %v", code, p)
		}
	})

	t.Run("provider failures say whether the request was sent", func(t *testing.T) {
		code, out := api(t, "POST", "/payments", testToken, fakePayment("ORD-SLOW", fake.AmountSlow))
		if code != 504 || errField(out, "request_sent") != "unknown" || errField(out, "reference") != "ORD-SLOW" {
			t.Fatalf("slow: %d %v", code, out)
		}
		code, out = api(t, "POST", "/payments", testToken, fakePayment("ORD-GARBAGE", fake.AmountGarbage))
		if code != 502 || errField(out, "request_sent") != "unknown" {
			t.Fatalf("garbage: %d %v", code, out)
		}
		code, out = api(t, "POST", "/payments", testToken, fakePayment("ORD-DECLINE", fake.AmountDecline))
		if code/100 != 4 || errField(out, "type") != "provider_declined" || errField(out, "request_sent") != "yes" {
			t.Fatalf("decline: %d %v", code, out)
		}
	})
}

// TestOutboxSurvivesReload: an event queued while the shop was down is
// delivered by the worker of the next config after a reload (the state
// file is shared across the reload), and the depth metric counts it.
func TestOutboxSurvivesReload(t *testing.T) {
	fs := fake.NewServer(fakeSecret)
	fsrv := httptest.NewServer(fs)
	t.Cleanup(fsrv.Close)
	sh := newShop(t)
	state := filepath.Join(t.TempDir(), "state.db")
	config := func(schedule string) string {
		return fakeSite(t, 9080, fsrv.URL, sh.srv.URL, fmt.Sprintf("retry_schedule %s\nstorage_path %s", schedule, state))
	}
	loadCaddyWith(t, "\tmetrics\n", config("2s"))
	code, pay := api(t, "POST", "/payments", testToken, fakePayment("ORD-RELOAD", 4200))
	if code != 201 {
		t.Fatal(code)
	}
	sh.status.Store(503)
	sent, _ := fs.Checkout(context.Background(), pay["provider_reference"].(string), true)
	if len(sent) != 2 || sent[0].StatusCode != 200 || sent[1].StatusCode != 200 {
		t.Fatalf("provider not acknowledged after storing: %+v", sent)
	}
	sh.status.Store(200)
	// Reload at once, before anything is due: the new config's worker
	// finds the entries in the shared state file.
	loadCaddyWith(t, "\tmetrics\n", config("3s"))
	id := pay["id"].(string)
	waitFor(t, "redelivery after the reload", func() bool {
		n := 0
		for _, ev := range sh.Events() {
			if bytes.Contains(ev.Body, []byte(`"id":"`+id+`"`)) && ev.Verified == nil {
				n++
			}
		}
		return n >= 4 // two refused first attempts, two accepted redeliveries
	})
	// The entries are gone: the depth gauge drops to 0 on the next round.
	waitFor(t, "outbox depth 0 in /metrics", func() bool {
		resp, err := http.Get("http://localhost:2999/metrics")
		if err != nil {
			return false
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return bytes.Contains(raw, []byte("caddy_payments_outbox_depth 0"))
	})
}

// TestReconcilerFindsLostNotifications: the provider's notifications never
// arrive; the reconciler re-fetches the payment, records the change and
// forwards it to the shop like a notification's event, once.
func TestReconcilerFindsLostNotifications(t *testing.T) {
	fs := fake.NewServer(fakeSecret)
	// Every notification the provider sends is lost on the way.
	fs.Client = &http.Client{Transport: roundTripFunc(func(*http.Request) (*http.Response, error) {
		return nil, fmt.Errorf("network unreachable")
	})}
	fsrv := httptest.NewServer(fs)
	t.Cleanup(fsrv.Close)
	sh := newShop(t)
	loadCaddy(t, fakeSite(t, 9080, fsrv.URL, sh.srv.URL, fmt.Sprintf("retry_schedule 200ms\nreconcile_schedule 300ms\nstorage_path %s", filepath.Join(t.TempDir(), "state.db"))))
	code, pay := api(t, "POST", "/payments", testToken, fakePayment("ORD-LOST", 3100))
	if code != 201 {
		t.Fatal(code)
	}
	id := pay["id"].(string)
	sent, err := fs.Checkout(context.Background(), pay["provider_reference"].(string), true)
	if err != nil || len(sent) != 2 || sent[0].Err == "" {
		t.Fatalf("the notifications should have been lost: %+v %v", sent, err)
	}
	var got []map[string]any
	waitFor(t, "the reconciled event at the shop", func() bool {
		got = eventsOf(t, sh, id)
		return len(got) >= 1
	})
	time.Sleep(time.Second) // later checks must not announce it again
	got = eventsOf(t, sh, id)
	if len(got) != 1 || got[0]["type"] != "payment.succeeded" {
		t.Fatalf("shop got %v", types(got))
	}
	if data := got[0]["data"].(map[string]any); data["amount"] != float64(3100) || data["status"] != "succeeded" {
		t.Fatalf("event data: %v", data)
	}
	code, now := api(t, "GET", "/payments/"+id, testToken, nil)
	if code != 200 || now["status"] != "succeeded" {
		t.Fatalf("record: %v", now)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// TestSlowShopDoesNotHoldTheProvider: a shop that hangs does not keep the
// provider waiting past forward_timeout; the stored event is redelivered
// once the shop answers in time.
func TestSlowShopDoesNotHoldTheProvider(t *testing.T) {
	fs := fake.NewServer(fakeSecret)
	fsrv := httptest.NewServer(fs)
	t.Cleanup(fsrv.Close)
	sh := newShop(t)
	loadCaddy(t, fakeSite(t, 9080, fsrv.URL, sh.srv.URL, fmt.Sprintf("forward_timeout 500ms\nretry_schedule 300ms\nstorage_path %s", filepath.Join(t.TempDir(), "state.db"))))
	code, pay := api(t, "POST", "/payments", testToken, fakePayment("ORD-SLOWSHOP", 1500))
	if code != 201 {
		t.Fatal(code)
	}
	sh.delay.Store(int64(30 * time.Second))
	began := time.Now()
	sent, err := fs.Checkout(context.Background(), pay["provider_reference"].(string), true)
	took := time.Since(began)
	if err != nil || len(sent) != 2 || sent[0].StatusCode != 200 || sent[1].StatusCode != 200 {
		t.Fatalf("provider not acknowledged while the shop hangs: %+v %v", sent, err)
	}
	if took > 5*time.Second {
		t.Fatalf("the provider waited %s for two notifications; forward_timeout is 500ms", took)
	}
	if n := len(eventsOf(t, sh, pay["id"].(string))); n != 0 {
		t.Fatalf("the hanging shop recorded %d events", n)
	}
	sh.delay.Store(0)
	var got []map[string]any
	waitFor(t, "redelivery once the shop answers", func() bool {
		got = eventsOf(t, sh, pay["id"].(string))
		return len(got) >= 2
	})
	if typs := types(got); !slices.Contains(typs, "payment.succeeded") {
		t.Fatalf("events: %v", typs)
	}
}
