package sandbox

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// target is a notification receiver that answers every request with a
// fixed status, headers and body, and counts the requests it got.
type target struct {
	srv  *httptest.Server
	hits atomic.Int32
}

func newTarget(t *testing.T, ln net.Listener, status int, body string, header map[string]string) *target {
	t.Helper()
	tg := &target{}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		tg.hits.Add(1)
		for k, v := range header {
			w.Header().Set(k, v)
		}
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	})
	if ln == nil {
		tg.srv = httptest.NewServer(h)
	} else {
		tg.srv = httptest.NewUnstartedServer(h)
		tg.srv.Listener.Close()
		tg.srv.Listener = ln
		tg.srv.Start()
	}
	t.Cleanup(tg.srv.Close)
	return tg
}

// nonLoopbackListener listens on one of this machine's addresses that is
// not loopback, so a test can prove that a reachable non-loopback target
// is refused by the sandbox and not merely unreachable. It skips the test
// when the machine has no such address.
func nonLoopbackListener(t *testing.T) net.Listener {
	t.Helper()
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		n, ok := a.(*net.IPNet)
		if !ok || n.IP.IsLoopback() || n.IP.IsLinkLocalUnicast() || n.IP.To4() == nil {
			continue
		}
		ln, err := net.Listen("tcp", net.JoinHostPort(n.IP.String(), "0"))
		if err == nil {
			return ln
		}
	}
	t.Skip("no non-loopback IPv4 address to listen on")
	return nil
}

// rawGet fetches u and returns the body.
func rawGet(t *testing.T, u string) string {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// payablDelivered declines a new payabl. payment notifying notifyURL and
// returns its one recorded delivery.
func payablDelivered(t *testing.T, srv *httptest.Server, notifyURL string) payablDelivery {
	t.Helper()
	id := createPayment(t, srv, "19.99", notifyURL).Get("transactionid")
	postRaw(t, srv.URL+"/sandbox/payabl/_sandbox/payments/"+id+"/decline", "")
	eventually(t, "recorded delivery", func() bool {
		v := findView(inspectPayments(t, srv.URL), id)
		return v != nil && len(v.Notifications) == 1
	})
	return findView(inspectPayments(t, srv.URL), id).Notifications[0]
}

func TestSandboxRefusesNonLoopbackTargets(t *testing.T) {
	srv, _ := defaultSandbox(t)

	// A documentation address: refused before any packet is sent.
	d := payablDelivered(t, srv, "http://203.0.113.1:9/notifications/test")
	if d.HTTPStatus != 0 || d.Acknowledged || !strings.Contains(d.Error, "203.0.113.1 is not a loopback address") ||
		!strings.Contains(d.Error, "allow_remote") {
		t.Fatalf("delivery to 203.0.113.1 recorded as %+v, want a refusal naming allow_remote", d)
	}

	// A target this machine really serves on a non-loopback address is
	// refused too, and gets nothing.
	tg := newTarget(t, nonLoopbackListener(t), http.StatusOK, "OK", nil)
	d = payablDelivered(t, srv, tg.srv.URL+"/notifications/test")
	if tg.hits.Load() != 0 || d.HTTPStatus != 0 || !strings.Contains(d.Error, "not a loopback address") {
		t.Fatalf("non-loopback target got %d requests, delivery %+v", tg.hits.Load(), d)
	}

	// allow_remote targets lets it through.
	open, _ := sandboxServer(t, &Handler{Payabl: &PayablConfig{Secret: testSecret}, AllowRemoteTargets: true})
	d = payablDelivered(t, open, tg.srv.URL+"/notifications/test")
	if tg.hits.Load() != 1 || d.HTTPStatus != http.StatusOK || !d.Acknowledged {
		t.Fatalf("with allow_remote targets: %d requests, delivery %+v", tg.hits.Load(), d)
	}
}

// The refusal looks at the address actually dialed, after resolution, so
// a name cannot smuggle a non-loopback address past it.
func TestLoopbackOnlyControl(t *testing.T) {
	for _, addr := range []string{"127.0.0.1:80", "127.8.9.10:1", "[::1]:443"} {
		if err := loopbackOnlyControl("tcp", addr, nil); err != nil {
			t.Errorf("%s refused: %v", addr, err)
		}
	}
	for _, addr := range []string{"203.0.113.1:80", "10.0.0.1:80", "[::ffff:192.0.2.1]:80", "[2001:db8::1]:80", "0.0.0.0:80", "169.254.169.254:80"} {
		if err := loopbackOnlyControl("tcp", addr, nil); err == nil {
			t.Errorf("%s accepted", addr)
		}
	}
	// A host name resolving to loopback is dialed.
	tg := newTarget(t, nil, http.StatusOK, "OK", nil)
	_, port, _ := net.SplitHostPort(tg.srv.Listener.Addr().String())
	srv, _ := defaultSandbox(t)
	if d := payablDelivered(t, srv, "http://localhost:"+port+"/notifications/test"); !d.Acknowledged {
		t.Fatalf("localhost target: %+v", d)
	}
}

func TestSandboxDoesNotFollowRedirects(t *testing.T) {
	final := newTarget(t, nil, http.StatusOK, "OK", nil)
	hop := newTarget(t, nil, http.StatusTemporaryRedirect, "", map[string]string{"Location": final.srv.URL + "/elsewhere"})
	srv, _ := defaultSandbox(t)
	d := payablDelivered(t, srv, hop.srv.URL+"/notifications/test")
	if hop.hits.Load() != 1 || final.hits.Load() != 0 {
		t.Fatalf("redirect followed: first target %d requests, redirect target %d", hop.hits.Load(), final.hits.Load())
	}
	if d.HTTPStatus != http.StatusTemporaryRedirect || d.Acknowledged {
		t.Fatalf("delivery recorded as %+v, want the 307 itself, unacknowledged", d)
	}
}

// No inspection listing publishes what a notification target answered.
func TestSandboxListingsKeepNoTargetBody(t *testing.T) {
	const secret = "INTERNAL-ANSWER-7f3a"
	tg := newTarget(t, nil, http.StatusOK, "OK "+secret, nil)
	acked := regexp.MustCompile(`"http_status":\s*200`)

	t.Run("payabl", func(t *testing.T) {
		srv, _ := defaultSandbox(t)
		payablDelivered(t, srv, tg.srv.URL+"/notifications/test")
		if raw := rawGet(t, srv.URL+"/sandbox/payabl/_sandbox/payments"); !acked.MatchString(raw) || strings.Contains(raw, secret) {
			t.Fatalf("listing: %s", raw)
		}
	})
	t.Run("paysage", func(t *testing.T) {
		srv := psSandbox(t)
		tx := psCreate(t, srv, 1000, "track-1", tg.srv.URL+"/notifications/test")
		uid, _ := tx["uid"].(string)
		if st := psAction(t, srv, uid, "decline"); st != http.StatusOK {
			t.Fatalf("decline: HTTP %d", st)
		}
		var raw string
		eventually(t, "recorded webhook", func() bool {
			raw = rawGet(t, srv.URL+"/sandbox/paysage/_sandbox/payments")
			return acked.MatchString(raw)
		})
		if strings.Contains(raw, secret) {
			t.Fatalf("listing publishes the target's answer: %s", raw)
		}
	})
	t.Run("razorpay", func(t *testing.T) {
		e := newRzpEnv(t, func(h *Handler) { h.Razorpay.WebhookURL = tg.srv.URL + "/notifications/test" })
		_, payID := e.newPayment(t, 1000, "https://shop.example/cb")
		if st, out := e.sandboxAction(t, payID, "decline"); st != http.StatusOK {
			t.Fatalf("decline: HTTP %d %v", st, out)
		}
		var raw string
		eventually(t, "recorded webhook", func() bool {
			raw = rawGet(t, e.base+"/_sandbox/payments")
			return acked.MatchString(raw)
		})
		if strings.Contains(raw, secret) {
			t.Fatalf("listing publishes the target's answer: %s", raw)
		}
	})
}

func TestSandboxRefusesNonLoopbackClients(t *testing.T) {
	_, h := defaultSandbox(t)
	nextCalled := false
	next := caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		nextCalled = true
		w.WriteHeader(http.StatusTeapot)
		return nil
	})
	serve := func(h *Handler, remote, clientIP, path string) *httptest.ResponseRecorder {
		t.Helper()
		r := httptest.NewRequest(http.MethodGet, "http://shop.example"+path, nil)
		r.RemoteAddr = remote
		if clientIP != "" {
			ctx := context.WithValue(r.Context(), caddyhttp.VarsCtxKey, map[string]any{caddyhttp.ClientIPVarKey: clientIP})
			r = r.WithContext(ctx)
		}
		w := httptest.NewRecorder()
		if err := h.ServeHTTP(w, r, next); err != nil {
			t.Fatal(err)
		}
		return w
	}
	listing := "/sandbox/payabl/_sandbox/payments"

	for _, c := range []struct{ remote, clientIP string }{
		{"192.0.2.1:1234", ""},
		{"[2001:db8::7]:443", ""},
		{"127.0.0.1:5000", "198.51.100.4"}, // behind a trusted proxy on loopback
	} {
		w := serve(h, c.remote, c.clientIP, listing)
		if w.Code != http.StatusForbidden || !strings.Contains(w.Body.String(), "only loopback clients") ||
			!strings.Contains(w.Body.String(), "allow_remote clients") {
			t.Errorf("client %s/%s: HTTP %d %q, want 403 naming the rule", c.remote, c.clientIP, w.Code, w.Body)
		}
	}
	for _, remote := range []string{"127.0.0.1:5000", "[::1]:5000"} {
		if w := serve(h, remote, "", listing); w.Code != http.StatusOK {
			t.Errorf("loopback client %s: HTTP %d %q", remote, w.Code, w.Body)
		}
	}
	// Requests outside the prefix are not the sandbox's business.
	if w := serve(h, "192.0.2.1:1234", "", "/shop/cart"); w.Code != http.StatusTeapot || !nextCalled {
		t.Errorf("outside the prefix: HTTP %d, next called %v", w.Code, nextCalled)
	}
	// allow_remote clients serves everyone.
	_, open := sandboxServer(t, &Handler{Payabl: &PayablConfig{Secret: testSecret}, AllowRemoteClients: true})
	if w := serve(open, "192.0.2.1:1234", "", listing); w.Code != http.StatusOK {
		t.Errorf("allow_remote clients: HTTP %d %q", w.Code, w.Body)
	}
}

func TestSandboxCaddyfileAllowRemote(t *testing.T) {
	cases := map[string][2]bool{
		"payments_sandbox {\n}":                                 {false, false},
		"payments_sandbox {\n\tallow_remote\n}":                 {true, true},
		"payments_sandbox {\n\tallow_remote clients\n}":         {true, false},
		"payments_sandbox {\n\tallow_remote targets\n}":         {false, true},
		"payments_sandbox {\n\tallow_remote targets clients\n}": {true, true},
	}
	for in, want := range cases {
		h := new(Handler)
		if err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser(in)); err != nil {
			t.Fatalf("%q: %v", in, err)
		}
		if h.AllowRemoteClients != want[0] || h.AllowRemoteTargets != want[1] {
			t.Errorf("%q: clients %v targets %v, want %v", in, h.AllowRemoteClients, h.AllowRemoteTargets, want)
		}
	}
	h := new(Handler)
	if err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser("payments_sandbox {\n\tallow_remote everyone\n}")); err == nil ||
		!strings.Contains(err.Error(), "allow_remote") {
		t.Fatalf("bad argument: %v", err)
	}
}
