package store

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// The dropped records are a hash (event id → DroppedEvent JSON) and a
// sorted set of the same ids, all scored 0, so that ZRANGE BYLEX pages
// through them in id order.
const (
	rkDropped    = "dropped"
	rkDroppedIDs = "dropped:ids"
)

// scriptDrop removes an outbox entry and stores its dropped record, if
// the entry is still exactly as the caller read it (compare and swap: a
// concurrent reschedule makes the caller read it again). KEYS[1] outbox
// hash, KEYS[2] due zset, KEYS[3] dropped hash, KEYS[4] dropped ids;
// ARGV id, the entry as read, the record. 1 done, 0 changed, -1 gone.
var scriptDrop = redis.NewScript(`
local raw = redis.call('HGET', KEYS[1], ARGV[1])
if not raw then return -1 end
if raw ~= ARGV[2] then return 0 end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('HSET', KEYS[3], ARGV[1], ARGV[3])
redis.call('ZADD', KEYS[4], 0, ARGV[1])
return 1
`)

// ListOutbox pages through the due sorted set (score, then id: the order
// Redis keeps members of one score in). The cursor is the score and id
// of the last entry of the previous page. Each entry's NextAt is its
// score, the time the worker will take it up.
func (r *Redis) ListOutbox(ctx context.Context, cursor string, limit int) ([]*OutboxEntry, string, error) {
	after, err := decodeAdminCursor(cursor)
	if err != nil {
		return nil, "", err
	}
	min, afterID := "-inf", ""
	var afterScore float64
	if after != nil {
		s, id, ok := bytes.Cut(after, []byte{0})
		n, perr := strconv.ParseInt(string(s), 10, 64)
		if !ok || perr != nil {
			return nil, "", badCursor()
		}
		min, afterID, afterScore = string(s), string(id), float64(n)
	}
	if err := r.ready(ctx); err != nil {
		return nil, "", err
	}
	limit = listLimit(limit)
	var zs []redis.Z
	for offset := int64(0); len(zs) <= limit; {
		batch, err := r.client.ZRangeByScoreWithScores(ctx, r.prefix+rkOutboxDue, &redis.ZRangeBy{
			Min: min, Max: "+inf", Offset: offset, Count: int64(limit + 1),
		}).Result()
		if err != nil {
			return nil, "", redisErr("list outbox", err)
		}
		for _, z := range batch {
			id, _ := z.Member.(string)
			if after != nil && z.Score == afterScore && id <= afterID {
				continue // at or before the cursor
			}
			if len(zs) <= limit {
				zs = append(zs, z)
			}
		}
		if len(batch) < limit+1 {
			break
		}
		offset += int64(len(batch))
	}
	more := len(zs) > limit
	if more {
		zs = zs[:limit]
	}
	out := make([]*OutboxEntry, 0, len(zs))
	if len(zs) > 0 {
		ids := make([]string, len(zs))
		for i, z := range zs {
			ids[i], _ = z.Member.(string)
		}
		raws, err := r.client.HMGet(ctx, r.prefix+rkOutbox, ids...).Result()
		if err != nil {
			return nil, "", redisErr("list outbox", err)
		}
		for i, raw := range raws {
			s, ok := raw.(string)
			if !ok {
				continue // removed meanwhile
			}
			e, err := decodeRecord[OutboxEntry](rkOutbox, ids[i], s)
			if err != nil {
				return nil, "", err
			}
			e.NextAt = time.UnixMicro(int64(zs[i].Score)).UTC()
			out = append(out, e)
		}
	}
	next := ""
	if more {
		last := zs[len(zs)-1]
		id, _ := last.Member.(string)
		next = encodeAdminCursor([]byte(strconv.FormatInt(int64(last.Score), 10) + "\x00" + id))
	}
	return out, next, nil
}

// OutboxEntry returns one queued entry, its NextAt being its score.
func (r *Redis) OutboxEntry(ctx context.Context, eventID string) (*OutboxEntry, error) {
	if err := r.ready(ctx); err != nil {
		return nil, err
	}
	raw, err := r.client.HGet(ctx, r.prefix+rkOutbox, eventID).Result()
	if errors.Is(err, redis.Nil) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, redisErr("outbox entry", err)
	}
	e, err := decodeRecord[OutboxEntry](rkOutbox, eventID, raw)
	if err != nil {
		return nil, err
	}
	if sc, err := r.client.ZScore(ctx, r.prefix+rkOutboxDue, eventID).Result(); err == nil {
		e.NextAt = time.UnixMicro(int64(sc)).UTC()
	}
	return e, nil
}

// DropEvent reads the entry, then removes it and stores its record in one
// script if it has not changed meanwhile (else it reads it again).
func (r *Redis) DropEvent(ctx context.Context, d *DroppedEvent) (*DroppedEvent, error) {
	if err := checkDrop(d); err != nil {
		return nil, err
	}
	if err := r.ready(ctx); err != nil {
		return nil, err
	}
	keys := []string{r.prefix + rkOutbox, r.prefix + rkOutboxDue, r.prefix + rkDropped, r.prefix + rkDroppedIDs}
	for range 10 {
		raw, err := r.client.HGet(ctx, keys[0], d.EventID).Result()
		if errors.Is(err, redis.Nil) {
			return nil, ErrNotFound
		}
		if err != nil {
			return nil, redisErr("drop event", err)
		}
		e, err := decodeRecord[OutboxEntry](rkOutbox, d.EventID, raw)
		if err != nil {
			return nil, err
		}
		rec := droppedFrom(e, d)
		data, err := json.Marshal(rec)
		if err != nil {
			return nil, err
		}
		n, err := scriptDrop.Run(ctx, r.client, keys, d.EventID, raw, data).Int64()
		if err != nil {
			return nil, redisErr("drop event", err)
		}
		switch n {
		case 1:
			return rec, nil
		case -1:
			return nil, ErrNotFound
		}
	}
	return nil, redisErr("drop event", errors.New("the entry kept changing; try again"))
}

// ListDropped pages through the dropped ids in id order (ZRANGE BYLEX).
func (r *Redis) ListDropped(ctx context.Context, cursor string, limit int) ([]*DroppedEvent, string, error) {
	after, err := decodeAdminCursor(cursor)
	if err != nil {
		return nil, "", err
	}
	if err := r.ready(ctx); err != nil {
		return nil, "", err
	}
	limit = listLimit(limit)
	min := "-"
	if after != nil {
		min = "(" + string(after)
	}
	ids, err := r.client.ZRangeByLex(ctx, r.prefix+rkDroppedIDs, &redis.ZRangeBy{Min: min, Max: "+", Count: int64(limit + 1)}).Result()
	if err != nil {
		return nil, "", redisErr("list dropped", err)
	}
	more := len(ids) > limit
	if more {
		ids = ids[:limit]
	}
	out := make([]*DroppedEvent, 0, len(ids))
	if len(ids) > 0 {
		raws, err := r.client.HMGet(ctx, r.prefix+rkDropped, ids...).Result()
		if err != nil {
			return nil, "", redisErr("list dropped", err)
		}
		for i, raw := range raws {
			s, ok := raw.(string)
			if !ok {
				continue
			}
			rec, err := decodeRecord[DroppedEvent](rkDropped, ids[i], s)
			if err != nil {
				return nil, "", err
			}
			out = append(out, rec)
		}
	}
	next := ""
	if more {
		next = encodeAdminCursor([]byte(ids[len(ids)-1]))
	}
	return out, next, nil
}
