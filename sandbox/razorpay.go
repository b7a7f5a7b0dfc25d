package sandbox

import (
	"net/http"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

// RazorpayConfig configures the Razorpay emulator.
// (Placeholder: the Razorpay emulator replaces this file.)
type RazorpayConfig struct{}

type razorpay struct{}

func newRazorpay(e *env, cfg *RazorpayConfig) (*razorpay, error) { return &razorpay{}, nil }

func (r *razorpay) serve(w http.ResponseWriter, req *http.Request, rest string) error {
	http.NotFound(w, req)
	return nil
}

func (h *Handler) unmarshalRazorpay(d *caddyfile.Dispenser) error {
	return d.Err("payments_sandbox: razorpay is not emulated yet")
}

// razorpayMagicValues lists the Razorpay emulator's magic values.
var razorpayMagicValues []MagicValue
