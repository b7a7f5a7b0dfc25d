package providers

import (
	"fmt"
	"net/http"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

// Forward formats of a provider account (Caddyfile `forward_format` in
// any provider block).
const (
	// FormatCanonical: the shop receives the canonical event (the default).
	FormatCanonical = "canonical"
	// FormatNative: the shop receives the provider's original
	// notification, byte for byte, wherever the gateway verified or
	// confirmed every claim in it (caddymodule/native.go); other events
	// reach it in canonical form, marked as such.
	FormatNative = "native"
)

// Forwarding is the forward_format option every provider block takes
// (embedded in Overrides).
type Forwarding struct {
	// ForwardFormat is how this account's events reach the shop:
	// "canonical" (the default; empty means canonical) sends the
	// canonical event; "native" sends the provider's original request
	// (method, Content-Type and body byte for byte, the provider's own
	// signature header) with the Standard Webhooks headers and
	// Payments-Event-Type, Payments-Payment-Id and Payments-Format
	// headers, for a shop written against the provider's own format.
	// Events with no authenticated original reach a native-mode shop in
	// canonical form with Payments-Format: canonical.
	ForwardFormat string `json:"forward_format,omitempty"`
}

// ForwardsNative reports whether the account forwards in native format.
func (f Forwarding) ForwardsNative() bool { return f.ForwardFormat == FormatNative }

// parseForwardFormat reads `forward_format canonical|native`.
func (f *Forwarding) parseForwardFormat(d *caddyfile.Dispenser) error {
	if f.ForwardFormat != "" {
		return d.Errf("forward_format given more than once")
	}
	var v string
	if !d.AllArgs(&v) {
		return d.ArgErr()
	}
	f.ForwardFormat = v
	return f.validateForwardFormat()
}

// validateForwardFormat checks the value.
func (f Forwarding) validateForwardFormat() error {
	switch f.ForwardFormat {
	case "", FormatCanonical, FormatNative:
		return nil
	}
	return fmt.Errorf("forward_format: %q must be %s or %s", f.ForwardFormat, FormatCanonical, FormatNative)
}

// OriginalAuthenticator is implemented by providers whose notifications
// can reach a shop in their original form (forward_format native).
type OriginalAuthenticator interface {
	// OriginalAuth is called only for a notification VerifyNotification
	// accepted (in, n). It reports whether the original request carries
	// the provider's own authentication of everything it claims, so that
	// a shop that checks it the provider's way can rely on it, and returns
	// the header(s) carrying that authentication (the signature header;
	// none where the signature is in the body). It never returns
	// credentials (Authorization): a notification authenticated only by
	// credentials has no authenticated original (ok false), nor has one
	// whose scheme the gateway cannot check, nor one a shop's parser
	// could read differently from the gateway's (repeated fields).
	OriginalAuth(in *IncomingNotification, n *Notification) (header http.Header, ok bool)
}
