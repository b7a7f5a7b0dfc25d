package caddymodule

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// verifyStandardWebhook is an independent receiver-side verifier written
// from the Standard Webhooks specification (not from the signer in
// forward.go): it is what a shop does, and the tests use it to check that
// forwarded events verify.
func verifyStandardWebhook(secret string, h http.Header, body []byte, now time.Time) error {
	id, ts, sigs := h.Get("webhook-id"), h.Get("webhook-timestamp"), h.Get("webhook-signature")
	if id == "" || ts == "" || sigs == "" {
		return errors.New("missing webhook-* headers")
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return errors.New("bad timestamp")
	}
	if d := now.Sub(time.Unix(sec, 0)); d > 5*time.Minute || d < -5*time.Minute {
		return errors.New("timestamp outside tolerance")
	}
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil {
		return err
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id + "." + ts + "." + string(body)))
	want := mac.Sum(nil)
	for _, s := range strings.Fields(sigs) {
		ver, sig, ok := strings.Cut(s, ",")
		if !ok || ver != "v1" {
			continue
		}
		got, err := base64.StdEncoding.DecodeString(sig)
		if err == nil && hmac.Equal(got, want) {
			return nil
		}
	}
	return errors.New("no matching signature")
}

// The specification's published test vector.
const (
	specSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	specID     = "msg_p5jXN8AQM9LWM0D4loKWxJek"
	specTS     = 1614265330
	specBody   = `{"test": 2432232314}`
	specSig    = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
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

func TestVerifierAcceptsSpecVectorAndRejectsTampering(t *testing.T) {
	h := http.Header{}
	h.Set("webhook-id", specID)
	h.Set("webhook-timestamp", strconv.Itoa(specTS))
	h.Set("webhook-signature", specSig)
	at := time.Unix(specTS, 0)
	if err := verifyStandardWebhook(specSecret, h, []byte(specBody), at); err != nil {
		t.Fatalf("spec vector rejected: %v", err)
	}
	if err := verifyStandardWebhook(specSecret, h, []byte(`{"test": 2432232315}`), at); err == nil {
		t.Fatal("tampered body accepted")
	}
	if err := verifyStandardWebhook(specSecret, h, []byte(specBody), at.Add(10*time.Minute)); err == nil {
		t.Fatal("stale timestamp accepted")
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
