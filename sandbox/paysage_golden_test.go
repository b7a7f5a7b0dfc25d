package sandbox

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"
)

// Golden checks against PaySage's own documents. testdata/
// paysage_seed_trustly_{request,response}.json are copied verbatim from
// seed 003 (docs.paysage.io, Trustly "DC" option).

var (
	psUIDRE     = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	psTimeRE    = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$`)
	psRefIDRE   = regexp.MustCompile(`^[0-9a-f]{20}$`)
	psReceiptRE = regexp.MustCompile(`/paysage/customer/transactions/([0-9a-f-]{36})/[0-9a-f]{64}\?language=en$`)
)

// TestPaysageSeedTrustlyExample sends the seed's request example and
// checks that the reply is the seed's response example, byte for byte
// once compacted (same keys, same order, same values), except the values
// that are per-transaction by nature: uid, timestamps, receipt_url,
// payment.ref_id and form.action ("link-to-payment-page" in the seed).
func TestPaysageSeedTrustlyExample(t *testing.T) {
	srv := psSandbox(t)
	reqBody, err := os.ReadFile("testdata/paysage_seed_trustly_request.json")
	if err != nil {
		t.Fatal(err)
	}
	seedResp, err := os.ReadFile("testdata/paysage_seed_trustly_response.json")
	if err != nil {
		t.Fatal(err)
	}
	reply := psDo(t, http.MethodPost, psAPI(srv)+"/payments", string(reqBody), nil)
	tx := reply.txn(t)
	if ct := reply.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("Content-Type %q", ct)
	}

	uid, _ := tx["uid"].(string)
	created, _ := tx["created_at"].(string)
	updated, _ := tx["updated_at"].(string)
	receipt, _ := tx["receipt_url"].(string)
	refID, _ := tx["payment"].(map[string]any)["ref_id"].(string)
	action := psFormAction(t, tx)
	if !psUIDRE.MatchString(uid) || !psTimeRE.MatchString(created) || !psTimeRE.MatchString(updated) || !psRefIDRE.MatchString(refID) {
		t.Fatalf("uid %q created_at %q updated_at %q ref_id %q", uid, created, updated, refID)
	}
	if m := psReceiptRE.FindStringSubmatch(receipt); m == nil || m[1] != uid || !strings.HasPrefix(receipt, srv.URL+"/sandbox/") {
		t.Fatalf("receipt_url %q", receipt)
	}
	if !regexp.MustCompile(`^` + regexp.QuoteMeta(srv.URL) + `/sandbox/paysage/checkout/[0-9a-f]{40}$`).MatchString(action) {
		t.Fatalf("form.action %q is not the sandbox checkout page", action)
	}

	// receipt_url first: the seed's contains the seed's uid.
	want := regexp.MustCompile(`"receipt_url": "[^"]*"`).ReplaceAllString(string(seedResp), `"receipt_url": "`+receipt+`"`)
	for seed, mine := range map[string]string{
		"d210921d-092e-4a04-b8b7-add19669e234": uid,
		"2025-04-07T09:49:22Z":                 created,
		"2025-04-07T09:49:23Z":                 updated,
		"5b5d36630263200a4982":                 refID,
		"link-to-payment-page":                 action,
	} {
		if !strings.Contains(want, seed) {
			t.Fatalf("seed value %q not found in the seed", seed)
		}
		want = strings.ReplaceAll(want, seed, mine)
	}
	var wantC, gotC bytes.Buffer
	if err := json.Compact(&wantC, []byte(want)); err != nil {
		t.Fatal(err)
	}
	if err := json.Compact(&gotC, reply.raw); err != nil {
		t.Fatal(err)
	}
	if wantC.String() != gotC.String() {
		t.Fatalf("reply differs from the seed's response example\n got: %s\nwant: %s", gotC.String(), wantC.String())
	}

	// GET by uid answers the same object.
	again := psDo(t, http.MethodGet, psAPI(srv)+"/"+uid, "", nil)
	if again.status != http.StatusOK || !bytes.Equal(again.raw, reply.raw) {
		t.Fatalf("GET by uid: HTTP %d %s", again.status, again.raw)
	}
}

// TestPaysageErrorFixtures pins the two error bodies beGateway's APM
// client fixtures show (reference §4.3).
func TestPaysageErrorFixtures(t *testing.T) {
	srv := psSandbox(t)
	cases := []struct {
		name       string
		user, pass string
		body       string
		status     int
		want       string
	}{
		{"no credentials", "", "", psPaymentBody(500, "x", ""), 401,
			`{"message":"Invalid shop_id/secret_key.","errors":{"system":["System error."]}}`},
		{"wrong secret", "361", "nope", psPaymentBody(500, "x", ""), 401,
			`{"message":"Invalid shop_id/secret_key.","errors":{"system":["System error."]}}`},
		{"wrong shop", "362", psTestSecret, psPaymentBody(500, "x", ""), 401,
			`{"message":"Invalid shop_id/secret_key.","errors":{"system":["System error."]}}`},
		{"amount missing", "361", psTestSecret, strings.Replace(psPaymentBody(500, "x", ""), `"amount":500,`, "", 1), 422,
			`{"message":"Unprocessable entity","errors":{"request":{"amount":["is missing"]}}}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := psDoAuth(t, http.MethodPost, psAPI(srv)+"/payments", tc.body, tc.user, tc.pass, nil)
			if r.status != tc.status || string(r.raw) != tc.want {
				t.Fatalf("HTTP %d %s, want %d %s", r.status, r.raw, tc.status, tc.want)
			}
			if strings.Contains(string(r.raw), psTestSecret) {
				t.Fatal("reply contains the secret")
			}
		})
	}
	// Every API path needs the credentials; the checkout and the
	// sandbox-only paths do not.
	for _, p := range []string{"/payments", "/refunds", "/some-uid", "/tracking_id/x"} {
		if r := psDoAuth(t, http.MethodGet, psAPI(srv)+p, "", "", "", nil); r.status != http.StatusUnauthorized {
			t.Errorf("GET %s without credentials: HTTP %d", p, r.status)
		}
	}
}

// TestPaysagePublicKey checks the exported key against the embedded
// private key with an independent sign/verify, and the served copy.
func TestPaysagePublicKey(t *testing.T) {
	pk := PaysagePublicKey()
	msg := []byte(`{"transaction":{"uid":"x"}}`)
	sum := sha256.Sum256(msg)
	sig, err := rsa.SignPKCS1v15(rand.Reader, paysageTestKey, crypto.SHA256, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	if err := psCheckSignature(msg, base64.StdEncoding.EncodeToString(sig), pk); err != nil {
		t.Fatalf("PaysagePublicKey does not verify the embedded key's signature: %v", err)
	}
	if paysageTestKey.N.BitLen() != 2048 {
		t.Fatalf("embedded key has %d bits", paysageTestKey.N.BitLen())
	}
	pem, _ := os.ReadFile("testdata/paysage_sandbox_test_key.pem")
	if !bytes.Contains(pem, []byte("TEST KEY ONLY")) {
		t.Fatal("the embedded key file is not labelled test-only")
	}

	srv := psSandbox(t)
	resp, err := http.Get(srv.URL + "/sandbox/paysage/_sandbox/public_key")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || string(b) != pk || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		t.Fatalf("public_key endpoint: HTTP %d %q", resp.StatusCode, b)
	}
}
