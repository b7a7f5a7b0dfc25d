package caddymodule

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/caddy-payments/caddy-payments/providers/fake"
)

// TestForwardedRequestIsTheEventsOwn checks that the request carrying an
// event to the shop is built fresh, not cloned from the provider's
// notification: the shop's reverse_proxy has header_up placeholders that
// would copy the notification's Authorization (HTTP Basic, as PaySage
// sends it) and an attacker's header into the event if the request or
// Caddy's replacer were still the notification's. Request placeholders
// must describe the event request (Host from public_url, the forward
// path, the gateway on loopback as client) while {env.*} still resolves;
// the gateway sits under handle_path. Both the attempt made while the
// provider waits and the outbox's redeliveries (through the stored host
// and path) are checked.
func TestForwardedRequestIsTheEventsOwn(t *testing.T) {
	fs := fake.NewServer(fakeSecret)
	fsrv := httptest.NewServer(fs)
	t.Cleanup(fsrv.Close)
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte("361:provider-secret"))
	// The provider posts to the notification URL it was given
	// (http://payments.test/pay/notifications/fake) and reaches this Caddy,
	// whose own Host is localhost:9080, with its credentials and a header
	// an attacker added on the way.
	fs.Client = &http.Client{Timeout: 10 * time.Second, Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		r = r.Clone(r.Context())
		r.URL.Host, r.Host = "localhost:9080", ""
		r.Header.Set("Authorization", basic)
		r.Header.Set("X-Evil", "evil-value")
		return http.DefaultTransport.RoundTrip(r)
	})}
	sh := newShop(t)
	t.Setenv("FAKE_PAY_SECRET", fakeSecret)
	t.Setenv("PAYMENTS_TEST_TOKEN", testToken)
	t.Setenv("PAYMENTS_TEST_WHSEC", testWhsec)
	t.Setenv("FWD_TEST_ENV", "env-resolved")
	loadCaddy(t, fmt.Sprintf(`
http://localhost:9080 {
	handle_path /pay/* {
		payments {
			provider fake {
				endpoint %s
				secret {env.FAKE_PAY_SECRET}
			}
			api_token {env.PAYMENTS_TEST_TOKEN}
			forward_secret {env.PAYMENTS_TEST_WHSEC}
			public_url http://payments.test/pay
			forward_path /events/payments
			timeout 2s
			retry_schedule 300ms
			storage_path %s
		}
		reverse_proxy %s {
			header_up X-Leak {http.request.header.Authorization}
			header_up X-Evil-Copy {http.request.header.X-Evil}
			header_up X-Host {http.request.host}
			header_up X-Uri {http.request.uri}
			header_up X-Remote {http.request.remote.host}
			header_up X-Client {client_ip}
			header_up X-Env {env.FWD_TEST_ENV}
		}
	}
}
`, fsrv.URL, filepath.Join(t.TempDir(), "state.db"), sh.srv.URL))

	// check asserts what the shop must see of every event delivery.
	check := func(t *testing.T, ev shopEvent) {
		t.Helper()
		h := ev.Header
		for _, c := range []struct{ name, got, want string }{
			{"X-Leak ({http.request.header.Authorization})", h.Get("X-Leak"), ""},
			{"X-Evil-Copy ({http.request.header.X-Evil})", h.Get("X-Evil-Copy"), ""},
			{"Authorization", h.Get("Authorization"), ""},
			{"X-Evil", h.Get("X-Evil"), ""},
			{"X-Host ({http.request.host})", h.Get("X-Host"), "payments.test"},
			{"X-Forwarded-Host", h.Get("X-Forwarded-Host"), "payments.test"},
			{"X-Uri ({http.request.uri})", h.Get("X-Uri"), "/events/payments"},
			{"X-Remote ({http.request.remote.host})", h.Get("X-Remote"), "127.0.0.1"},
			{"X-Client ({client_ip})", h.Get("X-Client"), "127.0.0.1"},
			{"X-Forwarded-For", h.Get("X-Forwarded-For"), "127.0.0.1"},
			{"X-Env ({env.FWD_TEST_ENV})", h.Get("X-Env"), "env-resolved"},
			{"path", ev.Path, "/events/payments"},
		} {
			if c.got != c.want {
				t.Errorf("the shop got %s = %q, want %q", c.name, c.got, c.want)
			}
		}
		if ev.Verified != nil {
			t.Errorf("the event does not verify: %v", ev.Verified)
		}
	}
	create := func(t *testing.T, ref string) (id, ref2 string) {
		t.Helper()
		code, pay := api(t, "POST", "/pay/payments", testToken, fakePayment(ref, 2500))
		if code != 201 {
			t.Fatalf("create: %d %v", code, pay)
		}
		return pay["id"].(string), pay["provider_reference"].(string)
	}
	mine := func(id string) []shopEvent {
		var out []shopEvent
		for _, ev := range sh.Events() {
			if bytes.Contains(ev.Body, []byte(`"id":"`+id+`"`)) {
				out = append(out, ev)
			}
		}
		return out
	}

	t.Run("the attempt made while the provider waits", func(t *testing.T) {
		id, ref := create(t, "ORD-FWD-1")
		sent, err := fs.Checkout(context.Background(), ref, true)
		if err != nil || len(sent) != 2 || sent[0].StatusCode != 200 || sent[1].StatusCode != 200 {
			t.Fatalf("notifications: %v %+v", err, sent)
		}
		evs := mine(id)
		if len(evs) != 2 {
			t.Fatalf("the shop got %d events for %s, want 2 (processing, succeeded)", len(evs), id)
		}
		for _, ev := range evs {
			check(t, ev)
		}
	})

	t.Run("redelivery through the stored host and path", func(t *testing.T) {
		sh.status.Store(503)
		id, ref := create(t, "ORD-FWD-2")
		sent, err := fs.Checkout(context.Background(), ref, false)
		if err != nil || len(sent) != 1 || sent[0].StatusCode != 200 {
			t.Fatalf("the provider must be acknowledged once the event is stored: %v %+v", err, sent)
		}
		waitFor(t, "redelivery attempts while the shop is down", func() bool { return len(mine(id)) >= 2 })
		sh.status.Store(200)
		waitFor(t, "the redelivery the shop accepts", func() bool {
			evs := mine(id)
			return evs[len(evs)-1].Status == 200
		})
		for _, ev := range mine(id) {
			check(t, ev)
		}
	})
}

// TestForwardedRequestKeepsRouteGroups checks that the event, though a
// request of its own, continues the notification's route chain: a sibling
// `handle` of the handle_path the gateway sits in is skipped for it, as
// for every other request that passes through the gateway. (No handler
// after `payments` then answers: the configuration error the gateway
// reports, and the shop behind the sibling gets nothing.)
func TestForwardedRequestKeepsRouteGroups(t *testing.T) {
	fs := fake.NewServer(fakeSecret)
	fsrv := httptest.NewServer(fs)
	t.Cleanup(fsrv.Close)
	sh := newShop(t)
	t.Setenv("FAKE_PAY_SECRET", fakeSecret)
	t.Setenv("PAYMENTS_TEST_TOKEN", testToken)
	t.Setenv("PAYMENTS_TEST_WHSEC", testWhsec)
	loadCaddy(t, fmt.Sprintf(`
http://localhost:9080 {
	handle_path /pay/* {
		payments {
			provider fake {
				endpoint %s
				secret {env.FAKE_PAY_SECRET}
			}
			api_token {env.PAYMENTS_TEST_TOKEN}
			forward_secret {env.PAYMENTS_TEST_WHSEC}
			public_url http://localhost:9080/pay
			timeout 2s
			retry_schedule 10m
			storage_path %s
		}
	}
	handle {
		reverse_proxy %s
	}
}
`, fsrv.URL, filepath.Join(t.TempDir(), "state.db"), sh.srv.URL))

	code, pay := api(t, "POST", "/pay/payments", testToken, fakePayment("ORD-GROUP", 2500))
	if code != 201 {
		t.Fatalf("create: %d %v", code, pay)
	}
	sent, err := fs.Checkout(context.Background(), pay["provider_reference"].(string), false)
	if err != nil || len(sent) != 1 || sent[0].StatusCode != 200 {
		t.Fatalf("the provider must be acknowledged once the event is stored: %v %+v", err, sent)
	}
	// The attempt was made before the provider got its answer.
	if n := len(sh.Events()); n != 0 {
		t.Fatalf("the event reached the handler of a sibling `handle` (%d events): the route groups were lost", n)
	}
}
