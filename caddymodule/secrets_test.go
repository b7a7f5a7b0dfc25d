package caddymodule

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/caddy-payments/caddy-payments/sandbox"
)

// TestSecretsNeverLeak drives the payabl flows through a real Caddy with
// the gateway logging at DEBUG into a file, and checks that no provider
// secret, API token, forwarding secret, provider signature or full IBAN
// appears in a log line, an API answer or a forwarded event.
func TestSecretsNeverLeak(t *testing.T) {
	const (
		secret     = "Xq9-payabl-secret-7Tz"
		rzpSecret  = "Rk4-razorpay-key-secret-9Qw"
		rzpWebhook = "Wh7-razorpay-webhook-secret-3Lp"
		psSecret   = "Ps2-paysage-secret-key-8Vn"
		iban       = "FI2618203060000015"
	)
	t.Setenv("LEAK_RZP_SECRET", rzpSecret)
	t.Setenv("LEAK_RZP_WEBHOOK", rzpWebhook)
	t.Setenv("LEAK_PS_SECRET", psSecret)
	whsecKey := strings.TrimPrefix(testWhsec, "whsec_") // the shop verifies with testWhsec
	t.Setenv("LEAK_PAYABL_SECRET", secret)
	t.Setenv("LEAK_TOKEN", testToken)
	const keyToken = "Bk5-backoffice-api-key-2Jr"
	t.Setenv("LEAK_KEY", keyToken)
	t.Setenv("LEAK_WHSEC", "whsec_"+whsecKey)
	logFile := filepath.Join(t.TempDir(), "caddy.log")
	sh := newShop(t)
	loadCaddyWith(t, fmt.Sprintf("\tlog {\n\t\toutput file %s\n\t\tlevel DEBUG\n\t}\n", logFile), fmt.Sprintf(`
http://localhost:9080 {
	payments_sandbox {
		payabl {
			merchant_id gateway_test
			secret {env.LEAK_PAYABL_SECRET}
		}
		razorpay {
			key_id rzp_test_leak
			key_secret {env.LEAK_RZP_SECRET}
			webhook_secret {env.LEAK_RZP_WEBHOOK}
			webhook_url http://localhost:9080/notifications/razorpay
		}
		paysage {
			shop_id 361
			secret_key {env.LEAK_PS_SECRET}
		}
	}
	payments {
		provider payabl {
			merchant_id gateway_test
			secret {env.LEAK_PAYABL_SECRET}
			endpoint http://localhost:9080/sandbox/payabl/pay/backoffice
		}
		provider razorpay {
			key_id rzp_test_leak
			key_secret {env.LEAK_RZP_SECRET}
			webhook_secret {env.LEAK_RZP_WEBHOOK}
			endpoint http://localhost:9080/sandbox/razorpay
		}
		provider paysage {
			shop_id 361
			secret_key {env.LEAK_PS_SECRET}
			public_key %s
			test
			endpoint http://localhost:9080/sandbox/paysage
		}
		api_token {env.LEAK_TOKEN}
		api_key backoffice {env.LEAK_KEY} payments:read refunds:write
		forward_secret {env.LEAK_WHSEC}
		public_url http://localhost:9080
		timeout 2s
		storage_path %s
	}
	reverse_proxy %s
}
`, sandbox.PaysagePublicKey(), filepath.Join(t.TempDir(), "state.db"), sh.srv.URL))

	var answers bytes.Buffer
	call := func(method, path, token string, body any) map[string]any {
		var rd io.Reader
		if body != nil {
			b, _ := json.Marshal(body)
			rd = bytes.NewReader(b)
		}
		req, _ := http.NewRequest(method, gwBase+path, rd)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		answers.Write(raw)
		var out map[string]any
		_ = json.Unmarshal(raw, &out)
		return out
	}

	// Every flow: create, approve (notifications), refund, payouts valid and
	// invalid, a failed-payout notification (66.66), bad tokens, a forged
	// notification, a bad request echoing values.
	pay := call("POST", "/payments", testToken, payablPayment("ORD-LEAK-1", 1999))
	id, tx := pay["id"].(string), pay["provider_reference"].(string)
	sandboxAction(t, tx, "approve")
	waitFor(t, "events", func() bool { return len(eventsOf(t, sh, id)) == 2 })
	call("POST", "/payments/"+id+"/refunds", testToken, map[string]any{"amount": 100})
	if rf := call("POST", "/payments/"+id+"/refunds", keyToken, map[string]any{"amount": 100}); rf["created_by"] != "backoffice" {
		t.Fatalf("refund with the api_key: %v", rf)
	}
	call("POST", "/payouts", keyToken, map[string]any{"provider": "payabl", "reference": "PO-LEAK-K", "amount": 999, "currency": "EUR",
		"bank_account": map[string]any{"country": "FI", "iban": iban}})
	call("GET", "/payments/"+id, testToken, nil)
	call("POST", "/payouts", testToken, map[string]any{"provider": "payabl", "reference": "PO-LEAK", "amount": 999, "currency": "EUR",
		"bank_account": map[string]any{"country": "FI", "iban": iban}, "customer": map[string]any{"email": "jane@example.com", "birth_date": "1990-02-08"}})
	call("POST", "/payouts", testToken, map[string]any{"provider": "payabl", "reference": "PO-LEAK-2", "amount": 6666, "currency": "EUR",
		"bank_account": map[string]any{"country": "FI", "iban": iban}, "customer": map[string]any{"email": "jane@example.com", "birth_date": "1990-02-08"}})
	call("POST", "/payouts", testToken, map[string]any{"provider": "payabl", "reference": "PO-LEAK-3", "amount": 999, "currency": "EUR",
		"bank_account": map[string]any{"country": "FI", "iban": "FI2618203060000016"}, "customer": map[string]any{"email": "jane@example.com"}})
	call("GET", "/providers", "wrong-"+testToken, nil)
	call("GET", "/providers", testToken, nil)
	resp, err := http.PostForm(gwBase+"/notifications/payabl", url.Values{"transactionid": {tx}, "type": {"capture"},
		"errorcode": {"0"}, "timestamp": {"1"}, "security": {strings.Repeat("ab", 32)}})
	if err == nil {
		raw, _ := io.ReadAll(resp.Body)
		answers.Write(raw)
		resp.Body.Close()
	}
	// Razorpay: create, the customer pays through the launch URL and the
	// signed return, webhooks; a refund. PaySage: create, approve
	// (signed webhook), refund, and a forged webhook.
	rzp := call("POST", "/payments", testToken, razorpayPayment("ORD-LEAK-R", 2500))
	if code, loc := payInBrowser(t, rzp["next_action"].(map[string]any)["url"].(string), "approve"); code != http.StatusSeeOther {
		t.Fatalf("razorpay return: %d %s", code, loc)
	}
	waitFor(t, "razorpay events", func() bool { return len(eventsOf(t, sh, rzp["id"].(string))) >= 2 })
	call("POST", "/payments/"+rzp["id"].(string)+"/refunds", testToken, map[string]any{"amount": 100})
	ps := call("POST", "/payments", testToken, paysagePayment("ORD-LEAK-P", 2600))
	paysageAction(t, ps["provider_reference"].(string), "approve")
	waitFor(t, "paysage events", func() bool { return len(eventsOf(t, sh, ps["id"].(string))) >= 1 })
	call("POST", "/payments/"+ps["id"].(string)+"/refunds", testToken, map[string]any{"amount": 100})
	if resp, err := http.Post(gwBase+"/notifications/paysage", "application/json", strings.NewReader(`{"transaction":{"uid":"x","status":"successful"}}`)); err == nil {
		raw, _ := io.ReadAll(resp.Body)
		answers.Write(raw)
		resp.Body.Close()
	}
	time.Sleep(500 * time.Millisecond) // let the failed-payout notification arrive

	logs, err := os.ReadFile(logFile)
	if err != nil {
		t.Fatal(err)
	}
	var events bytes.Buffer
	for _, ev := range sh.Events() {
		events.Write(ev.Body)
		for k, v := range ev.Header {
			fmt.Fprintf(&events, "%s: %s\n", k, v)
		}
	}
	var gatewayLogs bytes.Buffer
	for _, line := range bytes.Split(logs, []byte("\n")) {
		if bytes.Contains(line, []byte(`"logger":"http.handlers.payments`)) {
			gatewayLogs.Write(line)
			gatewayLogs.WriteByte('\n')
		}
	}
	if gatewayLogs.Len() == 0 {
		t.Fatal("the gateway logged nothing: the test would prove nothing")
	}
	resp, err = http.Get("http://localhost:2999/config/")
	if err != nil {
		t.Fatal(err)
	}
	cfg, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !bytes.Contains(cfg, []byte("{env.LEAK_KEY}")) {
		t.Fatalf("/config/ does not show the api_key placeholder: the test would prove nothing")
	}
	for what, text := range map[string][]byte{"logs": logs, "API answers": answers.Bytes(), "forwarded events": events.Bytes(), "/config/": cfg} {
		for name, s := range map[string]string{"payabl secret": secret, "Razorpay key secret": rzpSecret, "Razorpay webhook secret": rzpWebhook,
			"PaySage secret key": psSecret, "API token": testToken, "API key token": keyToken, "forward secret": whsecKey, "full IBAN": iban,
			"PaySage Basic credentials": base64.StdEncoding.EncodeToString([]byte("361:" + psSecret))} {
			if bytes.Contains(text, []byte(s)) {
				t.Errorf("%s contain the %s", what, name)
			}
		}
	}
	// Provider signatures are 40 or 64 hex digits; none may reach the
	// gateway's logs, answers or events (event ids are 32).
	// (Checkout and receipt URLs carry page tokens — payabl's 40-hex
	// checkout token, PaySage's receipt hash — which are no signatures:
	// URL values are left out of this check.)
	sig := regexp.MustCompile(`[0-9a-f]{40,}`)
	urls := regexp.MustCompile(`"[a-z_]*url":"[^"]*"`)
	for what, text := range map[string][]byte{"gateway logs": urls.ReplaceAll(gatewayLogs.Bytes(), nil),
		"API answers": urls.ReplaceAll(answers.Bytes(), nil), "forwarded events": urls.ReplaceAll(events.Bytes(), nil)} {
		if loc := sig.FindIndex(text); loc != nil {
			from, to := max(loc[0]-120, 0), min(loc[1]+40, len(text))
			t.Errorf("%s contain a signature-like value: …%s…", what, text[from:to])
		}
	}
}
