package payabl

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddy-payments/caddy-payments/providers"
)

// FuzzVerifyNotification feeds arbitrary bodies to VerifyNotification: it
// must never panic, must only fail with ErrUnauthenticated, and whatever
// it accepts must either be Untrusted or carry a security that really
// matches. The seed corpus is testdata/fuzz/FuzzVerifyNotification plus
// the notification fixtures.
func FuzzVerifyNotification(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "notifications", "*.txt"))
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	p := &Provider{secret: "b185"}
	f.Fuzz(func(t *testing.T, body []byte) {
		n, err := p.VerifyNotification(&providers.IncomingNotification{Method: "POST", Body: body})
		if err != nil {
			if !errors.Is(err, providers.ErrUnauthenticated) {
				t.Fatalf("error %v is not ErrUnauthenticated", err)
			}
			if n != nil {
				t.Fatal("notification returned with an error")
			}
			return
		}
		if n == nil {
			t.Fatal("nil notification without error")
		}
		if n.Trust.Amount != providers.Unsigned {
			t.Fatal("amount claimed signed")
		}
		if n.EventType != "" && !providers.ValidEventType(n.EventType) {
			t.Fatalf("event type %q", n.EventType)
		}
		if _, ok := eventOf(t, n.ProviderEvent)["security"]; ok {
			t.Fatal("security in provider event")
		}
		if n.Trust.Object != providers.Unsigned {
			parts := strings.Split(n.EventKey, "|")
			if len(parts) != 4 && len(parts) != 5 {
				t.Fatalf("event key %q", n.EventKey)
			}
		}
	})
}
