package providers

import (
	"context"
	"crypto/x509"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// countingServer is a loopback server that counts the connections clients
// open to it.
func countingServer(t *testing.T, tlsOn bool, h http.HandlerFunc) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var dials atomic.Int32
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			dials.Add(1)
		}
	}
	if tlsOn {
		srv.EnableHTTP2 = true
		srv.StartTLS()
	} else {
		srv.Start()
	}
	t.Cleanup(srv.Close)
	return srv, &dials
}

// concurrentCalls makes rounds of n concurrent calls through d.
func concurrentCalls(t *testing.T, d *HTTPDoer, url string, n, rounds int) {
	t.Helper()
	for range rounds {
		var wg sync.WaitGroup
		errs := make(chan error, n)
		for range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(`{"x":1}`))
				if _, err := d.Do(context.Background(), req); err != nil {
					errs <- err
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
	}
}

// TestTransportReusesConnections: rounds of 32 concurrent provider calls
// dial at most 32 connections in all with NewTransport, where Go's
// default transport (2 idle connections per host) dials again in every
// round.
func TestTransportReusesConnections(t *testing.T) {
	const concurrency, rounds = 32, 4
	// Each call takes a moment, so the calls of a round overlap.
	slowish := func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(20 * time.Millisecond)
		_, _ = w.Write([]byte(`{"ok":true}`))
	}

	srv, dials := countingServer(t, false, slowish)
	d := &HTTPDoer{Client: &http.Client{Transport: NewTransport(0)}, Timeout: 5 * time.Second}
	concurrentCalls(t, d, srv.URL, concurrency, rounds)
	if n := dials.Load(); n > concurrency {
		t.Fatalf("NewTransport: %d connections for %d rounds of %d concurrent calls, want at most %d", n, rounds, concurrency, concurrency)
	}

	// The same load on a transport as the gateway had before (Go's
	// defaults): far more dials. This shows the count above measures
	// reuse.
	old, oldDials := countingServer(t, false, slowish)
	dt := http.DefaultTransport.(*http.Transport).Clone()
	t.Cleanup(dt.CloseIdleConnections)
	d = &HTTPDoer{Client: &http.Client{Transport: dt}, Timeout: 5 * time.Second}
	concurrentCalls(t, d, old.URL, concurrency, rounds)
	if n := oldDials.Load(); n <= concurrency+concurrency/2 {
		t.Fatalf("the default transport dialed only %d connections; the test does not measure reuse", n)
	}
}

// TestTransportHTTP2AndTLSResumption: over TLS, a provider offering
// HTTP/2 gets HTTP/2, and a new connection after the idle ones were closed
// resumes the TLS session instead of a full handshake. Proxies come from
// the environment, as with Go's default transport.
func TestTransportHTTP2AndTLSResumption(t *testing.T) {
	var mu sync.Mutex
	var protos []string
	var resumed []bool
	srv, dials := countingServer(t, true, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		protos = append(protos, r.Proto)
		resumed = append(resumed, r.TLS != nil && r.TLS.DidResume)
		mu.Unlock()
		_, _ = w.Write([]byte("{}"))
	})
	tr := NewTransport(0)
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	tr.TLSClientConfig.RootCAs = pool
	t.Cleanup(tr.CloseIdleConnections)
	d := &HTTPDoer{Client: &http.Client{Transport: tr}, Timeout: 5 * time.Second}
	for i := range 3 {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/payments/x", nil)
		if _, err := d.Do(context.Background(), req); err != nil {
			t.Fatal(err)
		}
		if i == 1 {
			tr.CloseIdleConnections() // the third call needs a new connection
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if protos[0] != "HTTP/2.0" {
		t.Fatalf("protocol %s, want HTTP/2.0 (ForceAttemptHTTP2)", protos[0])
	}
	if n := dials.Load(); n != 2 {
		t.Fatalf("%d connections for 3 calls with one forced reconnect, want 2", n)
	}
	if resumed[0] || !resumed[2] {
		t.Fatalf("TLS resumption per call: %v, want the reconnect resumed (ClientSessionCache)", resumed)
	}

	// (ProxyFromEnvironment reads the environment once per process, so
	// the function itself is compared.)
	if tr.Proxy == nil || reflect.ValueOf(tr.Proxy).Pointer() != reflect.ValueOf(http.ProxyFromEnvironment).Pointer() {
		t.Fatal("the proxy does not come from the environment: HTTPS_PROXY would be ignored")
	}
}
