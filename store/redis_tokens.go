package store

import (
	"context"
	"encoding/json"
	"errors"
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

// TakeOnce returns and deletes the data under key with one GETDEL, so of
// concurrent takers on any instance only one gets it; Redis has already
// dropped an expired value.
func (r *Redis) TakeOnce(ctx context.Context, key string) ([]byte, error) {
	if key == "" {
		return nil, ErrNotFound
	}
	if err := r.ready(ctx); err != nil {
		return nil, err
	}
	data, err := r.client.GetDel(ctx, r.key(rkOnce, key)).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, redisErr("take once", err)
	}
	return data, nil
}

// BeginIdempotent claims key in one script: a free key is set with a Redis
// expiry of ttl (so an expired record is simply gone), a taken one is
// returned. The record's Expires is written too, for whoever reads it,
// but Redis's expiry is what frees the key.
func (r *Redis) BeginIdempotent(ctx context.Context, key, fingerprint string, ttl time.Duration) (*IdempotencyRecord, bool, error) {
	if key == "" {
		return nil, false, providers.Missing("key")
	}
	if ttl <= 0 {
		return nil, false, providers.Invalid("ttl", "ttl must be positive")
	}
	now := time.Now().UTC()
	data, err := json.Marshal(IdempotencyRecord{Fingerprint: fingerprint, Started: now, Expires: now.Add(ttl)})
	if err != nil {
		return nil, false, err
	}
	if err := r.ready(ctx); err != nil {
		return nil, false, err
	}
	cmd, short := r.execWait(ctx, scriptBeginIdempotent, true, []string{r.key(rkIdem, key)}, data, ttlMillis(ttl))
	code, raw, err := r.runCmd("begin idempotent", cmd)
	if err == nil && short != nil {
		// Our claim, which no replica may have: the request is refused
		// (nothing is sent), so free the key on the primary rather than
		// leave it in flight, answering every retry "outcome unknown".
		if code == luaChanged {
			_ = r.AbandonIdempotent(context.WithoutCancel(ctx), key)
		}
		err = redisErr("begin idempotent", short)
	}
	if err != nil {
		return nil, false, err
	}
	if code == luaChanged {
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
