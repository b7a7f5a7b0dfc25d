package caddymodule

import (
	"slices"
	"sync"
)

// gateways lists the running payments handlers by public_url, for the
// admin API (admin.go), which Caddy provisions apart from the http app
// and which therefore cannot reach the handlers through its context. A
// handler registers at the end of Provision and leaves in Cleanup. One
// public_url can have several handlers at once: one site served by
// several HTTP servers, and the old and the new config during a reload;
// they share one state store, and the admin API takes the one registered
// last (the newest config's).
var gateways = struct {
	sync.Mutex
	byURL map[string][]*Handler
}{byURL: map[string][]*Handler{}}

// registerGateway makes h reachable from the admin API.
func registerGateway(h *Handler) {
	if h.publicURL == nil {
		return
	}
	key := h.publicURL.String()
	gateways.Lock()
	defer gateways.Unlock()
	gateways.byURL[key] = append(gateways.byURL[key], h)
}

// unregisterGateway removes h (from Cleanup).
func unregisterGateway(h *Handler) {
	if h.publicURL == nil {
		return
	}
	key := h.publicURL.String()
	gateways.Lock()
	defer gateways.Unlock()
	list := slices.DeleteFunc(gateways.byURL[key], func(o *Handler) bool { return o == h })
	if len(list) == 0 {
		delete(gateways.byURL, key)
		return
	}
	gateways.byURL[key] = list
}

// lookupGateway returns the newest running handler of publicURL (a
// trailing slash is ignored), or nil.
func lookupGateway(publicURL string) *Handler {
	gateways.Lock()
	defer gateways.Unlock()
	for _, key := range []string{publicURL, trimSlash(publicURL)} {
		if list := gateways.byURL[key]; len(list) > 0 {
			return list[len(list)-1]
		}
	}
	return nil
}

// runningGateways returns the public_url of every running gateway and its
// newest handler, sorted by public_url.
func runningGateways() (urls []string, handlers []*Handler) {
	gateways.Lock()
	defer gateways.Unlock()
	for u := range gateways.byURL {
		urls = append(urls, u)
	}
	slices.Sort(urls)
	for _, u := range urls {
		list := gateways.byURL[u]
		handlers = append(handlers, list[len(list)-1])
	}
	return urls, handlers
}

func trimSlash(s string) string {
	for len(s) > 1 && s[len(s)-1] == '/' {
		s = s[:len(s)-1]
	}
	return s
}
