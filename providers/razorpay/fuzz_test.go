package razorpay

import (
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddy-payments/caddy-payments/providers"
)

// FuzzVerifyNotification feeds arbitrary bodies and signature headers to
// VerifyNotification: it must never panic; an error is ErrUnauthenticated
// unless the body really carries a valid signature; an accepted
// notification always has a valid signature, an EventKey and a canonical
// event type. Seeds: testdata/fuzz/FuzzVerifyNotification and the webhook
// fixtures (each once with its correct signature).
func FuzzVerifyNotification(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "webhooks", "*.json"))
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, sign(b, testWebhook))
		f.Add(b, "")
	}
	p := &Provider{webhookSecrets: []string{testWebhook, testWebhookV0}}
	f.Fuzz(func(t *testing.T, body []byte, sig string) {
		in := &providers.IncomingNotification{Method: "POST", Body: body, Header: http.Header{"X-Razorpay-Signature": {sig}}}
		valid := len(body) > 0 && (strings.EqualFold(sig, sign(body, testWebhook)) || strings.EqualFold(sig, sign(body, testWebhookV0)))
		n, err := p.VerifyNotification(in)
		if err != nil {
			if n != nil {
				t.Fatal("notification returned with an error")
			}
			if !valid && !errors.Is(err, providers.ErrUnauthenticated) {
				t.Fatalf("unsigned body gave %v, not ErrUnauthenticated", err)
			}
			if valid && errors.Is(err, providers.ErrUnauthenticated) {
				t.Fatal("a correctly signed body was refused as unauthenticated")
			}
			return
		}
		if !valid {
			t.Fatal("accepted a body whose signature does not match")
		}
		if n.EventKey == "" || (n.EventType != "" && !providers.ValidEventType(n.EventType)) {
			t.Fatalf("notification = %+v", n)
		}
		if n.EventType != "" && !strings.HasPrefix(n.EventType, n.Object+".") {
			t.Fatalf("event %q for object %q", n.EventType, n.Object)
		}
	})
}
