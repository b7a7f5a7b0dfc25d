package caddymodule

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/caddy-payments/caddy-payments/sandbox"
)

// accountProxy stands between the gateway and the embedded sandbox for
// one provider account: it counts the requests it gets by path and, by
// mode, passes them on, answers 503, or holds them until released.
type accountProxy struct {
	srv  *httptest.Server
	mode atomic.Int32 // proxyPass, proxy503, proxyHold
	mu   sync.Mutex
	hits map[string]int // path → requests
	held chan struct{}  // a request is being held
	free chan struct{}  // closed: held requests go on
}

const (
	proxyPass int32 = iota
	proxy503
	proxyHold
)

func newAccountProxy(t *testing.T) *accountProxy {
	p := &accountProxy{hits: map[string]int{}, held: make(chan struct{}, 16), free: make(chan struct{})}
	target, _ := url.Parse(gwBase)
	rp := httputil.NewSingleHostReverseProxy(target)
	director := rp.Director
	rp.Director = func(r *http.Request) {
		director(r)
		r.Host = target.Host // the Caddy site is http://localhost:9080
	}
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		p.hits[r.URL.Path]++
		p.mu.Unlock()
		switch p.mode.Load() {
		case proxy503:
			http.Error(w, "unavailable", http.StatusServiceUnavailable)
			return
		case proxyHold:
			p.held <- struct{}{}
			<-p.free
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(func() {
		select {
		case <-p.free:
		default:
			close(p.free)
		}
		p.srv.Close()
	})
	return p
}

// count is how many requests reached the proxy on paths containing part.
func (p *accountProxy) count(part string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for path, c := range p.hits {
		if strings.Contains(path, part) {
			n += c
		}
	}
	return n
}

// payablBlock is a payabl provider block on the sandbox's merchant, at
// endpoint (a base URL; the sandbox path is appended), with extra lines.
func payablBlock(name, base, extra string) string {
	return fmt.Sprintf(`
		provider %s payabl {
			merchant_id gateway_test
			secret {env.PAYABL_TEST_SECRET}
			endpoint %s/sandbox/payabl/pay/backoffice
			%s
		}`, name, base, extra)
}

// routingSite is a Caddyfile with the sandbox (payabl and PaySage), the
// gateway with the given provider blocks and options, and the shop.
func routingSite(t *testing.T, sh *shop, blocks, opts string) string {
	t.Setenv("PAYABL_TEST_SECRET", payablSecret)
	t.Setenv("PAYSAGE_TEST_SECRET", paysageSecret)
	t.Setenv("PAYMENTS_TEST_TOKEN", testToken)
	t.Setenv("PAYMENTS_TEST_WHSEC", testWhsec)
	return fmt.Sprintf(`
http://localhost:9080 {
	payments_sandbox {
		slow_delay 4s
		payabl {
			merchant_id gateway_test
			secret {env.PAYABL_TEST_SECRET}
		}
		paysage {
			shop_id %s
			secret_key {env.PAYSAGE_TEST_SECRET}
		}
	}
	payments {
		%s
		api_token {env.PAYMENTS_TEST_TOKEN}
		forward_secret {env.PAYMENTS_TEST_WHSEC}
		public_url http://localhost:9080
		retry_schedule 300ms 300ms
		storage_path %s
		%s
	}
	reverse_proxy %s
}
`, paysageShopID, blocks, filepath.Join(t.TempDir(), "state.db"), opts, sh.srv.URL)
}

// paysageBlock is a PaySage provider block on the sandbox.
func paysageBlock(name string) string {
	return fmt.Sprintf(`
		provider %s paysage {
			shop_id %s
			secret_key {env.PAYSAGE_TEST_SECRET}
			public_key %s
			test
			endpoint http://localhost:9080/sandbox/paysage
		}`, name, paysageShopID, sandbox.PaysagePublicKey())
}

// routed is a create request without provider.
func routed(ref string, amount int64, currency, country string, metadata map[string]string) map[string]any {
	p := payablPayment(ref, amount)
	delete(p, "provider")
	p["currency"] = currency
	p["customer"].(map[string]any)["country"] = country
	if metadata != nil {
		p["metadata"] = metadata
	}
	return p
}

// apiKeyed is api with an Idempotency-Key; it also returns the headers.
func apiKeyed(t *testing.T, path, key string, body any) (int, http.Header, []byte) {
	t.Helper()
	buf, _ := json.Marshal(body)
	req, _ := http.NewRequest("POST", gwBase+path, bytes.NewReader(buf))
	req.Header.Set("Authorization", "Bearer "+testToken)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, raw
}

// providersView is GET /providers: health by account, and the routes.
func providersView(t *testing.T) (map[string]string, []any) {
	t.Helper()
	code, out := api(t, "GET", "/providers", testToken, nil)
	if code != 200 {
		t.Fatalf("GET /providers: %d %v", code, out)
	}
	health := map[string]string{}
	for _, e := range out["data"].([]any) {
		m := e.(map[string]any)
		health[m["name"].(string)] = fmt.Sprint(m["health"])
	}
	routes, _ := out["routes"].([]any)
	return health, routes
}

// TestRoutingRules: each matcher (currency, country, amount with both
// ends included, metadata) picks its route's account and lets a request
// that misses it go on; routes come before default_provider, which takes
// what no route matches; a request naming provider is never routed; GET
// /providers shows the routes in order and every account's health.
func TestRoutingRules(t *testing.T) {
	sh := newShop(t)
	blocks := payablBlock("payabl", gwBase, "") + payablBlock("nordic", gwBase, "") +
		payablBlock("uk", gwBase, "") + payablBlock("big", gwBase, "") + paysageBlock("app")
	loadCaddy(t, routingSite(t, sh, blocks, `default_provider payabl
		route {
			metadata channel app
			to app
		}
		route {
			currency SEK NOK DKK
			country SE NO DK
			to nordic
		}
		route {
			country GB
			to uk
		}
		route {
			amount 100000 500000
			to big
		}`))

	cases := []struct {
		name     string
		body     map[string]any
		provider string
	}{
		{"metadata matches", routed("R-META-1", 1999, "EUR", "SE", map[string]string{"channel": "app", "cart": "c1"}), "app"},
		{"metadata value differs", routed("R-META-2", 1999, "EUR", "SE", map[string]string{"channel": "web"}), "payabl"},
		{"currency and country match", routed("R-NORD-1", 1999, "SEK", "SE", nil), "nordic"},
		{"currency matches, country does not", routed("R-NORD-2", 1999, "SEK", "FI", nil), "payabl"},
		{"country matches, currency does not", routed("R-NORD-3", 1999, "EUR", "NO", nil), "payabl"},
		{"country only", routed("R-UK-1", 1999, "GBP", "GB", nil), "uk"},
		{"amount min included", routed("R-AMT-1", 100000, "EUR", "DE", nil), "big"},
		{"amount max included", routed("R-AMT-2", 500000, "EUR", "DE", nil), "big"},
		{"amount above max", routed("R-AMT-3", 500001, "EUR", "DE", nil), "payabl"},
		{"amount below min", routed("R-AMT-4", 99999, "EUR", "DE", nil), "payabl"},
		{"first match wins", routed("R-FIRST", 200000, "SEK", "SE", map[string]string{"channel": "app"}), "app"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, pay := api(t, "POST", "/payments", testToken, c.body)
			if code != 201 || pay["provider"] != c.provider {
				t.Fatalf("want 201 from %s, got %d %v", c.provider, code, pay)
			}
			// The id names the account: a fetch goes back to it.
			code, got := api(t, "GET", "/payments/"+pay["id"].(string), testToken, nil)
			if code != 200 || got["provider"] != c.provider {
				t.Fatalf("fetch: %d %v", code, got)
			}
		})
	}

	t.Run("a request naming provider is never routed", func(t *testing.T) {
		body := routed("R-EXPL", 1999, "SEK", "SE", nil)
		body["provider"] = "uk"
		code, pay := api(t, "POST", "/payments", testToken, body)
		if code != 201 || pay["provider"] != "uk" {
			t.Fatalf("want 201 from uk, got %d %v", code, pay)
		}
	})

	t.Run("GET /providers shows routes and health", func(t *testing.T) {
		health, routes := providersView(t)
		for _, n := range []string{"payabl", "nordic", "uk", "big", "app"} {
			if health[n] != "ok" {
				t.Errorf("health of %s = %q", n, health[n])
			}
		}
		var want []any
		wantJSON := `[{"metadata":{"channel":"app"},"to":["app"]},{"currencies":["SEK","NOK","DKK"],"countries":["SE","NO","DK"],"to":["nordic"]},{"countries":["GB"],"to":["uk"]},{"amount":{"min":100000,"max":500000},"to":["big"]}]`
		_ = json.Unmarshal([]byte(wantJSON), &want)
		if !reflect.DeepEqual(routes, want) {
			t.Fatalf("routes\n got %v\nwant %v", routes, want)
		}
	})
}

// TestRoutedFailover: a routed create moves to the next account only
// when nothing reached the previous one (request_sent "no": a refused
// connection, an account that cannot take the request), never after a
// timeout once sent ("unknown") or a provider's decline ("yes"); the
// second account then gets no request at all. An Idempotency-Key replay
// after a failover answers what the account that took the create said,
// and an error names the account of the last attempt.
func TestRoutedFailover(t *testing.T) {
	sh := newShop(t)
	second := newAccountProxy(t)
	blocks := payablBlock("dead", "http://127.0.0.1:1", "") + payablBlock("payabl", gwBase, "") +
		payablBlock("second", second.srv.URL, "") + payablBlock("sekonly", second.srv.URL, "currencies SEK")
	loadCaddy(t, routingSite(t, sh, blocks, `breaker 100 1h
		timeout 2s
		route {
			metadata case failover
			to dead payabl
		}
		route {
			metadata case nofailover
			to payabl second
		}
		route {
			metadata case capability
			to sekonly payabl
		}
		route {
			metadata case alldead
			to dead
		}`))

	t.Run("refused connection fails over; replay returns the first answer", func(t *testing.T) {
		body := routed("R-FO-1", 1999, "EUR", "SE", map[string]string{"case": "failover"})
		code, _, raw := apiKeyed(t, "/payments", "key-fo-1", body)
		var pay map[string]any
		_ = json.Unmarshal(raw, &pay)
		if code != 201 || pay["provider"] != "payabl" {
			t.Fatalf("want 201 from payabl after dead refused, got %d %s", code, raw)
		}
		code2, hdr, raw2 := apiKeyed(t, "/payments", "key-fo-1", body)
		if code2 != 201 || hdr.Get("Idempotent-Replayed") != "true" || !bytes.Equal(raw, raw2) {
			t.Fatalf("replay: %d %v %s\nfirst: %s", code2, hdr, raw2, raw)
		}
		scrape := scrapeMetrics(t)
		if v, _ := metricValue(scrape, "caddy_payments_route_attempts_total", "provider", "dead", "result", "not_sent"); v != 1 {
			t.Errorf("route_attempts dead not_sent = %v, want 1 (the replay makes no attempt)", v)
		}
		if v, _ := metricValue(scrape, "caddy_payments_route_attempts_total", "provider", "payabl", "result", "created"); v != 1 {
			t.Errorf("route_attempts payabl created = %v, want 1", v)
		}
	})

	t.Run("capability mismatch skips to the next account", func(t *testing.T) {
		code, pay := api(t, "POST", "/payments", testToken, routed("R-FO-2", 1999, "EUR", "SE", map[string]string{"case": "capability"}))
		if code != 201 || pay["provider"] != "payabl" {
			t.Fatalf("want 201 from payabl, got %d %v", code, pay)
		}
		if n := second.count("/"); n != 0 {
			t.Fatalf("sekonly got %d requests for a EUR payment", n)
		}
	})

	t.Run("timeout after sending: no failover", func(t *testing.T) {
		// payabl magic 12.34: the reply stalls past the 2s timeout.
		code, out := api(t, "POST", "/payments", testToken, routed("R-FO-3", 1234, "EUR", "SE", map[string]string{"case": "nofailover"}))
		if code != 504 || errField(out, "request_sent") != "unknown" || errField(out, "provider") != "payabl" {
			t.Fatalf("want 504 unknown naming payabl, got %d %v", code, out)
		}
		if n := second.count("/"); n != 0 {
			t.Fatalf("the second account got %d requests after an unknown outcome", n)
		}
	})

	t.Run("provider decline: no failover", func(t *testing.T) {
		// payabl magic 13.13: a synchronous decline.
		code, out := api(t, "POST", "/payments", testToken, routed("R-FO-4", 1313, "EUR", "SE", map[string]string{"case": "nofailover"}))
		if code != 402 || errField(out, "request_sent") != "yes" || errField(out, "provider") != "payabl" {
			t.Fatalf("want 402 yes naming payabl, got %d %v", code, out)
		}
		if n := second.count("/"); n != 0 {
			t.Fatalf("the second account got %d requests after a decline", n)
		}
	})

	t.Run("every account refused: the error names the last one; the key stays free", func(t *testing.T) {
		body := routed("R-FO-5", 1999, "EUR", "SE", map[string]string{"case": "alldead"})
		for i := 0; i < 2; i++ {
			code, _, raw := apiKeyed(t, "/payments", "key-fo-5", body)
			var out map[string]any
			_ = json.Unmarshal(raw, &out)
			if code != 502 || errField(out, "request_sent") != "no" || errField(out, "provider") != "dead" || errField(out, "code") != "provider_unreachable" {
				t.Fatalf("attempt %d: want 502 no naming dead, got %d %s", i+1, code, raw)
			}
		}
	})
}

// TestCircuitBreaker: consecutive failures (5xx replies) open an
// account's breaker; while open, routed creates skip it but fetches,
// refunds and creates naming it still reach it; after the cool-down it
// is half-open and lets exactly one routed create through as a probe
// (others skip it meanwhile); the probe's success closes it, a failed
// probe opens it again. GET /providers and the breaker_state gauge show
// each state.
func TestCircuitBreaker(t *testing.T) {
	t.Run("open: routed creates skip, the rest is never skipped", func(t *testing.T) {
		sh := newShop(t)
		flaky := newAccountProxy(t)
		loadCaddy(t, routingSite(t, sh, payablBlock("flaky", flaky.srv.URL, "")+payablBlock("payabl", gwBase, ""), `breaker 2 1h
		timeout 10s
		route {
			to flaky payabl
		}`))

		code, pay := api(t, "POST", "/payments", testToken, routed("R-BR-1", 1999, "EUR", "SE", nil))
		if code != 201 || pay["provider"] != "flaky" {
			t.Fatalf("create: %d %v", code, pay)
		}
		id, tx := pay["id"].(string), pay["provider_reference"].(string)
		sandboxAction(t, tx, "approve")
		waitFor(t, "succeeded", func() bool { return len(eventsOf(t, sh, id)) == 2 })

		flaky.mode.Store(proxy503)
		for i := 0; i < 2; i++ {
			code, out := api(t, "POST", "/payments", testToken, routed(fmt.Sprintf("R-BR-F%d", i), 1999, "EUR", "SE", nil))
			if code != 502 || errField(out, "provider") != "flaky" || errField(out, "request_sent") != "unknown" {
				t.Fatalf("failing create %d: %d %v", i+1, code, out)
			}
		}
		if h, _ := providersView(t); h["flaky"] != "open" || h["payabl"] != "ok" {
			t.Fatalf("health after 2 failures: %v", h)
		}
		if v, _ := metricValue(scrapeMetrics(t), "caddy_payments_breaker_state", "provider", "flaky"); v != 1 {
			t.Fatalf("breaker_state flaky = %v, want 1", v)
		}

		creates := flaky.count("payment_preauthorize")
		code, pay = api(t, "POST", "/payments", testToken, routed("R-BR-2", 1999, "EUR", "SE", nil))
		if code != 201 || pay["provider"] != "payabl" || flaky.count("payment_preauthorize") != creates {
			t.Fatalf("routed create while open: %d %v (flaky creates %d → %d)", code, pay, creates, flaky.count("payment_preauthorize"))
		}

		before := flaky.count("/")
		api(t, "GET", "/payments/"+id, testToken, nil)
		if flaky.count("/") == before {
			t.Fatal("a fetch was skipped because of the breaker")
		}
		refunds := flaky.count("refund")
		api(t, "POST", "/payments/"+id+"/refunds", testToken, map[string]any{"amount": 500})
		if flaky.count("refund") == refunds {
			t.Fatal("a refund was skipped because of the breaker")
		}
		body := routed("R-BR-3", 1999, "EUR", "SE", nil)
		body["provider"] = "flaky"
		api(t, "POST", "/payments", testToken, body)
		if flaky.count("payment_preauthorize") != creates+1 {
			t.Fatal("a create naming the account was skipped because of the breaker")
		}
	})

	t.Run("half-open: one probe; success closes, failure re-opens", func(t *testing.T) {
		sh := newShop(t)
		flaky := newAccountProxy(t)
		loadCaddy(t, routingSite(t, sh, payablBlock("flaky", flaky.srv.URL, "")+payablBlock("payabl", gwBase, ""), `breaker 1 2s
		timeout 10s
		route {
			to flaky payabl
		}`))
		open := func(ref string) {
			t.Helper()
			flaky.mode.Store(proxy503)
			code, out := api(t, "POST", "/payments", testToken, routed(ref, 1999, "EUR", "SE", nil))
			if code != 502 || errField(out, "provider") != "flaky" {
				t.Fatalf("failing create: %d %v", code, out)
			}
		}
		halfOpen := func() {
			t.Helper()
			waitFor(t, "half_open", func() bool { h, _ := providersView(t); return h["flaky"] == "half_open" })
			if v, _ := metricValue(scrapeMetrics(t), "caddy_payments_breaker_state", "provider", "flaky"); v != 2 {
				t.Fatalf("breaker_state flaky = %v, want 2", v)
			}
		}

		open("R-HO-1")
		if h, _ := providersView(t); h["flaky"] != "open" {
			t.Fatalf("health after the failure: %v", h)
		}
		halfOpen()

		// The probe is held at the account; meanwhile another routed
		// create skips it.
		flaky.mode.Store(proxyHold)
		probe := make(chan map[string]any, 1)
		go func() {
			_, pay := api(t, "POST", "/payments", testToken, routed("R-HO-PROBE", 1999, "EUR", "SE", nil))
			probe <- pay
		}()
		<-flaky.held
		code, pay := api(t, "POST", "/payments", testToken, routed("R-HO-2", 1999, "EUR", "SE", nil))
		if code != 201 || pay["provider"] != "payabl" {
			t.Fatalf("routed create during the probe: %d %v", code, pay)
		}
		flaky.mode.Store(proxyPass)
		close(flaky.free)
		if p := <-probe; p["provider"] != "flaky" || p["status"] != "requires_action" {
			t.Fatalf("probe: %v", p)
		}
		if h, _ := providersView(t); h["flaky"] != "ok" {
			t.Fatalf("health after the probe succeeded: %v", h)
		}
		if v, _ := metricValue(scrapeMetrics(t), "caddy_payments_breaker_state", "provider", "flaky"); v != 0 {
			t.Fatalf("breaker_state flaky = %v, want 0", v)
		}

		open("R-HO-3")
		halfOpen()
		code, out := api(t, "POST", "/payments", testToken, routed("R-HO-4", 1999, "EUR", "SE", nil))
		if code != 502 || errField(out, "provider") != "flaky" {
			t.Fatalf("failing probe: %d %v", code, out)
		}
		if h, _ := providersView(t); h["flaky"] != "open" {
			t.Fatalf("health after the probe failed: %v (want open for another cool-down)", h)
		}
	})
}

// TestBreakerStates: the state machine alone.
func TestBreakerStates(t *testing.T) {
	var changes []string
	b := &breaker{account: "a", failures: 2, cooldown: 50 * time.Millisecond, state: healthOK,
		onChange: func(_, from, to string, _ int) { changes = append(changes, from+">"+to) }}
	defer b.stop()
	b.record(true, 0)
	b.record(false, 0) // a success resets the count
	b.record(true, 0)
	if b.health() != healthOK {
		t.Fatal("opened before 2 consecutive failures")
	}
	b.record(true, 0)
	if b.health() != healthOpen {
		t.Fatal("not open after 2 consecutive failures")
	}
	if ok, _ := b.acquire(); ok {
		t.Fatal("open breaker let a routed create through")
	}
	b.record(false, 0) // a fetch's success while open decides nothing
	if b.health() != healthOpen {
		t.Fatal("a non-probe call closed an open breaker")
	}
	waitFor(t, "half-open", func() bool { return b.health() == healthHalfOpen })
	ok, probe := b.acquire()
	if !ok || probe == 0 {
		t.Fatal("half-open breaker did not give the probe")
	}
	if ok, _ := b.acquire(); ok {
		t.Fatal("half-open breaker let a second request through during the probe")
	}
	b.record(false, 0) // not the probe
	if b.health() != healthHalfOpen {
		t.Fatal("a non-probe call decided the half-open breaker")
	}
	b.release(probe) // the probe sent nothing
	ok, probe = b.acquire()
	if !ok || probe == 0 {
		t.Fatal("a released probe slot was not given again")
	}
	b.record(false, probe)
	if b.health() != healthOK {
		t.Fatal("a successful probe did not close the breaker")
	}
	want := "ok>open open>half_open half_open>ok"
	if got := strings.Join(changes, " "); got != want {
		t.Fatalf("changes %q, want %q", got, want)
	}
}

// TestRouteConfigErrors: routes that cannot work are refused with a
// clear error, in the Caddyfile and in JSON.
func TestRouteConfigErrors(t *testing.T) {
	cf := map[string]struct{ in, want string }{
		"no to":                  {"payments {\n\troute {\n\t\tcurrency EUR\n\t}\n}", "`to` is required"},
		"duplicate matcher":      {"payments {\n\troute {\n\t\tcurrency EUR\n\t\tcurrency SEK\n\t\tto a\n\t}\n}", "duplicate 'currency'"},
		"duplicate metadata key": {"payments {\n\troute {\n\t\tmetadata a 1\n\t\tmetadata a 2\n\t\tto a\n\t}\n}", "duplicate metadata key"},
		"amount one arg":         {"payments {\n\troute {\n\t\tamount 100\n\t\tto a\n\t}\n}", "amount <min> <max>"},
		"amount not int":         {"payments {\n\troute {\n\t\tamount 1.5 2\n\t\tto a\n\t}\n}", "whole numbers"},
		"amount min > max":       {"payments {\n\troute {\n\t\tamount 500 100\n\t\tto a\n\t}\n}", "greater than max"},
		"unknown option":         {"payments {\n\troute {\n\t\tweekday mon\n\t\tto a\n\t}\n}", "unrecognized option 'weekday'"},
		"route argument":         {"payments {\n\troute eu {\n\t\tto a\n\t}\n}", "no arguments"},
		"breaker args":           {"payments {\n\tbreaker 5\n}", "breaker <failures> <cooldown>"},
		"breaker zero":           {"payments {\n\tbreaker 0 30s\n}", "failures"},
	}
	for name, c := range cf {
		t.Run("caddyfile "+name, func(t *testing.T) {
			err := new(Handler).UnmarshalCaddyfile(caddyfile.NewTestDispenser(c.in))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want it to contain %q", err, c.want)
			}
		})
	}

	t.Setenv("PAYMENTS_T_WHSEC", specSecret)
	base := `{"providers":{"a":{"provider":"fake","endpoint":"http://127.0.0.1:1","secret":"s"},"b":{"provider":"fake","endpoint":"http://127.0.0.1:1","secret":"s"}},` +
		`"api_tokens":["0123456789abcdef0"],"forward_secrets":["{env.PAYMENTS_T_WHSEC}"],"public_url":"https://shop.example/pay","routes":%s}`
	if err := provisionJSON(t, fmt.Sprintf(base, `[{"currencies":["EUR"],"amount":{"min":1,"max":10},"metadata":{"k":"v"},"to":["a","b"]},{"to":["b"]}]`)); err != nil {
		t.Fatalf("good routes refused: %v", err)
	}
	js := map[string]struct{ routes, want string }{
		"unknown account":  {`[{"to":["a","nope"]}]`, `route 1: to: "nope" is not a configured provider account`},
		"no to":            {`[{"currencies":["EUR"]}]`, "route 1: `to` is required"},
		"account twice":    {`[{"to":["a","a"]}]`, `"a" is listed twice`},
		"bad currency":     {`[{"currencies":["eur"],"to":["a"]}]`, `route 1: currency: "eur"`},
		"unknown currency": {`[{"currencies":["XYZ"],"to":["a"]}]`, `currency: "XYZ"`},
		"bad country":      {`[{"countries":["SWE"],"to":["a"]}]`, `country: "SWE"`},
		"currency twice":   {`[{"currencies":["EUR","EUR"],"to":["a"]}]`, "EUR is listed twice"},
		"min > max":        {`[{"amount":{"min":10,"max":5},"to":["a"]}]`, "min 10 is greater than max 5"},
		"negative min":     {`[{"amount":{"min":-1,"max":5},"to":["a"]}]`, "0 <= min"},
		"same matchers":    {`[{"currencies":["EUR","SEK"],"to":["a"]},{"currencies":["SEK","EUR"],"to":["b"]}]`, "route 2 has the same matchers as route 1"},
	}
	for name, c := range js {
		t.Run("json "+name, func(t *testing.T) {
			err := provisionJSON(t, fmt.Sprintf(base, c.routes))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want it to contain %q", err, c.want)
			}
		})
	}

	// A Caddyfile route naming an account that is not configured is
	// refused when the config loads.
	adapter := caddyconfig.GetAdapter("caddyfile")
	_, _, err := adapter.Adapt([]byte("http://localhost {\n\tpayments {\n\t\troute {\n\t\t\tto a\n\t\t\tto b\n\t\t}\n\t}\n}\n"), nil)
	if err == nil || !strings.Contains(err.Error(), "duplicate 'to'") {
		t.Fatalf("adapt: %v", err)
	}
}
