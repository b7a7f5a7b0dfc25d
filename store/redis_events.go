package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// The event log and the payment index (see EventLog) in Redis: P events,
// a hash (event id → entry JSON as first queued), and P events:time and
// P payments:time, sorted sets whose members are timeKeys (all scored 0,
// so ordered by their bytes: ZRANGEBYLEX finds a page's start in
// O(log n)).
const (
	rkEvents       = "events"
	rkEventsTime   = "events:time"
	rkPaymentsTime = "payments:time"
)

var _ EventLog = (*Redis)(nil)

// listBatch is how many index members one round trip of a listing reads.
const listBatch = 100

// logArgs is what scriptEnqueue needs to log e: the logged JSON and its
// index member.
func logArgs(e *OutboxEntry) (string, string, error) {
	rec := *e
	rec.Created = eventCreated(e)
	rec.Attempts, rec.LastError = 0, ""
	raw, err := json.Marshal(&rec)
	if err != nil {
		return "", "", fmt.Errorf("store: encoding logged event %q: %w", e.EventID, err)
	}
	return string(raw), timeKey(rec.Created, e.EventID), nil
}

// scriptPutPayment: KEYS[1] payment, KEYS[2] payment index; ARGV record
// JSON, index member. First writer wins (an existing record only gets the
// return URLs it lacks: fill_urls); the index gets the member of the
// record that is stored.
var scriptPutPayment = script(`
if redis.call('SET', KEYS[1], ARGV[1], 'NX') then
	redis.call('ZADD', KEYS[2], 0, ARGV[2])
	return ARGV[1]
end
fill_urls(KEYS[1], ARGV[1])
return redis.call('GET', KEYS[1])
`)

func (r *Redis) putPayment(ctx context.Context, rec *PaymentRecord) (*PaymentRecord, error) {
	data, err := json.Marshal(rec)
	if err != nil {
		return nil, fmt.Errorf("store: encoding payment record %q: %w", rec.ID, err)
	}
	if err := r.ready(ctx); err != nil {
		return nil, err
	}
	keys := []string{r.key(rkPayment, rec.ID), r.prefix + rkPaymentsTime}
	raw, err := scriptPutPayment.Run(ctx, r.client, keys, data, timeKey(rec.CreatedAt, rec.ID)).Text()
	if err != nil {
		return nil, redisErr("put payment", err)
	}
	return decodeRecord[PaymentRecord](rkPayment, rec.ID, raw)
}

// walkDesc reads the members of a lexicographic index below upper down to
// lower (see ListQuery.bounds), listBatch at a time, handing each batch to
// fn until it returns false.
func (r *Redis) walkDesc(ctx context.Context, index, upper, lower string, fn func(members []string) (bool, error)) error {
	maxM, minM := "+", "-"
	if upper != "" {
		maxM = "(" + upper
	}
	if lower != "" {
		minM = "[" + lower
	}
	for {
		ms, err := r.client.ZRevRangeByLex(ctx, index, &redis.ZRangeBy{Max: maxM, Min: minM, Count: listBatch}).Result()
		if err != nil {
			return redisErr("list", err)
		}
		if len(ms) == 0 {
			return nil
		}
		cont, err := fn(ms)
		if err != nil || !cont || len(ms) < listBatch {
			return err
		}
		maxM = "(" + ms[len(ms)-1]
	}
}

// ListEvents walks the time index newest first (see EventLog).
func (r *Redis) ListEvents(ctx context.Context, q ListQuery) (*EventPage, error) {
	limit, upper, lower, err := q.bounds(listEvents)
	if err != nil {
		return nil, err
	}
	if err := r.ready(ctx); err != nil {
		return nil, err
	}
	out := &EventPage{}
	p := &pager{limit: limit, kind: listEvents}
	err = r.walkDesc(ctx, r.prefix+rkEventsTime, upper, lower, func(ms []string) (bool, error) {
		ids := make([]string, len(ms))
		for i, m := range ms {
			ids[i] = idOfKey(m)
		}
		vals, err := r.client.HMGet(ctx, r.prefix+rkEvents, ids...).Result()
		if err != nil {
			return false, redisErr("list events", err)
		}
		for i, m := range ms {
			var e *OutboxEntry
			if s, ok := vals[i].(string); ok {
				if e, err = decodeEntry(ids[i], []byte(s)); err != nil {
					return false, err
				}
			}
			take, cont := p.offer(m, e != nil && eventMatches(&q, e))
			if take {
				out.Events = append(out.Events, e)
			}
			if !cont {
				return false, nil
			}
		}
		return true, nil
	})
	if err != nil {
		return nil, err
	}
	out.HasMore, out.NextCursor = p.page()
	return out, nil
}

// GetEvent returns a logged event or ErrNotFound.
func (r *Redis) GetEvent(ctx context.Context, id string) (*OutboxEntry, error) {
	if err := r.ready(ctx); err != nil {
		return nil, err
	}
	raw, err := r.client.HGet(ctx, r.prefix+rkEvents, id).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, redisErr("get event", err)
	}
	return decodeEntry(id, raw)
}

// scriptRedeliver: KEYS[1] event log, KEYS[2] outbox hash, KEYS[3] due
// zset; ARGV id, entry JSON, score. A queued entry is made due (its
// record kept), otherwise the entry is queued; 0 when the event is no
// longer in the log.
var scriptRedeliver = redis.NewScript(`
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return 0 end
if redis.call('HEXISTS', KEYS[2], ARGV[1]) == 0 then
	redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
end
redis.call('ZADD', KEYS[3], ARGV[3], ARGV[1])
return 1
`)

// RedeliverEvent queues the logged event again, or makes its queued entry
// due now (one script).
func (r *Redis) RedeliverEvent(ctx context.Context, id string, now time.Time) error {
	e, err := r.GetEvent(ctx, id)
	if err != nil {
		return err
	}
	data, err := json.Marshal(redeliveryEntry(e, now))
	if err != nil {
		return err
	}
	keys := []string{r.prefix + rkEvents, r.prefix + rkOutbox, r.prefix + rkOutboxDue}
	n, err := scriptRedeliver.Run(ctx, r.client, keys, id, data, score(now)).Int64()
	if err != nil {
		return redisErr("redeliver event", err)
	}
	if n == 0 {
		return ErrNotFound
	}
	return nil
}

// scriptPrune: KEYS[1] event log, KEYS[2] its time index; ARGV the
// exclusive upper bound ("(" timePrefix), limit. Removes the oldest.
var scriptPrune = redis.NewScript(`
local ms = redis.call('ZRANGEBYLEX', KEYS[2], '-', ARGV[1], 'LIMIT', 0, ARGV[2])
for _, m in ipairs(ms) do
	redis.call('HDEL', KEYS[1], string.sub(m, 22))
	redis.call('ZREM', KEYS[2], m)
end
return #ms
`)

// PruneEvents removes up to limit logged events created before before.
func (r *Redis) PruneEvents(ctx context.Context, before time.Time, limit int) (int, error) {
	if err := r.ready(ctx); err != nil {
		return 0, err
	}
	if limit <= 0 {
		return 0, nil
	}
	keys := []string{r.prefix + rkEvents, r.prefix + rkEventsTime}
	n, err := scriptPrune.Run(ctx, r.client, keys, "("+timePrefix(before), limit).Int64()
	if err != nil {
		return 0, redisErr("prune events", err)
	}
	return int(n), nil
}

// ListPayments walks the payment index newest first (see EventLog).
func (r *Redis) ListPayments(ctx context.Context, q ListQuery) (*PaymentPage, error) {
	limit, upper, lower, err := q.bounds(listPayments)
	if err != nil {
		return nil, err
	}
	if err := r.ready(ctx); err != nil {
		return nil, err
	}
	out := &PaymentPage{}
	p := &pager{limit: limit, kind: listPayments}
	err = r.walkDesc(ctx, r.prefix+rkPaymentsTime, upper, lower, func(ms []string) (bool, error) {
		keys := make([]string, len(ms))
		for i, m := range ms {
			keys[i] = r.key(rkPayment, idOfKey(m))
		}
		vals, err := r.client.MGet(ctx, keys...).Result()
		if err != nil {
			return false, redisErr("list payments", err)
		}
		for i, m := range ms {
			var rec *PaymentRecord
			if s, ok := vals[i].(string); ok {
				if rec, err = decodeRecord[PaymentRecord](rkPayment, idOfKey(m), s); err != nil {
					return false, err
				}
			}
			take, cont := p.offer(m, rec != nil && paymentMatches(&q, rec))
			if take {
				out.Payments = append(out.Payments, rec)
			}
			if !cont {
				return false, nil
			}
		}
		return true, nil
	})
	if err != nil {
		return nil, err
	}
	out.HasMore, out.NextCursor = p.page()
	return out, nil
}

// indexRedisPayments builds the payment index from the stored payments
// (the format migration to version 2; idempotent: ZADD of a member that
// is there changes nothing).
func indexRedisPayments(ctx context.Context, r *Redis) error {
	pattern := globEscape(r.prefix+rkPayment+":") + "*"
	node, err := r.scanNode(ctx)
	if err != nil {
		return err
	}
	var cursor uint64
	for {
		keys, next, err := node.Scan(ctx, cursor, pattern, 500).Result()
		if err != nil {
			return err
		}
		if len(keys) > 0 {
			vals, err := r.client.MGet(ctx, keys...).Result()
			if err != nil {
				return err
			}
			var members []redis.Z
			for i, v := range vals {
				s, ok := v.(string)
				if !ok {
					continue
				}
				rec, err := decodeRecord[PaymentRecord](rkPayment, keys[i], s)
				if err != nil {
					return err
				}
				members = append(members, redis.Z{Member: timeKey(rec.CreatedAt, rec.ID)})
			}
			if len(members) > 0 {
				if err := r.client.ZAdd(ctx, r.prefix+rkPaymentsTime, members...).Err(); err != nil {
					return err
				}
			}
		}
		if cursor = next; cursor == 0 {
			return nil
		}
	}
}

// globEscape quotes the glob characters of a SCAN pattern.
func globEscape(s string) string {
	var b strings.Builder
	for _, c := range s {
		if strings.ContainsRune(`*?[]\`, c) {
			b.WriteByte('\\')
		}
		b.WriteRune(c)
	}
	return b.String()
}
