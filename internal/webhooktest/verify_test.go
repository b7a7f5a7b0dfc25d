package webhooktest

import (
	"net/http"
	"strconv"
	"testing"
	"time"
)

// TestVerifySpecVector pins the verifier to the specification's published
// test vector, so the checks made with it mean something.
func TestVerifySpecVector(t *testing.T) {
	h := http.Header{}
	h.Set("webhook-id", SpecID)
	h.Set("webhook-timestamp", strconv.Itoa(SpecTimestamp))
	h.Set("webhook-signature", "v1,bm90IHRoaXMgb25l "+SpecSignature) // a rotated-out entry first
	at := time.Unix(SpecTimestamp, 0)
	if err := Verify(SpecSecret, h, []byte(SpecBody), at); err != nil {
		t.Fatalf("spec vector rejected: %v", err)
	}
	if err := Verify(SpecSecret, h, []byte(`{"test": 2432232315}`), at); err == nil {
		t.Error("tampered body accepted")
	}
	if err := Verify(SpecSecret, h, []byte(SpecBody), at.Add(6*time.Minute)); err == nil {
		t.Error("stale timestamp accepted")
	}
	if err := Verify("whsec_"+SpecSecret[7:], h, []byte(SpecBody), at); err == nil {
		t.Error("another secret accepted")
	}
	h.Set("webhook-id", SpecID+"x")
	if err := Verify(SpecSecret, h, []byte(SpecBody), at); err == nil {
		t.Error("changed webhook-id accepted")
	}
	h.Del("webhook-signature")
	if err := Verify(SpecSecret, h, []byte(SpecBody), at); err == nil {
		t.Error("unsigned delivery accepted")
	}
}
