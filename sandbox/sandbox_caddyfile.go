package sandbox

import (
	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

func init() {
	httpcaddyfile.RegisterHandlerDirective("payments_sandbox", parseCaddyfile)
	// Ordered by the plugin itself so users need no `order` option; right
	// after encode, like the payments directive, so both see the request
	// before any terminal handler.
	httpcaddyfile.RegisterDirectiveOrder("payments_sandbox", httpcaddyfile.After, "encode")
}

// parseCaddyfile builds a Handler from a payments_sandbox directive.
func parseCaddyfile(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	s := new(Handler)
	if err := s.UnmarshalCaddyfile(h.Dispenser); err != nil {
		return nil, err
	}
	return s, nil
}

// UnmarshalCaddyfile sets up the handler from Caddyfile tokens:
//
//	payments_sandbox [<matcher>] {
//		prefix <path>             # default /sandbox
//		public_url <URL>          # external URL of <prefix>, for checkout links
//		notify_delay <duration>   # between the two Trustly notifications (default 0)
//		slow_delay <duration>     # how long the "timeout" magic value stalls (default 35s)
//		allow_remote [clients] [targets]  # no argument: both; default neither
//		payabl {
//			merchant_id <id>      # default gateway_test
//			secret <secret>       # default b185; {env.*}/{file.*} resolved in Provision
//			diagnose_accepted 0|2000  # tx_diagnose error_code between accepted and credited (default 0)
//		}
//	}
//
// By default the sandbox serves loopback clients only (others get 403) and
// delivers notifications to loopback addresses only. allow_remote clients
// lets any client use it; allow_remote targets lets it notify any address.
// Both are for demos on a trusted network: the sandbox's credentials are
// published.
//
// Placeholders are kept verbatim here and resolved in Provision, so a
// secret read from {env.*} or {file.*} never lands in the adapted JSON.
func (h *Handler) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the directive name
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(0) {
		switch d.Val() {
		case "prefix":
			if err := oneArg(d, &h.Prefix); err != nil {
				return err
			}
		case "public_url":
			if err := oneArg(d, &h.PublicURL); err != nil {
				return err
			}
		case "notify_delay":
			if err := durationArg(d, &h.NotifyDelay); err != nil {
				return err
			}
		case "slow_delay":
			if err := durationArg(d, &h.SlowDelay); err != nil {
				return err
			}
		case "allow_remote":
			if err := h.unmarshalAllowRemote(d); err != nil {
				return err
			}
		case "payabl":
			if err := h.unmarshalPayabl(d); err != nil {
				return err
			}
		case "razorpay":
			if err := h.unmarshalRazorpay(d); err != nil {
				return err
			}
		case "paysage":
			if err := h.unmarshalPaysage(d); err != nil {
				return err
			}
		default:
			return d.Errf("payments_sandbox: unknown subdirective %q", d.Val())
		}
	}
	return nil
}

// unmarshalAllowRemote parses allow_remote [clients] [targets]; without
// arguments it allows both.
func (h *Handler) unmarshalAllowRemote(d *caddyfile.Dispenser) error {
	args := d.RemainingArgs()
	if len(args) == 0 {
		h.AllowRemoteClients, h.AllowRemoteTargets = true, true
		return nil
	}
	for _, a := range args {
		switch a {
		case "clients":
			h.AllowRemoteClients = true
		case "targets":
			h.AllowRemoteTargets = true
		default:
			return d.Errf("payments_sandbox: allow_remote: unknown argument %q (want clients and/or targets)", a)
		}
	}
	return nil
}

// unmarshalPayabl parses the payabl { ... } block.
func (h *Handler) unmarshalPayabl(d *caddyfile.Dispenser) error {
	if d.NextArg() {
		return d.ArgErr()
	}
	if h.Payabl == nil {
		h.Payabl = new(PayablConfig)
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		switch d.Val() {
		case "merchant_id":
			if err := oneArg(d, &h.Payabl.MerchantID); err != nil {
				return err
			}
		case "secret":
			if err := oneArg(d, &h.Payabl.Secret); err != nil {
				return err
			}
		case "diagnose_accepted":
			if err := oneArg(d, &h.Payabl.DiagnoseAccepted); err != nil {
				return err
			}
			if v := h.Payabl.DiagnoseAccepted; v != "0" && v != "2000" {
				return d.Errf("payments_sandbox: payabl: diagnose_accepted must be 0 or 2000")
			}
		default:
			return d.Errf("payments_sandbox: payabl: unknown subdirective %q", d.Val())
		}
	}
	return nil
}

// oneArg reads exactly one argument into dst.
func oneArg(d *caddyfile.Dispenser, dst *string) error {
	if !d.NextArg() {
		return d.ArgErr()
	}
	*dst = d.Val()
	if d.NextArg() {
		return d.ArgErr()
	}
	return nil
}

// durationArg reads exactly one Caddy duration into dst.
func durationArg(d *caddyfile.Dispenser, dst *caddy.Duration) error {
	var s string
	if err := oneArg(d, &s); err != nil {
		return err
	}
	v, err := caddy.ParseDuration(s)
	if err != nil {
		return d.Errf("payments_sandbox: %s: %v", d.Val(), err)
	}
	if v < 0 {
		return d.Errf("payments_sandbox: duration %q must not be negative", s)
	}
	*dst = caddy.Duration(v)
	return nil
}
