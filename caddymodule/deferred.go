package caddymodule

import (
	"context"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/caddy-payments/caddy-payments/store"
)

// Deferred writes. When a provider has acted (a payment, refund or payout
// was created) but the store failed to take the record, the merchant is
// answered with the truth (201 and the object) and the record's writes
// are kept here and retried until the store takes them: a database or
// Redis back from an outage gets the record within moments, and until
// then the object is found by reference at the provider
// (GET /payments?provider=…&reference=…). They live in memory: a
// process that stops (or a config unloaded) before the store is back
// loses them, and says so in its log; the object is then recorded by its
// next notification or lookup.

const (
	// deferredFirstRetry and deferredMaxDelay bound the backoff between
	// attempts; deferredGiveUp is how long one write is retried.
	deferredFirstRetry = time.Second
	deferredMaxDelay   = 30 * time.Second
	deferredGiveUp     = 24 * time.Hour
	// deferredAttempt bounds one attempt.
	deferredAttempt = 10 * time.Second
)

// deferredWrites tracks the goroutines retrying writes, so Cleanup can
// give them a last chance.
type deferredWrites struct{ wg sync.WaitGroup }

// deferWrites retries the record writes of wr (not its idempotent answer,
// which withIdempotency stores or frees itself) in the background until
// the store takes them. what and id name the object in logs.
func (h *Handler) deferWrites(what, id string, wr *store.Writes) {
	w := *wr
	w.Finish = nil
	if h.deferred == nil {
		return // not provisioned (unit tests)
	}
	h.deferred.wg.Add(1)
	go func() {
		defer h.deferred.wg.Done()
		log := h.logger.With(zap.String("object", what), zap.String("id", id))
		log.Warn("record not stored; retrying in the background until the store takes it")
		delay, until := deferredFirstRetry, time.Now().Add(deferredGiveUp)
		for attempt := 1; ; attempt++ {
			stopping := false
			select {
			case <-h.ctx.Done():
				stopping = true // one last attempt, then give up
			case <-time.After(delay):
			}
			ctx, cancel := context.WithTimeout(context.WithoutCancel(h.ctx), deferredAttempt)
			if w.Refund != nil {
				// A refund record overwrites (PutRefund): one that a
				// notification or the reconciler stored meanwhile is
				// newer than ours and stays.
				if _, err := h.store.GetRefund(ctx, w.Refund.ID); err == nil {
					w.Refund = nil
				}
			}
			err := h.store.Commit(ctx, &w)
			cancel()
			switch {
			case err == nil:
				log.Info("record stored after the store came back", zap.Int("attempts", attempt))
				return
			case stopping || time.Now().After(until):
				log.Error("record NOT stored: the store did not come back in time; it is recorded by its next notification or lookup",
					zap.Int("attempts", attempt), zap.Error(err))
				return
			}
			delay = min(delay*2, deferredMaxDelay)
		}
	}()
}

// wait gives deferred writes up to d to finish (Cleanup, after the
// config's context ended: each makes its last attempt).
func (d *deferredWrites) wait(timeout time.Duration) {
	if d == nil {
		return
	}
	done := make(chan struct{})
	go func() { d.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(timeout):
	}
}
