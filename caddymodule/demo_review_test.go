package caddymodule

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"

	"github.com/caddy-payments/caddy-payments/providers"
)

// A real account reached through a loopback egress proxy or sidecar
// (envoy/stunnel on 127.0.0.1) is not the sandbox: the demo api_token and
// forward_secret are refused unless every secret and key of every account
// is a published demo value too (adversarial review of item 12).
func TestDemoTokenRefusedForRealAccountBehindLoopback(t *testing.T) {
	own := ownPaysageKey(t)
	const (
		pbLoop = `"http://127.0.0.1:8443/pay/backoffice"`
		rzLoop = `"http://127.0.0.1:8444"`
		psLoop = `"http://[::1]:8445"`
	)
	demoPS := `"ps":{"provider":"paysage","shop_id":"361","secret_key":"sandbox_secret_key","public_key":["` +
		providers.DemoPaysagePublicKey + `"],"test":true,"endpoint":` + psLoop + `}`
	cfg := func(token, fwd string, accounts ...string) string {
		return `{"providers":{` + strings.Join(accounts, ",") + `},"api_tokens":["` + token + `"],"forward_secrets":["` + fwd +
			`"],"public_url":"https://shop.example/pay"}`
	}
	demoTok, demoFwd := providers.DemoAPIToken, providers.DemoForwardSecret
	pb := func(secrets string) string {
		return `"pb":{"provider":"payabl","merchant_id":"m1","secrets":[` + secrets + `],"endpoint":` + pbLoop + `}`
	}
	rz := func(keySecret, hooks string) string {
		return `"rz":{"provider":"razorpay","key_id":"rzp_test_abc","key_secret":"` + keySecret + `","webhook_secrets":[` + hooks + `],"endpoint":` + rzLoop + `}`
	}
	ps := func(secretKey string, keys ...string) string {
		return `"ps":{"provider":"paysage","shop_id":"361","secret_key":"` + secretKey + `","public_key":["` +
			strings.Join(keys, `","`) + `"],"test":true,"endpoint":` + psLoop + `}`
	}

	// Every account a demo account (loopback, demo secrets only): accepted.
	if err := provisionJSON(t, cfg(demoTok, demoFwd, pb(`"b185"`), rz("sandbox_key_secret", `"sandbox_webhook_secret"`), demoPS)); err != nil {
		t.Fatalf("demo accounts only: refused: %v", err)
	}
	// Real accounts on loopback endpoints with the demo token or forward
	// secret: refused, naming option, rule and provider, never a value.
	for name, c := range map[string]struct{ cfg, field, provider string }{
		"payabl real secret":              {cfg(demoTok, specSecret, pb(`"a-real-merchant-secret"`)), "api_token", "pb"},
		"payabl demo then real secret":    {cfg(demoTok, specSecret, pb(`"b185","a-real-merchant-secret"`)), "api_token", "pb"},
		"payabl real forward secret case": {cfg("0123456789abcdef0", demoFwd, pb(`"a-real-merchant-secret"`)), "forward_secret", "pb"},
		"razorpay real key_secret":        {cfg(demoTok, specSecret, pb(`"b185"`), rz("real-key-secret", `"sandbox_webhook_secret"`)), "api_token", "rz"},
		"razorpay one real webhook_secret": {cfg(demoTok, specSecret, pb(`"b185"`),
			rz("sandbox_key_secret", `"sandbox_webhook_secret","real-hook-secret"`)), "api_token", "rz"},
		"paysage real secret_key":     {cfg(demoTok, demoFwd, ps("real-secret-key", providers.DemoPaysagePublicKey)), "api_token, forward_secret", "ps"},
		"paysage one real public_key": {cfg(demoTok, specSecret, ps("sandbox_secret_key", providers.DemoPaysagePublicKey, own)), "api_token", "ps"},
	} {
		t.Run(name, func(t *testing.T) {
			err := provisionJSON(t, c.cfg)
			if err == nil {
				t.Fatal("accepted")
			}
			msg := err.Error()
			if !strings.Contains(msg, c.field+":") || !strings.Contains(msg, "demo account") || !strings.Contains(msg, "loopback") ||
				!strings.Contains(msg, `"`+c.provider+`"`) {
				t.Fatalf("error %q must name %s, the rule and provider %q", msg, c.field, c.provider)
			}
			for _, v := range []string{demoTok, "ZGVtby1mb3J3YXJk", "a-real-merchant-secret", "real-key-secret", "real-hook-secret", "real-secret-key", "b185", "sandbox_"} {
				if strings.Contains(msg, v) {
					t.Fatalf("error shows a value (%q): %q", v, msg)
				}
			}
		})
	}
}

// The review's exact setup on a real Caddy: Caddyfile.example's demo
// fallbacks with a real payabl merchant secret behind a loopback sidecar.
// Caddy refuses to load it, and the demo token opens nothing.
func TestDemoTokenRealPayablBehindLoopbackSidecarDoesNotLoad(t *testing.T) {
	sidecar := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "status=0")
	}))
	t.Cleanup(sidecar.Close)
	sh := newShop(t)
	loadCaddy(t, "http://localhost:9080 {\n\trespond \"before\" 200\n}\n")

	src := fmt.Sprintf(`
{
	admin localhost:2999
	http_port 9080
	https_port 9443
	grace_period 1ns
	skip_install_trust
}
http://localhost:9080 {
	payments {
		provider payabl {
			merchant_id real_merchant_4711
			secret a-real-merchant-secret-not-a-demo-value
			endpoint %s/pay/backoffice
		}
		api_token {$PAYMENTS_API_TOKEN_UNSET_FOR_DEMO2:demo-api-token-change-me}
		forward_secret {$PAYMENTS_FORWARD_SECRET_UNSET_FOR_DEMO2:whsec_ZGVtby1mb3J3YXJkLXNlY3JldC1jaGFuZ2UtbWU=}
		public_url https://pay.shop.example
		storage_path %s
	}
	reverse_proxy %s
}
`, sidecar.URL, filepath.Join(t.TempDir(), "state.db"), sh.srv.URL)
	cfg, _, err := caddyfile.Adapter{ServerType: httpcaddyfile.ServerType{}}.Adapt([]byte(src), nil)
	if err != nil {
		t.Fatalf("adapting: %v", err)
	}
	resp, err := http.Post("http://localhost:2999/load", "application/json", bytes.NewReader(cfg))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		t.Fatal("Caddy loaded a real payabl account behind a loopback sidecar with the demo api_token and forward_secret")
	}
	var msg struct{ Error string }
	_ = json.Unmarshal(body, &msg)
	if !strings.Contains(msg.Error, "api_token, forward_secret") || !strings.Contains(msg.Error, `provider "payabl"`) ||
		strings.Contains(msg.Error, "a-real-merchant-secret") || strings.Contains(msg.Error, providers.DemoAPIToken) {
		t.Fatalf("load refused with %d %q; want the options, the rule and the provider named, no value", resp.StatusCode, body)
	}
	// The previous config still runs; the demo token reaches no gateway.
	req, _ := http.NewRequest(http.MethodGet, gwBase+"/providers", nil)
	req.Header.Set("Authorization", "Bearer "+providers.DemoAPIToken)
	resp, err = http.DefaultClient.Do(notGateway(req)) // the "before" config has no gateway
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "before" {
		t.Fatalf("GET /providers with the demo token: %d %s", resp.StatusCode, body)
	}
}

// ownPaysageKey is a fresh RSA public key (base64 DER SubjectPublicKeyInfo),
// i.e. a real shop's key and not the sandbox's published one.
func ownPaysageKey(t *testing.T) string {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(der)
}

// The sandbox behind a local reverse proxy with trusted_proxies (Caddy's
// recommended setup): a remote client that writes "X-Forwarded-For:
// 127.0.0.1" itself, which the proxy turns into "127.0.0.1, <its address>",
// is refused like the honest one (Caddy's client_ip is the left-most entry).
func TestSandboxBehindTrustedProxyRefusesSpoofedForwardedFor(t *testing.T) {
	loadCaddyWith(t, "\tservers {\n\t\ttrusted_proxies static 127.0.0.1/8\n\t}\n", `
http://localhost:9080 {
	payments_sandbox {
		payabl {
			merchant_id gateway_test
			secret b185
		}
	}
}
`)
	get := func(xff string) int {
		req, _ := http.NewRequest(http.MethodGet, gwBase+"/sandbox/payabl/_sandbox/payments", nil)
		if xff != "" {
			req.Header.Set("X-Forwarded-For", xff)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, c := range []struct {
		xff  string
		want int
	}{
		{"203.0.113.9", http.StatusForbidden},
		{"127.0.0.1, 203.0.113.9", http.StatusForbidden},
		{"127.0.0.1", http.StatusOK},
		{"", http.StatusOK},
	} {
		if got := get(c.xff); got != c.want {
			t.Errorf("X-Forwarded-For %q: HTTP %d, want %d", c.xff, got, c.want)
		}
	}
}
