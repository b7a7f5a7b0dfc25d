package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	bolt "go.etcd.io/bbolt"

	"github.com/caddy-payments/caddy-payments/internal/pgtest"
	"github.com/caddy-payments/caddy-payments/internal/redistest"
	"github.com/caddy-payments/caddy-payments/providers"
)

// BenchmarkStore measures each store operation on the embedded store, on
// Redis and on PostgreSQL with n payments, n queued events and n payment reconcile
// checks present (none of them due), seeded once per store and size:
//
//	BenchmarkStore/<bolt|redis|postgres>/n=<n>/<operation>
//
// PutPayment stores a new payment; ApplyPaymentStatus moves a stored
// payment from processing to succeeded (a real change every time);
// EnqueueEvent queues a new event with its announcement; ClaimDueEvents
// and ClaimDueChecks claim the one entry due among the n (leased for a
// microsecond, and the next iteration's clock is a microsecond later, so
// each claim finds it due again); the Idle variants poll with nothing due.
//
// The sizes are 1,000 and 100,000, or 1,000 and 1,000,000 with
// PAYMENTS_BENCH_1M=1 (seeding the million takes about a minute per store
// and several GB of disk and memory):
//
//	go test ./store/ -run '^$' -bench Store
//	PAYMENTS_BENCH_1M=1 go test ./store/ -run '^$' -bench Store -benchtime 2s
//
// Redis is a redis-server of the benchmark's own, without persistence
// (redistest), so its numbers are the round trip and the script, not a
// disk; the embedded store's writes each wait for their fdatasync.
// PostgreSQL is a cluster of the benchmark's own (pgtest) with fsync and
// synchronous_commit on, so each committing write waits for its WAL
// flush, over a loopback TCP connection.
func BenchmarkStore(b *testing.B) {
	sizes := []int{1_000, 100_000}
	if os.Getenv("PAYMENTS_BENCH_1M") == "1" {
		sizes = []int{1_000, 1_000_000}
	}
	b.Run("bolt", func(b *testing.B) {
		for _, n := range sizes {
			b.Run("n="+strconv.Itoa(n), func(b *testing.B) {
				runStoreBench(b, openBoltBench(b, n), n)
			})
		}
	})
	b.Run("redis", func(b *testing.B) {
		srv := redistest.StartT(b)
		for _, n := range sizes {
			b.Run("n="+strconv.Itoa(n), func(b *testing.B) {
				runStoreBench(b, openRedisBench(b, srv.Addr, n), n)
			})
		}
	})
	b.Run("postgres", func(b *testing.B) {
		srv := pgtest.StartT(b, pgtest.Options{Durable: true})
		for _, n := range sizes {
			b.Run("n="+strconv.Itoa(n), func(b *testing.B) {
				runStoreBench(b, openPostgresBench(b, srv, n), n)
			})
		}
	})
}

// openPostgresBench opens a fresh schema and writes n of each into its
// tables with COPY, in the store's own layout (payments with their time
// key, outbox rows with their due time and announcement, reconcile rows),
// then vacuums and checkpoints; the schema is dropped when the size is
// done.
func openPostgresBench(b *testing.B, srv *pgtest.Server, n int) benchTarget {
	b.Helper()
	ctx := context.Background()
	began := time.Now()
	schema := fmt.Sprintf("bench%d", n)
	p, err := OpenPostgres(PostgresOptions{DSN: srv.DSN(""), Schema: schema, PoolSize: 4})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		_, _ = p.pool.Exec(ctx, "DROP SCHEMA "+p.schema+" CASCADE")
		_ = p.Close()
	})
	const chunk = 20_000
	for from := 0; from < n; from += chunk {
		var pays, outbox, announced, checks [][]any
		for i := from; i < min(n, from+chunk); i++ {
			pay, ev, c := benchSeed(i)
			rp, err1 := json.Marshal(pay)
			re, err2 := json.Marshal(ev)
			rc, err3 := json.Marshal(c)
			if err := errors.Join(err1, err2, err3); err != nil {
				b.Fatal(err)
			}
			pays = append(pays, []any{pay.ID, timeKey(pay.CreatedAt, pay.ID), rp})
			outbox = append(outbox, []any{ev.EventID, ev.NextAt, ev.Created, re})
			announced = append(announced, []any{ev.Announce, ev.EventID})
			checks = append(checks, []any{c.ID, c.NextAt, rc})
		}
		for _, t := range []struct {
			table string
			cols  []string
			rows  [][]any
		}{
			{"payments", []string{"id", "tkey", "data"}, pays},
			{"outbox", []string{"event_id", "next_at", "created", "data"}, outbox},
			{"announced", []string{"key", "event_id"}, announced},
			{"reconcile", []string{"id", "next_at", "data"}, checks},
		} {
			if _, err := p.pool.CopyFrom(ctx, pgx.Identifier{schema, t.table}, t.cols, pgx.CopyFromRows(t.rows)); err != nil {
				b.Fatal(err)
			}
		}
	}
	// Vacuumed (visibility map set) and checkpointed, so the timed loops
	// do not pay for the seeding's background work: a store at rest.
	for _, sql := range []string{"VACUUM (ANALYZE) {s}.payments, {s}.outbox, {s}.announced, {s}.reconcile", "CHECKPOINT"} {
		if _, err := p.pool.Exec(ctx, p.q(sql)); err != nil {
			b.Fatal(err)
		}
	}
	var size string
	if err := p.pool.QueryRow(ctx, `SELECT pg_size_pretty(sum(pg_total_relation_size(c.oid))) FROM pg_class c
		JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relkind = 'r'`, schema).Scan(&size); err == nil {
		b.Logf("postgres n=%d: tables and indexes %s, seeded in %s", n, size, time.Since(began).Round(time.Millisecond))
	}
	return benchTarget{s: p, putPayments: func(recs []*PaymentRecord) error {
		rows := make([][]any, 0, len(recs))
		for _, rec := range recs {
			raw, err := json.Marshal(rec)
			if err != nil {
				return err
			}
			rows = append(rows, []any{rec.ID, timeKey(rec.CreatedAt, rec.ID), raw})
		}
		_, err := p.pool.CopyFrom(ctx, pgx.Identifier{schema, "payments"}, []string{"id", "tkey", "data"}, pgx.CopyFromRows(rows))
		return err
	}}
}

// benchTarget is a store under benchmark and how to add payments to it in
// bulk (outside the timed loops).
type benchTarget struct {
	s interface {
		Store
		ReconcileQueue
	}
	putPayments func(recs []*PaymentRecord) error
}

// benchLater is when the seeded entries fall due: after every benchmark's
// clock.
var benchLater = time.Now().UTC().Add(24 * time.Hour)

var benchEventBody = []byte(`{"id":"evt_0000000000","type":"payment.succeeded","created":1767225600,"data":{"id":"pay_0000000000","amount":1999,"currency":"EUR","status":"succeeded","reference":"order-0000000000"}}`)

func benchPayment(id string, i int) *PaymentRecord {
	at := benchLater.Add(-48 * time.Hour)
	return &PaymentRecord{ID: id, Provider: "payabl", ProviderRef: fmt.Sprintf("T%010d", i), Reference: fmt.Sprintf("order-%010d", i),
		Amount: 1999, Currency: "EUR", Status: providers.StatusProcessing, Test: true, CreatedAt: at,
		History:   []StatusChange{{Status: string(providers.StatusProcessing), At: at, Source: "create", ProviderStatus: "0"}},
		ReturnURL: "https://shop.example/return"}
}

func benchEvent(id, announce string, next time.Time) *OutboxEntry {
	return &OutboxEntry{EventID: id, Announce: announce, Provider: "payabl", EventType: "payment.succeeded", Body: benchEventBody,
		Server: "srv0", Host: "shop.example", Path: "/payments/notify/payabl", NextAt: next, Created: next}
}

func benchCheck(id string, next time.Time) *ReconcileCheck {
	return &ReconcileCheck{ID: id, Provider: "payabl", Server: "srv0", Host: "shop.example", Path: "/payments/notify/payabl", NextAt: next, Created: next}
}

// benchSeed is the i-th seeded payment, event (with its announcement) and
// check; the queue entries fall due a millisecond apart after benchLater.
func benchSeed(i int) (*PaymentRecord, *OutboxEntry, *ReconcileCheck) {
	pay := fmt.Sprintf("pay_%010d", i)
	next := benchLater.Add(time.Duration(i) * time.Millisecond)
	return benchPayment(pay, i), benchEvent(fmt.Sprintf("evt_%010d", i), pay+":payment.succeeded", next), benchCheck(pay, next)
}

// openBoltBench writes n of each into a new state file directly, in
// transactions of 50,000 seeds, with the store's own layout (records, due
// indexes, outbox length, announcements), then opens it with OpenBolt.
func openBoltBench(b *testing.B, n int) benchTarget {
	b.Helper()
	start := time.Now()
	path := filepath.Join(b.TempDir(), "state.db")
	db, err := openDB(path)
	if err != nil {
		b.Fatal(err)
	}
	const chunk = 50_000
	for from := 0; from < n; from += chunk {
		err := writeTx(db, func(tx *bolt.Tx) error {
			// Keys are added in order: fill pages instead of splitting them
			// half empty.
			for _, name := range [][]byte{bucketPayments, bucketOutbox, bucketOutboxDue, bucketAnnounced, bucketReconcile, bucketReconcileDue} {
				tx.Bucket(name).FillPercent = 0.9
			}
			for i := from; i < min(n, from+chunk); i++ {
				pay, ev, c := benchSeed(i)
				if err := save(tx, bucketPayments, pay.ID, pay); err != nil {
					return err
				}
				raw, err := json.Marshal(ev)
				if err != nil {
					return err
				}
				if _, err := putQueued(tx, bucketOutbox, []byte(ev.EventID), raw, ev.NextAt); err != nil {
					return err
				}
				if err := tx.Bucket(bucketAnnounced).Put([]byte(ev.Announce), []byte(ev.EventID)); err != nil {
					return err
				}
				if raw, err = json.Marshal(c); err != nil {
					return err
				}
				if _, err := putQueued(tx, bucketReconcile, []byte(c.ID), raw, c.NextAt); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	if err := db.Close(); err != nil {
		b.Fatal(err)
	}
	s, err := OpenBolt(path)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Close() })
	if n <= 100_000 {
		if err := CheckDueIndexes(s); err != nil {
			b.Fatal(err)
		}
	}
	if fi, err := os.Stat(path); err == nil {
		b.Logf("bolt n=%d: file %d MB, seeded in %s", n, fi.Size()>>20, time.Since(start).Round(time.Millisecond))
	}
	return benchTarget{s: s, putPayments: func(recs []*PaymentRecord) error {
		return s.update(context.Background(), func(tx *bolt.Tx) error {
			for _, rec := range recs {
				if err := save(tx, bucketPayments, rec.ID, rec); err != nil {
					return err
				}
			}
			return nil
		})
	}}
}

// openRedisBench writes n of each under a fresh prefix with pipelined
// multi-key commands (MSET, HSET, ZADD), the store's own key layout, and
// empties the database when the size is done.
func openRedisBench(b *testing.B, addr string, n int) benchTarget {
	b.Helper()
	ctx := context.Background()
	began := time.Now()
	r, err := OpenRedis(RedisOptions{Addr: addr, KeyPrefix: fmt.Sprintf("bench%d:", n)})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		_ = r.client.FlushDB(ctx).Err()
		_ = r.Close()
	})
	const chunk = 2_000
	announceTTL := ttlMillis(RedisDeliveredTTL)
	for start := 0; start < n; start += chunk {
		var pays, events, eventsDue, checks, checksDue []any
		pipe := r.client.Pipeline()
		for i := start; i < min(n, start+chunk); i++ {
			pay, ev, c := benchSeed(i)
			for _, v := range []struct {
				out *[]any
				key string
				rec any
			}{{&pays, r.key(rkPayment, pay.ID), pay}, {&events, ev.EventID, ev}, {&checks, c.ID, c}} {
				raw, err := json.Marshal(v.rec)
				if err != nil {
					b.Fatal(err)
				}
				*v.out = append(*v.out, v.key, raw)
			}
			eventsDue = append(eventsDue, score(ev.NextAt), ev.EventID)
			checksDue = append(checksDue, score(c.NextAt), c.ID)
			pipe.Do(ctx, "SET", r.key(rkAnnounced, ev.Announce), ev.EventID, "PX", announceTTL)
		}
		keys := r.outboxKeys()
		rkeys := r.reconcileKeys("pay_")
		pipe.MSet(ctx, pays...)
		pipe.HSet(ctx, keys[0], events...)
		pipe.Do(ctx, append([]any{"ZADD", keys[1]}, eventsDue...)...)
		pipe.HSet(ctx, rkeys[0], checks...)
		pipe.Do(ctx, append([]any{"ZADD", rkeys[1]}, checksDue...)...)
		if _, err := pipe.Exec(ctx); err != nil {
			b.Fatal(err)
		}
	}
	if mem, err := r.client.Info(ctx, "memory").Result(); err == nil {
		for line := range strings.Lines(mem) {
			if strings.HasPrefix(line, "used_memory_human:") {
				b.Logf("redis n=%d: %s, seeded in %s", n, strings.TrimSpace(line), time.Since(began).Round(time.Millisecond))
			}
		}
	}
	return benchTarget{s: r, putPayments: func(recs []*PaymentRecord) error {
		args := make([]any, 0, 2*len(recs))
		for _, rec := range recs {
			raw, err := json.Marshal(rec)
			if err != nil {
				return err
			}
			args = append(args, r.key(rkPayment, rec.ID), raw)
		}
		return r.client.MSet(ctx, args...).Err()
	}}
}

// runStoreBench runs the operations' sub-benchmarks on one seeded store.
// Counters live outside the sub-benchmarks, which the testing package runs
// several times with growing b.N, so that ids stay fresh and the claim
// clock only moves forward.
func runStoreBench(b *testing.B, t benchTarget, n int) {
	ctx := context.Background()
	s := t.s
	runtime.GC() // the seeding's garbage, not the measurement's

	var seq int
	b.Run("PutPayment", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			seq++
			id := fmt.Sprintf("pay_new_%d", seq)
			if _, err := s.PutPayment(ctx, benchPayment(id, seq)); err != nil {
				b.Fatal(err)
			}
		}
	})

	// Payments in processing, to be moved to succeeded once each: the
	// seeded ones first, then batches added with the timer stopped.
	next, ready := 0, n
	var batch int
	b.Run("ApplyPaymentStatus", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if next == ready {
				b.StopTimer()
				batch++
				recs := make([]*PaymentRecord, 1000)
				for i := range recs {
					recs[i] = benchPayment(fmt.Sprintf("pay_apply_%d_%d", batch, i), i)
				}
				if err := t.putPayments(recs); err != nil {
					b.Fatal(err)
				}
				next, ready = 0, len(recs)
				b.StartTimer()
			}
			id := fmt.Sprintf("pay_%010d", next)
			if batch > 0 {
				id = fmt.Sprintf("pay_apply_%d_%d", batch, next)
			}
			next++
			_, changed, err := s.ApplyPaymentStatus(ctx, id, providers.StatusSucceeded, false, StatusChange{Source: "notification", ProviderStatus: "1"})
			if err != nil || !changed {
				b.Fatalf("apply %s = %v, %v", id, changed, err)
			}
		}
	})

	var evSeq int
	b.Run("EnqueueEvent", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			evSeq++
			id := fmt.Sprintf("evt_new_%d", evSeq)
			ok, err := s.EnqueueEvent(ctx, benchEvent(id, fmt.Sprintf("pay_new_%d:payment.succeeded", evSeq), benchLater))
			if err != nil || !ok {
				b.Fatalf("enqueue %s = %v, %v", id, ok, err)
			}
		}
	})

	// One event and one check due at t0; each claim's clock is a
	// microsecond after the previous one's, and its lease a microsecond,
	// so the entry is due again at the next claim, and only it.
	t0 := time.Now().UTC().Truncate(time.Microsecond)
	if ok, err := s.EnqueueEvent(ctx, benchEvent("evt_due", "", t0)); err != nil || !ok {
		b.Fatalf("enqueue evt_due = %v, %v", ok, err)
	}
	if err := s.ScheduleCheck(ctx, benchCheck("pay_due", t0)); err != nil {
		b.Fatal(err)
	}
	clock := t0
	claimOne := func(name string, claim func(now time.Time) (int, error)) {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				got, err := claim(clock)
				if err != nil || got != 1 {
					b.Fatalf("claimed %d at %s, %v", got, clock, err)
				}
				clock = clock.Add(time.Microsecond)
			}
		})
	}
	claimOne("ClaimDueEvents", func(now time.Time) (int, error) {
		got, err := s.ClaimDueEvents(ctx, now, 1, time.Microsecond)
		return len(got), err
	})
	claimOne("ClaimDueChecks", func(now time.Time) (int, error) {
		got, err := s.ClaimDueChecks(ctx, now, 1, time.Microsecond)
		return len(got), err
	})

	idle := t0.Add(-time.Second)
	claimNone := func(name string, claim func() (int, error)) {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if got, err := claim(); err != nil || got != 0 {
					b.Fatalf("claimed %d with nothing due, %v", got, err)
				}
			}
		})
	}
	claimNone("ClaimDueEventsIdle", func() (int, error) {
		got, err := s.ClaimDueEvents(ctx, idle, 10, time.Minute)
		return len(got), err
	})
	claimNone("ClaimDueChecksIdle", func() (int, error) {
		got, err := s.ClaimDueChecks(ctx, idle, 10, time.Minute)
		return len(got), err
	})
}
