package caddymodule

import (
	"bytes"
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
)

// TestSecretsNeverLeak drives the payabl flows through a real Caddy with
// the gateway logging at DEBUG into a file, and checks that no provider
// secret, API token, forwarding secret, provider signature or full IBAN
// appears in a log line, an API answer or a forwarded event.
func TestSecretsNeverLeak(t *testing.T) {
	const (
		secret = "Xq9-payabl-secret-7Tz"
		iban   = "FI2618203060000015"
	)
	whsecKey := strings.TrimPrefix(testWhsec, "whsec_") // the shop verifies with testWhsec
	t.Setenv("LEAK_PAYABL_SECRET", secret)
	t.Setenv("LEAK_TOKEN", testToken)
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
	}
	payments {
		provider payabl {
			merchant_id gateway_test
			secret {env.LEAK_PAYABL_SECRET}
			endpoint http://localhost:9080/sandbox/payabl/pay/backoffice
		}
		api_token {env.LEAK_TOKEN}
		forward_secret {env.LEAK_WHSEC}
		public_url http://localhost:9080
		timeout 2s
		storage_path %s
	}
	reverse_proxy %s
}
`, filepath.Join(t.TempDir(), "state.db"), sh.srv.URL))

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
	for what, text := range map[string][]byte{"logs": logs, "API answers": answers.Bytes(), "forwarded events": events.Bytes()} {
		for name, s := range map[string]string{"provider secret": secret, "API token": testToken, "forward secret": whsecKey, "full IBAN": iban} {
			if bytes.Contains(text, []byte(s)) {
				t.Errorf("%s contain the %s", what, name)
			}
		}
	}
	// Provider signatures are 40 or 64 hex digits; none may reach the
	// gateway's logs, answers or events (event ids are 32).
	// (Checkout URLs carry payabl's 40-hex page token, which is no
	// signature: URLs are left out of this check.)
	sig := regexp.MustCompile(`[0-9a-f]{40,}`)
	noURLs := regexp.MustCompile(`"url":"[^"]*"`).ReplaceAll(answers.Bytes(), nil)
	for what, text := range map[string][]byte{"gateway logs": gatewayLogs.Bytes(), "API answers": noURLs, "forwarded events": events.Bytes()} {
		if m := sig.Find(text); m != nil {
			t.Errorf("%s contain a signature-like value %s", what, m)
		}
	}
}
