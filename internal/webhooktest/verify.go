// Package webhooktest is the receiving side of Standard Webhooks, for tests:
// what a shop does to verify an event the gateway forwarded. It is written
// from the specification, independently of the gateway's signer, so the
// tests that use it check the signer rather than repeat it.
package webhooktest

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Tolerance is how far webhook-timestamp may be from now.
const Tolerance = 5 * time.Minute

// The specification's published test vector.
const (
	SpecSecret    = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	SpecID        = "msg_p5jXN8AQM9LWM0D4loKWxJek"
	SpecTimestamp = 1614265330
	SpecBody      = `{"test": 2432232314}`
	SpecSignature = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
)

// Verify checks a delivery: HMAC-SHA256 keyed with the base64-decoded part
// of secret after "whsec_", over "{webhook-id}.{webhook-timestamp}.{body}",
// compared in constant time with every "v1,<base64>" entry of
// webhook-signature; the timestamp must be within Tolerance of now.
func Verify(secret string, h http.Header, body []byte, now time.Time) error {
	id, ts, sigs := h.Get("webhook-id"), h.Get("webhook-timestamp"), h.Get("webhook-signature")
	if id == "" || ts == "" || sigs == "" {
		return errors.New("missing webhook-* headers")
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return errors.New("webhook-timestamp is not an integer")
	}
	if d := now.Sub(time.Unix(sec, 0)); d > Tolerance || d < -Tolerance {
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
