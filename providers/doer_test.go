package providers

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// The Doer's classification is what tells merchants whether a retry could
// double-charge; each case uses a real loopback connection.
func TestHTTPDoerRequestSent(t *testing.T) {
	ctx := context.Background()

	ok := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("fine")) }))
	defer ok.Close()
	d := &HTTPDoer{Timeout: time.Second}
	req, _ := http.NewRequest("POST", ok.URL, strings.NewReader("x=1"))
	rep, err := d.Do(ctx, req)
	if err != nil || rep.StatusCode != 200 || string(rep.Body) != "fine" {
		t.Fatalf("ok: %v %v", rep, err)
	}

	// Nothing listens: refused before anything was sent.
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := l.Addr().String()
	l.Close()
	req, _ = http.NewRequest("POST", "http://"+addr+"/", strings.NewReader("x=1"))
	_, err = d.Do(ctx, req)
	if e := AsError(err); e.Type != TypeProviderUnreachable || e.RequestSent != SentNo || e.Status() != 502 || strings.Contains(e.Message, addr) {
		t.Fatalf("refused: %+v", e)
	}

	// The provider takes too long: sent, outcome unknown, 504.
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(2 * time.Second):
		case <-r.Context().Done():
		}
	}))
	defer slow.Close()
	d = &HTTPDoer{Timeout: 200 * time.Millisecond}
	req, _ = http.NewRequest("POST", slow.URL, strings.NewReader("x=1"))
	_, err = d.Do(ctx, req)
	if e := AsError(err); e.RequestSent != SentUnknown || !e.Timeout || e.Status() != 504 || !e.Retryable {
		t.Fatalf("timeout: %+v", e)
	}

	// The connection drops after the request was written: unknown.
	drop := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, _, _ := w.(http.Hijacker).Hijack()
		conn.Close()
	}))
	defer drop.Close()
	d = &HTTPDoer{Timeout: time.Second}
	req, _ = http.NewRequest("POST", drop.URL, strings.NewReader("x=1"))
	_, err = d.Do(ctx, req)
	if e := AsError(err); e.RequestSent != SentUnknown || e.Timeout {
		t.Fatalf("dropped: %+v", e)
	}

	// A reply over the cap is garbage, not read without bound.
	big := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(strings.Repeat("a", 2048)))
	}))
	defer big.Close()
	d = &HTTPDoer{Timeout: time.Second, MaxReply: 1024}
	req, _ = http.NewRequest("GET", big.URL, nil)
	_, err = d.Do(ctx, req)
	if e := AsError(err); e.Code != "invalid_provider_reply" || e.RequestSent != SentUnknown {
		t.Fatalf("big: %+v", e)
	}
}
