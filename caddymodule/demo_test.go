package caddymodule

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddy-payments/caddy-payments/providers"
)

// The demo api_token and forward_secret of Caddyfile.example are accepted
// only while every provider account is a demo account: loopback endpoint
// and the sandbox's published secrets (see also demo_review_test.go).
func TestDemoTokenAndForwardSecretOnlyOnLoopback(t *testing.T) {
	const (
		ownToken  = "0123456789abcdef0"
		payablOn  = `"pb":{"provider":"payabl","merchant_id":"m1","secret":"own-payabl-secret","endpoint":"%s"}`
		razorpay  = `"rz":{"provider":"razorpay","key_id":"rzp_test_abc","key_secret":"own-key-secret","webhook_secrets":["own-hook-secret"]%s}`
		demoPB    = `"pb":{"provider":"payabl","merchant_id":"m1","secret":"b185","endpoint":"http://127.0.0.1:8080/sandbox/payabl/pay/backoffice"}`
		demoRZ    = `"rz":{"provider":"razorpay","key_id":"rzp_test_abc","key_secret":"sandbox_key_secret","webhook_secrets":["sandbox_webhook_secret"],"endpoint":"http://localhost:8080/sandbox/razorpay"}`
		loopPB    = "http://127.0.0.1:8080/sandbox/payabl/pay/backoffice"
		publicPB  = "https://psp.example/pay/backoffice"
		loopRZ    = `,"endpoint":"http://localhost:8080/sandbox/razorpay"`
		defaultRZ = ``
	)
	cfg := func(token, fwd string, accounts ...string) string {
		return `{"providers":{` + strings.Join(accounts, ",") + `},"api_tokens":["` + token + `"],"forward_secrets":["` + fwd +
			`"],"public_url":"https://shop.example/pay"}`
	}
	pb := func(endpoint string) string { return strings.Replace(payablOn, "%s", endpoint, 1) }
	rz := func(endpoint string) string { return strings.Replace(razorpay, "%s", endpoint, 1) }
	demoTok, demoFwd := providers.DemoAPIToken, providers.DemoForwardSecret

	for name, c := range map[string]string{
		"demo values, every account a demo account": cfg(demoTok, demoFwd, demoPB, demoRZ),
		"own values, public accounts":               cfg(ownToken, specSecret, pb(publicPB), rz(defaultRZ)),
	} {
		if err := provisionJSON(t, c); err != nil {
			t.Errorf("%s: refused: %v", name, err)
		}
	}
	for name, c := range map[string]struct{ cfg, field, provider string }{
		"demo token, public payabl":          {cfg(demoTok, specSecret, pb(publicPB)), "api_token", "pb"},
		"demo forward secret, public payabl": {cfg(ownToken, demoFwd, pb(publicPB)), "forward_secret", "pb"},
		"demo token, razorpay default host":  {cfg(demoTok, specSecret, demoPB, rz(defaultRZ)), "api_token", "rz"},
		"both, one account public":           {cfg(demoTok, demoFwd, pb(publicPB), demoRZ), "api_token, forward_secret", "pb"},
		"both, own secrets on loopback":      {cfg(demoTok, demoFwd, pb(loopPB), rz(loopRZ)), "api_token, forward_secret", "pb"},
	} {
		t.Run(name, func(t *testing.T) {
			err := provisionJSON(t, c.cfg)
			if err == nil {
				t.Fatal("accepted")
			}
			msg := err.Error()
			if !strings.Contains(msg, c.field) || !strings.Contains(msg, "loopback") || !strings.Contains(msg, `"`+c.provider+`"`) {
				t.Fatalf("error %q must name %s, the rule and provider %q", msg, c.field, c.provider)
			}
			if strings.Contains(msg, demoTok) || strings.Contains(msg, "ZGVtby1mb3J3YXJk") {
				t.Fatalf("error shows the value: %q", msg)
			}
		})
	}
	// A provider that does not report its endpoint counts as not loopback.
	fake := `"fk":{"provider":"fake","endpoint":"http://127.0.0.1:1","secret":"s"}`
	if err := provisionJSON(t, cfg(demoTok, specSecret, fake)); err == nil || !strings.Contains(err.Error(), "api_token") {
		t.Fatalf("demo token with a provider of unknown endpoint: %v", err)
	}
}

// Caddyfile.example starts as it is (ports and state file moved for the
// test) and its demo token works, every account being on the sandbox.
func TestCaddyfileExampleStarts(t *testing.T) {
	raw, err := os.ReadFile("../Caddyfile.example")
	if err != nil {
		t.Fatal(err)
	}
	src := string(raw)
	// The shared test Caddy has its own global options.
	start := strings.Index(src, "{\n\thttp_port 8080\n}\n")
	if start < 0 {
		t.Fatal("Caddyfile.example's global options block changed; adapt this test")
	}
	src = src[:start] + src[start+len("{\n\thttp_port 8080\n}\n"):]
	src = strings.NewReplacer(
		"localhost:8080", "localhost:9080",
		"localhost:8081", "localhost:9081",
		"./payments-demo.db", filepath.Join(t.TempDir(), "demo.db"),
	).Replace(src)
	loadCaddy(t, src)

	for _, c := range []struct{ path, token, want string }{
		{"/providers", providers.DemoAPIToken, `"payabl"`},
		{"/sandbox/payabl/_sandbox/payments", "", `"payments"`},
	} {
		req, _ := http.NewRequest(http.MethodGet, gwBase+c.path, nil)
		if c.token != "" {
			req.Header.Set("Authorization", "Bearer "+c.token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), c.want) {
			t.Fatalf("GET %s: HTTP %d %s", c.path, resp.StatusCode, body)
		}
	}
}
