package sandbox

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"html"
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
)

// Non-default secrets, so a test can prove they never leak.
const (
	rzpTestKeyID     = "rzp_test_Abc123Def456Gh"
	rzpTestKeySecret = "key-secret-for-razorpay-tests"
	rzpTestHookSec   = "webhook-secret-for-razorpay-tests"
)

// rzpEnv is a provisioned sandbox plus a webhook receiver.
type rzpEnv struct {
	srv  *httptest.Server
	hook *rzpHookReceiver
	base string // srv.URL + "/sandbox/razorpay"
}

// newRzpEnv starts a sandbox whose Razorpay emulator posts webhooks to a
// loopback receiver. tweak may adjust the handler before provisioning.
func newRzpEnv(t *testing.T, tweak func(h *Handler)) *rzpEnv {
	t.Helper()
	hook := newRzpHookReceiver(t)
	h := &Handler{
		SlowDelay: caddy.Duration(300 * time.Millisecond),
		Razorpay: &RazorpayConfig{
			KeyID:         rzpTestKeyID,
			KeySecret:     rzpTestKeySecret,
			WebhookSecret: rzpTestHookSec,
			WebhookURL:    hook.srv.URL + "/notifications/razorpay",
		},
	}
	if tweak != nil {
		tweak(h)
	}
	srv, _ := sandboxServer(t, h)
	return &rzpEnv{srv: srv, hook: hook, base: srv.URL + "/sandbox/razorpay"}
}

// rzpReply is one API answer.
type rzpReply struct {
	status int
	header http.Header
	raw    []byte
	obj    map[string]any
}

// str returns a top-level string field.
func (r rzpReply) str(name string) string { s, _ := r.obj[name].(string); return s }

// num returns a top-level number field as int64.
func (r rzpReply) num(name string) int64 { f, _ := r.obj[name].(float64); return int64(f) }

// basic is an Authorization header value built independently.
func basic(id, secret string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(id+":"+secret))
}

// do sends a request with the given Authorization header ("" for none).
func (e *rzpEnv) do(t *testing.T, method, path, body, auth string, hdr ...string) rzpReply {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, e.base+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := noRedirect.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	out := rzpReply{status: resp.StatusCode, header: resp.Header, raw: raw}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(raw, &out.obj); err != nil {
			t.Fatalf("%s %s: reply is not a JSON object: %s", method, path, raw)
		}
	}
	return out
}

// api sends an authenticated request with the test keys.
func (e *rzpEnv) api(t *testing.T, method, path, body string, hdr ...string) rzpReply {
	t.Helper()
	return e.do(t, method, path, body, basic(rzpTestKeyID, rzpTestKeySecret), hdr...)
}

// ok fails unless the reply is HTTP 200.
func (r rzpReply) ok(t *testing.T, what string) rzpReply {
	t.Helper()
	if r.status != http.StatusOK {
		t.Fatalf("%s: HTTP %d %s", what, r.status, r.raw)
	}
	return r
}

// wantError checks the Razorpay error envelope: status, code, field and
// the exact set of keys of the error object.
func wantError(t *testing.T, r rzpReply, status int, field string) map[string]any {
	t.Helper()
	if r.status != status {
		t.Fatalf("HTTP %d, want %d: %s", r.status, status, r.raw)
	}
	if len(r.obj) != 1 {
		t.Fatalf("envelope has keys other than error: %s", r.raw)
	}
	e, ok := r.obj["error"].(map[string]any)
	if !ok {
		t.Fatalf("no error object: %s", r.raw)
	}
	wantKeys(t, "error", e, "code", "description", "source", "step", "reason", "metadata", "field")
	if e["code"] != "BAD_REQUEST_ERROR" {
		t.Errorf("code = %v: %s", e["code"], r.raw)
	}
	if d, _ := e["description"].(string); d == "" {
		t.Errorf("empty description: %s", r.raw)
	}
	if _, ok := e["metadata"].(map[string]any); !ok {
		t.Errorf("metadata is not an object: %s", r.raw)
	}
	if field == "" {
		if e["field"] != nil {
			t.Errorf("field = %v, want null: %s", e["field"], r.raw)
		}
	} else if e["field"] != field {
		t.Errorf("field = %v, want %q: %s", e["field"], field, r.raw)
	}
	return e
}

// wantKeys fails unless m has exactly the given keys.
func wantKeys(t *testing.T, what string, m map[string]any, keys ...string) {
	t.Helper()
	var got []string
	for k := range m {
		got = append(got, k)
	}
	sort.Strings(got)
	want := append([]string{}, keys...)
	sort.Strings(want)
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("%s keys\n got %v\nwant %v", what, got, want)
	}
}

// order body with amount/currency and automatic capture.
func orderBody(amount int64, cur, receipt string) string {
	return fmt.Sprintf(`{"amount":%d,"currency":%q,"receipt":%q,"notes":{"reference":%q},
		"payment":{"capture":"automatic","capture_options":{"automatic_expiry_period":12,"manual_expiry_period":7200,"refund_speed":"normal"}}}`,
		amount, cur, receipt, receipt)
}

// paymentBody is the full body the design notes prescribe; callback
// "" leaves callback_url out.
func paymentBody(orderID string, amount int64, cur, callback string) string {
	cb := ""
	if callback != "" {
		cb = fmt.Sprintf(`"callback_url":%q,`, callback)
	}
	return fmt.Sprintf(`{"amount":%d,"currency":%q,"order_id":%q,"email":"jane@example.com","contact":"+46701234567",
		"method":"app","provider":"trustly","ip":"203.0.113.7","referer":"https://shop.example/cart",
		"user_agent":"Mozilla/5.0",%s"notes":{"reference":"ref-1"},"description":"Order ref-1"}`,
		amount, cur, orderID, cb)
}

// newOrder creates an order and returns its id.
func (e *rzpEnv) newOrder(t *testing.T, amount int64, cur, receipt string) string {
	t.Helper()
	r := e.api(t, "POST", "/v1/orders", orderBody(amount, cur, receipt)).ok(t, "create order")
	return r.str("id")
}

// newPayment creates an order and a JSON payment and returns both ids.
func (e *rzpEnv) newPayment(t *testing.T, amount int64, callback string) (orderID, payID string) {
	t.Helper()
	orderID = e.newOrder(t, amount, "EUR", "ref-1")
	r := e.api(t, "POST", "/v1/payments/create/json", paymentBody(orderID, amount, "EUR", callback)).ok(t, "create payment")
	return orderID, r.str("razorpay_payment_id")
}

// sandboxAction runs the inspection approve/decline and decodes the reply.
func (e *rzpEnv) sandboxAction(t *testing.T, payID, action string) (int, map[string]any) {
	t.Helper()
	resp, err := http.Post(e.base+"/_sandbox/payments/"+payID+"/"+action, "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, out
}

// rzpHook is one received webhook.
type rzpHook struct {
	raw    []byte
	header http.Header
	obj    map[string]any
}

// event returns the event name.
func (h rzpHook) event() string { s, _ := h.obj["event"].(string); return s }

// entity returns payload.<name>.entity.
func (h rzpHook) entity(t *testing.T, name string) map[string]any {
	t.Helper()
	p, _ := h.obj["payload"].(map[string]any)
	w, _ := p[name].(map[string]any)
	e, ok := w["entity"].(map[string]any)
	if !ok {
		t.Fatalf("webhook %s has no payload.%s.entity: %s", h.event(), name, h.raw)
	}
	return e
}

// rzpHookReceiver is the merchant's webhook endpoint on loopback.
type rzpHookReceiver struct {
	srv    *httptest.Server
	ch     chan rzpHook
	mu     sync.Mutex
	status int
}

func newRzpHookReceiver(t *testing.T) *rzpHookReceiver {
	rc := &rzpHookReceiver{ch: make(chan rzpHook, 64), status: http.StatusOK}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		h := rzpHook{raw: raw, header: r.Header.Clone()}
		if r.Method != http.MethodPost || json.Unmarshal(raw, &h.obj) != nil {
			http.Error(w, "bad webhook", http.StatusBadRequest)
			return
		}
		rc.mu.Lock()
		status := rc.status
		rc.mu.Unlock()
		rc.ch <- h
		w.WriteHeader(status)
	}))
	t.Cleanup(rc.srv.Close)
	return rc
}

// next waits for the next webhook.
func (rc *rzpHookReceiver) next(t *testing.T) rzpHook {
	t.Helper()
	select {
	case h := <-rc.ch:
		return h
	case <-time.After(5 * time.Second):
		t.Fatal("no webhook within 5s")
		return rzpHook{}
	}
}

// none asserts that no webhook arrives for d.
func (rc *rzpHookReceiver) none(t *testing.T, d time.Duration) {
	t.Helper()
	select {
	case h := <-rc.ch:
		t.Fatalf("unexpected webhook: %s", h.raw)
	case <-time.After(d):
	}
}

// verifyHook checks a webhook independently: headers, the HMAC-SHA256 of
// the raw body with secret, and the event envelope.
func verifyHook(t *testing.T, h rzpHook, secret, event string) {
	t.Helper()
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(h.raw)
	want := hex.EncodeToString(m.Sum(nil))
	if got := h.header.Get("X-Razorpay-Signature"); !hmac.Equal([]byte(got), []byte(want)) {
		t.Fatalf("X-Razorpay-Signature = %q, want %q", got, want)
	}
	if h.header.Get("Content-Type") != "application/json" {
		t.Errorf("Content-Type %q", h.header.Get("Content-Type"))
	}
	if !regexp.MustCompile(`^[A-Za-z0-9]{14}$`).MatchString(h.header.Get("X-Razorpay-Event-Id")) {
		t.Errorf("X-Razorpay-Event-Id %q", h.header.Get("X-Razorpay-Event-Id"))
	}
	wantKeys(t, "webhook envelope", h.obj, "entity", "account_id", "event", "contains", "payload", "created_at")
	if h.obj["entity"] != "event" || h.event() != event || !strings.HasPrefix(h.obj["account_id"].(string), "acc_") {
		t.Fatalf("webhook envelope %s, want event %s", h.raw, event)
	}
	if _, ok := h.obj["created_at"].(float64); !ok {
		t.Errorf("created_at is not a number: %s", h.raw)
	}
}

// callbackFormRE finds the hidden inputs of the callback page.
var (
	callbackActionRE = regexp.MustCompile(`<form id="rzp-callback" method="post" action="([^"]*)"`)
	callbackInputRE  = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`)
)

// parseCallbackPage extracts the action and fields of the auto-submitting form.
func parseCallbackPage(t *testing.T, page string) (string, url.Values) {
	t.Helper()
	m := callbackActionRE.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no callback form: %s", page)
	}
	fields := url.Values{}
	for _, in := range callbackInputRE.FindAllStringSubmatch(page, -1) {
		fields.Add(html.UnescapeString(in[1]), html.UnescapeString(in[2]))
	}
	return html.UnescapeString(m[1]), fields
}

// paymentSignature is an independent reference §8.2 signature.
func paymentSignature(orderID, payID, secret string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(orderID + "|" + payID))
	return hex.EncodeToString(m.Sum(nil))
}
