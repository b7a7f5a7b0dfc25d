package main

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// notice is a notification exactly as the sandbox sent it: the body and
// the headers that carry its authentication.
type notice struct {
	body   []byte
	header http.Header
}

// captureServer is the gateway's public_url during a run: the sandbox
// sends the notifications of approved payments here (signed with the
// sandbox's secrets: payabl's SHA-256 security, Razorpay's HMAC of the
// body, PaySage's RSA Content-Signature and Basic auth), and the benchmark
// replays them to the gateway and to the plain proxy. It keeps one
// notification per payment: payabl's not_credited_yet (by transactionid),
// Razorpay's payment.captured (by order id) and PaySage's successful
// transaction (by uid). It answers as the gateway would (payabl "OK").
type captureServer struct {
	srv *http.Server
	url string

	mu   sync.Mutex
	kept map[string]map[string]notice // provider → object → notice
	// feed, when set, also receives each newly kept notification of
	// feedProvider (never blocking: a full feed drops it), for the soak.
	feed         chan notice
	feedProvider string
}

// setFeed starts (or, with nil, stops) feeding new notifications of
// provider to ch.
func (c *captureServer) setFeed(provider string, ch chan notice) {
	c.mu.Lock()
	c.feed, c.feedProvider = ch, provider
	c.mu.Unlock()
}

// keptHeaders are the request headers a replay carries.
var keptHeaders = []string{"Content-Type", "User-Agent", "Accept", "Authorization", "Content-Signature",
	"X-Razorpay-Signature", "X-Razorpay-Event-Id"}

// newCaptureServer listens on a free loopback port.
func newCaptureServer() (*captureServer, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	c := &captureServer{url: "http://" + l.Addr().String(),
		kept: map[string]map[string]notice{"payabl": {}, "razorpay": {}, "paysage": {}}}
	c.srv = &http.Server{Handler: c, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = c.srv.Serve(l) }()
	return c, nil
}

func (c *captureServer) close() { _ = c.srv.Close() }

func (c *captureServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	provider, ok := strings.CutPrefix(r.URL.Path, "/notifications/")
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if !ok || r.Method != http.MethodPost || err != nil {
		http.NotFound(w, r)
		return
	}
	n := notice{body: body, header: http.Header{}}
	for _, h := range keptHeaders {
		if v := r.Header.Get(h); v != "" {
			n.header.Set(h, v)
		}
	}
	var object string
	switch provider {
	case "payabl":
		f, _ := url.ParseQuery(string(body))
		if f.Get("payment_state") == "not_credited_yet" {
			object = f.Get("transactionid")
		}
		defer io.WriteString(w, "OK")
	case "razorpay":
		var ev struct {
			Event   string `json:"event"`
			Payload struct {
				Payment struct {
					Entity struct {
						OrderID string `json:"order_id"`
					} `json:"entity"`
				} `json:"payment"`
			} `json:"payload"`
		}
		if json.Unmarshal(body, &ev) == nil && ev.Event == "payment.captured" {
			object = ev.Payload.Payment.Entity.OrderID
		}
	case "paysage":
		var ev struct {
			Transaction struct {
				UID    string `json:"uid"`
				Status string `json:"status"`
			} `json:"transaction"`
		}
		if json.Unmarshal(body, &ev) == nil && ev.Transaction.Status == "successful" {
			object = ev.Transaction.UID
		}
	}
	if object != "" {
		c.mu.Lock()
		if m := c.kept[provider]; m != nil {
			if _, dup := m[object]; !dup {
				m[object] = n
				if c.feed != nil && provider == c.feedProvider {
					select {
					case c.feed <- n:
					default:
					}
				}
			}
		}
		c.mu.Unlock()
	}
}

// notices returns the kept notifications of provider for objects, in
// their order, waiting up to timeout for late ones; missing ones are left
// out.
func (c *captureServer) notices(provider string, objects []string, timeout time.Duration) []notice {
	deadline := time.Now().Add(timeout)
	for {
		c.mu.Lock()
		var out []notice
		for _, o := range objects {
			if n, ok := c.kept[provider][o]; ok {
				out = append(out, n)
			}
		}
		c.mu.Unlock()
		if len(out) == len(objects) || time.Now().After(deadline) {
			return out
		}
		time.Sleep(50 * time.Millisecond)
	}
}
