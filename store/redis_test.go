package store_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/caddy-payments/caddy-payments/internal/redistest"
	"github.com/caddy-payments/caddy-payments/providers"
	"github.com/caddy-payments/caddy-payments/store"
	"github.com/caddy-payments/caddy-payments/store/storetest"
)

// Credentials of the ACL user the test server is started with; the
// default user has no password, so the other tests connect without one.
const (
	testRedisUser     = "gateway"
	testRedisPassword = "s3cret-do-not-leak"
)

// testRedis is the one redis-server of this test binary, started on first
// use (with an ACL user; the default user has no password) and stopped by
// TestMain.
var testRedis struct {
	once sync.Once
	srv  *redistest.Server
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if testRedis.srv != nil {
		testRedis.srv.Stop()
	}
	if testCluster.c != nil {
		testCluster.c.Stop()
	}
	stopTestPostgres() // postgres_test.go
	os.Exit(code)
}

// redisAddr returns the address of the test server, starting it the first
// time. A missing redis-server skips the test, or fails it under CI.
func redisAddr(t *testing.T) string {
	t.Helper()
	testRedis.once.Do(func() {
		testRedis.srv, testRedis.err = redistest.Start(
			"--user", testRedisUser, "on", ">"+testRedisPassword, "~*", "&*", "+@all")
	})
	switch {
	case errors.Is(testRedis.err, redistest.ErrNotInstalled) && !redistest.Required():
		t.Skip(testRedis.err)
	case testRedis.err != nil:
		t.Fatalf("starting redis-server: %v", testRedis.err)
	}
	return testRedis.srv.Addr
}

var prefixSeq atomic.Int64

// freshPrefix gives each test its own key space, so each store is empty.
func freshPrefix(t *testing.T) string {
	return fmt.Sprintf("test%d:%s:", prefixSeq.Add(1), t.Name())
}

// openRedis opens a pooled store with a fresh key prefix.
func openRedis(t *testing.T) (*store.Redis, store.RedisOptions) {
	t.Helper()
	opts := store.RedisOptions{Addr: redisAddr(t), KeyPrefix: freshPrefix(t)}
	r, err := store.OpenRedis(opts)
	if err != nil {
		t.Fatalf("OpenRedis: %v", err)
	}
	t.Cleanup(func() { _ = r.Close() })
	return r, opts
}

// rawClient is a plain client for looking at the keys the store wrote.
func rawClient(t *testing.T) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: redisAddr(t), Protocol: 2})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// twoInstances opens two stores on separate clients and one key prefix,
// as two Caddy processes sharing a Redis would.
func twoInstances(t *testing.T) (*store.Redis, *store.Redis) {
	t.Helper()
	opts := store.RedisOptions{Addr: redisAddr(t), KeyPrefix: freshPrefix(t)}
	var out [2]*store.Redis
	for i := range out {
		r, closeFn, err := store.OpenRedisUnshared(opts)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(closeFn)
		out[i] = r
	}
	if store.RedisSameClient(out[0], out[1]) {
		t.Fatal("the two instances share a client")
	}
	return out[0], out[1]
}

func TestRedisSuite(t *testing.T) {
	redisAddr(t) // skip (or fail) once, not in every sub-test
	storetest.Run(t, func(t *testing.T) store.Store {
		r, _ := openRedis(t)
		return r
	})
}

// TestRedisLuaTransitionsMatchGo compares the Lua copy of the status rules
// with providers/status.go for every pair of statuses, plus an empty and
// an unknown one on either side.
func TestRedisLuaTransitionsMatchGo(t *testing.T) {
	r, _ := openRedis(t)
	ctx := context.Background()
	payment := []string{"", "bogus"}
	for _, s := range []providers.Status{providers.StatusRequiresAction, providers.StatusProcessing, providers.StatusAuthorized,
		providers.StatusSucceeded, providers.StatusFailed, providers.StatusCancelled, providers.StatusExpired, providers.StatusUnknown} {
		payment = append(payment, string(s))
	}
	refund := []string{"", "bogus", providers.RefundPending, providers.RefundSucceeded, providers.RefundFailed}
	payout := []string{"", "bogus", providers.PayoutPending, providers.PayoutProcessing, providers.PayoutSucceeded,
		providers.PayoutFailed, providers.PayoutReversed}

	checked, allowed := 0, 0
	check := func(kind, from, to string, confirmed, want bool) {
		t.Helper()
		got, err := store.RedisCanTransition(ctx, r, kind, from, to, confirmed)
		if err != nil {
			t.Fatalf("%s %q→%q: %v", kind, from, to, err)
		}
		if got != want {
			t.Errorf("%s %q→%q (confirmed=%v): Lua says %v, Go says %v", kind, from, to, confirmed, got, want)
		}
		checked++
		if want {
			allowed++
		}
	}
	for _, from := range payment {
		for _, to := range payment {
			for _, confirmed := range []bool{false, true} {
				check("payment", from, to, confirmed, providers.CanTransition(providers.Status(from), providers.Status(to), confirmed))
			}
		}
	}
	for _, from := range refund {
		for _, to := range refund {
			check("refund", from, to, false, providers.CanTransitionRefund(from, to))
		}
	}
	for _, from := range payout {
		for _, to := range payout {
			check("payout", from, to, false, providers.CanTransitionPayout(from, to))
		}
	}
	// Guard against a vacuous comparison (both sides always false).
	if checked != 2*len(payment)*len(payment)+len(refund)*len(refund)+len(payout)*len(payout) || allowed < 30 {
		t.Fatalf("checked %d pairs, %d allowed: the lists above are wrong", checked, allowed)
	}
}

// TestRedisRefundCapAcrossInstances races ReserveRefund from two
// instances on one payment: the cap holds.
func TestRedisRefundCapAcrossInstances(t *testing.T) {
	a, b := twoInstances(t)
	ctx := context.Background()
	if _, err := a.PutPayment(ctx, storetest.Payment("p1", 1999)); err != nil {
		t.Fatal(err)
	}
	const perInstance = 30
	var wg sync.WaitGroup
	var ok, exceeded atomic.Int32
	errs := make(chan error, 2*perInstance)
	for i := range 2 * perInstance {
		s := a
		if i%2 == 1 {
			s = b
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := s.ReserveRefund(ctx, "p1", "k"+strconv.Itoa(i), 100)
			switch {
			case err == nil:
				ok.Add(1)
			case errors.Is(err, store.ErrRefundExceeds):
				exceeded.Add(1)
			default:
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("unexpected error: %v", err)
	}
	if ok.Load() != 19 || exceeded.Load() != 2*perInstance-19 {
		t.Fatalf("%d reservations succeeded, %d exceeded; want 19 and %d", ok.Load(), exceeded.Load(), 2*perInstance-19)
	}
	for _, s := range []*store.Redis{a, b} {
		rec, err := s.GetPayment(ctx, "p1")
		if err != nil {
			t.Fatal(err)
		}
		if rec.AmountRefunded != 1900 || len(rec.Refunds) != 19 {
			t.Fatalf("stored: refunded %d in %d reservations, want 1900 in 19", rec.AmountRefunded, len(rec.Refunds))
		}
	}
}

// TestRedisClaimAcrossInstances has two instances claim a queue dry:
// every entry is handed out exactly once.
func TestRedisClaimAcrossInstances(t *testing.T) {
	a, b := twoInstances(t)
	ctx := context.Background()
	now := time.Now().UTC()
	const n = 60
	for i := range n {
		e := &store.OutboxEntry{EventID: fmt.Sprintf("evt_%02d", i), Body: []byte(`{}`), NextAt: now.Add(-time.Duration(i) * time.Millisecond)}
		if _, err := a.EnqueueEvent(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	var mu sync.Mutex
	seen := map[string]int{}
	var wg sync.WaitGroup
	for w := range 8 {
		s := a
		if w%2 == 1 {
			s = b
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Bounded, so a broken lease fails the test instead of hanging it.
			for range n {
				got, err := s.ClaimDueEvents(ctx, now, 4, time.Hour)
				if err != nil {
					t.Error(err)
					return
				}
				if len(got) == 0 {
					return
				}
				mu.Lock()
				for _, e := range got {
					seen[e.EventID]++
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(seen) != n {
		t.Fatalf("%d of %d entries claimed", len(seen), n)
	}
	for id, c := range seen {
		if c != 1 {
			t.Fatalf("%s claimed %d times", id, c)
		}
	}
	// Leased, not removed: still queued, and due again once the lease ends.
	if d, err := b.OutboxDepth(ctx); err != nil || d != n {
		t.Fatalf("depth = %d, %v; want %d", d, err, n)
	}
	if got, err := b.ClaimDueEvents(ctx, now.Add(time.Hour), n, time.Hour); err != nil || len(got) != n {
		t.Fatalf("after the lease: %d entries, %v; want %d", len(got), err, n)
	}
}

// TestRedisAmountsAtTheLimit pushes amounts with more than 14 significant
// digits through the Lua scripts (where cjson.encode would have printed
// 1e+15) and refuses amounts a double cannot hold.
func TestRedisAmountsAtTheLimit(t *testing.T) {
	r, opts := openRedis(t)
	ctx := context.Background()
	max := store.RedisMaxAmount
	if _, err := r.PutPayment(ctx, storetest.Payment("big", max)); err != nil {
		t.Fatal(err)
	}
	rec, err := r.ReserveRefund(ctx, "big", "k1", max-1)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Amount != max || rec.Refunds["k1"] != max-1 || rec.AmountRefunded != max-1 {
		t.Fatalf("after reserving %d: %+v", max-1, rec)
	}
	if _, err := r.ReserveRefund(ctx, "big", "k2", 2); !errors.Is(err, store.ErrRefundExceeds) {
		t.Fatalf("one unit over: err = %v, want ErrRefundExceeds", err)
	}
	rec, err = r.ReserveRefund(ctx, "big", "k2", 1)
	if err != nil || rec.AmountRefunded != max {
		t.Fatalf("last unit: %+v, %v", rec, err)
	}
	rec, _, err = r.ApplyPaymentStatus(ctx, "big", providers.StatusSucceeded, false, store.StatusChange{Source: "fetch"})
	if err != nil || rec.Amount != max || rec.AmountRefunded != max {
		t.Fatalf("after a status change: %+v, %v", rec, err)
	}
	rec, err = r.ReleaseRefund(ctx, "big", "k2")
	if err != nil || rec.AmountRefunded != max-1 || rec.Refunds["k1"] != max-1 {
		t.Fatalf("after release: %+v, %v", rec, err)
	}
	// The stored JSON itself has plain integers.
	raw, err := rawClient(t).Get(ctx, opts.KeyPrefix+"payment:big").Result()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(raw, `"amount":`+strconv.FormatInt(max, 10)) || strings.Contains(raw, "e+") {
		t.Fatalf("stored JSON %s", raw)
	}

	for _, tc := range []struct {
		name string
		err  error
	}{
		{"payment", func() error { _, err := r.PutPayment(ctx, storetest.Payment("huge", max+1)); return err }()},
		{"refund", r.PutRefund(ctx, &store.RefundRecord{ID: "r", Amount: max + 1})},
		{"payout", func() error { _, err := r.PutPayout(ctx, &store.PayoutRecord{ID: "po", Amount: max + 1}); return err }()},
	} {
		if tc.err == nil || !strings.Contains(tc.err.Error(), "amount") {
			t.Errorf("%s above 2^53-1: err = %v, want an amount error", tc.name, tc.err)
		}
	}
	if _, err := r.GetPayment(ctx, "huge"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("refused payment stored: %v", err)
	}
}

// TestRedisKeyLayout checks the documented keys, their types and expiries,
// and that records are Bolt's JSON.
func TestRedisKeyLayout(t *testing.T) {
	ctx := context.Background()
	opts := store.RedisOptions{Addr: redisAddr(t), KeyPrefix: freshPrefix(t)}
	r, err := store.OpenRedis(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	c := rawClient(t)
	p := opts.KeyPrefix

	pay := storetest.Payment("p1", 1000)
	if _, err := r.PutPayment(ctx, pay); err != nil {
		t.Fatal(err)
	}
	if _, err := r.ReserveRefund(ctx, "p1", "k1", 250); err != nil {
		t.Fatal(err)
	}
	raw, err := c.Get(ctx, p+"payment:p1").Result()
	if err != nil {
		t.Fatal(err)
	}
	var stored store.PaymentRecord
	if err := json.Unmarshal([]byte(raw), &stored); err != nil {
		t.Fatalf("stored payment is not PaymentRecord JSON: %v\n%s", err, raw)
	}
	pay.Refunds, pay.AmountRefunded = map[string]int64{"k1": 250}, 250
	want, _ := json.Marshal(pay)
	got, _ := json.Marshal(&stored)
	if string(got) != string(want) {
		t.Fatalf("stored payment:\n got  %s\n want %s", got, want)
	}
	if ttl := c.TTL(ctx, p+"payment:p1").Val(); ttl != -1 {
		t.Fatalf("payment TTL %v, want none", ttl)
	}

	if err := r.MarkDelivered(ctx, "evt_1"); err != nil {
		t.Fatal(err)
	}
	if ttl := c.TTL(ctx, p+"delivered:evt_1").Val(); ttl < store.RedisDeliveredTTL-time.Minute || ttl > store.RedisDeliveredTTL {
		t.Fatalf("delivered TTL %v, want %v", ttl, store.RedisDeliveredTTL)
	}
	if _, _, err := r.BeginIdempotent(ctx, "ik", "fp", time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := r.FinishIdempotent(ctx, "ik", 201, "application/json", []byte(`{"a":1}`)); err != nil {
		t.Fatal(err)
	}
	if ttl := c.PTTL(ctx, p+"idem:ik").Val(); ttl <= 59*time.Minute || ttl > time.Hour {
		t.Fatalf("idempotency TTL %v after finish, want about an hour", ttl)
	}
	if err := r.PutOnce(ctx, "tok", []byte("v"), time.Minute); err != nil {
		t.Fatal(err)
	}
	if ttl := c.PTTL(ctx, p+"once:tok").Val(); ttl <= 59*time.Second || ttl > time.Minute {
		t.Fatalf("once TTL %v", ttl)
	}
	next := time.Date(2030, 1, 2, 3, 4, 5, 123456000, time.UTC)
	if _, err := r.EnqueueEvent(ctx, &store.OutboxEntry{EventID: "evt_2", NextAt: next}); err != nil {
		t.Fatal(err)
	}
	if typ := c.Type(ctx, p+"outbox").Val(); typ != "hash" {
		t.Fatalf("outbox is a %s", typ)
	}
	if sc := c.ZScore(ctx, p+"outbox:due", "evt_2").Val(); int64(sc) != next.UnixMicro() {
		t.Fatalf("outbox score %v, want %d", sc, next.UnixMicro())
	}
	if err := r.RescheduleEvent(ctx, "evt_2", 3, next.Add(time.Second), "503"); err != nil {
		t.Fatal(err)
	}
	var e store.OutboxEntry
	if err := json.Unmarshal([]byte(c.HGet(ctx, p+"outbox", "evt_2").Val()), &e); err != nil {
		t.Fatal(err)
	}
	if e.Attempts != 3 || !e.NextAt.Equal(next.Add(time.Second)) || e.LastError != "503" || e.Body != nil {
		t.Fatalf("rescheduled entry %+v", e)
	}
	if err := r.RescheduleEvent(ctx, "evt_2", 4, next, ""); err != nil {
		t.Fatal(err)
	}
	if raw := c.HGet(ctx, p+"outbox", "evt_2").Val(); strings.Contains(raw, "last_error") {
		t.Fatalf("an empty last_error was kept: %s", raw)
	}
	// Nothing outside the prefix.
	if keys := c.Keys(ctx, "*").Val(); len(keys) == 0 {
		t.Fatal("no keys")
	} else {
		for _, k := range keys {
			if strings.HasPrefix(k, "test") && strings.Contains(k, t.Name()) && !strings.HasPrefix(k, p) {
				t.Fatalf("key %q outside prefix %q", k, p)
			}
		}
	}
}

// TestRedisReconcileQueue is TestBoltReconcileQueue on Redis.
func TestRedisReconcileQueue(t *testing.T) {
	r, _ := openRedis(t)
	ctx := context.Background()
	now := time.Now().UTC()
	for i, id := range []string{"pay_a", "pay_b"} {
		if err := r.ScheduleCheck(ctx, &store.ReconcileCheck{ID: id, Provider: "fake", NextAt: now.Add(time.Duration(i) * time.Hour)}); err != nil {
			t.Fatal(err)
		}
	}
	got, err := r.ClaimDueChecks(ctx, now, 10, time.Minute)
	if err != nil || len(got) != 1 || got[0].ID != "pay_a" {
		t.Fatalf("claim = %+v, %v", got, err)
	}
	if again, _ := r.ClaimDueChecks(ctx, now.Add(time.Second), 10, time.Minute); len(again) != 0 {
		t.Fatal("a leased check was claimed twice")
	}
	got[0].Attempts, got[0].NextAt = 1, now.Add(2*time.Minute)
	if err := r.ScheduleCheck(ctx, got[0]); err != nil {
		t.Fatal(err)
	}
	if due, _ := r.ClaimDueChecks(ctx, now.Add(3*time.Minute), 10, time.Minute); len(due) != 1 || due[0].Attempts != 1 {
		t.Fatalf("rescheduled check: %+v", due)
	}
	if err := r.DoneCheck(ctx, "pay_a"); err != nil {
		t.Fatal(err)
	}
	if due, _ := r.ClaimDueChecks(ctx, now.Add(48*time.Hour), 10, time.Minute); len(due) != 1 || due[0].ID != "pay_b" {
		t.Fatalf("after done: %+v", due)
	}
	if err := r.ScheduleCheck(ctx, &store.ReconcileCheck{}); err == nil {
		t.Fatal("a check without payment id was accepted")
	}
}

// TestRedisSharedClient checks the pool: equal options share one client
// across opens (a config reload), closing one handle leaves the other
// working, and a closed handle refuses work.
func TestRedisSharedClient(t *testing.T) {
	ctx := context.Background()
	opts := store.RedisOptions{Addr: redisAddr(t), KeyPrefix: freshPrefix(t)}
	a, err := store.OpenRedis(opts)
	if err != nil {
		t.Fatal(err)
	}
	b, err := store.OpenRedis(opts)
	if err != nil {
		t.Fatal(err)
	}
	if !store.RedisSameClient(a, b) {
		t.Fatal("equal options did not share a client")
	}
	other := opts
	other.Username, other.Password = testRedisUser, testRedisPassword
	c, err := store.OpenRedis(other)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if store.RedisSameClient(a, c) {
		t.Fatal("different credentials shared a client")
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if err := a.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := a.GetPayment(ctx, "x"); !errors.Is(err, store.ErrClosed) {
		t.Fatalf("closed handle: err = %v, want ErrClosed", err)
	}
	if _, err := b.GetPayment(ctx, "x"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("the other handle after one Close: err = %v, want ErrNotFound", err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	// The last Close closed the client; a new open gets a working one.
	d, err := store.OpenRedis(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if store.RedisSameClient(b, d) {
		t.Fatal("a closed client was handed out again")
	}
	if _, err := d.GetPayment(ctx, "x"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("reopened: err = %v", err)
	}
}

// TestRedisOpenErrors: a wrong password or an unreachable server fails
// Open with an error naming the address and never the password.
func TestRedisOpenErrors(t *testing.T) {
	addr := redisAddr(t)
	if _, err := store.OpenRedis(store.RedisOptions{}); err == nil || !strings.Contains(err.Error(), "addr") {
		t.Fatalf("empty addr: err = %v", err)
	}
	if _, err := store.OpenRedis(store.RedisOptions{Addr: addr, DB: -1}); err == nil {
		t.Fatal("negative db accepted")
	}
	good, err := store.OpenRedis(store.RedisOptions{Addr: addr, Username: testRedisUser, Password: testRedisPassword})
	if err != nil {
		t.Fatalf("right password: %v", err)
	}
	good.Close()

	wrong := "wrong-" + testRedisPassword
	_, err = store.OpenRedis(store.RedisOptions{Addr: addr, Username: testRedisUser, Password: wrong})
	if err == nil {
		t.Fatal("wrong password accepted")
	}
	t.Logf("wrong password: %v", err)
	if !strings.Contains(err.Error(), addr) || strings.Contains(err.Error(), testRedisPassword) {
		t.Fatalf("wrong password: error %q must name %s and not the password", err, addr)
	}

	port, err := redistest.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	dead := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	_, err = store.OpenRedis(store.RedisOptions{Addr: dead, Password: testRedisPassword, DialTimeout: time.Second})
	t.Logf("unreachable: %v", err)
	if err == nil || !strings.Contains(err.Error(), dead) || strings.Contains(err.Error(), testRedisPassword) {
		t.Fatalf("unreachable server: err = %v", err)
	}
}

// TestRedisLuaKeepsStrings: records rewritten by a script (decoded by
// cjson, encoded by the scripts' own encoder) keep every string and byte
// exactly, including non-ASCII text, escapes and HTML-ish characters.
func TestRedisLuaKeepsStrings(t *testing.T) {
	r, _ := openRedis(t)
	ctx := context.Background()
	odd := "Bestellung für 5 € <b>&</b> \"quoted\" back\\slash /path\ttab\u2028日本 \x01"
	p := storetest.Payment("p1", 1000)
	p.Reference, p.ProviderMessage, p.ReturnURL = odd, odd, "https://shop.example/r?a=1&b=</script>"
	if _, err := r.PutPayment(ctx, p); err != nil {
		t.Fatal(err)
	}
	change := store.StatusChange{At: time.Date(2025, 1, 2, 3, 4, 5, 6, time.UTC), Source: "notification", ProviderStatus: odd}
	rec, changed, err := r.ApplyPaymentStatus(ctx, "p1", providers.StatusSucceeded, false, change)
	if err != nil || !changed {
		t.Fatalf("changed=%v err=%v", changed, err)
	}
	want := storetest.Payment("p1", 1000)
	want.Reference, want.ProviderMessage, want.ReturnURL = odd, odd, p.ReturnURL
	want.Status, want.ProviderStatus = providers.StatusSucceeded, odd
	change.Status = string(providers.StatusSucceeded)
	want.History = append(want.History, change)
	for _, got := range []*store.PaymentRecord{rec, func() *store.PaymentRecord { g, _ := r.GetPayment(ctx, "p1"); return g }()} {
		g, _ := json.Marshal(got)
		w, _ := json.Marshal(want)
		if string(g) != string(w) {
			t.Fatalf("after a script rewrote it:\n got  %s\n want %s", g, w)
		}
	}

	body := []byte{0, 1, 2, 0xff, '"', '\\', 'x'}
	if _, err := r.EnqueueEvent(ctx, &store.OutboxEntry{EventID: "e", Body: body, Host: odd, NextAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if err := r.RescheduleEvent(ctx, "e", 2, time.Now().Add(-time.Second), odd); err != nil {
		t.Fatal(err)
	}
	got, err := r.ClaimDueEvents(ctx, time.Now(), 1, time.Minute)
	if err != nil || len(got) != 1 {
		t.Fatalf("claim: %v, %v", got, err)
	}
	if !bytes.Equal(got[0].Body, body) || got[0].Host != odd || got[0].LastError != odd || got[0].Attempts != 2 {
		t.Fatalf("entry after reschedule: %+v", got[0])
	}
}

// TestRedisReadsOldChecksAndKeepsObjectChecksApart: a check an earlier
// version stored (P reconcile, P reconcile:due) is claimed as it is, and
// refund and payout checks go to P reconcile:objects, so an earlier
// version sharing the Redis during a rolling upgrade never claims them
// (it would end them as payments it cannot decode).
func TestRedisReadsOldChecksAndKeepsObjectChecksApart(t *testing.T) {
	r, opts := openRedis(t)
	c := rawClient(t)
	p := opts.KeyPrefix
	ctx := context.Background()
	due := time.Date(2025, 3, 14, 9, 0, 0, 0, time.UTC)
	c.HSet(ctx, p+"reconcile", "pay_old", oldCheck)
	c.ZAdd(ctx, p+"reconcile:due", redis.Z{Score: float64(due.UnixMicro()), Member: "pay_old"})
	now := due.Add(time.Hour)
	got, err := r.ClaimDueChecks(ctx, now, 10, time.Minute)
	if err != nil || len(got) != 1 {
		t.Fatalf("claim = %+v, %v", got, err)
	}
	if ck := got[0]; ck.ID != "pay_old" || ck.Attempts != 2 || ck.Server != "srv0" || ck.Path != "/pay/notifications/fake" {
		t.Fatalf("old check read as %+v", ck)
	}
	for _, id := range []string{"re_new", "po_new"} {
		if err := r.ScheduleCheck(ctx, &store.ReconcileCheck{ID: id, Provider: "fake", NextAt: now}); err != nil {
			t.Fatal(err)
		}
	}
	if old := c.HKeys(ctx, p+"reconcile").Val(); len(old) != 1 || old[0] != "pay_old" {
		t.Fatalf("P reconcile holds %v; only payment checks belong there", old)
	}
	if n := c.ZCard(ctx, p+"reconcile:objects:due").Val(); n != 2 || c.HLen(ctx, p+"reconcile:objects").Val() != 2 {
		t.Fatalf("P reconcile:objects:due holds %d checks, want 2", n)
	}
	if err := r.DoneCheck(ctx, "re_new"); err != nil {
		t.Fatal(err)
	}
	if n := c.HLen(ctx, p+"reconcile:objects").Val(); n != 1 || c.ZCard(ctx, p+"reconcile:objects:due").Val() != 1 {
		t.Fatalf("after done: %d object checks", n)
	}
}
