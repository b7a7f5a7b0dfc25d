package caddymodule

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/caddy-payments/caddy-payments/internal/redistest"
	"github.com/caddy-payments/caddy-payments/providers/fake"
)

// testGlobals is the global options block loadCaddy puts before its sites.
const testGlobals = `
{
	admin localhost:2999
	http_port 9080
	https_port 9443
	grace_period 1ns
	skip_install_trust
}
`

// postLoad posts a Caddyfile to the running test Caddy's admin API, as
// `caddy reload` does, and returns its answer. force asks Caddy to reload
// even when the config did not change.
func postLoad(t *testing.T, sites string, force bool) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, "http://localhost:2999/load", strings.NewReader(testGlobals+sites))
	req.Header.Set("Content-Type", "text/caddyfile")
	if force {
		req.Header.Set("Cache-Control", "must-revalidate")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("posting the config: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	http.DefaultClient.CloseIdleConnections()
	return resp.StatusCode, string(body)
}

// providersOn calls GET /providers on the gateway listening on port.
func providersOn(t *testing.T, port int) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, fmt.Sprintf("http://localhost:%d/providers", port), nil)
	req.Header.Set("Authorization", "Bearer "+testToken)
	// A fresh connection: a reload closes the old server's idle ones, and
	// a reused one would fail with EOF.
	req.Close = true
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET /providers on %d: %v", port, err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestTwoHandlersOnOneStore: two payments handlers of one config that are
// two gateways (two public URLs) are refused on one state store — the
// default file, one storage_path, or one Redis key prefix — with an error
// that says how to fix it; with a storage_path each they both run, a
// reload of that config works (old and new config hold the same stores
// for a moment), and one gateway served on two ports shares its store.
func TestTwoHandlersOnOneStore(t *testing.T) {
	t.Setenv("XDG_DATA_HOME", t.TempDir()) // the default store lives under it
	fs := fake.NewServer(fakeSecret)
	fsrv := httptest.NewServer(fs)
	t.Cleanup(fsrv.Close)
	sh := newShop(t)
	dir := t.TempDir()
	const pubA, pubB = "http://localhost:9080", "http://localhost:9081"
	site := func(port int, pub, options string) string {
		return strings.Replace(fakeSite(t, port, fsrv.URL, sh.srv.URL, options),
			"public_url http://localhost:9080", "public_url "+pub, 1)
	}
	fileA := "storage_path " + filepath.Join(dir, "a.db")
	fileB := "storage_path " + filepath.Join(dir, "b.db")
	loadCaddy(t, site(9080, pubA, fileA))

	shared := "storage_path " + filepath.Join(dir, "shared.db")
	redisAddr := redistest.StartT(t).Addr
	for _, tc := range []struct{ name, a, b, fix string }{
		{"default store", "", "", "give each its own storage_path"},
		{"one storage_path", shared, shared, "give each its own storage_path"},
		{"one file, spelled two ways", shared, "storage file " + dir + "/./shared.db", "give each its own storage_path"},
		{"one redis key prefix", "storage redis " + redisAddr, "storage redis " + redisAddr + " {\nkey_prefix payments:\n}", "give each its own key_prefix"},
	} {
		code, body := postLoad(t, site(9080, pubA, tc.a)+site(9081, pubB, tc.b), false)
		if code == http.StatusOK {
			t.Fatalf("%s: two gateways on one store were loaded", tc.name)
		}
		if !strings.Contains(body, "would share one state store") || !strings.Contains(body, tc.fix) ||
			!strings.Contains(body, pubA) || !strings.Contains(body, pubB) {
			t.Fatalf("%s: the error does not say what is wrong and how to fix it: %d %s", tc.name, code, body)
		}
	}
	// The refused loads left the running config as it was.
	if code := providersOn(t, 9080); code != http.StatusOK {
		t.Fatalf("the running gateway answers %d after a refused reload", code)
	}

	// A storage_path each: both run.
	both := site(9080, pubA, fileA) + site(9081, pubB, fileB)
	loadCaddy(t, both)
	for _, port := range []int{9080, 9081} {
		if code := providersOn(t, port); code != http.StatusOK {
			t.Fatalf("gateway on %d answers %d", port, code)
		}
	}
	// A reload of the same config: the new handlers provision while the
	// old ones still hold the same stores.
	if code, body := postLoad(t, both, true); code != http.StatusOK {
		t.Fatalf("reloading the same config: %d %s", code, body)
	}
	// One gateway (one public_url) on two ports shares its store, across a
	// reload too.
	one := site(9080, pubA, shared) + site(9081, pubA, shared)
	loadCaddy(t, one)
	if code, body := postLoad(t, one, true); code != http.StatusOK {
		t.Fatalf("reloading one gateway on two ports: %d %s", code, body)
	}
	for _, port := range []int{9080, 9081} {
		if code := providersOn(t, port); code != http.StatusOK {
			t.Fatalf("gateway on %d answers %d", port, code)
		}
	}
}

// TestReconcilerFindsLostRefundAndPayoutOutcomes: the provider never
// notifies the outcome of a refund or a payout (the fake's refunds stay
// pending, then change without a word); the reconciler re-fetches them,
// records the change under the store's rules (a failed refund gives its
// amount back) and forwards refund.succeeded, refund.failed and
// payout.failed to the shop, once each.
func TestReconcilerFindsLostRefundAndPayoutOutcomes(t *testing.T) {
	fs := fake.NewServer(fakeSecret)
	fs.RefundsPending = true
	fsrv := httptest.NewServer(fs)
	t.Cleanup(fsrv.Close)
	sh := newShop(t)
	loadCaddy(t, fakeSite(t, 9080, fsrv.URL, sh.srv.URL, fmt.Sprintf("retry_schedule 200ms\nreconcile_schedule 300ms\nstorage_path %s", filepath.Join(t.TempDir(), "state.db"))))
	code, pay := api(t, "POST", "/payments", testToken, fakePayment("ORD-RECON-RF", 5000))
	if code != 201 {
		t.Fatal(code, pay)
	}
	id := pay["id"].(string)
	if sent, err := fs.Checkout(context.Background(), pay["provider_reference"].(string), true); err != nil || len(sent) != 2 || sent[1].StatusCode != 200 {
		t.Fatalf("checkout: %+v %v", sent, err)
	}
	code, ok := api(t, "POST", "/payments/"+id+"/refunds", testToken, map[string]any{"amount": 1000})
	if code != 201 || ok["status"] != "pending" {
		t.Fatalf("refund: %d %v", code, ok)
	}
	code, bad := api(t, "POST", "/payments/"+id+"/refunds", testToken, map[string]any{"amount": 2000})
	if code != 201 || bad["status"] != "pending" {
		t.Fatalf("refund: %d %v", code, bad)
	}
	code, po := api(t, "POST", "/payouts", testToken, map[string]any{
		"reference": "PO-RECON", "amount": 700, "currency": "EUR",
		"bank_account": map[string]any{"country": "DE", "iban": "DE89370400440532013000", "holder_name": "Jane Doe"},
	})
	if code != 201 || po["status"] != "pending" {
		t.Fatalf("payout: %d %v", code, po)
	}
	// The provider settles them; no notification says so.
	for ref, status := range map[string]string{
		ok["provider_reference"].(string): "succeeded", bad["provider_reference"].(string): "failed",
		po["provider_reference"].(string): "failed",
	} {
		if err := fs.SetStatus(ref, status); err != nil {
			t.Fatal(err)
		}
	}
	want := map[string]string{ok["id"].(string): "refund.succeeded", bad["id"].(string): "refund.failed", po["id"].(string): "payout.failed"}
	waitFor(t, "the reconciled refund and payout events at the shop", func() bool {
		for obj, typ := range want {
			if !slices.Contains(types(eventsOf(t, sh, obj)), typ) {
				return false
			}
		}
		return true
	})
	time.Sleep(time.Second) // later checks must not announce anything again
	for obj, typ := range want {
		got := eventsOf(t, sh, obj)
		if len(got) != 1 || got[0]["type"] != typ {
			t.Fatalf("%s: shop got %v, want one %s", obj, types(got), typ)
		}
		data := got[0]["data"].(map[string]any)
		if data["id"] != obj || data["currency"] != "EUR" || data["status"] != strings.SplitN(typ, ".", 2)[1] {
			t.Fatalf("%s event data: %v", typ, data)
		}
		if strings.HasPrefix(typ, "refund.") && data["payment_id"] != id {
			t.Fatalf("%s event data without the payment id: %v", typ, data)
		}
	}
	if amt := eventsOf(t, sh, ok["id"].(string))[0]["data"].(map[string]any)["amount"]; amt != float64(1000) {
		t.Fatalf("refund.succeeded amount %v", amt)
	}
	code, now := api(t, "GET", "/payments/"+id, testToken, nil)
	if code != 200 || now["amount_refunded"] != float64(1000) {
		t.Fatalf("the failed refund's amount was not given back: %d %v", code, now)
	}
	for path, status := range map[string]string{"/refunds/" + ok["id"].(string): "succeeded", "/payouts/" + po["id"].(string): "failed"} {
		if code, got := api(t, "GET", path, testToken, nil); code != 200 || got["status"] != status {
			t.Fatalf("GET %s: %d %v", path, code, got)
		}
	}
}

// TestReconcilerAsksProviderToResendProcessing: a payment stuck in
// processing, whose notifications are all lost, is not guessed from a
// fetch: from the second check on, each check asks the provider to send
// the notification again (the fake counts the requests), the checks go
// on, and they end once the payment is final.
func TestReconcilerAsksProviderToResendProcessing(t *testing.T) {
	fs := fake.NewServer(fakeSecret)
	fs.Client = &http.Client{Transport: roundTripFunc(func(*http.Request) (*http.Response, error) {
		return nil, fmt.Errorf("network unreachable")
	})}
	fsrv := httptest.NewServer(fs)
	t.Cleanup(fsrv.Close)
	sh := newShop(t)
	// The first check comes soon, the next ones 1.5s apart.
	loadCaddy(t, fakeSite(t, 9080, fsrv.URL, sh.srv.URL, fmt.Sprintf("retry_schedule 200ms\nreconcile_schedule 300ms 1500ms\nstorage_path %s", filepath.Join(t.TempDir(), "state.db"))))
	code, pay := api(t, "POST", "/payments", testToken, fakePayment("ORD-STUCK", 2600))
	if code != 201 {
		t.Fatal(code, pay)
	}
	id, ref := pay["id"].(string), pay["provider_reference"].(string)
	if err := fs.SetStatus(ref, "processing"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "payment.processing from the first check", func() bool {
		return slices.Contains(types(eventsOf(t, sh, id)), "payment.processing")
	})
	if n := fs.ResendRequests(ref); n != 0 {
		t.Fatalf("the first check asked for %d resends; it must fetch first", n)
	}
	waitFor(t, "two resend requests from two later checks", func() bool { return fs.ResendRequests(ref) >= 2 })
	// Not more often than the schedule: two checks 1.5s apart.
	if n := fs.ResendRequests(ref); n > 2 {
		t.Fatalf("%d resend requests, the schedule allows 2 by now", n)
	}
	if err := fs.SetStatus(ref, "succeeded"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "payment.succeeded from a later check", func() bool {
		return slices.Contains(types(eventsOf(t, sh, id)), "payment.succeeded")
	})
	n := fs.ResendRequests(ref)
	time.Sleep(2 * time.Second)
	if m := fs.ResendRequests(ref); m != n {
		t.Fatalf("resend requests went on after the payment was final: %d then %d", n, m)
	}
}
