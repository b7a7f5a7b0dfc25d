package sandbox

import (
	"bytes"
	"context"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// testSecret is a non-default secret, so a test can prove it never leaks
// into a page or reply (the public "b185" could occur in random hex).
const testSecret = "s3cret-for-sandbox-tests"

// sandboxServer provisions h and serves it on loopback behind a next
// handler that answers 404 with X-Next: 1.
func sandboxServer(t *testing.T, h *Handler) (*httptest.Server, *Handler) {
	t.Helper()
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	if err := h.Provision(ctx); err != nil {
		cancel()
		t.Fatalf("Provision: %v", err)
	}
	if err := h.Validate(); err != nil {
		cancel()
		t.Fatalf("Validate: %v", err)
	}
	next := caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		w.Header().Set("X-Next", "1")
		http.Error(w, "next handler", http.StatusNotFound)
		return nil
	})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := h.ServeHTTP(w, r, next); err != nil {
			var he caddyhttp.HandlerError
			if errors.As(err, &he) {
				w.WriteHeader(he.StatusCode)
				return
			}
			w.WriteHeader(http.StatusInternalServerError)
		}
	}))
	t.Cleanup(func() {
		srv.Close()
		_ = h.Cleanup()
		cancel()
	})
	return srv, h
}

// defaultSandbox is a sandbox with testSecret and a small slow_delay.
func defaultSandbox(t *testing.T) (*httptest.Server, *Handler) {
	return sandboxServer(t, &Handler{
		SlowDelay: caddy.Duration(300 * time.Millisecond),
		Payabl:    &PayablConfig{Secret: testSecret},
	})
}

// testSign is an independent implementation of payabl.'s request
// signature for ASCII values (sorted names, values concatenated, secret
// appended, SHA-1, lowercase hex).
func testSign(params map[string]string, secret string) string {
	keys := make([]string, 0, len(params))
	for k := range params {
		if k != "signature" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	s := ""
	for _, k := range keys {
		s += params[k]
	}
	sum := sha1.Sum([]byte(s + secret))
	return hex.EncodeToString(sum[:])
}

// signed returns a copy of params with a signature for secret.
func signed(params map[string]string, secret string) map[string]string {
	out := make(map[string]string, len(params)+1)
	for k, v := range params {
		out[k] = v
	}
	out["signature"] = testSign(params, secret)
	return out
}

// preauthParams is a valid Trustly pre-authorization (unsigned).
func preauthParams(amount, notifyURL string) map[string]string {
	return map[string]string{
		"merchantid":       "gateway_test",
		"orderid":          "ORD-1001",
		"amount":           amount,
		"currency":         "EUR",
		"payment_method":   "116",
		"language":         "en",
		"email":            "jane@example.com",
		"firstname":        "Jane",
		"lastname":         "Doe",
		"country":          "SWE",
		"customerip":       "203.0.113.7",
		"notification_url": notifyURL,
		"url_success":      "https://shop.example/ok",
		"url_failed":       "https://shop.example/fail",
		"custom1":          "cart-42",
	}
}

// postRaw posts a form body and returns status and body.
func postRaw(t *testing.T, u, body string) (int, []byte) {
	t.Helper()
	resp, err := http.Post(u, "application/x-www-form-urlencoded", strings.NewReader(body))
	if err != nil {
		t.Fatalf("POST %s: %v", u, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b
}

// call posts params (ASCII) to a backoffice op and decodes the form reply.
func call(t *testing.T, srv *httptest.Server, op string, params map[string]string) url.Values {
	t.Helper()
	v := url.Values{}
	for k, x := range params {
		v.Set(k, x)
	}
	status, body := postRaw(t, srv.URL+"/sandbox/payabl/pay/backoffice/"+op, v.Encode())
	if status != http.StatusOK {
		t.Fatalf("%s: HTTP %d %s", op, status, body)
	}
	reply, err := url.ParseQuery(string(body))
	if err != nil {
		t.Fatalf("%s: reply is not form data: %q", op, body)
	}
	return reply
}

// wantStatus fails unless the reply has the given status.
func wantStatus(t *testing.T, reply url.Values, status string) {
	t.Helper()
	if got := reply.Get("status"); got != status {
		t.Fatalf("status = %q (%s), want %s", got, reply.Get("errormessage"), status)
	}
}

// notification is one received notification.
type notification struct {
	form url.Values
	raw  string
}

// receiver is a shop's notification endpoint on loopback.
type receiver struct {
	srv   *httptest.Server
	mu    sync.Mutex
	got   []notification
	ch    chan notification
	reply string
}

func newReceiver(t *testing.T) *receiver {
	rc := &receiver{ch: make(chan notification, 64), reply: "OK"}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		form, err := url.ParseQuery(string(b))
		if err != nil || r.Method != http.MethodPost || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
			http.Error(w, "bad notification", http.StatusBadRequest)
			return
		}
		n := notification{form: form, raw: string(b)}
		rc.mu.Lock()
		rc.got = append(rc.got, n)
		reply := rc.reply
		rc.mu.Unlock()
		rc.ch <- n
		_, _ = io.WriteString(w, reply)
	}))
	t.Cleanup(rc.srv.Close)
	return rc
}

// next waits for the next notification.
func (rc *receiver) next(t *testing.T) notification {
	t.Helper()
	select {
	case n := <-rc.ch:
		return n
	case <-time.After(5 * time.Second):
		t.Fatal("no notification within 5s")
		return notification{}
	}
}

// none asserts that no notification arrives for d.
func (rc *receiver) none(t *testing.T, d time.Duration) {
	t.Helper()
	select {
	case n := <-rc.ch:
		t.Fatalf("unexpected notification: %s", n.raw)
	case <-time.After(d):
	}
}

// verifySecurity checks a notification's SHA-256 security independently.
func verifySecurity(t *testing.T, n notification, secret string) {
	t.Helper()
	f := n.form
	sum := sha256.Sum256([]byte(f.Get("transactionid") + f.Get("type") + f.Get("errorcode") + f.Get("timestamp") + secret))
	if got, want := f.Get("security"), hex.EncodeToString(sum[:]); got != want {
		t.Fatalf("security = %s, want %s (body %s)", got, want, n.raw)
	}
	if !regexp.MustCompile(`^[0-9]{9,11}$`).MatchString(f.Get("timestamp")) {
		t.Fatalf("timestamp %q is not unix seconds", f.Get("timestamp"))
	}
}

// noRedirect is a client that returns redirects instead of following them.
var noRedirect = &http.Client{
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	Timeout:       10 * time.Second,
}

// formTokenRE extracts the hidden form token from the checkout page.
var formTokenRE = regexp.MustCompile(`name="token" value="([0-9a-f]+)"`)

// getPage fetches a URL and returns status and body.
func getPage(t *testing.T, u string) (int, string) {
	t.Helper()
	resp, err := noRedirect.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// clickButton posts the checkout form like a browser and returns the response.
func clickButton(t *testing.T, pageURL, token, action string) *http.Response {
	t.Helper()
	resp, err := noRedirect.PostForm(pageURL, url.Values{"token": {token}, "action": {action}})
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

// createPayment runs a pre-authorization and returns the reply.
func createPayment(t *testing.T, srv *httptest.Server, amount, notifyURL string) url.Values {
	t.Helper()
	reply := call(t, srv, "payment_preauthorize", signed(preauthParams(amount, notifyURL), testSecret))
	wantStatus(t, reply, "2000")
	return reply
}

// eventually polls cond for up to 5s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// mustForm decodes a form-encoded reply.
func mustForm(t *testing.T, body []byte) url.Values {
	t.Helper()
	v, err := url.ParseQuery(string(body))
	if err != nil {
		t.Fatalf("reply is not form data: %q", body)
	}
	return v
}

func hexOf(b []byte) string { return hex.EncodeToString(b) }

// diagResponse is a parsed tx_diagnose reply.
type diagResponse struct {
	XMLName xml.Name `xml:"response"`
	Process struct {
		ErrorMessage string `xml:"error_message"`
		ProcessTime  string `xml:"process_time"`
		Status       string `xml:"status"`
	} `xml:"process"`
	Transactions []struct {
		Amount        string `xml:"amount"`
		CreationDate  string `xml:"creation_date"`
		Currency      string `xml:"currency"`
		Custom1       string `xml:"custom1"`
		ErrorCode     string `xml:"error_code"`
		OrderID       string `xml:"order_id"`
		Type          string `xml:"type"`
		TransactionID string `xml:"transaction_id"`
	} `xml:"transaction"`
}

// latin1Reader is an encoding/xml CharsetReader for ISO-8859-1.
func latin1Reader(label string, input io.Reader) (io.Reader, error) {
	if !strings.EqualFold(label, "ISO-8859-1") {
		return nil, fmt.Errorf("unexpected charset %q", label)
	}
	b, err := io.ReadAll(input)
	if err != nil {
		return nil, err
	}
	runes := make([]rune, len(b))
	for i, c := range b {
		runes[i] = rune(c)
	}
	return strings.NewReader(string(runes)), nil
}

// diagnoseRaw posts a signed tx_diagnose body and parses the XML.
func diagnoseRaw(t *testing.T, srv *httptest.Server, body string) (diagResponse, []byte) {
	t.Helper()
	status, raw := postRaw(t, srv.URL+"/sandbox/payabl/pay/backoffice/tx_diagnose", body)
	if status != http.StatusOK {
		t.Fatalf("tx_diagnose: HTTP %d", status)
	}
	if !bytes.HasPrefix(raw, []byte(`<?xml version="1.0" encoding="ISO-8859-1"?>`)) {
		t.Fatalf("tx_diagnose reply lacks the ISO-8859-1 declaration: %q", raw)
	}
	var d diagResponse
	dec := xml.NewDecoder(bytes.NewReader(raw))
	dec.CharsetReader = latin1Reader
	if err := dec.Decode(&d); err != nil {
		t.Fatalf("tx_diagnose XML does not parse: %v\n%s", err, raw)
	}
	return d, raw
}

// diagnose runs tx_diagnose with ASCII params signed with testSecret.
func diagnose(t *testing.T, srv *httptest.Server, params map[string]string) diagResponse {
	t.Helper()
	params["merchantid"] = "gateway_test"
	v := url.Values{}
	for k, x := range signed(params, testSecret) {
		v.Set(k, x)
	}
	d, _ := diagnoseRaw(t, srv, v.Encode())
	return d
}

// diagCode returns the error_code of one transaction via type=tx.
func diagCode(t *testing.T, srv *httptest.Server, id string) string {
	t.Helper()
	d := diagnose(t, srv, map[string]string{"type": "tx", "transactionid": id})
	if d.Process.Status != "0" || len(d.Transactions) != 1 {
		t.Fatalf("diagnose %s: status %s %q, %d transactions", id, d.Process.Status, d.Process.ErrorMessage, len(d.Transactions))
	}
	return d.Transactions[0].ErrorCode
}
