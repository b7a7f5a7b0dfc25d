package store

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/caddy-payments/caddy-payments/providers"
)

// Benchmarks of the embedded store. The 1,000,000-entry claim benchmarks
// seed a large file (in one transaction, about a minute on a small
// machine), so they run only with PAYMENTS_BENCH_1M=1:
//
//	PAYMENTS_BENCH_1M=1 go test ./store/ -run '^$' -bench 'Claim' -benchtime 2000x

func openBench(b *testing.B) *Bolt {
	b.Helper()
	s, err := OpenBolt(filepath.Join(b.TempDir(), "state.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Close() })
	return s
}

// benchSizes are the queue sizes the claim benchmarks run at.
func benchSizes() []int {
	if os.Getenv("PAYMENTS_BENCH_1M") == "1" {
		return []int{1_000, 1_000_000}
	}
	return []int{1_000}
}

// seedQueues fills the outbox and both reconcile queues with n entries
// each, none due before an hour from now, in one transaction.
func seedQueues(b *testing.B, s *Bolt, n int) {
	b.Helper()
	later := time.Now().UTC().Add(time.Hour)
	body := []byte(`{"id":"evt","type":"payment.succeeded","data":{"id":"pay_x","amount":1000,"currency":"EUR","status":"succeeded"}}`)
	err := seedTx(s, func(put func(bucket []byte, id string, v any) error) error {
		for i := range n {
			ev := &OutboxEntry{EventID: fmt.Sprintf("evt_%09d", i), Provider: "payabl", EventType: "payment.succeeded",
				Body: body, Server: "srv0", Host: "shop.example", Path: "/notify/payabl", NextAt: later.Add(time.Duration(i) * time.Millisecond), Created: later}
			if err := put(bucketOutbox, ev.EventID, ev); err != nil {
				return err
			}
			for _, id := range []string{fmt.Sprintf("pay_%09d", i), fmt.Sprintf("re_%09d", i)} {
				c := &ReconcileCheck{ID: id, Provider: "payabl", Server: "srv0", Host: "shop.example", Path: "/notify/payabl",
					NextAt: later.Add(time.Duration(i) * time.Millisecond), Created: later}
				if err := put(checkBucket(id), id, c); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	// Collect the seeding's garbage now, not during the measurement.
	runtime.GC()
}

// BenchmarkClaimNothingDue measures the idle worker's poll: claims on
// queues of n entries none of which is due.
func BenchmarkClaimNothingDue(b *testing.B) {
	for _, n := range benchSizes() {
		s := openBench(b)
		seedQueues(b, s, n)
		ctx := context.Background()
		now := time.Now().UTC()
		b.Run(fmt.Sprintf("events/n=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				got, err := s.ClaimDueEvents(ctx, now, 1, time.Minute)
				if err != nil || len(got) != 0 {
					b.Fatalf("claim = %d, %v", len(got), err)
				}
			}
		})
		b.Run(fmt.Sprintf("checks/n=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				got, err := s.ClaimDueChecks(ctx, now, 1, time.Minute)
				if err != nil || len(got) != 0 {
					b.Fatalf("claim = %d, %v", len(got), err)
				}
			}
		})
	}
}

// BenchmarkClaimOneDue measures a claim that finds one due entry among n
// (then puts it back on the schedule, due again): two write transactions
// per iteration, each with its fsync.
func BenchmarkClaimOneDue(b *testing.B) {
	for _, n := range benchSizes() {
		s := openBench(b)
		seedQueues(b, s, n)
		ctx := context.Background()
		now := time.Now().UTC()
		if _, err := s.EnqueueEvent(ctx, &OutboxEntry{EventID: "evt_due", Body: []byte(`{}`), NextAt: now}); err != nil {
			b.Fatal(err)
		}
		b.Run(fmt.Sprintf("events/n=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				got, err := s.ClaimDueEvents(ctx, now, 1, time.Minute)
				if err != nil || len(got) != 1 {
					b.Fatalf("claim = %d, %v", len(got), err)
				}
				if err := s.RescheduleEvent(ctx, "evt_due", 1, now, "again"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkConcurrentWrites runs the request path's writes from many
// goroutines: each iteration stores a payment, moves it to processing and
// queues an event, three write transactions.
func BenchmarkConcurrentWrites(b *testing.B) {
	s := openBench(b)
	ctx := context.Background()
	var seq atomic.Int64
	b.SetParallelism(8) // 8 × GOMAXPROCS writers, like a loaded gateway
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := seq.Add(1)
			id := fmt.Sprintf("pay_%d", i)
			now := time.Now().UTC()
			if _, err := s.PutPayment(ctx, &PaymentRecord{ID: id, Provider: "payabl", Amount: 1000, Currency: "EUR", Status: providers.StatusProcessing, CreatedAt: now}); err != nil {
				b.Error(err)
				return
			}
			if _, _, err := s.ApplyPaymentStatus(ctx, id, providers.StatusSucceeded, false, StatusChange{Source: "notification"}); err != nil {
				b.Error(err)
				return
			}
			if _, err := s.EnqueueEvent(ctx, &OutboxEntry{EventID: "evt_" + id, Provider: "payabl", Body: []byte(`{}`), NextAt: now.Add(time.Hour), Created: now}); err != nil {
				b.Error(err)
				return
			}
		}
	})
	if c := s.w.commits.Load(); c > 0 {
		b.ReportMetric(float64(s.w.ops.Load())/float64(c), "writes/commit")
	}
}

// seedTx runs fn in one write transaction whose put stores a queue record
// (with its due-index key) the way the store's own writes do.
func seedTx(s *Bolt, fn func(put func(bucket []byte, id string, v any) error) error) error {
	return s.update(context.Background(), func(tx *bolt.Tx) error {
		return fn(func(bucket []byte, id string, v any) error {
			raw, err := json.Marshal(v)
			if err != nil {
				return err
			}
			at, err := nextAtOf(raw)
			if err != nil {
				return err
			}
			_, err = putQueued(tx, bucket, []byte(id), raw, at)
			return err
		})
	})
}

// BenchmarkCreateWrites is the writes of a create with an Idempotency-Key
// and launch data: the key's claim (a write of its own, before the
// provider call) and then the payment record, its reconcile check, its
// launch token and the idempotency completion, made either as four
// single-step writes (steps) or as one Commit (commit); with one writer
// at a time (serial) and with many (parallel, where the group committer
// shares fsyncs between writers anyway).
func BenchmarkCreateWrites(b *testing.B) {
	ctx := context.Background()
	var seq atomic.Int64
	create := func(s *Bolt, oneCommit bool) error {
		i := seq.Add(1)
		id, key := fmt.Sprintf("pay_%d", i), fmt.Sprintf("idem:payments:%d", i)
		now := time.Now().UTC()
		if _, _, err := s.BeginIdempotent(ctx, key, "fingerprint", time.Hour); err != nil {
			return err
		}
		rec := &PaymentRecord{ID: id, Provider: "razorpay", ProviderRef: "order_" + id, Reference: "ORDER-" + id,
			Amount: 1000, Currency: "EUR", Status: providers.StatusRequiresAction, CreatedAt: now,
			History: []StatusChange{{Status: "requires_action", At: now, Source: "create"}}}
		check := &ReconcileCheck{ID: id, Provider: "razorpay", Server: "srv0", Host: "shop.example", Path: "/notifications/razorpay", NextAt: now.Add(time.Minute), Created: now}
		launch := OnceWrite{Key: "launch:razorpay:" + id, Data: []byte(`{"order_id":"order_x","amount":1000}`), TTL: time.Hour}
		answer := &IdempotentFinish{Key: key, Status: 201, ContentType: "application/json", Body: []byte(`{"id":"` + id + `","object":"payment","amount":1000}` + "\n")}
		if oneCommit {
			return s.Commit(ctx, &Writes{Payment: rec, Checks: []*ReconcileCheck{check}, Once: []OnceWrite{launch}, Finish: answer})
		}
		if err := s.PutOnce(ctx, launch.Key, launch.Data, launch.TTL); err != nil {
			return err
		}
		if _, err := s.PutPayment(ctx, rec); err != nil {
			return err
		}
		if err := s.ScheduleCheck(ctx, check); err != nil {
			return err
		}
		return s.FinishIdempotent(ctx, answer.Key, answer.Status, answer.ContentType, answer.Body)
	}
	for _, mode := range []struct {
		name      string
		oneCommit bool
	}{{"steps", false}, {"commit", true}} {
		b.Run(mode.name+"/serial", func(b *testing.B) {
			s := openBench(b)
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if err := create(s, mode.oneCommit); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(s.w.commits.Load())/float64(b.N), "commits/op")
		})
		b.Run(mode.name+"/parallel", func(b *testing.B) {
			s := openBench(b)
			b.SetParallelism(8) // 8 × GOMAXPROCS writers, like a loaded gateway
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := create(s, mode.oneCommit); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(s.w.commits.Load())/float64(b.N), "commits/op")
		})
	}
}
