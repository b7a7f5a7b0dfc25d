package caddymodule

import (
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/dustin/go-humanize"

	"github.com/caddy-payments/caddy-payments/providers"
)

func init() {
	httpcaddyfile.RegisterHandlerDirective("payments", parseCaddyfile)
	// After encode: inside compression, after basic_auth/forward_auth, and
	// before handle/route/respond/reverse_proxy, so it can wrap a
	// reverse_proxy to the shop without an `order` option.
	httpcaddyfile.RegisterDirectiveOrder("payments", httpcaddyfile.After, "encode")
}

func parseCaddyfile(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	m := new(Handler)
	err := m.UnmarshalCaddyfile(h.Dispenser)
	return m, err
}

// UnmarshalCaddyfile implements caddyfile.Unmarshaler. Syntax:
//
//	payments [<matcher>] {
//		# provider accounts; <type> defaults to <name>
//		provider <name> [<type>] {
//			...                          # the provider's own options
//		}
//		default_provider <name>
//
//		# routing of creates that name no provider (repeatable, tried in order;
//		# every matcher optional, `to` required; see docs/routing.md)
//		route {
//			currency <ISO 4217>...
//			country  <alpha-2>...
//			amount   <min> <max>           # minor units, max included
//			metadata <key> <value>         # repeatable
//			to       <account>...
//		}
//		breaker <failures> <cooldown>    # per account; default 5 30s; or: breaker off
//
//		# security
//		api_token <token> [<token>...]   # or: api_token off
//		api_key <name> <token> <scope>...  # repeatable; scopes: payments:read payments:write
//		                                   # refunds:write payouts:write events:read events:write
//		forward_secret <whsec_...> [<previous>...]
//
//		# URLs and limits
//		forward_path <path>
//		public_url   <url>
//		max_body     <size>
//		timeout      <duration>
//		storage_path <path>
//		storage file <path> | storage redis <addr> {
//			username <name>
//			password <password>
//			db <number>
//			key_prefix <prefix>
//			tls
//		}
//		storage postgres <dsn> {
//			pool_size <n>
//			tls
//			schema <name>
//		}
//
//		# delivery to the shop
//		outbox on|off                    # default on
//		retry_schedule <duration>...     # default 5s 5m 30m 2h 5h 10h 10h
//		forward_timeout <duration>       # default 15s (4s at most while the provider waits)
//		reconcile_schedule <duration>... # default 1m 5m 15m 1h 6h 24h
//		reconcile_limit <concurrent> <per_second>  # per provider account; default 4 10
//		event_retention <duration>       # events kept for GET /events; default 720h
//
//		# provider connections
//		max_idle_conns_per_host <n>      # default 64
//	}
//
// Secrets (api_token and api_key tokens, forward_secret and provider
// credentials) should be given as {env.NAME} or {file./path} placeholders: those are resolved at
// provision time and never appear in the adapted JSON or the admin API's
// /config/. Literal values and {$NAME} (substituted at parse time) do.
func (h *Handler) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // consume directive name
	if d.NextArg() {
		return d.ArgErr()
	}
	seen := map[string]bool{}
	once := func(opt string) error {
		if seen[opt] {
			return d.Errf("duplicate payments option '%s'", opt)
		}
		seen[opt] = true
		return nil
	}
	// oneArg reads the single argument of an option that may appear once.
	oneArg := func(opt string) (string, error) {
		if err := once(opt); err != nil {
			return "", err
		}
		var v string
		if !d.AllArgs(&v) {
			return "", d.ArgErr()
		}
		return v, nil
	}
	for d.NextBlock(0) {
		opt := d.Val()
		switch opt {
		case "provider":
			if !d.NextArg() {
				return d.ArgErr()
			}
			name := d.Val()
			if !validBlockName(name) {
				return d.Errf("provider name '%s' must be 1-64 characters of a-z, 0-9, _ or -", name)
			}
			if _, dup := h.ProvidersRaw[name]; dup {
				return d.Errf("duplicate provider '%s'", name)
			}
			typ := name
			if d.NextArg() {
				typ = d.Val()
			}
			if _, err := caddy.GetModule(providers.Namespace + "." + typ); err != nil {
				return d.Errf("unknown provider type '%s' (known: razorpay, paysage, payabl); give the type after the name: provider %s <type>", typ, name)
			}
			unm, err := caddyfile.UnmarshalModule(d, providers.Namespace+"."+typ)
			if err != nil {
				return err
			}
			if h.ProvidersRaw == nil {
				h.ProvidersRaw = map[string]json.RawMessage{}
			}
			h.ProvidersRaw[name] = caddyconfig.JSONModuleObject(unm, "provider", typ, nil)
		case "default_provider":
			if err := once(opt); err != nil {
				return err
			}
			if !d.AllArgs(&h.DefaultProvider) {
				return d.ArgErr()
			}
		case "route":
			if err := h.unmarshalRoute(d); err != nil {
				return err
			}
		case "breaker":
			if err := once(opt); err != nil {
				return err
			}
			args := d.RemainingArgs()
			if len(args) == 1 && args[0] == "off" {
				h.Breaker = &BreakerConfig{Disabled: true}
				continue
			}
			if len(args) != 2 {
				return d.Errf("breaker takes the consecutive failures that open an account's breaker and its cool-down: breaker <failures> <cooldown> (e.g. breaker 5 30s), or breaker off")
			}
			n, err := strconv.Atoi(args[0])
			if err != nil || n < 1 || n > 1000 {
				return d.Errf("breaker: failures '%s' must be a whole number from 1 to 1000", args[0])
			}
			dur, err := caddy.ParseDuration(args[1])
			if err != nil || dur <= 0 {
				return d.Errf("breaker: cooldown '%s' is not a positive duration (e.g. 30s)", args[1])
			}
			h.Breaker = &BreakerConfig{Failures: n, Cooldown: caddy.Duration(dur)}
		case "api_token":
			if err := once(opt); err != nil {
				return err
			}
			args := d.RemainingArgs()
			if len(args) == 0 {
				return d.ArgErr()
			}
			if len(args) == 1 && args[0] == "off" {
				h.DisableAPIToken = true
			} else {
				h.APITokens = args
			}
		case "api_key":
			args := d.RemainingArgs()
			if len(args) < 3 {
				return d.Errf("api_key needs a name, a token and at least one scope: api_key <name> <token> <scope>... (scopes: %s)", strings.Join(allScopes, " "))
			}
			k := APIKey{Name: args[0], Token: args[1], Scopes: args[2:]}
			if !validBlockName(k.Name) || k.Name == apiTokenName {
				return d.Errf("api_key name '%s' must be 1-64 characters of a-z, 0-9, _ or - (and not %s)", k.Name, apiTokenName)
			}
			for _, other := range h.APIKeys {
				if other.Name == k.Name {
					return d.Errf("duplicate api_key '%s'", k.Name)
				}
			}
			for _, sc := range k.Scopes {
				if !knownScope(sc) {
					return d.Errf("api_key %s: unknown scope '%s' (known: %s)", k.Name, sc, strings.Join(allScopes, " "))
				}
			}
			h.APIKeys = append(h.APIKeys, k)
		case "forward_secret":
			if err := once(opt); err != nil {
				return err
			}
			h.ForwardSecrets = d.RemainingArgs()
			if len(h.ForwardSecrets) == 0 {
				return d.ArgErr()
			}
		case "forward_path":
			if err := once(opt); err != nil {
				return err
			}
			if !d.AllArgs(&h.ForwardPath) {
				return d.ArgErr()
			}
			if len(h.ForwardPath) == 0 || h.ForwardPath[0] != '/' {
				return d.Errf("forward_path must start with /")
			}
		case "public_url":
			if err := once(opt); err != nil {
				return err
			}
			if !d.AllArgs(&h.PublicURL) {
				return d.ArgErr()
			}
		case "max_body":
			v, err := oneArg(opt)
			if err != nil {
				return err
			}
			size, err := humanize.ParseBytes(v)
			if err != nil || size == 0 || size > 1<<30 {
				return d.Errf("max_body: '%s' is not a size between 1B and 1GiB (e.g. 1MiB)", v)
			}
			h.MaxBody = int64(size)
		case "timeout", "forward_timeout":
			v, err := oneArg(opt)
			if err != nil {
				return err
			}
			dur, err := caddy.ParseDuration(v)
			if err != nil || dur <= 0 {
				return d.Errf("%s: '%s' is not a positive duration (e.g. 15s)", opt, v)
			}
			if opt == "timeout" {
				h.Timeout = caddy.Duration(dur)
			} else {
				h.ForwardTimeout = caddy.Duration(dur)
			}
		case "event_retention":
			v, err := oneArg(opt)
			if err != nil {
				return err
			}
			dur, err := caddy.ParseDuration(v)
			if err != nil || dur < time.Minute {
				return d.Errf("event_retention: '%s' is not a duration of at least 1m (e.g. 720h)", v)
			}
			h.EventRetention = caddy.Duration(dur)
		case "outbox":
			if err := once(opt); err != nil {
				return err
			}
			var v string
			if !d.AllArgs(&v) || (v != "on" && v != "off") {
				return d.Errf("outbox takes on or off")
			}
			h.DisableOutbox = v == "off"
		case "retry_schedule", "reconcile_schedule":
			if err := once(opt); err != nil {
				return err
			}
			args := d.RemainingArgs()
			if len(args) == 0 {
				return d.ArgErr()
			}
			sched := &h.RetrySchedule
			if opt == "reconcile_schedule" {
				sched = &h.ReconcileSchedule
			}
			for _, a := range args {
				dur, err := caddy.ParseDuration(a)
				if err != nil || dur <= 0 {
					return d.Errf("%s: '%s' is not a positive duration", opt, a)
				}
				*sched = append(*sched, caddy.Duration(dur))
			}
		case "reconcile_limit":
			if err := once(opt); err != nil {
				return err
			}
			var conc, rate string
			if !d.AllArgs(&conc, &rate) {
				return d.Errf("reconcile_limit takes the concurrent checks and the calls per second of one provider account: reconcile_limit <concurrent> <per_second> (e.g. reconcile_limit 4 10)")
			}
			c, err1 := strconv.Atoi(conc)
			r, err2 := strconv.Atoi(rate)
			if err1 != nil || err2 != nil || c < 1 || c > 1000 || r < 1 || r > 10000 {
				return d.Errf("reconcile_limit: '%s %s' must be whole numbers, 1-1000 concurrent checks and 1-10000 calls per second", conc, rate)
			}
			h.ReconcileConcurrency, h.ReconcileRate = c, r
		case "max_idle_conns_per_host":
			v, err := oneArg(opt)
			if err != nil {
				return err
			}
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > 10000 {
				return d.Errf("max_idle_conns_per_host: '%s' must be a whole number from 1 to 10000", v)
			}
			h.MaxIdleConnsPerHost = n
		case "storage", "storage_path":
			if err := once(opt); err != nil {
				return err
			}
			if seen["storage"] && seen["storage_path"] {
				return d.Errf("give either storage or storage_path, not both")
			}
			if opt == "storage" {
				if err := h.unmarshalStorage(d); err != nil {
					return err
				}
				continue
			}
			if !d.AllArgs(&h.StoragePath) {
				return d.ArgErr()
			}
		default:
			return d.Errf("unrecognized payments option '%s'", opt)
		}
	}
	return nil
}

// Interface guard
var _ caddyfile.Unmarshaler = (*Handler)(nil)
