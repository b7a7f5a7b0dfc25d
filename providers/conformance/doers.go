package conformance

import (
	"context"
	"net"
	"net/http"
	"sync/atomic"
	"testing"

	"github.com/caddy-payments/caddy-payments/providers"
)

// countingDoer counts calls, so the suite can tell a provider that
// bypasses the host's Doer (and with it timeouts, logs and metrics).
type countingDoer struct {
	inner providers.Doer
	calls atomic.Int64
}

func (d *countingDoer) Do(ctx context.Context, req *http.Request) (*providers.Reply, error) {
	d.calls.Add(1)
	return d.inner.Do(ctx, req)
}

// redirectDoer sends every request to host over plain HTTP instead of
// where the provider meant it to go: it points any provider, whatever its
// configured endpoint, at an address where nothing listens.
type redirectDoer struct {
	inner providers.Doer
	host  string
}

func (d redirectDoer) Do(ctx context.Context, req *http.Request) (*providers.Reply, error) {
	r := req.Clone(ctx)
	u := *req.URL
	u.Scheme, u.Host = "http", d.host
	r.URL, r.Host = &u, ""
	return d.inner.Do(ctx, r)
}

// deadAddress returns a loopback host:port where nothing listens (a port
// that was just bound and released).
func deadAddress(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen on loopback: %v", err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		t.Fatalf("close listener: %v", err)
	}
	return addr
}
