package caddymodule

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"go.uber.org/zap"

	"github.com/caddy-payments/caddy-payments/providers"
)

// PaymentRoute is one routing rule (docs/routing.md). A create payment
// request that names no `provider` takes the first rule whose every
// matcher holds, and within it the first account of To that is healthy
// (its circuit breaker is not open) and supports the request (currency,
// country, required fields, limits). It fails over to the next account
// only when the previous one's failure had request_sent "no": nothing
// reached the provider, so nothing can be paid twice. A request that
// names `provider` is never routed; default_provider applies only when
// no rule matches.
//
// Every matcher is optional; a rule with none matches every request.
type PaymentRoute struct {
	// Currencies (ISO 4217) the request's `currency` must be one of.
	Currencies []string `json:"currencies,omitempty"`

	// Countries (ISO 3166-1 alpha-2) the request's `customer.country`
	// must be one of; a request without a country does not match.
	Countries []string `json:"countries,omitempty"`

	// The range the request's `amount` (minor units) must be in, both
	// ends included.
	Amount *AmountRange `json:"amount,omitempty"`

	// Metadata key/value pairs the request's `metadata` must all carry,
	// values compared exactly.
	Metadata map[string]string `json:"metadata,omitempty"`

	// The provider accounts (block names) to try, in order. Required.
	To []string `json:"to"`
}

// AmountRange is an inclusive range of minor units.
type AmountRange struct {
	// The smallest amount that matches.
	Min int64 `json:"min"`
	// The largest amount that matches (included).
	Max int64 `json:"max"`
}

// matches reports whether req satisfies every matcher of rt.
func (rt *PaymentRoute) matches(req *providers.CreatePayment) bool {
	if len(rt.Currencies) > 0 && !slices.Contains(rt.Currencies, req.Currency) {
		return false
	}
	if len(rt.Countries) > 0 && !slices.Contains(rt.Countries, req.Customer.Country) {
		return false
	}
	if rt.Amount != nil && (req.Amount < rt.Amount.Min || req.Amount > rt.Amount.Max) {
		return false
	}
	for k, v := range rt.Metadata {
		if got, ok := req.Metadata[k]; !ok || got != v {
			return false
		}
	}
	return true
}

// matchRoute returns the index of the first route req matches, or -1.
func (h *Handler) matchRoute(req *providers.CreatePayment) int {
	for i := range h.Routes {
		if h.Routes[i].matches(req) {
			return i
		}
	}
	return -1
}

// validateRoutes refuses routes that cannot work, naming the route by
// its position (1-based) and the rule broken.
func (h *Handler) validateRoutes() error {
	seen := map[string]int{}
	catchAll := 0 // the first route without matchers
	for i := range h.Routes {
		rt := &h.Routes[i]
		n := i + 1
		if len(rt.To) == 0 {
			return fmt.Errorf("payments: route %d: `to` is required: the provider accounts to try, in order", n)
		}
		for j, a := range rt.To {
			p, ok := h.providers[a]
			if !ok {
				return fmt.Errorf("payments: route %d: to: %q is not a configured provider account (configured: %s)", n, a, strings.Join(h.names, ", "))
			}
			if !p.Capabilities().Supports(providers.OpCreatePayment) {
				return fmt.Errorf("payments: route %d: to: provider account %q cannot create payments", n, a)
			}
			if slices.Contains(rt.To[:j], a) {
				return fmt.Errorf("payments: route %d: to: %q is listed twice", n, a)
			}
		}
		for j, c := range rt.Currencies {
			if !providers.ValidCurrency(c) {
				return fmt.Errorf("payments: route %d: currency: %q is not an upper-case ISO 4217 currency code this gateway knows", n, c)
			}
			if slices.Contains(rt.Currencies[:j], c) {
				return fmt.Errorf("payments: route %d: currency: %s is listed twice", n, c)
			}
		}
		for j, c := range rt.Countries {
			if !providers.ValidCountry(c) {
				return fmt.Errorf("payments: route %d: country: %q is not an upper-case ISO 3166-1 alpha-2 country code", n, c)
			}
			if slices.Contains(rt.Countries[:j], c) {
				return fmt.Errorf("payments: route %d: country: %s is listed twice", n, c)
			}
		}
		if a := rt.Amount; a != nil {
			if a.Min < 0 || a.Max < 1 || a.Max > maxAmount {
				return fmt.Errorf("payments: route %d: amount: min and max are minor units, 0 <= min and 1 <= max <= %d", n, int64(maxAmount))
			}
			if a.Min > a.Max {
				return fmt.Errorf("payments: route %d: amount: min %d is greater than max %d", n, a.Min, a.Max)
			}
		}
		for k, v := range rt.Metadata {
			if k == "" || len(k) > maxMetadataKey {
				return fmt.Errorf("payments: route %d: metadata: keys must be 1-%d characters", n, maxMetadataKey)
			}
			// A value no request may carry would never match.
			if e := validateText("metadata."+k, v, maxMetadataVal); e != nil {
				return fmt.Errorf("payments: route %d: %s (as in a request), so this route would never match", n, e.Message)
			}
		}
		if catchAll > 0 {
			return fmt.Errorf("payments: route %d comes after route %d, which has no matcher and takes every create, so it would never match", n, catchAll)
		}
		if len(rt.Currencies) == 0 && len(rt.Countries) == 0 && rt.Amount == nil && len(rt.Metadata) == 0 {
			catchAll = n
		}
		// Two routes with the same matchers: the second never matches.
		m := *rt
		m.To = nil
		m.Currencies, m.Countries = slices.Sorted(slices.Values(m.Currencies)), slices.Sorted(slices.Values(m.Countries))
		key, _ := json.Marshal(m)
		if first, dup := seen[string(key)]; dup {
			return fmt.Errorf("payments: route %d has the same matchers as route %d, so it would never match", n, first)
		}
		seen[string(key)] = n
	}
	return nil
}

// longestRoute is the most accounts one routed create may try.
func (h *Handler) longestRoute() int {
	n := 1
	for _, rt := range h.Routes {
		n = max(n, len(rt.To))
	}
	return n
}

// Results of one account of a routed create (label result of
// caddy_payments_route_attempts_total, and the log line).
const (
	attemptCreated     = "created"      // the account answered with a payment
	attemptUnsupported = "unsupported"  // skipped: it cannot take the request; nothing sent
	attemptOpen        = "circuit_open" // skipped: its breaker is open (or probing); nothing sent
	attemptNotSent     = "not_sent"     // failed with request_sent "no": the next account may try
	attemptFailed      = "failed"       // failed after the request was (or may have been) sent: no failover
)

// createRouted runs a create that route i matched: the accounts of the
// route in order, skipping those that cannot take it or whose breaker is
// open, failing over only while nothing reached a provider. It returns
// the account that answered (or of the error that ends the create) and
// its payment or error. req is the validated request; each account works
// on a copy of it.
func (h *Handler) createRouted(ctx context.Context, r *http.Request, i int, req *providers.CreatePayment) (string, *providers.Payment, providers.CreatePayment, *providers.Error) {
	rt := &h.Routes[i]
	var (
		last             *providers.Error // the last error from an account that was called
		lastName         string
		skip, skipOpen   *providers.Error // the last accounts skipped, by reason
		skipN, skipOpenN string
	)
	for n, name := range rt.To {
		p := h.providers[name]
		attempt := *req
		note := func(result string, e *providers.Error) {
			h.metrics.countRouteAttempt(name, result)
			fields := []zap.Field{zap.Int("route", i+1), zap.Int("attempt", n+1), zap.String("provider", name),
				zap.String("reference", req.Reference), zap.String("result", result)}
			if e != nil {
				fields = append(fields, zap.String("code", e.Code), zap.String("request_sent", e.RequestSent))
			}
			h.logger.Info("routed create attempt", fields...)
		}
		if e := h.checkAccount(name, p, &attempt); e != nil {
			note(attemptUnsupported, e)
			skip, skipN = e, name
			continue
		}
		br := h.breakers[name]
		ok, probe := br.acquire()
		if !ok {
			e := circuitOpen(name)
			note(attemptOpen, e)
			skipOpen, skipOpenN = e, name
			continue
		}
		pay, reached, err := h.attemptAt(ctx, r, name, p, &attempt, br, probe)
		if err == nil {
			note(attemptCreated, nil)
			return name, pay, attempt, nil
		}
		e := providers.AsError(err)
		if reached || e.RequestSent != providers.SentNo {
			// The gateway's own record of the attempt's calls decides
			// too: a reply, or a request that may have been written,
			// is never failed over, whatever the provider package
			// reports (an error it did not mark, a mapping slip).
			if e.RequestSent == providers.SentNo {
				e.RequestSent = providers.SentUnknown
			}
			note(attemptFailed, e)
			return name, nil, attempt, e
		}
		note(attemptNotSent, e)
		last, lastName = e, name
	}
	switch {
	case last != nil:
		return lastName, nil, *req, last
	case skipOpen != nil:
		return skipOpenN, nil, *req, skipOpen
	}
	return skipN, nil, *req, skip
}

// attemptAt makes one attempt of a routed create at account name and
// reports whether any of its provider calls got past "nothing sent"
// (callDoer records it on the attempt's context). A probe's slot is freed
// however the attempt ends (a panic included).
func (h *Handler) attemptAt(ctx context.Context, r *http.Request, name string, p providers.Provider, req *providers.CreatePayment,
	br *breaker, probe uint64) (pay *providers.Payment, reached bool, err error) {
	track := &attemptTrack{}
	actx := context.WithValue(ctx, attemptKey{}, track)
	if probe != 0 {
		defer br.release(probe)
		actx = withProbe(actx, name, probe)
	}
	pay, err = h.createAt(actx, r, name, p, req)
	return pay, track.reached.Load(), err
}

// attemptKey carries a routed create attempt's attemptTrack.
type attemptKey struct{}

// attemptTrack records whether a provider call of the attempt may have
// reached the provider (request_sent yes or unknown).
type attemptTrack struct{ reached atomic.Bool }

// noteReached marks ctx's attempt (if any) as having reached the provider
// unless the call surely sent nothing.
func noteReached(ctx context.Context, sent string) {
	if t, ok := ctx.Value(attemptKey{}).(*attemptTrack); ok && sent != providers.SentNo {
		t.reached.Store(true)
	}
}

// checkAccount is what an account must accept before a create is sent to
// it: the capability checks and the provider's own limits.
func (h *Handler) checkAccount(name string, p providers.Provider, req *providers.CreatePayment) *providers.Error {
	if e := checkCapabilities(name, p.Capabilities(), req); e != nil {
		return e
	}
	if err := p.ValidatePayment(req); err != nil {
		return providers.AsError(err)
	}
	return nil
}

// circuitOpen is the error of a routed create whose last account was
// skipped because its breaker is open: nothing was sent.
func circuitOpen(name string) *providers.Error {
	return &providers.Error{
		Type: providers.TypeProviderUnreachable, Code: "circuit_open",
		Message:     "provider account " + name + " is not taking new payments for now (its circuit breaker is open after repeated failures); nothing was sent",
		RequestSent: providers.SentNo, Retryable: true, HTTPStatus: http.StatusServiceUnavailable,
	}
}

// routeView is a route as GET /providers shows it: the configuration
// itself (it holds no secret).
func (h *Handler) routeViews() []PaymentRoute {
	out := make([]PaymentRoute, len(h.Routes))
	copy(out, h.Routes)
	return out
}

// unmarshalRoute parses one `route { ... }` block of the payments
// directive:
//
//	route {
//		currency <ISO 4217>...
//		country  <alpha-2>...
//		amount   <min> <max>           # minor units, max included
//		metadata <key> <value>         # repeatable, one pair per line
//		to       <account>...          # required
//	}
func (h *Handler) unmarshalRoute(d *caddyfile.Dispenser) error {
	if d.NextArg() {
		return d.Errf("route takes no arguments: its matchers and `to` go in its block")
	}
	n := len(h.Routes) + 1
	var rt PaymentRoute
	seen := map[string]bool{}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		opt := d.Val()
		if opt != "metadata" {
			if seen[opt] {
				return d.Errf("route %d: duplicate '%s' (give every value on one line)", n, opt)
			}
			seen[opt] = true
		}
		args := d.RemainingArgs()
		switch opt {
		case "currency", "country":
			if len(args) == 0 {
				return d.Errf("route %d: %s needs at least one code", n, opt)
			}
			for i := range args {
				args[i] = strings.ToUpper(args[i])
			}
			if opt == "currency" {
				rt.Currencies = args
			} else {
				rt.Countries = args
			}
		case "amount":
			if len(args) != 2 {
				return d.Errf("route %d: amount takes the smallest and the largest amount in minor units: amount <min> <max>", n)
			}
			lo, err1 := strconv.ParseInt(args[0], 10, 64)
			hi, err2 := strconv.ParseInt(args[1], 10, 64)
			if err1 != nil || err2 != nil {
				return d.Errf("route %d: amount '%s %s' must be two whole numbers of minor units", n, args[0], args[1])
			}
			if lo > hi {
				return d.Errf("route %d: amount: min %d is greater than max %d", n, lo, hi)
			}
			rt.Amount = &AmountRange{Min: lo, Max: hi}
		case "metadata":
			if len(args) != 2 {
				return d.Errf("route %d: metadata takes one key and one value per line: metadata <key> <value>", n)
			}
			if _, dup := rt.Metadata[args[0]]; dup {
				return d.Errf("route %d: duplicate metadata key '%s'", n, args[0])
			}
			if rt.Metadata == nil {
				rt.Metadata = map[string]string{}
			}
			rt.Metadata[args[0]] = args[1]
		case "to":
			if len(args) == 0 {
				return d.Errf("route %d: to needs at least one provider account", n)
			}
			rt.To = args
		default:
			return d.Errf("route %d: unrecognized option '%s' (currency, country, amount, metadata, to)", n, opt)
		}
	}
	if len(rt.To) == 0 {
		return d.Errf("route %d: `to` is required: the provider accounts to try, in order", n)
	}
	h.Routes = append(h.Routes, rt)
	return nil
}
