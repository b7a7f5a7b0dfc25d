package faulttest

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

// verifyWebhook checks a Standard Webhooks delivery the way a shop does,
// written from the specification and independent of the gateway's signer:
// HMAC-SHA256 keyed with the base64-decoded part of the secret after
// "whsec_", over "{webhook-id}.{webhook-timestamp}.{body}", compared in
// constant time with every "v1,<base64>" entry of webhook-signature; the
// timestamp must be within five minutes of now.
func verifyWebhook(secret string, h http.Header, body []byte, now time.Time) error {
	id, ts, sigs := h.Get("webhook-id"), h.Get("webhook-timestamp"), h.Get("webhook-signature")
	if id == "" || ts == "" || sigs == "" {
		return errors.New("missing webhook-* headers")
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return errors.New("webhook-timestamp is not an integer")
	}
	if d := now.Sub(time.Unix(sec, 0)); d > 5*time.Minute || d < -5*time.Minute {
		return errors.New("webhook-timestamp outside the 5-minute tolerance")
	}
	b64, ok := strings.CutPrefix(secret, "whsec_")
	if !ok {
		return errors.New("secret is not whsec_")
	}
	key, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return errors.New("secret is not base64")
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id + "." + ts + "."))
	mac.Write(body)
	want := mac.Sum(nil)
	for _, entry := range strings.Fields(sigs) {
		ver, sig, ok := strings.Cut(entry, ",")
		if !ok || ver != "v1" {
			continue
		}
		got, err := base64.StdEncoding.DecodeString(sig)
		if err == nil && hmac.Equal(got, want) {
			return nil
		}
	}
	return errors.New("no webhook-signature entry matches")
}

// TestVerifyWebhookSpecVector pins the verifier to the specification's
// published test vector, so the fault test's signature checks mean
// something. It always runs (it is cheap).
func TestVerifyWebhookSpecVector(t *testing.T) {
	const (
		secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
		id     = "msg_p5jXN8AQM9LWM0D4loKWxJek"
		ts     = 1614265330
		body   = `{"test": 2432232314}`
		sig    = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
	)
	h := http.Header{}
	h.Set("webhook-id", id)
	h.Set("webhook-timestamp", strconv.Itoa(ts))
	h.Set("webhook-signature", "v1,bm90IHRoaXMgb25l "+sig) // a rotated-out entry first
	at := time.Unix(ts, 0)
	if err := verifyWebhook(secret, h, []byte(body), at); err != nil {
		t.Fatalf("spec vector rejected: %v", err)
	}
	if err := verifyWebhook(secret, h, []byte(`{"test": 2432232315}`), at); err == nil {
		t.Error("tampered body accepted")
	}
	if err := verifyWebhook(secret, h, []byte(body), at.Add(6*time.Minute)); err == nil {
		t.Error("stale timestamp accepted")
	}
	h.Set("webhook-id", id+"x")
	if err := verifyWebhook(secret, h, []byte(body), at); err == nil {
		t.Error("changed webhook-id accepted")
	}
}
