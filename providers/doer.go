package providers

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"sync/atomic"
	"time"
)

// DefaultMaxReply caps how much of a provider reply is read.
const DefaultMaxReply = 4 << 20

// DefaultMaxIdleConnsPerHost is how many idle keep-alive connections
// NewTransport keeps to each provider host, sized for the concurrency of
// a busy gateway (Go's default transport keeps 2, so that at 16
// concurrent calls most calls dial, and against a provider that is a TLS
// handshake each).
const DefaultMaxIdleConnsPerHost = 64

// NewTransport returns the transport of one gateway's provider calls:
// keep-alive connections, up to maxIdlePerHost of them idle per provider
// host (DefaultMaxIdleConnsPerHost when not positive), HTTP/2 where the
// provider offers it over TLS (ALPN), TLS sessions resumed from a cache
// instead of a full handshake per new connection, and the proxy from the
// environment (HTTPS_PROXY, NO_PROXY), as Go's default transport. Its
// owner closes its idle connections when done (CloseIdleConnections).
func NewTransport(maxIdlePerHost int) *http.Transport {
	if maxIdlePerHost <= 0 {
		maxIdlePerHost = DefaultMaxIdleConnsPerHost
	}
	dialer := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}
	return &http.Transport{
		Proxy:               http.ProxyFromEnvironment,
		DialContext:         dialer.DialContext,
		ForceAttemptHTTP2:   true, // a custom TLS config turns HTTP/2 off unless asked
		MaxIdleConns:        0,    // no total cap: the per-host cap bounds it
		MaxIdleConnsPerHost: maxIdlePerHost,
		IdleConnTimeout:     90 * time.Second,
		TLSHandshakeTimeout: 10 * time.Second,
		TLSClientConfig: &tls.Config{
			MinVersion:         tls.VersionTLS12,
			ClientSessionCache: tls.NewLRUClientSessionCache(256),
		},
		ExpectContinueTimeout: time.Second,
	}
}

// HTTPDoer is the Doer the gateway uses: one http.Client, a per-call
// timeout, and a cap on reply size. It classifies failures into whether the
// request reached the wire, which is what tells the merchant if a retry
// could double-charge:
//
//   - the connection could not be made, or failed before the request was
//     fully written: request_sent "no" (502)
//   - the request was written but no complete reply came back (timeout,
//     reset, truncated body): request_sent "unknown" (504 on timeout,
//     else 502)
//
// It never retries: a provider POST is not idempotent.
type HTTPDoer struct {
	Client   *http.Client
	Timeout  time.Duration // per call; 0 means 30s
	MaxReply int64         // 0 means DefaultMaxReply
	// Observe, when set, is called after every call (for logs and metrics)
	// with the request, the reply status (0 when none) and the duration.
	Observe func(req *http.Request, status int, d time.Duration, err error)
}

// Do implements Doer.
func (d *HTTPDoer) Do(ctx context.Context, req *http.Request) (*Reply, error) {
	timeout := d.Timeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	maxReply := d.MaxReply
	if maxReply <= 0 {
		maxReply = DefaultMaxReply
	}
	client := d.Client
	if client == nil {
		client = http.DefaultClient
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	// WroteRequest runs on the transport's goroutine, hence the atomic.
	var wrote atomic.Bool
	trace := &httptrace.ClientTrace{
		WroteRequest: func(info httptrace.WroteRequestInfo) {
			if info.Err == nil {
				wrote.Store(true)
			}
		},
	}
	req = req.WithContext(httptrace.WithClientTrace(ctx, trace))
	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		e := unreachable(err, wrote.Load(), ctx)
		d.observe(req, 0, start, e)
		return nil, e
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxReply+1))
	if err != nil {
		e := unreachable(err, true, ctx)
		d.observe(req, resp.StatusCode, start, e)
		return nil, e
	}
	if int64(len(body)) > maxReply {
		e := Garbage("reply larger than the limit")
		d.observe(req, resp.StatusCode, start, e)
		return nil, e
	}
	d.observe(req, resp.StatusCode, start, nil)
	return &Reply{StatusCode: resp.StatusCode, Header: resp.Header, Body: body}, nil
}

func (d *HTTPDoer) observe(req *http.Request, status int, start time.Time, err error) {
	if d.Observe != nil {
		d.Observe(req, status, time.Since(start), err)
	}
}

// unreachable builds the provider_unreachable error. The message names the
// kind of failure only: the underlying error text can hold URLs with
// credentials and is not shown to merchants.
func unreachable(err error, wrote bool, ctx context.Context) *Error {
	timeout := errors.Is(err, context.DeadlineExceeded) || ctx.Err() == context.DeadlineExceeded
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		timeout = true
	}
	e := &Error{Type: TypeProviderUnreachable, Retryable: true, Timeout: timeout}
	switch {
	case timeout && wrote:
		e.Code, e.Message, e.RequestSent = "provider_timeout", "the provider did not answer in time; the outcome is unknown", SentUnknown
	case timeout:
		e.Code, e.Message, e.RequestSent = "provider_timeout", "the provider could not be reached in time; nothing was sent", SentNo
	case wrote:
		e.Code, e.Message, e.RequestSent = "provider_connection_lost", "the connection to the provider was lost after the request was sent; the outcome is unknown", SentUnknown
	default:
		e.Code, e.Message, e.RequestSent = "provider_unreachable", "the provider could not be reached; nothing was sent", SentNo
	}
	return e
}
