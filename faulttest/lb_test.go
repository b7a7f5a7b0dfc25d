//go:build unix

package faulttest

import (
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sync/atomic"
	"syscall"
	"time"
)

// cutHeader marks an answer from a backend that got the request only after
// it was cut off at another (which may or may not have acted on it), so
// the test can tell a one-time link consumed by a killed instance from a
// gateway fault. A production balancer says nothing; this one is a test
// instrument.
const cutHeader = "X-Faulttest-Cut"

// balancer is the load balancer in front of the gateways: round robin over
// the backends, and on a connection error (an instance killed, or not yet
// back) the same request goes to the next backend. Request bodies are small
// and buffered so they can be sent again.
type balancer struct {
	backends  []*url.URL
	next      atomic.Uint64
	transport http.RoundTripper
	failovers atomic.Int64   // requests that had to go to another backend
	failed    atomic.Int64   // requests no backend took
	cut       atomic.Int64   // requests cut off mid-way (not a refused connection): in flight at the kill
	served    []atomic.Int64 // answers per backend
}

// newBalancer builds the balancer for the given base URLs.
func newBalancer(bases ...string) *balancer {
	b := &balancer{transport: &http.Transport{
		DialContext:         (&net.Dialer{Timeout: time.Second}).DialContext,
		MaxIdleConnsPerHost: 64,
		IdleConnTimeout:     5 * time.Second,
	}}
	for _, s := range bases {
		u, err := url.Parse(s)
		if err != nil {
			panic(err)
		}
		b.backends = append(b.backends, u)
	}
	b.served = make([]atomic.Int64, len(b.backends))
	return b
}

// handler is the HTTP side: an httputil.ReverseProxy whose transport is the
// balancer. Like a production balancer it keeps the public Host header; it
// adds no X-Forwarded-* headers.
func (b *balancer) handler() http.Handler {
	return &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(b.backends[0]) // the transport picks the backend
			pr.Out.Host = pr.In.Host
		},
		Transport: b,
	}
}

// RoundTrip sends req to the next backend in turn, failing over to the
// others on a transport error. A request the client gave up on is not
// retried.
func (b *balancer) RoundTrip(req *http.Request) (*http.Response, error) {
	var body []byte
	if req.Body != nil && req.Body != http.NoBody {
		var err error
		if body, err = io.ReadAll(req.Body); err != nil {
			return nil, err
		}
		req.Body.Close()
	}
	start := b.next.Add(1)
	var lastErr error
	wasCut := false
	for i := range b.backends {
		n := (int(start) + i) % len(b.backends)
		be := b.backends[n]
		out := req.Clone(req.Context())
		out.URL.Scheme, out.URL.Host = be.Scheme, be.Host
		out.Body = io.NopCloser(bytes.NewReader(body))
		if body == nil {
			out.Body = http.NoBody
		}
		resp, err := b.transport.RoundTrip(out)
		if err == nil {
			b.served[n].Add(1)
			if i > 0 {
				b.failovers.Add(1)
			}
			if wasCut {
				resp.Header.Set(cutHeader, "1")
			}
			return resp, nil
		}
		lastErr = err
		if !errors.Is(err, syscall.ECONNREFUSED) {
			b.cut.Add(1)
			wasCut = true
		}
		if req.Context().Err() != nil {
			break
		}
	}
	b.failed.Add(1)
	return nil, lastErr
}
