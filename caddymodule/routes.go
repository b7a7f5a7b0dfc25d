package caddymodule

import (
	"net/http"
	"strings"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/caddy-payments/caddy-payments/providers"
)

// route is one canonical API route after matching.
type route struct {
	// pattern names the route in messages (e.g. /payments/{id}/refunds).
	pattern string
	// canon is the route's identity: its canonical path with the argument
	// in it. Every spelling of the path that reaches this route (a
	// trailing slash, percent-encoding) has the same canon; idempotency
	// keys are scoped by it, never by the raw path.
	canon string
	// arg is the path argument ({id} or {name}); kind is the id kind when
	// the argument is a canonical object id.
	arg, kind string
	// authed routes need an API key; notification and return routes are
	// protected by the provider's own signature instead.
	authed bool
	// ops are the methods the route serves, compared exactly (case
	// included): any other method is 405 with an Allow header listing
	// these. HEAD is not implied by GET.
	ops []op
}

// op is one method of a route.
type op struct {
	method string
	// scope an API key needs for this method (authed routes only).
	scope string
	// idempotent operations honour the Idempotency-Key header.
	idempotent bool
	serve      func(w http.ResponseWriter, r *http.Request, c call) error
}

// call carries what a route handler needs besides the request: the path
// argument ({id} or {name}), the next handler (for forwarding events) and
// the name of the API key that authorised the call ("" with api_token
// off), recorded as created_by.
type call struct {
	arg  string
	next caddyhttp.Handler
	by   string
}

// match finds the route for a path, or nil when the path is not the
// gateway's (the request then goes to the next handler untouched).
//
// Each route has one canonical path. A path that differs from it only by
// one trailing slash (/payments/, /payments/{id}/refunds/) is the same
// route, with the same identity; a path with an empty segment anywhere
// else (//payments, /payments//x, a second trailing slash) is not the
// gateway's.
func (h *Handler) match(path string) *route {
	if path == "" || path[0] != '/' {
		return nil
	}
	p := strings.TrimSuffix(path[1:], "/")
	if p == "" {
		return nil
	}
	seg := strings.Split(p, "/")
	for _, s := range seg {
		if s == "" {
			return nil
		}
	}
	read := func(serve func(http.ResponseWriter, *http.Request, call) error) op {
		return op{method: http.MethodGet, scope: ScopePaymentsRead, serve: serve}
	}
	var rt *route
	switch {
	case len(seg) == 1 && seg[0] == "payments":
		rt = &route{pattern: "/payments", authed: true, ops: []op{
			read(h.servePayments),
			{method: http.MethodPost, scope: ScopePaymentsWrite, idempotent: true, serve: h.servePayments},
		}}
	case len(seg) == 2 && seg[0] == "payments":
		rt = &route{pattern: "/payments/{id}", kind: providers.KindPayment, authed: true, ops: []op{read(h.serveGetPayment)}}
	case len(seg) == 3 && seg[0] == "payments" && seg[2] == "refunds":
		rt = &route{pattern: "/payments/{id}/refunds", kind: providers.KindPayment, authed: true, ops: []op{
			{method: http.MethodPost, scope: ScopeRefundsWrite, idempotent: true, serve: h.serveCreateRefund},
		}}
	case len(seg) == 2 && seg[0] == "refunds":
		rt = &route{pattern: "/refunds/{id}", kind: providers.KindRefund, authed: true, ops: []op{read(h.serveGetRefund)}}
	case len(seg) == 1 && seg[0] == "payouts":
		rt = &route{pattern: "/payouts", authed: true, ops: []op{
			{method: http.MethodPost, scope: ScopePayoutsWrite, idempotent: true, serve: h.serveCreatePayout},
		}}
	case len(seg) == 2 && seg[0] == "payouts":
		rt = &route{pattern: "/payouts/{id}", kind: providers.KindPayout, authed: true, ops: []op{read(h.serveGetPayout)}}
	case len(seg) == 1 && seg[0] == "events":
		rt = &route{pattern: "/events", authed: true, ops: []op{
			{method: http.MethodGet, scope: ScopeEventsRead, serve: h.serveListEvents},
		}}
	case len(seg) == 2 && seg[0] == "events":
		rt = &route{pattern: "/events/{id}", authed: true, ops: []op{
			{method: http.MethodGet, scope: ScopeEventsRead, serve: h.serveGetEvent},
		}}
	case len(seg) == 3 && seg[0] == "events" && seg[2] == "redeliver":
		rt = &route{pattern: "/events/{id}/redeliver", authed: true, ops: []op{
			{method: http.MethodPost, scope: ScopeEventsWrite, serve: h.serveRedeliverEvent},
		}}
	case len(seg) == 1 && seg[0] == "providers":
		rt = &route{pattern: "/providers", authed: true, ops: []op{read(h.serveProviders)}}
	case len(seg) == 2 && seg[0] == "notifications":
		rt = &route{pattern: "/notifications/{name}", ops: []op{{method: http.MethodPost, serve: h.serveNotification}}}
	case len(seg) == 4 && seg[0] == "returns" && seg[2] == "launch":
		rt = &route{pattern: "/returns/{name}/launch/{token}", ops: []op{{method: http.MethodGet, serve: h.serveLaunch}}}
	case len(seg) == 2 && seg[0] == "returns":
		rt = &route{pattern: "/returns/{name}", ops: []op{{method: http.MethodGet, serve: h.serveReturn}, {method: http.MethodPost, serve: h.serveReturn}}}
	default:
		return nil
	}
	switch len(seg) {
	case 2, 3:
		rt.arg = seg[1]
	case 4:
		rt.arg = seg[1] + "/" + seg[3]
	}
	rt.canon = "/" + strings.Join(seg, "/")
	return rt
}

// allow is the route's Allow header value.
func (rt *route) allow() string {
	m := make([]string, len(rt.ops))
	for i, o := range rt.ops {
		m[i] = o.method
	}
	return strings.Join(m, ", ")
}

// ServeHTTP implements caddyhttp.MiddlewareHandler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	if rd, ok := r.Context().Value(redeliveryKey{}).(*redelivery); ok && !rd.handled {
		return h.serveRedelivery(r, next, rd)
	}
	rt := h.match(r.URL.Path)
	if rt == nil {
		return next.ServeHTTP(w, r)
	}
	return h.countRequest(w, r, rt, next, h.serveRoute)
}

// serveRoute serves a request to one of the gateway's routes.
func (h *Handler) serveRoute(w http.ResponseWriter, r *http.Request, rt *route, next caddyhttp.Handler) error {
	var o *op
	for i := range rt.ops {
		if rt.ops[i].method == r.Method {
			o = &rt.ops[i]
		}
	}
	if o == nil {
		w.Header().Set("Allow", rt.allow())
		return writeError(w, &providers.Error{
			Type: providers.TypeInvalidRequest, Code: "method_not_allowed",
			Message:    "method " + truncate(r.Method, 32) + " is not allowed on " + rt.pattern + "; allowed: " + rt.allow() + " (methods are case-sensitive)",
			HTTPStatus: http.StatusMethodNotAllowed, RequestSent: providers.SentNo,
		})
	}
	c := call{arg: rt.arg, next: next}
	if rt.authed {
		key, e := h.authenticate(r)
		if e != nil {
			w.Header().Set("WWW-Authenticate", `Bearer realm="payments"`)
			return writeError(w, e)
		}
		if !key.allows(o.scope) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="payments", error="insufficient_scope", scope="`+o.scope+`"`)
			return writeError(w, forbidden(key.name, o.scope, o.method+" "+rt.pattern))
		}
		c.by = key.name
	}
	if rt.kind != "" {
		// An id decodes from more than one spelling (base64's unused
		// bits); only the one the gateway issues names the object.
		if acct, ref, ok := providers.DecodeID(rt.kind, rt.arg); ok && providers.EncodeID(rt.kind, acct, ref) != rt.arg {
			return writeError(w, providers.NotFound("no such object: the id is not in the form this gateway issues"))
		}
	}
	if o.idempotent {
		return h.withIdempotency(w, r, rt.canon, func(w http.ResponseWriter, r *http.Request) error { return o.serve(w, r, c) })
	}
	return o.serve(w, r, c)
}

// truncate cuts s to at most n bytes.
func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
