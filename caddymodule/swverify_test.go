package caddymodule

import (
	"encoding/base64"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/caddy-payments/caddy-payments/internal/webhooktest"
)

// verifyStandardWebhook is the shop's side, written from the Standard
// Webhooks specification (not from the signer in forward.go); the tests use
// it to check that forwarded events verify.
var verifyStandardWebhook = webhooktest.Verify

// The specification's published test vector.
const (
	specSecret = webhooktest.SpecSecret
	specID     = webhooktest.SpecID
	specTS     = webhooktest.SpecTimestamp
	specBody   = webhooktest.SpecBody
	specSig    = webhooktest.SpecSignature
)

func TestSignStandardWebhooksSpecVector(t *testing.T) {
	key, err := decodeWhsec(specSecret)
	if err != nil {
		t.Fatal(err)
	}
	if got := signStandardWebhooks([][]byte{key}, specID, specTS, []byte(specBody)); got != specSig {
		t.Fatalf("signature = %q, want the spec's %q", got, specSig)
	}
}

func TestSignSeveralSecretsForRotation(t *testing.T) {
	oldS, newS := "whsec_"+base64.StdEncoding.EncodeToString([]byte("old-secret-old-secret-old!")), specSecret
	k1, _ := decodeWhsec(newS)
	k2, _ := decodeWhsec(oldS)
	body := []byte(`{"id":"evt_1"}`)
	now := time.Now()
	sig := signStandardWebhooks([][]byte{k1, k2}, "evt_1", now.Unix(), body)
	if n := len(strings.Fields(sig)); n != 2 {
		t.Fatalf("want 2 space-separated signatures, got %d: %q", n, sig)
	}
	h := http.Header{}
	h.Set("webhook-id", "evt_1")
	h.Set("webhook-timestamp", strconv.FormatInt(now.Unix(), 10))
	h.Set("webhook-signature", sig)
	for _, s := range []string{oldS, newS} {
		if err := verifyStandardWebhook(s, h, body, now); err != nil {
			t.Errorf("a shop holding one of the secrets must verify: %v", err)
		}
	}
}

func TestDecodeWhsec(t *testing.T) {
	for _, bad := range []string{"", "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_!!!", "whsec_c2hvcnQ="} {
		if _, err := decodeWhsec(bad); err == nil {
			t.Errorf("decodeWhsec(%q) accepted", bad)
		}
	}
}
