package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/caddy-payments/caddy-payments/providers"
)

// MarkDelivered records eventID as accepted by the shop, with the time,
// for RedisDeliveredTTL (90 days).
func (r *Redis) MarkDelivered(ctx context.Context, eventID string) error {
	if eventID == "" {
		return providers.Missing("event_id")
	}
	if err := r.ready(ctx); err != nil {
		return err
	}
	at := time.Now().UTC().Format(time.RFC3339Nano)
	if err := r.client.Set(ctx, r.key(rkDelivered, eventID), at, RedisDeliveredTTL).Err(); err != nil {
		return redisErr("mark delivered", err)
	}
	return nil
}

// Delivered reports whether MarkDelivered was called for eventID in the
// last RedisDeliveredTTL.
func (r *Redis) Delivered(ctx context.Context, eventID string) (bool, error) {
	if eventID == "" {
		return false, providers.Missing("event_id")
	}
	if err := r.ready(ctx); err != nil {
		return false, err
	}
	n, err := r.client.Exists(ctx, r.key(rkDelivered, eventID)).Result()
	if err != nil {
		return false, redisErr("delivered", err)
	}
	return n > 0, nil
}

// The outbox is a hash (event id → entry JSON) plus a sorted set of the
// same ids scored by the next attempt time in microseconds. The score is
// what schedules and leases an entry; the JSON's next_at is the time last
// set by EnqueueEvent or RescheduleEvent (a claim's lease is not written
// into it, unlike Bolt).
func (r *Redis) outboxKeys() []string { return []string{r.prefix + rkOutbox, r.prefix + rkOutboxDue} }

// EnqueueEvent stores e unless an entry with its EventID exists, the event
// was delivered, or another event carries its announcement (one script:
// the checks, the announcement's owner, HSET and ZADD).
func (r *Redis) EnqueueEvent(ctx context.Context, e *OutboxEntry) (bool, error) {
	if e == nil || e.EventID == "" {
		return false, providers.Missing("event_id")
	}
	data, err := json.Marshal(e)
	if err != nil {
		return false, fmt.Errorf("store: encoding outbox entry %q: %w", e.EventID, err)
	}
	if err := r.ready(ctx); err != nil {
		return false, err
	}
	logged, member, err := logArgs(e) // redis_events.go
	if err != nil {
		return false, err
	}
	keys := append(r.outboxKeys(), r.key(rkDelivered, e.EventID), r.key(rkAnnounced, e.Announce), r.key(rkDelivered, e.Announce),
		r.prefix+rkEvents, r.prefix+rkEventsTime)
	announce := "0"
	if e.Announce != "" {
		announce = "1"
	}
	n, err := r.exec(ctx, scriptEnqueue, true, keys, e.EventID, data, score(e.NextAt), announce, ttlMillis(RedisDeliveredTTL), logged, member).Int64()
	if err != nil {
		return false, redisErr("enqueue event", err)
	}
	return n == 1, nil
}

// claim runs the shared claim script on a hash + sorted set pair and
// decodes the entries.
func claim[T any](ctx context.Context, r *Redis, kind string, keys []string, now time.Time, limit int, lease time.Duration) ([]*T, error) {
	if err := r.ready(ctx); err != nil {
		return nil, err
	}
	if limit <= 0 {
		return nil, nil
	}
	raws, err := scriptClaim.Run(ctx, r.client, keys, score(now), limit, score(now.Add(lease))).StringSlice()
	if err != nil {
		return nil, redisErr("claim "+kind, err)
	}
	out := make([]*T, 0, len(raws))
	for _, raw := range raws {
		v, err := decodeRecord[T](kind, "", raw)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

// ClaimDueEvents takes up to limit entries due at now (oldest first) and
// leases them until now+lease, in one script.
func (r *Redis) ClaimDueEvents(ctx context.Context, now time.Time, limit int, lease time.Duration) ([]*OutboxEntry, error) {
	return claim[OutboxEntry](ctx, r, rkOutbox, r.outboxKeys(), now, limit, lease)
}

// RescheduleEvent records a failed attempt and re-scores the entry, in
// one script; ErrNotFound for an entry not queued.
func (r *Redis) RescheduleEvent(ctx context.Context, eventID string, attempts int, next time.Time, lastError string) error {
	patch := map[string]any{"attempts": attempts, "next_at": next.UTC(), "last_error": nil}
	if lastError != "" {
		patch["last_error"] = lastError
	}
	data, err := json.Marshal(patch)
	if err != nil {
		return err
	}
	if err := r.ready(ctx); err != nil {
		return err
	}
	code, _, err := r.run(ctx, "reschedule event", scriptReschedule, r.outboxKeys(), eventID, data, score(next))
	if err != nil {
		return err
	}
	if code == luaNotFound {
		return ErrNotFound
	}
	return nil
}

// RemoveEvent deletes an entry from the hash and the sorted set in one
// MULTI/EXEC; a missing entry is no error.
func (r *Redis) RemoveEvent(ctx context.Context, eventID string) error {
	return r.removeQueued(ctx, "remove event", r.outboxKeys(), eventID)
}

// removeQueued deletes id from a hash + sorted set pair atomically.
func (r *Redis) removeQueued(ctx context.Context, op string, keys []string, id string) error {
	if err := r.ready(ctx); err != nil {
		return err
	}
	pipe := r.client.TxPipeline()
	pipe.HDel(ctx, keys[0], id)
	pipe.ZRem(ctx, keys[1], id)
	if _, err := pipe.Exec(ctx); err != nil {
		return redisErr(op, err)
	}
	return nil
}

// OutboxDepth counts the queued entries (ZCARD).
func (r *Redis) OutboxDepth(ctx context.Context) (int, error) {
	if err := r.ready(ctx); err != nil {
		return 0, err
	}
	n, err := r.client.ZCard(ctx, r.prefix+rkOutboxDue).Result()
	if err != nil {
		return 0, redisErr("outbox depth", err)
	}
	return int(n), nil
}

// reconcileKeys are the hash and sorted set of the reconcile queue that
// holds the check of id, laid out like the outbox's: payment checks in
// P reconcile, refund and payout checks in P reconcile:objects (see
// objectCheck).
func (r *Redis) reconcileKeys(id string) []string {
	if objectCheck(id) {
		return []string{r.prefix + rkReconObj, r.prefix + rkReconObjDue}
	}
	return []string{r.prefix + rkRecon, r.prefix + rkReconDue}
}

// ScheduleCheck stores or replaces an object's reconcile check (HSET and
// ZADD in one MULTI/EXEC).
func (r *Redis) ScheduleCheck(ctx context.Context, c *ReconcileCheck) error {
	if c == nil || c.ID == "" {
		return providers.Missing("payment_id")
	}
	data, err := json.Marshal(c)
	if err != nil {
		return fmt.Errorf("store: encoding reconcile check %q: %w", c.ID, err)
	}
	if err := r.ready(ctx); err != nil {
		return err
	}
	keys := r.reconcileKeys(c.ID)
	pipe := r.client.TxPipeline()
	pipe.HSet(ctx, keys[0], c.ID, data)
	pipe.Do(ctx, "ZADD", keys[1], score(c.NextAt), c.ID)
	if _, err := pipe.Exec(ctx); err != nil {
		return redisErr("schedule check", err)
	}
	return nil
}

// ClaimDueChecks takes due checks and leases them, like ClaimDueEvents:
// payment checks first, then refund and payout checks, one script each.
func (r *Redis) ClaimDueChecks(ctx context.Context, now time.Time, limit int, lease time.Duration) ([]*ReconcileCheck, error) {
	out, err := claim[ReconcileCheck](ctx, r, rkRecon, r.reconcileKeys(""), now, limit, lease)
	if err != nil || len(out) >= limit {
		return out, err
	}
	more, err := claim[ReconcileCheck](ctx, r, rkReconObj, r.reconcileKeys("re_"), now, limit-len(out), lease)
	return append(out, more...), err
}

// DoneCheck removes an object's reconcile check.
func (r *Redis) DoneCheck(ctx context.Context, id string) error {
	return r.removeQueued(ctx, "done check", r.reconcileKeys(id), id)
}
