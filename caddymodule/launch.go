package caddymodule

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/caddy-payments/caddy-payments/providers"
	"github.com/caddy-payments/caddy-payments/store"
)

// launchTTL is how long a customer has to open a launch URL.
const launchTTL = time.Hour

// launchOnce moves a Launcher provider's LaunchData under a fresh
// one-time token: it points the payment's next_action at
// <public_url>/returns/<name>/launch/<token> and returns the write that
// stores the data, which the create commits with the payment's record.
func (h *Handler) launchOnce(name string, pay *providers.Payment) store.OnceWrite {
	token := newKey("ln")
	wr := store.OnceWrite{Key: launchKey(name, token), Data: []byte(pay.LaunchData), TTL: launchTTL}
	pay.LaunchData = ""
	pay.NextAction = &providers.NextAction{Type: "redirect", Method: http.MethodGet,
		URL: h.endpointURL("/returns/" + name + "/launch/" + token)}
	return wr
}

// launchNotStored is the answer to a create whose launch data could not
// be stored: the payment exists, but the customer has no way to it.
func launchNotStored() *providers.Error {
	e := providers.Internal("the payment was created but its checkout link could not be stored; find it by reference")
	e.RequestSent = providers.SentYes
	return e
}

func launchKey(name, token string) string { return "launch:" + name + ":" + token }

// serveLaunch is GET /returns/{name}/launch/{token}: the customer's browser
// opening its one-time checkout link. The stored data is handed to the
// provider's Launch (which may call the provider with the browser's own
// IP and user agent) and what it returns is served to the browser. A
// token works once and for launchTTL. An unknown, used or expired token
// (or an account without launches) gets one answer, launchGone, and no
// provider call.
func (h *Handler) serveLaunch(w http.ResponseWriter, r *http.Request, c call) error {
	name, token, _ := strings.Cut(c.arg, "/")
	l, ok := h.providers[name].(providers.Launcher)
	if !ok {
		return launchGone(w)
	}
	data, err := h.store.TakeOnce(r.Context(), launchKey(name, token))
	if errors.Is(err, store.ErrNotFound) {
		return launchGone(w)
	}
	if err != nil {
		h.logger.Error("reading launch data", zap.String("provider", name), zap.Error(err))
		return writeError(w, providers.Internal("the checkout link could not be read"))
	}
	reply, err := l.Launch(r.Context(), h.call(name, opLaunch), string(data), &providers.IncomingNotification{
		Method: r.Method, Header: r.Header, Query: r.URL.Query(),
	})
	if err != nil {
		return writeError(w, err)
	}
	ct := reply.Header.Get("Content-Type")
	if ct == "" {
		ct = "text/html; charset=utf-8"
	}
	w.Header().Set("Content-Type", ct)
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", "no-referrer")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	status := reply.StatusCode
	if status == 0 {
		status = http.StatusOK
	}
	w.WriteHeader(status)
	_, err = w.Write(reply.Body)
	return err
}

// launchGone is the one answer to a launch URL that leads nowhere: never
// issued, already used, expired, or for an account without launches. The
// same status and body in every case, so the route tells nobody which
// tokens or accounts exist.
func launchGone(w http.ResponseWriter) error {
	w.Header().Set("Cache-Control", "no-store")
	return writeError(w, providers.NotFound("this checkout link is not valid, was already used or has expired; ask the shop for a new payment"))
}
