package caddymodule

import (
	"net/http"
	"strings"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/caddy-payments/caddy-payments/providers"
)

// route is one canonical API route after matching.
type route struct {
	// authed routes need the API token; notification and return routes are
	// protected by the provider's own signature instead.
	authed bool
	// methods allowed on the path, for 405 answers.
	methods string
	// idempotent POST routes honour the Idempotency-Key header.
	idempotent bool
	serve      func(w http.ResponseWriter, r *http.Request, c call) error
	arg        string
}

// call carries what a route handler needs besides the request: the path
// argument ({id} or {name}) and the next handler (for forwarding events).
type call struct {
	arg  string
	next caddyhttp.Handler
}

// match finds the route for a path, or nil when the path is not the
// gateway's (the request then goes to the next handler untouched).
func (h *Handler) match(path string) *route {
	seg := strings.Split(strings.Trim(path, "/"), "/")
	if path == "" || path[0] != '/' || len(seg) == 0 {
		return nil
	}
	switch {
	case path == "/payments":
		return &route{authed: true, methods: "GET, POST", serve: h.servePayments, idempotent: true}
	case len(seg) == 2 && seg[0] == "payments" && seg[1] != "":
		return &route{authed: true, methods: "GET", serve: h.serveGetPayment, arg: seg[1]}
	case len(seg) == 3 && seg[0] == "payments" && seg[1] != "" && seg[2] == "refunds":
		return &route{authed: true, methods: "POST", serve: h.serveCreateRefund, arg: seg[1], idempotent: true}
	case len(seg) == 2 && seg[0] == "refunds" && seg[1] != "":
		return &route{authed: true, methods: "GET", serve: h.serveGetRefund, arg: seg[1]}
	case path == "/payouts":
		return &route{authed: true, methods: "POST", serve: h.serveCreatePayout, idempotent: true}
	case len(seg) == 2 && seg[0] == "payouts" && seg[1] != "":
		return &route{authed: true, methods: "GET", serve: h.serveGetPayout, arg: seg[1]}
	case path == "/providers":
		return &route{authed: true, methods: "GET", serve: h.serveProviders}
	case len(seg) == 2 && seg[0] == "notifications" && seg[1] != "":
		return &route{methods: "POST", serve: h.serveNotification, arg: seg[1]}
	case len(seg) == 4 && seg[0] == "returns" && seg[1] != "" && seg[2] == "launch" && seg[3] != "":
		return &route{methods: "GET", serve: h.serveLaunch, arg: seg[1] + "/" + seg[3]}
	case len(seg) == 2 && seg[0] == "returns" && seg[1] != "":
		return &route{methods: "GET, POST", serve: h.serveReturn, arg: seg[1]}
	}
	return nil
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
	if !strings.Contains(rt.methods, r.Method) || r.Method == "" {
		w.Header().Set("Allow", rt.methods)
		return writeError(w, &providers.Error{
			Type: providers.TypeInvalidRequest, Code: "method_not_allowed",
			Message:    r.Method + " is not allowed here; allowed: " + rt.methods,
			HTTPStatus: http.StatusMethodNotAllowed, RequestSent: providers.SentNo,
		})
	}
	if rt.authed {
		if e := h.authenticate(r); e != nil {
			w.Header().Set("WWW-Authenticate", `Bearer realm="payments"`)
			return writeError(w, e)
		}
	}
	c := call{arg: rt.arg, next: next}
	if rt.idempotent && r.Method == http.MethodPost {
		return h.withIdempotency(w, r, func(w http.ResponseWriter, r *http.Request) error { return rt.serve(w, r, c) })
	}
	return rt.serve(w, r, c)
}
