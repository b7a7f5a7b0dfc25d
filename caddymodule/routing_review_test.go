package caddymodule

// Adversarial review of routing, safe failover and circuit breakers
// (issue 13 items 1-3). Every test here fails on the code it was written
// against; see the review report for each finding.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/caddy-payments/caddy-payments/providers"
	"github.com/caddy-payments/caddy-payments/providers/fake"
)

// reviewPanic is the fake provider with a create that panics (a provider
// bug, e.g. a nil dereference on an unexpected reply) for amount 4242,
// before anything is sent.
type reviewPanic struct{ fake.Provider }

func init() { caddy.RegisterModule(reviewPanic{}) }

func (reviewPanic) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: providers.Namespace + ".reviewpanic", New: func() caddy.Module { return new(reviewPanic) }}
}

func (p *reviewPanic) CreatePayment(ctx context.Context, do providers.Doer, req *providers.CreatePayment) (*providers.Payment, error) {
	if req.Amount == 4242 {
		panic("review: provider bug")
	}
	return p.Provider.CreatePayment(ctx, do, req)
}

// reviewAccount is one provider block of reviewSite.
type reviewAccount struct{ name, typ, endpoint string }

// reviewSite is a gateway with the given fake-wire accounts in front of
// the shop, with more payments options.
func reviewSite(t *testing.T, sh *shop, accounts []reviewAccount, opts string) string {
	t.Setenv("FAKE_PAY_SECRET", fakeSecret)
	t.Setenv("PAYMENTS_TEST_TOKEN", testToken)
	t.Setenv("PAYMENTS_TEST_WHSEC", testWhsec)
	var blocks strings.Builder
	for _, a := range accounts {
		fmt.Fprintf(&blocks, "\t\tprovider %s %s {\n\t\t\tendpoint %s\n\t\t\tsecret {env.FAKE_PAY_SECRET}\n\t\t}\n", a.name, a.typ, a.endpoint)
	}
	return fmt.Sprintf(`
http://localhost:9080 {
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
`, blocks.String(), filepath.Join(t.TempDir(), "state.db"), opts, sh.srv.URL)
}

// reviewServer is a fake.Server behind a switch: it counts creates and,
// by mode, answers 503 to everything or holds GETs until the client
// gives up.
type reviewServer struct {
	srv       *httptest.Server
	creates   atomic.Int32
	fail503   atomic.Bool
	holdFetch atomic.Bool
}

func newReviewServer(t *testing.T) *reviewServer {
	fs := fake.NewServer(fakeSecret)
	s := &reviewServer{}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && r.URL.Path == "/payments" {
			s.creates.Add(1)
		}
		if s.fail503.Load() {
			http.Error(w, "unavailable", http.StatusServiceUnavailable)
			return
		}
		if r.Method == http.MethodGet && s.holdFetch.Load() {
			select {
			case <-r.Context().Done():
			case <-time.After(5 * time.Second):
			}
			return
		}
		fs.ServeHTTP(w, r)
	}))
	t.Cleanup(s.srv.Close)
	return s
}

// reviewRouted is a create without provider, for the fake wire.
func reviewRouted(ref string, amount int64) map[string]any {
	p := payablPayment(ref, amount)
	delete(p, "provider")
	return p
}

// TestRoutingReviewNoFailoverAfterProviderAnswered: account a received
// the whole create and answered it (HTTP 404 with an error envelope). The
// gateway's own Doer saw the request written and a reply come back, yet
// the provider package's error carries no request_sent, normalise() turns
// that into "no", and createRouted fails over: account b gets the same
// payment. The failover decision must not rest on a provider package's
// (default) classification alone.
func TestRoutingReviewNoFailoverAfterProviderAnswered(t *testing.T) {
	var aCreates atomic.Int32
	a := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && r.URL.Path == "/payments" {
			aCreates.Add(1)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		_, _ = io.WriteString(w, `{"error":{"code":"no_route","message":"not here"}}`)
	}))
	t.Cleanup(a.Close)
	b := newReviewServer(t)
	sh := newShop(t)
	loadCaddy(t, reviewSite(t, sh, []reviewAccount{{"a", "fake", a.URL}, {"b", "fake", b.srv.URL}}, "timeout 5s\n\t\troute {\n\t\t\tto a b\n\t\t}"))

	code, out := api(t, "POST", "/payments", testToken, reviewRouted("RV-ANS-1", 1999))
	if aCreates.Load() != 1 {
		t.Fatalf("account a got %d creates, want 1", aCreates.Load())
	}
	if b.creates.Load() != 0 || code == 201 {
		t.Fatalf("a received the create and answered it, yet the gateway failed over: %d %v (b got %d creates)", code, out, b.creates.Load())
	}
	if errField(out, "provider") != "a" || errField(out, "request_sent") == "no" {
		t.Fatalf("want an error naming a with request_sent yes/unknown, got %d %v", code, out)
	}
}

// TestBreakerReviewClientCancelNotAFailure: fetches run on the client's
// request context; a client that gives up (its own short timeout) cancels
// the provider call, and callDoer counts that as the account failing.
// Two impatient GET /payments/{id} open the breaker of a healthy account
// and routed creates move away from it.
func TestBreakerReviewClientCancelNotAFailure(t *testing.T) {
	acc := newReviewServer(t)
	other := newReviewServer(t)
	sh := newShop(t)
	loadCaddy(t, reviewSite(t, sh, []reviewAccount{{"acc", "fake", acc.srv.URL}, {"other", "fake", other.srv.URL}},
		"timeout 10s\n\t\tbreaker 2 1h\n\t\troute {\n\t\t\tto acc other\n\t\t}"))

	code, pay := api(t, "POST", "/payments", testToken, reviewRouted("RV-CAN-1", 1999))
	if code != 201 || pay["provider"] != "acc" {
		t.Fatalf("create: %d %v", code, pay)
	}
	acc.holdFetch.Store(true)
	impatient := &http.Client{Timeout: 300 * time.Millisecond}
	for i := 0; i < 2; i++ {
		req, _ := http.NewRequest("GET", gwBase+"/payments/"+pay["id"].(string), nil)
		req.Header.Set("Authorization", "Bearer "+testToken)
		if resp, err := impatient.Do(req); err == nil {
			resp.Body.Close()
		}
	}
	time.Sleep(700 * time.Millisecond) // the gateway sees the cancellations
	acc.holdFetch.Store(false)
	if h, _ := providersView(t); h["acc"] != "ok" {
		t.Fatalf("health of acc after two fetches its client gave up on: %q (want ok: the account never failed)", h["acc"])
	}
}

// TestBreakerReviewPanickedProbeFreesSlot: a probe whose create panics
// (a provider bug) never reaches br.release() (it is not deferred), so
// the half-open breaker keeps probing=true forever: no routed create
// ever probes the account again and it never closes until a reload.
func TestBreakerReviewPanickedProbeFreesSlot(t *testing.T) {
	pk := newReviewServer(t)
	other := newReviewServer(t)
	sh := newShop(t)
	loadCaddy(t, reviewSite(t, sh, []reviewAccount{{"pk", "reviewpanic", pk.srv.URL}, {"other", "fake", other.srv.URL}},
		"timeout 5s\n\t\tbreaker 1 300ms\n\t\troute {\n\t\t\tto pk other\n\t\t}"))

	pk.fail503.Store(true)
	code, out := api(t, "POST", "/payments", testToken, reviewRouted("RV-PAN-1", 1999))
	if code != 502 || errField(out, "provider") != "pk" {
		t.Fatalf("failing create: %d %v", code, out)
	}
	pk.fail503.Store(false)
	waitFor(t, "half_open", func() bool { h, _ := providersView(t); return h["pk"] == "half_open" })

	// The probe: its create panics before sending anything.
	raw, _ := json.Marshal(reviewRouted("RV-PAN-2", 4242))
	req, _ := http.NewRequest("POST", gwBase+"/payments", bytes.NewReader(raw))
	req.Header.Set("Authorization", "Bearer "+testToken)
	req.Header.Set("Content-Type", "application/json")
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
	}
	http.DefaultClient.CloseIdleConnections()

	time.Sleep(400 * time.Millisecond) // more than a cool-down
	code, pay := api(t, "POST", "/payments", testToken, reviewRouted("RV-PAN-3", 1999))
	if code != 201 || pay["provider"] != "pk" {
		h, _ := providersView(t)
		t.Fatalf("after a panicked probe, the next routed create should probe pk; got %d from %v (pk health %q)", code, pay["provider"], h["pk"])
	}
}

// TestBreakerReviewStaleProbe: release() and record() do not check that
// the caller is the current probe. A probe that outlives its half-open
// period (its call closed the breaker, other calls re-opened it, the
// cool-down passed and a new probe started) frees the new probe's slot
// when it ends, letting a second concurrent probe through. (Likewise its
// late calls, marked only by account name, count as the new probe's.)
func TestBreakerReviewStaleProbe(t *testing.T) {
	b := &breaker{account: "a", failures: 1, cooldown: 20 * time.Millisecond, state: healthOK}
	defer b.stop()
	b.record(true, 0)
	waitFor(t, "half-open", func() bool { return b.health() == healthHalfOpen })
	ok, probe1 := b.acquire()
	if !ok || probe1 == 0 {
		t.Fatal("no first probe")
	}
	b.record(false, probe1) // probe 1's call succeeds: closed
	b.record(true, 0)       // a fetch fails: open again
	waitFor(t, "half-open again", func() bool { return b.health() == healthHalfOpen })
	ok, probe2 := b.acquire()
	if !ok || probe2 == 0 {
		t.Fatal("no second probe")
	}
	b.release(probe1) // probe 1's create returns only now
	if ok, _ := b.acquire(); ok {
		t.Error("a stale probe's release let a second concurrent probe through")
	}
	b.record(true, probe1) // and its late call decides nothing
	if b.health() != healthHalfOpen {
		t.Errorf("a stale probe's call decided the breaker: %s", b.health())
	}
}

// TestRouteReviewConfigGaps: routes that can never match are accepted
// silently: a metadata value no request can carry (over 500 characters,
// or a control character: validatePayment refuses both), and a route
// after a catch-all route (the duplicate check only catches identical
// matchers, although the catch-all shadows every later route).
func TestRouteReviewConfigGaps(t *testing.T) {
	t.Setenv("PAYMENTS_T_WHSEC", specSecret)
	base := `{"providers":{"a":{"provider":"fake","endpoint":"http://127.0.0.1:1","secret":"s"},"b":{"provider":"fake","endpoint":"http://127.0.0.1:1","secret":"s"}},` +
		`"api_tokens":["0123456789abcdef0"],"forward_secrets":["{env.PAYMENTS_T_WHSEC}"],"public_url":"https://shop.example/pay","routes":%s}`
	long, _ := json.Marshal(strings.Repeat("x", 501))
	cases := map[string]string{
		"metadata value too long":     `[{"metadata":{"k":` + string(long) + `},"to":["a"]}]`,
		"metadata value control char": `[{"metadata":{"k":"a\u0007b"},"to":["a"]}]`,
		"route after a catch-all":     `[{"to":["a"]},{"currencies":["EUR"],"to":["b"]}]`,
	}
	for name, routes := range cases {
		t.Run(name, func(t *testing.T) {
			if err := provisionJSON(t, fmt.Sprintf(base, routes)); err == nil {
				t.Fatalf("accepted a route that can never match: %s", routes)
			}
		})
	}
}
