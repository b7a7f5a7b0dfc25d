package caddymodule

import (
	"bytes"
	"encoding/base64"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// captured builds the text of a forwarded event as a capture shows it,
// signed by the gateway's own signer with keys at ts; eol is the line
// ending; body is what the capture carries after the blank line.
func captured(keys [][]byte, id string, ts int64, signedBody, body []byte, eol string, withLength bool) string {
	var b strings.Builder
	lines := []string{
		"POST /notifications/payabl HTTP/1.1",
		"Host: shop.example",
		"Content-Type: application/json",
		"User-Agent: caddy-payments",
		"webhook-id: " + id,
		"webhook-timestamp: " + strconv.FormatInt(ts, 10),
		"webhook-signature: " + signStandardWebhooks(keys, id, ts, signedBody),
	}
	if withLength {
		lines = append(lines, "Content-Length: "+strconv.Itoa(len(body)))
	}
	for _, l := range lines {
		b.WriteString(l + eol)
	}
	b.WriteString(eol)
	b.Write(body)
	return b.String()
}

// TestVerifyEvent: `caddy payments verify-event` accepts what the
// gateway signs (with any of the secrets, CRLF or LF captures, with or
// without Content-Length), and names precisely what is wrong otherwise:
// a changed body, a wrong secret, a stale or future timestamp, a missing
// header, an editor's trailing newline, a secret that is no whsec_. It
// never prints a secret.
func TestVerifyEvent(t *testing.T) {
	oldSecret := "whsec_" + base64.StdEncoding.EncodeToString([]byte("an-old-forward-secret-0123"))
	otherSecret := "whsec_" + base64.StdEncoding.EncodeToString([]byte("somebody-else's-secret-xyz"))
	kNew, _ := decodeWhsec(testWhsec)
	kOld, _ := decodeWhsec(oldSecret)
	keys := [][]byte{kNew, kOld}
	now := time.Unix(time.Now().Unix(), 0) // whole seconds, as webhook-timestamp
	ts := now.Unix() - 30
	id := "evt_0123456789"
	body := []byte(`{"id":"evt_0123456789","type":"payment.succeeded","data":{"amount":1000}}`)
	tampered := bytes.Replace(body, []byte("1000"), []byte("9000"), 1)

	cases := []struct {
		name      string
		capture   string
		secrets   []string
		checkTime bool
		ok        bool
		want      string
	}{
		{"signed, CRLF, Content-Length", captured(keys, id, ts, body, body, "\r\n", true), []string{testWhsec}, true, true, "OK: event evt_0123456789 verifies with secret 1 of 1"},
		{"the old secret of a rotation", captured(keys, id, ts, body, body, "\r\n", true), []string{otherSecret, oldSecret}, true, true, "verifies with secret 2 of 2"},
		{"LF capture without Content-Length", captured(keys, id, ts, body, body, "\n", false), []string{testWhsec}, true, true, "OK:"},
		{"tampered body", captured(keys, id, ts, body, tampered, "\r\n", true), []string{testWhsec}, true, false,
			"FAIL: no v1 signature (2 given) matches any of the 1 secret(s) over webhook-id evt_0123456789, webhook-timestamp " + strconv.FormatInt(ts, 10) + " and the " + strconv.Itoa(len(tampered)) + "-byte body"},
		{"wrong secret", captured(keys, id, ts, body, body, "\r\n", true), []string{otherSecret}, true, false, "FAIL: no v1 signature (2 given) matches any of the 1 secret(s)"},
		{"stale timestamp", captured(keys, id, now.Unix()-600, body, body, "\r\n", true), []string{testWhsec}, true, false,
			"FAIL: the signature matches (secret 1), but webhook-timestamp " + strconv.FormatInt(now.Unix()-600, 10) + " is 10m0s old, beyond the 5m0s tolerance"},
		{"stale timestamp, not checked", captured(keys, id, now.Unix()-600, body, body, "\r\n", true), []string{testWhsec}, false, true, "OK: event evt_0123456789 verifies with secret 1 of 1 (timestamp not checked)"},
		{"future timestamp", captured(keys, id, now.Unix()+900, body, body, "\r\n", true), []string{testWhsec}, true, false, "is 15m0s in the future"},
		{"trailing newline added to the capture", captured(keys, id, ts, body, append(append([]byte{}, body...), '\n'), "\n", false), []string{testWhsec}, true, false,
			"matches the body without its trailing newline"},
		{"missing signature header", strings.Replace(captured(keys, id, ts, body, body, "\r\n", true), "webhook-signature:", "x-other:", 1), []string{testWhsec}, true, false,
			"FAIL: header webhook-signature is missing"},
		{"id changed", strings.Replace(captured(keys, id, ts, body, body, "\r\n", true), "webhook-id: "+id, "webhook-id: evt_other", 1), []string{testWhsec}, true, false,
			"note: webhook-id evt_other differs from the event's id evt_0123456789"},
		{"not a whsec secret", captured(keys, id, ts, body, body, "\r\n", true), []string{"hunter2-not-a-whsec"}, true, false, "FAIL: secret 1 of 1 is not a forward secret: must start with whsec_"},
		{"not a request", "hello\r\n", []string{testWhsec}, true, false, "FAIL: the input is not a captured HTTP/1.1 request"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			report, ok := verifyCaptured(strings.NewReader(c.capture), c.secrets, now, c.checkTime)
			if ok != c.ok || !strings.Contains(report, c.want) {
				t.Fatalf("report (ok %v):\n%s\nwant ok %v and %q", ok, report, c.ok, c.want)
			}
			for _, s := range append(c.secrets, testWhsec, oldSecret) {
				if strings.Contains(report, s) || strings.Contains(report, strings.TrimPrefix(s, "whsec_")) {
					t.Fatalf("the report shows a secret:\n%s", report)
				}
			}
		})
	}
}

// TestVerifyEventCommand: the command takes the secret from an environment
// variable or a file and has no flag that takes a secret's value.
func TestVerifyEventCommand(t *testing.T) {
	kNew, _ := decodeWhsec(testWhsec)
	body := []byte(`{"id":"evt_cmd","type":"payment.failed"}`)
	capture := captured([][]byte{kNew}, "evt_cmd", time.Now().Unix(), body, body, "\r\n", true)
	run := func(args ...string) (string, error) {
		c := verifyEventCommand()
		var out bytes.Buffer
		c.SetIn(strings.NewReader(capture))
		c.SetOut(&out)
		c.SetErr(&out)
		c.SetArgs(append([]string{}, args...)) // never nil: cobra would read os.Args
		err := c.Execute()
		return out.String(), err
	}
	t.Setenv("SHOP_WHSEC", "whsec_"+base64.StdEncoding.EncodeToString([]byte("not-the-gateway-secret-00"))+" "+testWhsec)
	if out, err := run("--secret-env", "SHOP_WHSEC"); err != nil || !strings.HasPrefix(out, "OK: event evt_cmd verifies with secret 2 of 2") {
		t.Fatalf("--secret-env: %v\n%s", err, out)
	}
	file := filepath.Join(t.TempDir(), "whsec")
	if err := os.WriteFile(file, []byte(testWhsec+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := run("--secret-file", file); err != nil || !strings.HasPrefix(out, "OK:") {
		t.Fatalf("--secret-file: %v\n%s", err, out)
	}
	t.Setenv("SHOP_WHSEC", "whsec_"+base64.StdEncoding.EncodeToString([]byte("not-the-gateway-secret-00")))
	if out, err := run("--secret-env", "SHOP_WHSEC"); err == nil || !strings.HasPrefix(out, "FAIL:") {
		t.Fatalf("a wrong secret must fail the command: %v\n%s", err, out)
	}
	// No way to give the value itself.
	if f := verifyEventCommand().Flags().Lookup("secret"); f != nil {
		t.Fatal("verify-event has a --secret flag")
	}
	if out, err := run("--secret", testWhsec); err == nil || !strings.Contains(err.Error(), "unknown flag: --secret") || strings.Contains(out, strings.TrimPrefix(testWhsec, "whsec_")) {
		t.Fatalf("--secret accepted: %v\n%s", err, out)
	}
	if _, err := run(); err == nil || !strings.Contains(err.Error(), "--secret-env NAME or --secret-file PATH") {
		t.Fatalf("no secret source: %v", err)
	}
	if _, err := run("--secret-env", "PAYMENTS_NO_SUCH_VAR"); err == nil || !strings.Contains(err.Error(), "PAYMENTS_NO_SUCH_VAR is not set") {
		t.Fatalf("unset variable: %v", err)
	}
}
