package caddymodule

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/caddy-payments/caddy-payments/providers"
	"github.com/caddy-payments/caddy-payments/providers/fake"
	"github.com/caddy-payments/caddy-payments/store"
)

// fetchMeter wraps a fake provider server and measures its payment
// fetches: how many ran at once (at most) and when each began.
type fetchMeter struct {
	latency  time.Duration
	inflight atomic.Int32
	mu       sync.Mutex
	max      int32
	starts   []time.Time
}

func (m *fetchMeter) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet || !strings.HasPrefix(r.URL.Path, "/payments/") {
			next.ServeHTTP(w, r)
			return
		}
		n := m.inflight.Add(1)
		m.mu.Lock()
		m.max = max(m.max, n)
		m.starts = append(m.starts, time.Now())
		m.mu.Unlock()
		time.Sleep(m.latency)
		m.inflight.Add(-1)
		next.ServeHTTP(w, r)
	})
}

func (m *fetchMeter) fetches() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.starts)
}

// busiestSecond is the most fetches that began within one second.
func (m *fetchMeter) busiestSecond() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := slices.Clone(m.starts)
	slices.SortFunc(s, func(a, b time.Time) int { return a.Compare(b) })
	most := 0
	for i := range s {
		j := i
		for j < len(s) && s[j].Sub(s[i]) < time.Second {
			j++
		}
		most = max(most, j-i)
	}
	return most
}

// TestReconcilePoliteness: many pending payments of two provider accounts,
// all due at once. The reconciler fetches every one, and per account no
// more at a time than reconcile_limit's first number and no more per
// second than its second (counted generously: scheduling delays can bunch
// calls a little). Without the limit, the checks ran back to back.
func TestReconcilePoliteness(t *testing.T) {
	for _, tc := range []struct {
		name              string
		concurrency, rate int
		latency           time.Duration
		perAccount        int
	}{
		// Slow fetches and a high rate: concurrency is the bound.
		{"concurrency", 2, 1000, 100 * time.Millisecond, 16},
		// Fast fetches: the rate is the bound.
		{"rate", 4, 8, 0, 24},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db, err := store.OpenBolt(filepath.Join(t.TempDir(), "state.db"))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = db.Close() })
			tr := providers.NewTransport(0)
			t.Cleanup(tr.CloseIdleConnections)
			doer := &providers.HTTPDoer{Client: &http.Client{Transport: tr}, Timeout: 5 * time.Second}
			h := &Handler{
				providers: map[string]providers.Provider{}, store: db, logger: zap.NewNop(), now: time.Now, doer: doer,
				ReconcileConcurrency: tc.concurrency, ReconcileRate: tc.rate,
			}
			h.recon = newReconciler(h.ReconcileConcurrency, h.ReconcileRate)
			ctx, cancel := context.WithCancel(context.Background())
			t.Cleanup(func() { cancel(); h.recon.wait(5 * time.Second) })

			meters := map[string]*fetchMeter{}
			now := time.Now().UTC()
			for _, name := range []string{"acct_a", "acct_b"} {
				m := &fetchMeter{latency: tc.latency}
				srv := httptest.NewServer(m.wrap(fake.NewServer(fakeSecret)))
				t.Cleanup(srv.Close)
				p, err := fake.New(srv.URL, fakeSecret)
				if err != nil {
					t.Fatal(err)
				}
				h.providers[name], meters[name] = p, m
				for i := range tc.perAccount {
					pay, err := p.CreatePayment(ctx, doer, &providers.CreatePayment{
						Reference: fmt.Sprintf("ORD-%s-%d", name, i), Amount: 1000, Currency: "EUR",
						NotificationURL: "http://127.0.0.1:1/notifications/" + name,
					})
					if err != nil {
						t.Fatal(err)
					}
					h.completePayment(name, pay)
					if _, err := db.PutPayment(ctx, &store.PaymentRecord{ID: pay.ID, Provider: name, ProviderRef: pay.ProviderReference,
						Reference: pay.Reference, Amount: pay.Amount, Currency: pay.Currency, Status: pay.Status, CreatedAt: now}); err != nil {
						t.Fatal(err)
					}
					if err := db.ScheduleCheck(ctx, &store.ReconcileCheck{ID: pay.ID, Provider: name, NextAt: now, Created: now}); err != nil {
						t.Fatal(err)
					}
				}
			}

			// The worker's ticks, fast.
			deadline := time.Now().Add(30 * time.Second)
			for meters["acct_a"].fetches() < tc.perAccount || meters["acct_b"].fetches() < tc.perAccount {
				if time.Now().After(deadline) {
					t.Fatalf("fetches after 30s: %d and %d of %d each", meters["acct_a"].fetches(), meters["acct_b"].fetches(), tc.perAccount)
				}
				h.reconcileDue(ctx)
				time.Sleep(10 * time.Millisecond)
			}
			cancel()
			h.recon.wait(5 * time.Second)

			for name, m := range meters {
				t.Logf("%s: %d fetches, at most %d at once, at most %d in one second", name, m.fetches(), m.max, m.busiestSecond())
				if m.max > int32(tc.concurrency) {
					t.Errorf("%s: %d fetches at once, reconcile_limit allows %d", name, m.max, tc.concurrency)
				}
				if most := m.busiestSecond(); most > tc.rate+tc.rate/2+1 {
					t.Errorf("%s: %d fetches in one second, reconcile_limit allows %d", name, most, tc.rate)
				}
				if n := m.fetches(); n != tc.perAccount {
					t.Errorf("%s: %d fetches for %d due checks (each check once)", name, n, tc.perAccount)
				}
			}
		})
	}
}

// TestReconcileDueTimesAreSpread: checks scheduled in the same instant are
// not all due in the same instant: each delay is jittered ±20%.
func TestReconcileDueTimesAreSpread(t *testing.T) {
	db, err := store.OpenBolt(filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	h := &Handler{store: db, logger: zap.NewNop(), now: func() time.Time { return at }}
	ctx := context.Background()
	r := httptest.NewRequest(http.MethodPost, "http://shop.example/payments", nil)
	for i := range 200 {
		h.scheduleCheck(r, "acct", fmt.Sprintf("pay_acct_%d", i))
	}
	due, err := db.ClaimDueChecks(ctx, at.Add(time.Hour), 1000, time.Minute)
	if err != nil || len(due) != 200 {
		t.Fatalf("claim: %d %v", len(due), err)
	}
	first, last := due[0].NextAt, due[0].NextAt
	for _, c := range due {
		d := c.NextAt.Sub(at)
		if d < 48*time.Second || d > 72*time.Second {
			t.Fatalf("first check %s after scheduling, want 1m ±20%%", d)
		}
		if c.NextAt.Before(first) {
			first = c.NextAt
		}
		if c.NextAt.After(last) {
			last = c.NextAt
		}
	}
	if spread := last.Sub(first); spread < 12*time.Second {
		t.Fatalf("200 checks scheduled together fall due within %s of each other; want them spread over most of ±12s", spread)
	}
}

// TestClientDisconnectAfterProviderCall: a client that goes away while the
// provider handles its create changes nothing: the create completes, the
// record is stored, the Idempotency-Key answers the payment on a retry
// (it neither stays "in progress" nor is freed for a second create) and
// the reconcile check is scheduled, so a change the provider never
// notifies still reaches the shop.
func TestClientDisconnectAfterProviderCall(t *testing.T) {
	fs := fake.NewServer(fakeSecret)
	arrived, release := make(chan struct{}, 1), make(chan struct{})
	var creates atomic.Int32
	fsrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && r.URL.Path == "/payments" {
			creates.Add(1)
			select {
			case arrived <- struct{}{}:
			default:
			}
			select {
			case <-release:
			case <-time.After(10 * time.Second):
			}
		}
		fs.ServeHTTP(w, r)
	}))
	t.Cleanup(fsrv.Close)
	sh := newShop(t)
	loadCaddy(t, fakeSite(t, 9080, fsrv.URL, sh.srv.URL, fmt.Sprintf("timeout 5s\nretry_schedule 200ms\nreconcile_schedule 300ms\nstorage_path %s", filepath.Join(t.TempDir(), "state.db"))))

	body, _ := json.Marshal(fakePayment("ORD-GONE", 4200))
	post := func(ctx context.Context) (*http.Response, error) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, gwBase+"/payments", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+testToken)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Idempotency-Key", "idem-client-gone-1")
		return (&http.Client{Transport: &http.Transport{DisableKeepAlives: true}}).Do(req)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		resp, err := post(ctx)
		if err == nil {
			resp.Body.Close()
		}
		done <- err
	}()
	select {
	case <-arrived:
	case <-time.After(10 * time.Second):
		t.Fatal("the create never reached the provider")
	}
	cancel() // the client goes away while the provider works
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("the client's request ended with %v, want it canceled", err)
	}
	time.Sleep(300 * time.Millisecond) // Caddy sees the connection close
	close(release)

	// The retry with the same key gets the payment the first request made.
	var replay map[string]any
	waitFor(t, "the stored answer for the Idempotency-Key", func() bool {
		resp, err := post(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		replay = nil
		_ = json.Unmarshal(raw, &replay)
		switch {
		case resp.StatusCode == http.StatusCreated:
			if resp.Header.Get("Idempotent-Replayed") != "true" {
				t.Fatalf("the retry was not a replay: %s", raw)
			}
			return true
		case resp.StatusCode == http.StatusConflict && errField(replay, "code") == "request_in_progress":
			return false // the first request is still finishing (or, before the fix, forever)
		default:
			t.Fatalf("retry: %d %s", resp.StatusCode, raw)
			return false
		}
	})
	if n := creates.Load(); n != 1 {
		t.Fatalf("%d creates reached the provider, want 1", n)
	}
	id, ref := replay["id"].(string), replay["provider_reference"].(string)

	// The provider moves the payment on without a notification; only the
	// reconcile check scheduled by the abandoned request can find it, and
	// it needs the record (it reads the record first).
	if err := fs.SetStatus(ref, "succeeded"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "payment.succeeded from the reconciler", func() bool {
		return slices.Contains(types(eventsOf(t, sh, id)), "payment.succeeded")
	})
}

// failingWriter is a ResponseWriter whose client has gone: writes fail.
type failingWriter struct{ header http.Header }

func (f *failingWriter) Header() http.Header       { return f.header }
func (f *failingWriter) WriteHeader(int)           {}
func (f *failingWriter) Write([]byte) (int, error) { return 0, net.ErrClosed }

// TestIdempotencyKeptWhenTheAnswerCannotBeWritten: a create that reached
// the provider keeps its Idempotency-Key even when its answer could not be
// written to the client (which went away): a retry replays it rather than
// creating a second payment.
func TestIdempotencyKeptWhenTheAnswerCannotBeWritten(t *testing.T) {
	db, err := store.OpenBolt(filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	h := &Handler{store: db, logger: zap.NewNop(), now: time.Now, maxBodySize: defaultMaxBody,
		doer: &providers.HTTPDoer{Timeout: time.Second}}
	var runs int
	create := func(w http.ResponseWriter, r *http.Request) error {
		runs++
		return writeJSON(w, http.StatusCreated, map[string]any{"id": "pay_acct_x", "object": "payment"})
	}
	req := func() *http.Request {
		r := httptest.NewRequest(http.MethodPost, "/payments", strings.NewReader(`{"amount":1}`))
		r.Header.Set("Idempotency-Key", "idem-write-fails")
		return r
	}
	_ = h.withIdempotency(&failingWriter{header: http.Header{}}, req(), "payments", create)
	rec := httptest.NewRecorder()
	if err := h.withIdempotency(rec, req(), "payments", create); err != nil {
		t.Fatal(err)
	}
	if runs != 1 || rec.Code != http.StatusCreated || rec.Header().Get("Idempotent-Replayed") != "true" {
		t.Fatalf("retry after a failed write: %d runs, %d %s (replayed %q); want one run and a replay",
			runs, rec.Code, rec.Body, rec.Header().Get("Idempotent-Replayed"))
	}
}

// TestGatewayReusesProviderConnections: rounds of concurrent creates
// through Caddy reuse the gateway's connections to the provider: no more
// connections in all than calls at once. With Go's default transport (2
// idle connections per host), every round dialed again.
func TestGatewayReusesProviderConnections(t *testing.T) {
	const concurrency, rounds = 16, 3
	fs := fake.NewServer(fakeSecret)
	var dials atomic.Int32
	fsrv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(30 * time.Millisecond) // the calls of a round overlap
		fs.ServeHTTP(w, r)
	}))
	fsrv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			dials.Add(1)
		}
	}
	fsrv.Start()
	t.Cleanup(fsrv.Close)
	sh := newShop(t)
	loadCaddy(t, fakeSite(t, 9080, fsrv.URL, sh.srv.URL, fmt.Sprintf("outbox off\nstorage_path %s", filepath.Join(t.TempDir(), "state.db"))))
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: concurrency}}
	t.Cleanup(client.CloseIdleConnections)
	for round := range rounds {
		var wg sync.WaitGroup
		codes := make(chan string, concurrency)
		for i := range concurrency {
			wg.Add(1)
			go func() {
				defer wg.Done()
				body, _ := json.Marshal(fakePayment(fmt.Sprintf("ORD-POOL-%d-%d", round, i), 1000))
				req, _ := http.NewRequest(http.MethodPost, gwBase+"/payments", bytes.NewReader(body))
				req.Header.Set("Authorization", "Bearer "+testToken)
				req.Header.Set("Content-Type", "application/json")
				resp, err := client.Do(req)
				if err != nil {
					codes <- err.Error()
					return
				}
				raw, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusCreated {
					codes <- fmt.Sprintf("%d %s", resp.StatusCode, raw)
				}
			}()
		}
		wg.Wait()
		close(codes)
		for c := range codes {
			t.Fatalf("create: %s", c)
		}
	}
	if n := dials.Load(); n > concurrency {
		t.Fatalf("the gateway opened %d connections to the provider for %d rounds of %d concurrent creates; want at most %d",
			n, rounds, concurrency, concurrency)
	}
}
