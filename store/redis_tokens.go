package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/caddy-payments/caddy-payments/providers"
)

// PutOnce stores data under key with a Redis expiry of ttl (rounded up to
// whole milliseconds), overwriting an existing value.
func (r *Redis) PutOnce(ctx context.Context, key string, data []byte, ttl time.Duration) error {
	if key == "" {
		return providers.Missing("key")
	}
	if ttl <= 0 {
		return providers.Invalid("ttl", "ttl must be positive")
	}
	if err := r.ready(ctx); err != nil {
		return err
	}
	if err := r.client.Set(ctx, r.key(rkOnce, key), data, time.Duration(ttlMillis(ttl))*time.Millisecond).Err(); err != nil {
		return redisErr("put once", err)
	}
	return nil
}

// TakeOnce returns and deletes the data under key in one script, so of
// concurrent takers on any instance only one gets it; Redis has already
// dropped an expired value. A take guards money (a launch token is
// spent on a provider call that creates a payment), so with Replicas set
// it waits for the replicas like the other guarded writes: a take they
// did not acknowledge could come back after a failover and launch a
// second payment, so it is put back as it was (value and remaining
// lifetime) and reported as an error, and the customer may try again.
func (r *Redis) TakeOnce(ctx context.Context, key string) ([]byte, error) {
	if key == "" {
		return nil, ErrNotFound
	}
	if err := r.ready(ctx); err != nil {
		return nil, err
	}
	k := r.key(rkOnce, key)
	cmd, short := r.execWait(ctx, scriptTakeOnce, true, []string{k})
	res, err := cmd.Slice()
	if errors.Is(err, redis.Nil) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, redisErr("take once", err)
	}
	if len(res) != 2 {
		return nil, redisErr("take once", fmt.Errorf("unexpected script reply of %d values", len(res)))
	}
	data, _ := res[0].(string)
	if short != nil {
		if ttl, ok := res[1].(int64); ok && ttl > 0 {
			_ = r.client.SetNX(context.WithoutCancel(ctx), k, data, time.Duration(ttl)*time.Millisecond).Err()
		}
		return nil, redisErr("take once", short)
	}
	return []byte(data), nil
}

// BeginIdempotent claims key in one script: a free key is set with a Redis
// expiry of ttl (so an expired record is simply gone), a taken one is
// returned. The record's Expires is written too, for whoever reads it,
// but Redis's expiry is what frees the key. The record carries a random
// nonce: if the client sends the script again (go-redis retries a
// command whose connection broke, e.g. while it waited for replicas),
// the second run finds this very claim and reports it as ours.
func (r *Redis) BeginIdempotent(ctx context.Context, key, fingerprint string, ttl time.Duration) (*IdempotencyRecord, bool, error) {
	if key == "" {
		return nil, false, providers.Missing("key")
	}
	if ttl <= 0 {
		return nil, false, providers.Invalid("ttl", "ttl must be positive")
	}
	var nonce [12]byte
	if _, err := rand.Read(nonce[:]); err != nil {
		return nil, false, err
	}
	now := time.Now().UTC()
	data, err := json.Marshal(IdempotencyRecord{Fingerprint: fingerprint, Nonce: hex.EncodeToString(nonce[:]), Started: now, Expires: now.Add(ttl)})
	if err != nil {
		return nil, false, err
	}
	if err := r.ready(ctx); err != nil {
		return nil, false, err
	}
	k := r.key(rkIdem, key)
	cmd, short := r.execWait(ctx, scriptBeginIdempotent, true, []string{k}, data, ttlMillis(ttl))
	code, raw, err := r.runCmd("begin idempotent", cmd)
	ours := err == nil && (code == luaChanged || raw == string(data))
	if err == nil && short != nil {
		// Our claim, which no replica may have: the request is refused
		// (nothing is sent), so free the key on the primary rather than
		// leave it in flight, answering every retry "outcome unknown" —
		// only while it still holds our record: after a failover the
		// key may be another request's claim by now.
		if ours {
			_ = scriptDeleteIfSame.Run(context.WithoutCancel(ctx), r.client, []string{k}, data).Err()
		}
		err = redisErr("begin idempotent", short)
	}
	if err != nil {
		return nil, false, err
	}
	if ours {
		return nil, true, nil
	}
	rec, err := decodeRecord[IdempotencyRecord](rkIdem, key, raw)
	if err != nil {
		return nil, false, err
	}
	return rec, false, nil
}

// FinishIdempotent stores the response under a started key, keeping the
// key's expiry; ErrNotFound when the key is gone.
func (r *Redis) FinishIdempotent(ctx context.Context, key string, status int, contentType string, body []byte) error {
	data, err := finishPatch(status, contentType, body)
	if err != nil {
		return err
	}
	if err := r.ready(ctx); err != nil {
		return err
	}
	code, _, err := r.run(ctx, "finish idempotent", scriptFinishIdempotent, []string{r.key(rkIdem, key)}, data)
	if err != nil {
		return err
	}
	if code == luaNotFound {
		return ErrNotFound
	}
	return nil
}

// AbandonIdempotent frees a key whose request executed nothing.
func (r *Redis) AbandonIdempotent(ctx context.Context, key string) error {
	if err := r.ready(ctx); err != nil {
		return err
	}
	if err := r.client.Del(ctx, r.key(rkIdem, key)).Err(); err != nil {
		return redisErr("abandon idempotent", err)
	}
	return nil
}

// finishPatch is the merge patch that completes an idempotency record
// (scriptFinishIdempotent, scriptCommit): null removes a field, as Go's
// omitempty would.
func finishPatch(status int, contentType string, body []byte) ([]byte, error) {
	patch := map[string]any{"done": true, "status": nil, "content_type": nil, "body": nil}
	if status != 0 {
		patch["status"] = status
	}
	if contentType != "" {
		patch["content_type"] = contentType
	}
	if len(body) > 0 {
		patch["body"] = body
	}
	return json.Marshal(patch)
}
