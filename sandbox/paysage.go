package sandbox

import (
	"net/http"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

// PaysageConfig configures the Paysage emulator.
// (Placeholder: the Paysage emulator replaces this file.)
type PaysageConfig struct{}

type paysage struct{}

func newPaysage(e *env, cfg *PaysageConfig) (*paysage, error) { return &paysage{}, nil }

func (r *paysage) serve(w http.ResponseWriter, req *http.Request, rest string) error {
	http.NotFound(w, req)
	return nil
}

func (h *Handler) unmarshalPaysage(d *caddyfile.Dispenser) error {
	return d.Err("payments_sandbox: paysage is not emulated yet")
}

// paysageMagicValues lists the PaySage emulator's magic values.
var paysageMagicValues []MagicValue
