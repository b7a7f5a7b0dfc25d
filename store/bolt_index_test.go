package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/caddy-payments/caddy-payments/providers"
)

func openInternal(t *testing.T, path string) *Bolt {
	t.Helper()
	b, err := OpenBolt(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

// lastTx is the id of the file's last committed transaction.
func lastTx(t *testing.T, b *Bolt) int {
	t.Helper()
	var id int
	if err := b.db.View(func(tx *bolt.Tx) error { id = tx.ID(); return nil }); err != nil {
		t.Fatal(err)
	}
	return id
}

// TestBoltIdleClaimWritesNothing: polling queues with nothing due commits
// no transaction (the old claim committed one per poll, with an fsync),
// and claims open not even a read-only one.
func TestBoltIdleClaimWritesNothing(t *testing.T) {
	ctx := context.Background()
	b := openInternal(t, filepath.Join(t.TempDir(), "state.db"))
	now := time.Now().UTC()
	later := now.Add(time.Hour)
	if _, err := b.EnqueueEvent(ctx, &OutboxEntry{EventID: "evt_1", NextAt: later}); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"pay_1", "re_1"} {
		if err := b.ScheduleCheck(ctx, &ReconcileCheck{ID: id, NextAt: later}); err != nil {
			t.Fatal(err)
		}
	}
	before := lastTx(t, b)
	reads := b.db.Stats().TxN
	for range 3 {
		if got, err := b.ClaimDueEvents(ctx, now, 10, time.Minute); err != nil || len(got) != 0 {
			t.Fatalf("events = %v, %v", got, err)
		}
		if got, err := b.ClaimDueChecks(ctx, now, 10, time.Minute); err != nil || len(got) != 0 {
			t.Fatalf("checks = %v, %v", got, err)
		}
	}
	if n := b.db.Stats().TxN - reads; n != 0 {
		t.Fatalf("idle claims opened %d read transactions, want none", n)
	}
	for range 3 {
		if got, err := b.ClaimDueEvents(ctx, now, 10, time.Minute); err != nil || len(got) != 0 {
			t.Fatalf("events = %v, %v", got, err)
		}
		if got, err := b.ClaimDueChecks(ctx, now, 10, time.Minute); err != nil || len(got) != 0 {
			t.Fatalf("checks = %v, %v", got, err)
		}
		if _, err := b.OutboxDepth(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if after := lastTx(t, b); after != before {
		t.Fatalf("idle polls committed %d transactions", after-before)
	}
	// When something is due, one transaction claims it.
	got, err := b.ClaimDueChecks(ctx, later, 10, time.Minute)
	if err != nil || len(got) != 2 || got[0].ID != "pay_1" || got[1].ID != "re_1" {
		t.Fatalf("due checks = %+v, %v", got, err)
	}
	if after := lastTx(t, b); after != before+1 {
		t.Fatalf("claiming took %d transactions, want 1", after-before)
	}
}

// TestBoltClaimReadsOnlyDueRecords: a claim reads the records that are due
// and no others. The entry not due here cannot even be decoded; a claim
// that walked the queue (as before the index) fails on it.
func TestBoltClaimReadsOnlyDueRecords(t *testing.T) {
	ctx := context.Background()
	b := openInternal(t, filepath.Join(t.TempDir(), "state.db"))
	now := time.Now().UTC()
	if _, err := b.EnqueueEvent(ctx, &OutboxEntry{EventID: "evt_z_due", NextAt: now}); err != nil {
		t.Fatal(err)
	}
	// evt_a_later sorts before evt_z_due by id, after it by due time.
	err := b.update(ctx, func(tx *bolt.Tx) error {
		if err := tx.Bucket(bucketOutbox).Put([]byte("evt_a_later"), []byte("not JSON")); err != nil {
			return err
		}
		return tx.Bucket(bucketOutboxDue).Put(dueKey(now.Add(time.Hour), []byte("evt_a_later")), nil)
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err := b.ClaimDueEvents(ctx, now, 10, time.Minute)
	if err != nil || len(got) != 1 || got[0].EventID != "evt_z_due" {
		t.Fatalf("claim = %+v, %v", got, err)
	}
}

// oldRelease writes a file the way the release before the due indexes
// did: the queue buckets only, no index, no meta bucket.
func oldRelease(t *testing.T, path string, fn func(tx *bolt.Tx) error) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, name := range [][]byte{bucketPayments, bucketRefunds, bucketPayouts, bucketDelivered, bucketOnce, bucketIdem, bucketOutbox, bucketReconcile, bucketReconcileObjects, bucketAnnounced} {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return err
			}
		}
		return fn(tx)
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
}

func putJSON(tx *bolt.Tx, bucket []byte, id string, v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return tx.Bucket(bucket).Put([]byte(id), raw)
}

// TestBoltUpgradeBuildsDueIndexes opens a file written by the release
// before the indexes: its queued events and checks are claimed when due,
// and the outbox depth is right.
func TestBoltUpgradeBuildsDueIndexes(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "state.db")
	now := time.Now().UTC()
	oldRelease(t, path, func(tx *bolt.Tx) error {
		for i, at := range []time.Time{now.Add(-time.Minute), now.Add(time.Hour), now.Add(-time.Second)} {
			id := fmt.Sprintf("evt_%d", i)
			if err := putJSON(tx, bucketOutbox, id, &OutboxEntry{EventID: id, Body: []byte(`{}`), NextAt: at}); err != nil {
				return err
			}
		}
		for _, c := range []*ReconcileCheck{
			{ID: "pay_due", NextAt: now.Add(-time.Minute)}, {ID: "pay_later", NextAt: now.Add(time.Hour)},
			{ID: "re_due", NextAt: now}, {ID: "po_later", NextAt: now.Add(2 * time.Hour)},
		} {
			if err := putJSON(tx, checkBucket(c.ID), c.ID, c); err != nil {
				return err
			}
		}
		return nil
	})
	b := openInternal(t, path)
	if err := CheckDueIndexes(b); err != nil {
		t.Fatal(err)
	}
	if n, err := b.OutboxDepth(ctx); err != nil || n != 3 {
		t.Fatalf("depth = %d, %v; want 3", n, err)
	}
	evs, err := b.ClaimDueEvents(ctx, now, 10, time.Minute)
	if err != nil || len(evs) != 2 || evs[0].EventID != "evt_0" || evs[1].EventID != "evt_2" {
		t.Fatalf("due events = %+v, %v", evs, err)
	}
	cs, err := b.ClaimDueChecks(ctx, now, 10, time.Minute)
	if err != nil || len(cs) != 2 || cs[0].ID != "pay_due" || cs[1].ID != "re_due" {
		t.Fatalf("due checks = %+v, %v", cs, err)
	}
	cs, err = b.ClaimDueChecks(ctx, now.Add(3*time.Hour), 10, time.Minute)
	if err != nil || len(cs) != 4 {
		t.Fatalf("checks after three hours = %+v, %v", cs, err)
	}
	if err := CheckDueIndexes(b); err != nil {
		t.Fatal(err)
	}
}

// TestBoltForeignWriteRebuildsDueIndexes: a file written by this release,
// then by one that does not keep the indexes (a downgrade and back), has
// its indexes rebuilt on open, so an event queued meanwhile is delivered
// and one removed meanwhile is not claimed.
func TestBoltForeignWriteRebuildsDueIndexes(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "state.db")
	now := time.Now().UTC()
	b, err := OpenBolt(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"evt_kept", "evt_removed"} {
		if _, err := b.EnqueueEvent(ctx, &OutboxEntry{EventID: id, NextAt: now}); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	oldRelease(t, path, func(tx *bolt.Tx) error {
		if err := tx.Bucket(bucketOutbox).Delete([]byte("evt_removed")); err != nil {
			return err
		}
		return putJSON(tx, bucketOutbox, "evt_added", &OutboxEntry{EventID: "evt_added", NextAt: now})
	})
	b = openInternal(t, path)
	if err := CheckDueIndexes(b); err != nil {
		t.Fatal(err)
	}
	evs, err := b.ClaimDueEvents(ctx, now, 10, time.Minute)
	if err != nil || len(evs) != 2 || evs[0].EventID != "evt_added" || evs[1].EventID != "evt_kept" {
		t.Fatalf("due events = %+v, %v", evs, err)
	}
	if n, err := b.OutboxDepth(ctx); err != nil || n != 2 {
		t.Fatalf("depth = %d, %v; want 2", n, err)
	}
}

// holdCommits makes the committer of b wait, before its next transaction,
// until release is called (at the latest when the test ends); held is
// closed once the committer waits. queued reports how many write
// functions are queued.
func holdCommits(t *testing.T, b *Bolt) (held chan struct{}, release func(), queued func() int) {
	t.Helper()
	held = make(chan struct{})
	gate := make(chan struct{})
	var once, releaseOnce sync.Once
	b.w.beforeTx = func() {
		once.Do(func() {
			close(held)
			<-gate
		})
	}
	release = func() { releaseOnce.Do(func() { close(gate) }) }
	t.Cleanup(release)
	return held, release, func() int {
		b.w.mu.Lock()
		defer b.w.mu.Unlock()
		return len(b.w.queue)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestBoltGroupCommit: writers that arrive while a transaction is being
// committed share the next one, and none of them returns before that
// transaction is committed.
func TestBoltGroupCommit(t *testing.T) {
	ctx := context.Background()
	b := openInternal(t, filepath.Join(t.TempDir(), "state.db"))
	held, release, queued := holdCommits(t, b)
	commits0 := b.w.commits.Load()

	const writers = 20
	var returned atomic.Int32
	var wg sync.WaitGroup
	errs := make(chan error, writers+1)
	start := func(i int) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer returned.Add(1)
			id := fmt.Sprintf("pay_%d", i)
			if _, err := b.PutPayment(ctx, &PaymentRecord{ID: id, Amount: 100, Currency: "EUR", Status: providers.StatusProcessing}); err != nil {
				errs <- err
			}
		}()
	}
	// The first writer's transaction is held; the others queue behind it.
	start(0)
	<-held
	for i := 1; i <= writers; i++ {
		start(i)
	}
	waitFor(t, "the writers to queue", func() bool { return queued() == writers })
	time.Sleep(20 * time.Millisecond)
	if n := returned.Load(); n != 0 {
		t.Fatalf("%d writers returned before their transaction was committed", n)
	}
	release()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if n := b.w.commits.Load() - commits0; n != 2 {
		t.Fatalf("%d writes took %d commits, want 2", writers+1, n)
	}
	for i := 0; i <= writers; i++ {
		if _, err := b.GetPayment(ctx, fmt.Sprintf("pay_%d", i)); err != nil {
			t.Fatal(err)
		}
	}
}

// TestBoltGroupCommitIsolatesFailures: in a shared transaction, a write
// that fails after writing part of its change (here the announcement, then
// a key bbolt refuses) and a write that panics leave nothing behind and
// take none of the others down; a refusal ("not found") is answered
// without rolling the others back.
func TestBoltGroupCommitIsolatesFailures(t *testing.T) {
	ctx := context.Background()
	b := openInternal(t, filepath.Join(t.TempDir(), "state.db"))
	now := time.Now().UTC()
	held, release, queued := holdCommits(t, b)
	// Hold the committer with a first write.
	first := make(chan error, 1)
	go func() { first <- b.MarkDelivered(ctx, "evt_first") }()
	<-held

	type result struct {
		name string
		err  error
		pan  any
	}
	results := make(chan result, 5)
	run := func(name string, fn func() error) {
		go func() {
			defer func() {
				if v := recover(); v != nil {
					results <- result{name: name, pan: v}
				}
			}()
			results <- result{name: name, err: fn()}
		}()
	}
	run("good payment", func() error {
		_, err := b.PutPayment(ctx, &PaymentRecord{ID: "pay_ok", Amount: 100, Currency: "EUR", Status: providers.StatusProcessing})
		return err
	})
	waitFor(t, "queue", func() bool { return queued() == 1 })
	run("too long", func() error {
		_, err := b.EnqueueEvent(ctx, &OutboxEntry{EventID: strings.Repeat("x", bolt.MaxKeySize+1), Announce: "pay_1|payment.succeeded", NextAt: now})
		return err
	})
	waitFor(t, "queue", func() bool { return queued() == 2 })
	run("panics", func() error {
		return b.update(ctx, func(tx *bolt.Tx) error {
			if err := tx.Bucket(bucketOnce).Put([]byte("left_behind"), []byte("x")); err != nil {
				return err
			}
			panic("boom")
		})
	})
	waitFor(t, "queue", func() bool { return queued() == 3 })
	run("not found", func() error {
		_, _, err := b.ApplyPaymentStatus(ctx, "pay_missing", providers.StatusSucceeded, true, StatusChange{})
		return err
	})
	waitFor(t, "queue", func() bool { return queued() == 4 })
	run("good event", func() error {
		_, err := b.EnqueueEvent(ctx, &OutboxEntry{EventID: "evt_ok", NextAt: now})
		return err
	})
	waitFor(t, "queue", func() bool { return queued() == 5 })
	release()
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	got := map[string]result{}
	for range 5 {
		r := <-results
		got[r.name] = r
	}
	if r := got["good payment"]; r.err != nil || r.pan != nil {
		t.Errorf("good payment: %+v", r)
	}
	if r := got["good event"]; r.err != nil || r.pan != nil {
		t.Errorf("good event: %+v", r)
	}
	if r := got["too long"]; r.err == nil {
		t.Errorf("an event id over bbolt's key limit was stored")
	}
	if r := got["panics"]; r.pan != "boom" {
		t.Errorf("panicking write: %+v, want its panic in its caller", r)
	}
	if r := got["not found"]; !errors.Is(r.err, ErrNotFound) {
		t.Errorf("missing payment: %+v", r)
	}
	if _, err := b.GetPayment(ctx, "pay_ok"); err != nil {
		t.Error(err)
	}
	if _, err := b.TakeOnce(ctx, "left_behind"); !errors.Is(err, ErrNotFound) {
		t.Errorf("the panicking write's Put was committed (err %v)", err)
	}
	// The failed enqueue's announcement was rolled back: another event
	// may announce the status.
	if stored, err := b.EnqueueEvent(ctx, &OutboxEntry{EventID: "evt_2", Announce: "pay_1|payment.succeeded", NextAt: now}); err != nil || !stored {
		t.Errorf("announcement left behind by the failed enqueue: %v, %v", stored, err)
	}
	if err := CheckDueIndexes(b); err != nil {
		t.Error(err)
	}
}
