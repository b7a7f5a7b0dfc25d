package store

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"
)

// Commit makes the writes of w in one script (scriptCommit), so they are
// applied together or not at all, in one round trip: Redis runs a script
// atomically, and the script checks the part that can fail (Finish on a
// missing key) before it writes anything. Each part keeps the semantics
// of its single-step method, including the Redis store's amount bound.
func (r *Redis) Commit(ctx context.Context, w *Writes) error {
	if w.empty() {
		return r.ready(ctx)
	}
	if err := w.validate(); err != nil {
		return err
	}
	if w.Payment != nil {
		if err := validateRedisPayment(w.Payment); err != nil {
			return err
		}
	}
	if w.Refund != nil {
		if err := checkRedisAmount(w.Refund.Amount); err != nil {
			return err
		}
	}
	if w.Payout != nil {
		if err := checkRedisAmount(w.Payout.Amount); err != nil {
			return err
		}
	}
	var parts []byte
	var keys []string
	args := []any{nil} // ARGV[1], the parts, is set at the end
	add := func(part byte, k []string, a ...any) {
		parts = append(parts, part)
		keys = append(keys, k...)
		args = append(args, a...)
	}
	record := func(part byte, kind, id string, rec any) error {
		data, err := json.Marshal(rec)
		if err != nil {
			return fmt.Errorf("store: encoding %s record %q: %w", kind, id, err)
		}
		add(part, []string{r.key(kind, id)}, data)
		return nil
	}
	if f := w.Finish; f != nil {
		patch, err := finishPatch(f.Status, f.ContentType, f.Body)
		if err != nil {
			return err
		}
		add('F', []string{r.key(rkIdem, f.Key)}, patch)
	}
	if w.Payment != nil {
		data, err := json.Marshal(w.Payment)
		if err != nil {
			return fmt.Errorf("store: encoding payment record %q: %w", w.Payment.ID, err)
		}
		add('Y', []string{r.key(rkPayment, w.Payment.ID), r.prefix + rkPaymentsTime}, data, timeKey(w.Payment.CreatedAt, w.Payment.ID))
	}
	if w.Refund != nil {
		if err := record('S', rkRefund, w.Refund.ID, w.Refund); err != nil {
			return err
		}
	}
	if w.Payout != nil {
		if err := record('P', rkPayout, w.Payout.ID, w.Payout); err != nil {
			return err
		}
	}
	for _, c := range w.Checks {
		data, err := json.Marshal(c)
		if err != nil {
			return fmt.Errorf("store: encoding reconcile check %q: %w", c.ID, err)
		}
		add('Q', r.reconcileKeys(c.ID), c.ID, data, score(c.NextAt))
	}
	for _, o := range w.Once {
		add('O', []string{r.key(rkOnce, o.Key)}, o.Data, ttlMillis(o.TTL))
	}
	if len(w.Delivered) > 0 {
		at := time.Now().UTC().Format(time.RFC3339Nano)
		ttl := strconv.FormatInt(int64(RedisDeliveredTTL/time.Second), 10)
		for _, id := range w.Delivered {
			add('D', []string{r.key(rkDelivered, id)}, at, ttl)
		}
	}
	if w.RemoveEvent != "" {
		add('X', r.outboxKeys(), w.RemoveEvent)
	}
	args[0] = string(parts)
	if err := r.ready(ctx); err != nil {
		return err
	}
	code, _, err := r.runGuarded(ctx, "commit", scriptCommit, keys, args...)
	if err != nil {
		return err
	}
	if code == luaNotFound {
		return ErrNotFound
	}
	return nil
}
