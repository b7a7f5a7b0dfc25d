package sandbox

import (
	"bytes"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
)

// psTestSecret is a non-default secret_key, so a test can prove it never
// leaks into a page or reply.
const psTestSecret = "ps-s3cret-for-sandbox-tests"

// psSandbox is a sandbox whose PaySage shop is 361 / psTestSecret, with a
// small slow_delay.
func psSandbox(t *testing.T) *httptest.Server {
	srv, _ := sandboxServer(t, &Handler{
		SlowDelay: caddy.Duration(300 * time.Millisecond),
		Paysage:   &PaysageConfig{SecretKey: psTestSecret},
	})
	return srv
}

// psAPI is the PaySage API base of a sandbox server.
func psAPI(srv *httptest.Server) string { return srv.URL + "/sandbox/paysage/beyag/transactions" }

// psReply is an HTTP reply: status, headers and raw body.
type psReply struct {
	status int
	header http.Header
	raw    []byte
}

// json decodes the body into a generic value.
func (r psReply) json(t *testing.T) map[string]any {
	t.Helper()
	var v map[string]any
	if err := json.Unmarshal(r.raw, &v); err != nil {
		t.Fatalf("reply is not a JSON object: HTTP %d %q", r.status, r.raw)
	}
	return v
}

// txn returns the "transaction" object of a 200 reply.
func (r psReply) txn(t *testing.T) map[string]any {
	t.Helper()
	if r.status != http.StatusOK {
		t.Fatalf("HTTP %d %s, want 200", r.status, r.raw)
	}
	tx, ok := r.json(t)["transaction"].(map[string]any)
	if !ok {
		t.Fatalf("no transaction in %s", r.raw)
	}
	return tx
}

// psDo sends one API request with Basic shop 361 / psTestSecret.
func psDo(t *testing.T, method, u, body string, header map[string]string) psReply {
	t.Helper()
	return psDoAuth(t, method, u, body, "361", psTestSecret, header)
}

// psDoAuth sends one request with the given Basic credentials (none when
// user is empty) and JSON content type for a body.
func psDoAuth(t *testing.T, method, u, body, user, pass string, header map[string]string) psReply {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, u, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	if user != "" {
		req.SetBasicAuth(user, pass)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := noRedirect.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return psReply{resp.StatusCode, resp.Header, b}
}

// psPaymentBody is a valid Trustly payment request for amount, as JSON.
func psPaymentBody(amount int64, trackingID, notifyURL string) string {
	req := map[string]any{
		"amount":      amount,
		"currency":    "EUR",
		"description": "Order " + trackingID,
		"tracking_id": trackingID,
		"language":    "en",
		"return_url":  "https://shop.example/return?cart=42",
		"ip":          "203.0.113.7",
		"test":        true,
		"customer": map[string]any{
			"first_name": "Jane", "last_name": "Doe", "country": "SE", "external_id": "cust-7",
			"email": "jane@example.com",
		},
		"method": map[string]any{"type": "trustly"},
	}
	if notifyURL != "" {
		req["notification_url"] = notifyURL
	}
	b, _ := json.Marshal(map[string]any{"request": req})
	return string(b)
}

// psCreate creates a payment and returns its transaction object.
func psCreate(t *testing.T, srv *httptest.Server, amount int64, trackingID, notifyURL string) map[string]any {
	t.Helper()
	tx := psDo(t, http.MethodPost, psAPI(srv)+"/payments", psPaymentBody(amount, trackingID, notifyURL), nil).txn(t)
	if tx["status"] != "pending" {
		t.Fatalf("created payment status %v, want pending", tx["status"])
	}
	return tx
}

// psFormAction returns transaction.form.action.
func psFormAction(t *testing.T, tx map[string]any) string {
	t.Helper()
	form, ok := tx["form"].(map[string]any)
	if !ok {
		t.Fatalf("no form in %v", tx)
	}
	s, _ := form["action"].(string)
	return s
}

// psHook is one received webhook.
type psHook struct {
	header http.Header
	raw    []byte
}

// txn decodes the webhook's transaction object.
func (h psHook) txn(t *testing.T) map[string]any {
	t.Helper()
	var v struct {
		Transaction map[string]any `json:"transaction"`
	}
	if err := json.Unmarshal(h.raw, &v); err != nil || v.Transaction == nil {
		t.Fatalf("webhook body is not {\"transaction\":{…}}: %q", h.raw)
	}
	return v.Transaction
}

// psReceiver is a shop's webhook endpoint on loopback.
type psReceiver struct {
	srv    *httptest.Server
	ch     chan psHook
	mu     sync.Mutex
	status int
}

func newPsReceiver(t *testing.T) *psReceiver {
	rc := &psReceiver{ch: make(chan psHook, 64), status: http.StatusOK}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if r.Method != http.MethodPost {
			http.Error(w, "POST only", http.StatusMethodNotAllowed)
			return
		}
		rc.ch <- psHook{header: r.Header.Clone(), raw: b}
		rc.mu.Lock()
		status := rc.status
		rc.mu.Unlock()
		w.WriteHeader(status)
	}))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *psReceiver) next(t *testing.T) psHook {
	t.Helper()
	select {
	case h := <-rc.ch:
		return h
	case <-time.After(5 * time.Second):
		t.Fatal("no webhook within 5s")
		return psHook{}
	}
}

func (rc *psReceiver) none(t *testing.T, d time.Duration) {
	t.Helper()
	select {
	case h := <-rc.ch:
		t.Fatalf("unexpected webhook: %s", h.raw)
	case <-time.After(d):
	}
}

// psVerify checks a webhook the way PaySage's docs tell a shop to, with
// no sandbox code: Basic shop_id:secret_key, and Content-Signature =
// base64(RSA PKCS#1 v1.5 SHA-256 over the raw body) against the base64
// DER SPKI public key.
func psVerify(t *testing.T, h psHook, publicKey, shopID, secret string) {
	t.Helper()
	want := "Basic " + base64.StdEncoding.EncodeToString([]byte(shopID+":"+secret))
	if got := h.header.Get("Authorization"); got != want {
		t.Fatalf("Authorization = %q, want Basic %s:<secret_key>", got, shopID)
	}
	if ct := h.header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type = %q", ct)
	}
	if err := psCheckSignature(h.raw, h.header.Get("Content-Signature"), publicKey); err != nil {
		t.Fatalf("Content-Signature does not verify: %v", err)
	}
}

// psCheckSignature verifies sigB64 over raw with a base64 DER SPKI key.
func psCheckSignature(raw []byte, sigB64, publicKey string) error {
	der, err := base64.StdEncoding.DecodeString(publicKey)
	if err != nil {
		return err
	}
	pub, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		return err
	}
	sig, err := base64.StdEncoding.DecodeString(sigB64)
	if err != nil {
		return err
	}
	sum := sha256.Sum256(raw)
	return rsa.VerifyPKCS1v15(pub.(*rsa.PublicKey), crypto.SHA256, sum[:], sig)
}

// psListing reads the sandbox-only listing.
func psListing(t *testing.T, srv *httptest.Server) []paysageView {
	t.Helper()
	resp, err := http.Get(srv.URL + "/sandbox/paysage/_sandbox/payments")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Sandbox  string        `json:"sandbox"`
		Payments []paysageView `json:"payments"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.Sandbox, "sandbox only") {
		t.Fatalf("listing is not marked sandbox-only: %q", out.Sandbox)
	}
	return out.Payments
}

// psFind returns the listing entry of uid.
func psFind(t *testing.T, srv *httptest.Server, uid string) paysageView {
	t.Helper()
	for _, v := range psListing(t, srv) {
		if v.UID == uid {
			return v
		}
	}
	t.Fatalf("uid %s not in the listing", uid)
	return paysageView{}
}

// psAction posts a sandbox-only action and returns the HTTP status.
func psAction(t *testing.T, srv *httptest.Server, uid, action string) int {
	t.Helper()
	resp, err := http.Post(srv.URL+"/sandbox/paysage/_sandbox/payments/"+uid+"/"+action, "", bytes.NewReader(nil))
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}
