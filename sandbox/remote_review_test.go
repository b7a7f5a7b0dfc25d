package sandbox

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// Adversarial review of item 12: a remote client behind a local reverse
// proxy writes "X-Forwarded-For: 127.0.0.1" itself; the proxy appends its
// real address, and Caddy's client_ip (trusted_proxies) is the left-most
// entry. The sandbox trusts no single entry: every forwarded-for address
// must be loopback.
func TestSandboxRefusesSpoofedForwardedFor(t *testing.T) {
	srv, _ := defaultSandbox(t) // the test client is a loopback peer
	get := func(header map[string]string) int {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/sandbox/payabl/_sandbox/payments", nil)
		for k, v := range header {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, h := range []map[string]string{
		{"X-Forwarded-For": "127.0.0.1, 203.0.113.9"}, // the spoof
		{"X-Forwarded-For": "203.0.113.9"},            // the honest remote client
		{"X-Forwarded-For": "::1,203.0.113.9, 127.0.0.1"},
		{"X-Forwarded-For": "127.0.0.1, not-an-address"},
		{"X-Real-IP": "203.0.113.9"},
		{"Forwarded": "for=127.0.0.1, for=203.0.113.9"},
		{"Forwarded": `for="[::1]:4711";proto=http, for="[2001:db8::1]"`},
		{"Forwarded": "for=unknown"},
		{"Forwarded": "for=_hidden"},
	} {
		if code := get(h); code != http.StatusForbidden {
			t.Errorf("%v: HTTP %d, want 403", h, code)
		}
	}
	for _, h := range []map[string]string{
		nil,
		{"X-Forwarded-For": "127.0.0.1"},
		{"X-Forwarded-For": "127.0.0.1, ::1"},
		{"Forwarded": `for=127.0.0.1;proto=http, for="[::1]:80"`},
	} {
		if code := get(h); code != http.StatusOK {
			t.Errorf("%v: HTTP %d, want 200 (loopback all the way)", h, code)
		}
	}
}

// Caddy's client_ip alone no longer decides: a loopback client_ip with a
// non-loopback address further down X-Forwarded-For is refused.
func TestLoopbackClientTrustsNoSingleEntry(t *testing.T) {
	r := httptest.NewRequest(http.MethodGet, "http://localhost/sandbox/payabl/", nil)
	r.RemoteAddr = "127.0.0.1:5000"
	r.Header.Set("X-Forwarded-For", "127.0.0.1, 198.51.100.4")
	r = r.WithContext(context.WithValue(r.Context(), caddyhttp.VarsCtxKey, map[string]any{caddyhttp.ClientIPVarKey: "127.0.0.1"}))
	if loopbackClient(r) {
		t.Fatal("loopback client_ip with a remote X-Forwarded-For entry was taken as a loopback client")
	}
	r.Header.Set("X-Forwarded-For", "127.0.0.1")
	if !loopbackClient(r) {
		t.Fatal("all-loopback request refused")
	}
}

// Whatever the target's host, the sandbox posts only to a gateway's
// notification route (…/notifications/<name>): a loopback service such as
// Caddy's admin API (/stop, /load, /config/…) gets nothing, even with
// allow_remote targets.
func TestSandboxPostsOnlyToNotificationRoutes(t *testing.T) {
	tg := newTarget(t, nil, http.StatusOK, "OK", nil)
	for _, h := range []*Handler{
		{Payabl: &PayablConfig{Secret: testSecret}},
		{Payabl: &PayablConfig{Secret: testSecret}, AllowRemoteTargets: true},
	} {
		srv, _ := sandboxServer(t, h)
		for _, path := range []string{"/stop", "/load", "/config/apps/http", "/notifications", "/notifications/",
			"/notifications/payabl/x", "/x/notificationsy/payabl", "/notifications/..", "/"} {
			before := tg.hits.Load()
			d := payablDelivered(t, srv, tg.srv.URL+path)
			if tg.hits.Load() != before || d.HTTPStatus != 0 || d.Acknowledged || !strings.Contains(d.Error, "/notifications/<name>") {
				t.Errorf("allow_remote targets %v, path %q: %d requests, delivery %+v", h.AllowRemoteTargets, path,
					tg.hits.Load()-before, d)
			}
		}
		// The gateway's route, under a public_url path prefix or not.
		for _, path := range []string{"/notifications/payabl", "/pay/notifications/payabl"} {
			before := tg.hits.Load()
			if d := payablDelivered(t, srv, tg.srv.URL+path+"?x=/stop"); tg.hits.Load() != before+1 || !d.Acknowledged {
				t.Errorf("path %q: %d requests, delivery %+v", path, tg.hits.Load()-before, d)
			}
		}
	}

	// PaySage and Razorpay deliver through the same check.
	t.Run("paysage", func(t *testing.T) {
		srv := psSandbox(t)
		before := tg.hits.Load()
		tx := psCreate(t, srv, 1000, "track-stop", tg.srv.URL+"/stop")
		uid, _ := tx["uid"].(string)
		if st := psAction(t, srv, uid, "decline"); st != http.StatusOK {
			t.Fatalf("decline: HTTP %d", st)
		}
		eventually(t, "recorded refusal", func() bool {
			return strings.Contains(rawGet(t, srv.URL+"/sandbox/paysage/_sandbox/payments"), refusedPath)
		})
		if tg.hits.Load() != before {
			t.Fatalf("PaySage posted to /stop")
		}
	})
	t.Run("razorpay", func(t *testing.T) {
		before := tg.hits.Load()
		e := newRzpEnv(t, func(h *Handler) { h.Razorpay.WebhookURL = tg.srv.URL + "/load" })
		_, payID := e.newPayment(t, 1000, "https://shop.example/cb")
		if st, out := e.sandboxAction(t, payID, "decline"); st != http.StatusOK {
			t.Fatalf("decline: HTTP %d %v", st, out)
		}
		eventually(t, "recorded refusal", func() bool {
			return strings.Contains(rawGet(t, e.base+"/_sandbox/payments"), refusedPath)
		})
		if tg.hits.Load() != before {
			t.Fatalf("Razorpay posted to /load")
		}
	})
}

// refusedPath is part of the recorded refusal of a target path (free of
// characters JSON escapes).
const refusedPath = "posts notifications to a payments gateway's notification route only"

func TestNotificationPath(t *testing.T) {
	for path, want := range map[string]bool{
		"/notifications/payabl": true, "/pay/notifications/razorpay": true, "/a/b/notifications/x-1": true,
		"": false, "/": false, "/stop": false, "/load": false, "/notifications": false, "/notifications/": false,
		"/notifications/a/": false, "/notifications/a/b": false, "/xnotifications/a": false, "/notifications/..": false,
	} {
		if got := notificationPath(path); got != want {
			t.Errorf("notificationPath(%q) = %v, want %v", path, got, want)
		}
	}
}
