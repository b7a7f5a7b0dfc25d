package paysage

import (
	"encoding/base64"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/caddy-payments/caddy-payments/providers"
)

// FuzzVerifyNotification feeds arbitrary bodies, Content-Signature and
// Authorization values to VerifyNotification. It must never panic; it
// fails only with ErrUnauthenticated or a canonical invalid_request error;
// and whatever it accepts must really be authenticated: a Content-Signature
// accepted means no Basic fallback happened (AmountSigned/Confirm agree),
// and without one the Basic credentials were the shop's. The seed corpus is
// testdata/fuzz/FuzzVerifyNotification (genuine signed and Basic
// notifications, and near misses).
func FuzzVerifyNotification(f *testing.F) {
	p := &Provider{ShopID: testShopID, SecretKey: testSecret, PublicKey: Keys{testPublicKey(f)}}
	if err := p.Provision(caddyCtxTB(f)); err != nil {
		f.Fatal(err)
	}
	goodAuth := "Basic " + base64.StdEncoding.EncodeToString([]byte(goodBasic))
	f.Fuzz(func(t *testing.T, body []byte, signature, authorization string) {
		h := http.Header{}
		if signature != "" {
			h.Set("Content-Signature", signature)
		}
		if authorization != "" {
			h.Set("Authorization", authorization)
		}
		n, err := p.VerifyNotification(&providers.IncomingNotification{Method: "POST", Header: h, Body: body})
		if err != nil {
			if n != nil {
				t.Fatal("notification returned with an error")
			}
			var e *providers.Error
			if !errors.Is(err, providers.ErrUnauthenticated) && !(errors.As(err, &e) && e.Type == providers.TypeInvalidRequest) {
				t.Fatalf("error %v is neither ErrUnauthenticated nor invalid_request", err)
			}
			if strings.Contains(err.Error(), testSecret) {
				t.Fatal("the secret is in the error")
			}
			return
		}
		if n == nil {
			t.Fatal("nil notification without error")
		}
		signed := h.Get("Content-Signature") != ""
		if signed == (n.Trust.Status == providers.Unsigned) {
			t.Fatalf("signed=%v but Confirm=%v", signed, n.Trust.Status == providers.Unsigned)
		}
		if !signed && strings.TrimSpace(authorization) != goodAuth {
			// Only spacing/case variants of the right credentials may pass.
			scheme, cred, _ := strings.Cut(strings.TrimSpace(authorization), " ")
			raw, _ := base64.StdEncoding.DecodeString(strings.TrimSpace(cred))
			if !strings.EqualFold(scheme, "basic") || string(raw) != goodBasic {
				t.Fatalf("accepted Basic credentials %q", authorization)
			}
		}
		if n.Trust.Amount != providers.Unsigned && !signed {
			t.Fatal("amount claimed signed without a signature")
		}
		if n.EventType != "" && !providers.ValidEventType(n.EventType) {
			t.Fatalf("event type %q", n.EventType)
		}
		if n.EventKey == "" || n.ProviderRef == "" {
			t.Fatalf("accepted without key or ref: %+v", n)
		}
	})
}
