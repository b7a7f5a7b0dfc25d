package caddymodule

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/caddy-payments/caddy-payments/providers"
	"github.com/caddy-payments/caddy-payments/providers/fake"
)

const (
	shopKeyToken   = "storefront-key-0123456789abcdef"
	officeKeyToken = "backoffice-key-0123456789abcdef"
)

// providerCalls counts the fake provider's API calls by method and route
// ("POST /payments", "POST /refunds", "POST /payouts").
type providerCalls struct {
	mu sync.Mutex
	n  map[string]int
}

func (c *providerCalls) get(k string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[k]
}

// scopedGateway starts Caddy with the fake provider, api_token testToken
// and two api_keys: storefront (payments:read payments:write) and
// backoffice (payments:read refunds:write). The gateway logs at INFO into
// the returned file.
func scopedGateway(t *testing.T) (*fake.Server, *providerCalls, string) {
	t.Helper()
	fs := fake.NewServer(fakeSecret)
	calls := &providerCalls{n: map[string]int{}}
	fsrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		k := r.Method + " /" + strings.Split(strings.Trim(r.URL.Path, "/"), "/")[0]
		if strings.HasSuffix(r.URL.Path, "/refunds") {
			k = r.Method + " /refunds"
		}
		calls.mu.Lock()
		calls.n[k]++
		calls.mu.Unlock()
		fs.ServeHTTP(w, r)
	}))
	t.Cleanup(fsrv.Close)
	sh := newShop(t)
	t.Setenv("PAYMENTS_KEY_SHOP", shopKeyToken)
	t.Setenv("PAYMENTS_KEY_OFFICE", officeKeyToken)
	logFile := filepath.Join(t.TempDir(), "caddy.log")
	loadCaddyWith(t, fmt.Sprintf("\tlog {\n\t\toutput file %s\n\t\tlevel INFO\n\t}\n", logFile),
		fakeSite(t, 9080, fsrv.URL, sh.srv.URL, fmt.Sprintf(
			"api_key storefront {env.PAYMENTS_KEY_SHOP} payments:read payments:write\n"+
				"api_key backoffice {env.PAYMENTS_KEY_OFFICE} payments:read refunds:write\n"+
				"timeout 2s\nstorage_path %s", filepath.Join(t.TempDir(), "state.db"))))
	return fs, calls, logFile
}

func fakePayout(ref string, amount int64) map[string]any {
	return map[string]any{"provider": "fake", "reference": ref, "amount": amount, "currency": "EUR",
		"bank_account": map[string]any{"country": "SE", "iban": "SE4550000000058398257466"}}
}

// send makes one request to the gateway and returns the status, headers
// and raw body.
func send(t *testing.T, method, path, token, idemKey string, body any) (int, http.Header, []byte) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, gwBase+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if idemKey != "" {
		req.Header.Set("Idempotency-Key", idemKey)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, raw
}

// paidPayment creates a payment with token and completes it at the fake
// provider; it returns the payment id.
func paidPayment(t *testing.T, fs *fake.Server, token, ref string) string {
	t.Helper()
	code, pay := api(t, "POST", "/payments", token, fakePayment(ref, 1999))
	if code != 201 {
		t.Fatalf("create %s: %d %v", ref, code, pay)
	}
	if _, err := fs.Checkout(context.Background(), pay["provider_reference"].(string), true); err != nil {
		t.Fatal(err)
	}
	return pay["id"].(string)
}

// TestMethodAndPathMatching: methods are compared exactly (a substring or
// another case is 405 with Allow, and nothing is created), and a route
// has one identity whatever its spelling, so an Idempotency-Key sent to
// /payments/{id}/refunds/ replays what /payments/{id}/refunds did.
func TestMethodAndPathMatching(t *testing.T) {
	fs, calls, _ := scopedGateway(t)

	t.Run("inexact methods are 405 with Allow and create nothing", func(t *testing.T) {
		before := calls.get("POST /payments")
		for i, m := range []string{"POS", "T", "OST", "post", "Post", "PUT", "GE"} {
			code, h, raw := send(t, m, "/payments", testToken, fmt.Sprintf("method-key-%d", i), fakePayment(fmt.Sprintf("ORD-M-%d", i), 500))
			var out map[string]any
			_ = json.Unmarshal(raw, &out)
			if code != 405 || h.Get("Allow") != "GET, POST" || errField(out, "code") != "method_not_allowed" || errField(out, "request_sent") != "no" {
				t.Errorf("%s /payments: %d Allow=%q %s", m, code, h.Get("Allow"), raw)
			}
		}
		if n := calls.get("POST /payments") - before; n != 0 {
			t.Fatalf("%d creates reached the provider", n)
		}
		id := paidPayment(t, fs, testToken, "ORD-M-REFUND")
		for _, m := range []string{"POS", "OST", "PO", "post"} {
			if code, h, raw := send(t, m, "/payments/"+id+"/refunds", testToken, "", map[string]any{"amount": 100}); code != 405 || h.Get("Allow") != "POST" {
				t.Errorf("%s refunds: %d Allow=%q %s", m, code, h.Get("Allow"), raw)
			}
			if code, h, raw := send(t, m, "/payouts", testToken, "", fakePayout("PO-M", 500)); code != 405 || h.Get("Allow") != "POST" {
				t.Errorf("%s payouts: %d Allow=%q %s", m, code, h.Get("Allow"), raw)
			}
		}
		if calls.get("POST /refunds") != 0 || calls.get("POST /payouts") != 0 {
			t.Fatal("a refund or payout reached the provider")
		}
		// GET routes serve GET only: HEAD is not implied.
		if code, h, _ := send(t, "HEAD", "/providers", testToken, "", nil); code != 405 || h.Get("Allow") != "GET" {
			t.Errorf("HEAD /providers: %d Allow=%q", code, h.Get("Allow"))
		}
		if code, h, _ := send(t, "get", "/payments/"+id, testToken, "", nil); code != 405 || h.Get("Allow") != "GET" {
			t.Errorf("get /payments/{id}: %d Allow=%q", code, h.Get("Allow"))
		}
	})

	t.Run("one idempotency identity per route whatever the trailing slash", func(t *testing.T) {
		id := paidPayment(t, fs, testToken, "ORD-SLASH")
		before := calls.get("POST /refunds")
		body := map[string]any{"amount": 100, "reference": "RF-SLASH"}
		code, _, raw1 := send(t, "POST", "/payments/"+id+"/refunds", testToken, "slash-key", body)
		if code != 201 {
			t.Fatalf("first refund: %d %s", code, raw1)
		}
		code, h, raw2 := send(t, "POST", "/payments/"+id+"/refunds/", testToken, "slash-key", body)
		if code != 201 || h.Get("Idempotent-Replayed") != "true" || !bytes.Equal(raw1, raw2) {
			t.Fatalf("the trailing-slash retry was not a replay: %d %v %s", code, h, raw2)
		}
		if n := calls.get("POST /refunds") - before; n != 1 {
			t.Fatalf("the provider saw %d refunds, want 1", n)
		}
		code, p := api(t, "GET", "/payments/"+id+"/", testToken, nil)
		if code != 200 || p["amount_refunded"] != float64(100) {
			t.Fatalf("amount_refunded: %d %v", code, p)
		}
		// The same for creates and payouts, the slash on the first call.
		code, _, c1 := send(t, "POST", "/payments/", testToken, "slash-create", fakePayment("ORD-SLASH-2", 700))
		code2, h2, c2 := send(t, "POST", "/payments", testToken, "slash-create", fakePayment("ORD-SLASH-2", 700))
		if code != 201 || code2 != 201 || h2.Get("Idempotent-Replayed") != "true" || !bytes.Equal(c1, c2) {
			t.Fatalf("create: %d %s / %d %s", code, c1, code2, c2)
		}
		before = calls.get("POST /payouts")
		code, _, p1 := send(t, "POST", "/payouts/", testToken, "slash-payout", fakePayout("PO-SLASH", 500))
		code2, h2, p2 := send(t, "POST", "/payouts", testToken, "slash-payout", fakePayout("PO-SLASH", 500))
		if code != 201 || code2 != 201 || h2.Get("Idempotent-Replayed") != "true" || !bytes.Equal(p1, p2) {
			t.Fatalf("payout: %d %s / %d %s", code, p1, code2, p2)
		}
		if n := calls.get("POST /payouts") - before; n != 1 {
			t.Fatalf("the provider saw %d payouts, want 1", n)
		}
	})

	t.Run("an id in another spelling is not the object", func(t *testing.T) {
		// base64 decoding skips line breaks (and leaves spare bits in some
		// last characters): such an alias decodes to the same object but
		// must not be a second identity of it.
		id := paidPayment(t, fs, testToken, "ORD-ALIAS")
		alias := id[:8] + "\r" + id[8:] + "\n"
		if acct, ref, ok := providers.DecodeID(providers.KindPayment, alias); !ok || providers.EncodeID(providers.KindPayment, acct, ref) != id {
			t.Fatalf("alias %q does not decode to %s", alias, id)
		}
		path := "/payments/" + url.PathEscape(alias)
		if code, out := api(t, "GET", path, testToken, nil); code != 404 || errField(out, "type") != "not_found" {
			t.Fatalf("get through an alias id: %d %v", code, out)
		}
		if code, out := api(t, "POST", path+"/refunds", testToken, map[string]any{"amount": 100}); code != 404 || errField(out, "type") != "not_found" {
			t.Fatalf("refund through an alias id: %d %v", code, out)
		}
		if code, got := api(t, "GET", "/payments/"+id, testToken, nil); code != 200 || got["amount_refunded"] != float64(0) {
			t.Fatalf("the payment: %d %v", code, got)
		}
	})

	t.Run("paths with empty segments are not the gateway's", func(t *testing.T) {
		before := calls.get("POST /payouts")
		for _, p := range []string{"/payments//", "/payouts//", "/payments//x/refunds"} {
			code, h, raw := send(t, "POST", p, testToken, "", fakePayout("PO-EMPTY", 500))
			if h.Get("X-Shop") != "yes" {
				t.Errorf("POST %s: %d %s, want the shop's answer", p, code, raw)
			}
		}
		if calls.get("POST /payouts") != before {
			t.Fatal("a payout reached the provider")
		}
	})
}

// TestScopedAPIKeys: a storefront key creates and reads payments but is
// refused refunds and payouts with 403 forbidden before anything reaches
// the provider; a key with refunds:write refunds, and the refund says who
// made it, on create, on GET and in one INFO log line that names the key
// and never shows a token.
func TestScopedAPIKeys(t *testing.T) {
	fs, calls, logFile := scopedGateway(t)

	id := paidPayment(t, fs, shopKeyToken, "ORD-SCOPE-1")
	if code, got := api(t, "GET", "/payments/"+id, shopKeyToken, nil); code != 200 || got["id"] != id {
		t.Fatalf("storefront get: %d %v", code, got)
	}
	if code, got := api(t, "GET", "/payments?provider=fake&reference=ORD-SCOPE-1", shopKeyToken, nil); code != 200 || got["id"] != id {
		t.Fatalf("storefront find: %d %v", code, got)
	}
	if code, got := api(t, "GET", "/providers", shopKeyToken, nil); code != 200 {
		t.Fatalf("storefront providers: %d %v", code, got)
	}

	// Refused, and with an Idempotency-Key that stays usable afterwards.
	code, h, raw := send(t, "POST", "/payments/"+id+"/refunds", shopKeyToken, "scope-key", map[string]any{"amount": 100})
	var out map[string]any
	_ = json.Unmarshal(raw, &out)
	if code != 403 || errField(out, "type") != "forbidden" || errField(out, "code") != "insufficient_scope" || errField(out, "request_sent") != "no" ||
		!strings.Contains(fmt.Sprint(errField(out, "message")), "refunds:write") || !strings.Contains(h.Get("WWW-Authenticate"), `scope="refunds:write"`) {
		t.Fatalf("storefront refund: %d %v %s", code, h, raw)
	}
	code, out = api(t, "POST", "/payouts", shopKeyToken, fakePayout("PO-SCOPE-1", 500))
	if code != 403 || errField(out, "type") != "forbidden" || !strings.Contains(fmt.Sprint(errField(out, "message")), "payouts:write") {
		t.Fatalf("storefront payout: %d %v", code, out)
	}
	if calls.get("POST /refunds") != 0 || calls.get("POST /payouts") != 0 {
		t.Fatal("a refused call reached the provider")
	}
	// The back office key refunds but cannot create payments.
	before := calls.get("POST /payments")
	if code, out := api(t, "POST", "/payments", officeKeyToken, fakePayment("ORD-SCOPE-2", 500)); code != 403 || errField(out, "type") != "forbidden" {
		t.Fatalf("backoffice create: %d %v", code, out)
	}
	if calls.get("POST /payments") != before {
		t.Fatal("a refused create reached the provider")
	}
	code, h, raw = send(t, "POST", "/payments/"+id+"/refunds", officeKeyToken, "scope-key", map[string]any{"amount": 100})
	var ref map[string]any
	_ = json.Unmarshal(raw, &ref)
	if code != 201 || h.Get("Idempotent-Replayed") != "" || ref["created_by"] != "backoffice" {
		t.Fatalf("backoffice refund: %d %s", code, raw)
	}
	if code, got := api(t, "GET", "/refunds/"+ref["id"].(string), shopKeyToken, nil); code != 200 || got["created_by"] != "backoffice" {
		t.Fatalf("get refund: %d %v", code, got)
	}
	// api_token has every scope and is recorded as such.
	code, po := api(t, "POST", "/payouts", testToken, fakePayout("PO-SCOPE-2", 500))
	if code != 201 || po["created_by"] != "api_token" {
		t.Fatalf("api_token payout: %d %v", code, po)
	}
	if code, got := api(t, "GET", "/payouts/"+po["id"].(string), officeKeyToken, nil); code != 200 || got["created_by"] != "api_token" {
		t.Fatalf("get payout: %d %v", code, got)
	}
	if code, out := api(t, "GET", "/providers", "storefront-key-0123456789abcdeX", nil); code != 401 {
		t.Fatalf("a near-miss token: %d %v", code, out)
	}

	// One INFO line per refund and payout, naming the key.
	logs, err := os.ReadFile(logFile)
	if err != nil {
		t.Fatal(err)
	}
	var refundLines, payoutLines int
	for _, line := range strings.Split(string(logs), "\n") {
		switch {
		case strings.Contains(line, `"msg":"refund created"`):
			refundLines++
			if !strings.Contains(line, `"level":"info"`) || !strings.Contains(line, `"created_by":"backoffice"`) || !strings.Contains(line, ref["id"].(string)) {
				t.Errorf("refund log line: %s", line)
			}
		case strings.Contains(line, `"msg":"payout created"`):
			payoutLines++
			if !strings.Contains(line, `"created_by":"api_token"`) {
				t.Errorf("payout log line: %s", line)
			}
		}
	}
	if refundLines != 1 || payoutLines != 1 {
		t.Errorf("%d refund and %d payout log lines, want 1 and 1", refundLines, payoutLines)
	}
	resp, err := http.Get("http://localhost:2999/config/")
	if err != nil {
		t.Fatal(err)
	}
	cfg, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !bytes.Contains(cfg, []byte("{env.PAYMENTS_KEY_SHOP}")) {
		t.Errorf("/config/ should keep the api_key placeholder: %s", cfg)
	}
	for what, text := range map[string][]byte{"logs": logs, "/config/": cfg} {
		for _, tok := range []string{shopKeyToken, officeKeyToken, testToken} {
			if bytes.Contains(text, []byte(tok)) {
				t.Errorf("%s contain a token", what)
			}
		}
	}
}

// TestAPIKeyConfigRefused: bad api_key configurations fail provisioning
// with an error naming the key and the rule, never the token.
func TestAPIKeyConfigRefused(t *testing.T) {
	t.Setenv("PAYMENTS_T_WHSEC", specSecret)
	t.Setenv("PAYMENTS_T_EMPTY", "")
	t.Setenv("PAYMENTS_T_KEY", "Kq7-scoped-key-secret-value")
	const tok = "Kq7-scoped-key-secret-value"
	base := `{"providers":{"fake":{"provider":"fake","endpoint":"http://127.0.0.1:1","secret":"s"}},` +
		`"forward_secrets":["{env.PAYMENTS_T_WHSEC}"],"public_url":"https://shop.example/pay",`
	key := func(name, token string, scopes ...string) string {
		b, _ := json.Marshal(APIKey{Name: name, Token: token, Scopes: scopes})
		return string(b)
	}
	if err := provisionJSON(t, base+`"api_keys":[`+key("shop", "{env.PAYMENTS_T_KEY}", "payments:read", "payments:write")+`]}`); err != nil {
		t.Fatalf("api_key without api_token was refused: %v", err)
	}
	cases := map[string]struct{ keys, extra, want string }{
		"unknown scope":   {key("shop", tok, "payments:read", "refunds:read"), "", `unknown scope "refunds:read"`},
		"no scope":        {key("shop", tok), "", "at least one scope"},
		"duplicate name":  {key("shop", tok, "payments:read") + "," + key("shop", tok+"2", "payments:read"), "", "api_key shop: duplicate name"},
		"empty token":     {key("shop", "", "payments:read"), "", "api_key shop: the token is empty"},
		"empty env token": {key("shop", "{env.PAYMENTS_T_EMPTY}", "payments:read"), "", "api_key shop"},
		"short token":     {key("shop", "short", "payments:read"), "", "at least 16 characters"},
		"shared token":    {key("shop", tok, "payments:read") + "," + key("office", tok, "refunds:write"), "", "the token is also shop's"},
		"api_token's":     {key("shop", tok, "payments:read"), `"api_tokens":["` + tok + `"],`, "the token is also api_token's"},
		"reserved name":   {key("api_token", tok, "payments:read"), "", "reserved"},
		"bad name":        {key("Shop Key", tok, "payments:read"), "", "must be 1-64 characters"},
		"with off":        {key("shop", tok, "payments:read"), `"disable_api_token":true,`, "api_token off"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			err := provisionJSON(t, base+c.extra+`"api_keys":[`+c.keys+`]}`)
			if err == nil {
				t.Fatal("accepted")
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %q does not say %q", err, c.want)
			}
			if strings.Contains(err.Error(), tok) {
				t.Fatal("the error shows the token")
			}
		})
	}
}

// TestAPITokenOffHasEveryScope: with `api_token off` every call has every
// scope, and a refund or payout records no creator (the gateway does not
// know the caller).
func TestAPITokenOffHasEveryScope(t *testing.T) {
	fs := fake.NewServer(fakeSecret)
	fsrv := httptest.NewServer(fs)
	t.Cleanup(fsrv.Close)
	sh := newShop(t)
	site := fakeSite(t, 9080, fsrv.URL, sh.srv.URL, "storage_path "+filepath.Join(t.TempDir(), "state.db"))
	site = strings.Replace(site, "api_token {env.PAYMENTS_TEST_TOKEN}", "api_token off", 1)
	loadCaddy(t, site)

	id := paidPayment(t, fs, "", "ORD-OFF-1")
	code, ref := api(t, "POST", "/payments/"+id+"/refunds", "", map[string]any{"amount": 100})
	if code != 201 {
		t.Fatalf("refund: %d %v", code, ref)
	}
	if _, ok := ref["created_by"]; ok {
		t.Fatalf("refund names a creator: %v", ref)
	}
	if code, got := api(t, "GET", "/refunds/"+ref["id"].(string), "", nil); code != 200 || got["created_by"] != nil {
		t.Fatalf("get refund: %d %v", code, got)
	}
	code, po := api(t, "POST", "/payouts", "", fakePayout("PO-OFF-1", 500))
	if code != 201 || po["created_by"] != nil {
		t.Fatalf("payout: %d %v", code, po)
	}
}
