package store

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/caddy-payments/caddy-payments/providers"
)

// maxRefundStatusRetries bounds ApplyRefundStatus's re-reads when a
// concurrent PutRefund moves the refund to another payment between the
// read and the script (which never happens in the gateway's own flow).
const maxRefundStatusRetries = 5

// validateRedisPayment adds the Redis store's bound to validatePayment:
// the amount and each reservation at most RedisMaxAmount. Checking each
// reservation first also keeps validatePayment's sum from overflowing.
func validateRedisPayment(rec *PaymentRecord) error {
	if rec != nil {
		if rec.Amount > RedisMaxAmount {
			return providers.Invalid("amount", "amount must not exceed %d minor units in the Redis store, got %d", RedisMaxAmount, rec.Amount)
		}
		for key, amt := range rec.Refunds {
			if amt > rec.Amount {
				return providers.Invalid("refunds", "refund %q (%d) must not exceed amount (%d)", key, amt, rec.Amount)
			}
		}
	}
	return validatePayment(rec)
}

// checkRedisAmount refuses amounts the Lua scripts could not hold exactly.
func checkRedisAmount(amount int64) error {
	if amount > RedisMaxAmount || amount < -RedisMaxAmount {
		return providers.Invalid("amount", "amount must be within ±%d minor units in the Redis store, got %d", RedisMaxAmount, amount)
	}
	return nil
}

// putFirst stores rec under kind/id unless the key exists and returns a
// fresh copy of whatever is stored (first writer wins, one SET NX script).
func putFirst[T any](ctx context.Context, r *Redis, kind, id string, rec any) (*T, error) {
	data, err := json.Marshal(rec)
	if err != nil {
		return nil, fmt.Errorf("store: encoding %s record %q: %w", kind, id, err)
	}
	if err := r.ready(ctx); err != nil {
		return nil, err
	}
	raw, err := scriptPutFirst.Run(ctx, r.client, []string{r.key(kind, id)}, data).Text()
	if err != nil {
		return nil, redisErr("put "+kind, err)
	}
	return decodeRecord[T](kind, id, raw)
}

// PutPayment stores rec unless a payment with its ID exists; either way it
// returns a copy of the stored record. Amounts above RedisMaxAmount are
// refused.
func (r *Redis) PutPayment(ctx context.Context, rec *PaymentRecord) (*PaymentRecord, error) {
	if err := validateRedisPayment(rec); err != nil {
		return nil, err
	}
	return r.putPayment(ctx, rec) // redis_events.go: with its time index
}

// GetPayment returns a copy of the payment or ErrNotFound.
func (r *Redis) GetPayment(ctx context.Context, id string) (*PaymentRecord, error) {
	return getRecord[PaymentRecord](ctx, r, rkPayment, id)
}

// stampJSON fills in the history entry as bolt's stamp does and encodes it
// for a script.
func stampJSON(change StatusChange, status string) (string, error) {
	data, err := json.Marshal(stamp(change, status))
	if err != nil {
		return "", fmt.Errorf("store: encoding status change: %w", err)
	}
	return string(data), nil
}

// ApplyPaymentStatus moves the payment to `to` when the Lua copy of
// providers.CanTransition allows it, in one script; see Bolt's method for
// how change is recorded.
func (r *Redis) ApplyPaymentStatus(ctx context.Context, id string, to providers.Status, confirmed bool, change StatusChange) (*PaymentRecord, bool, error) {
	ch, err := stampJSON(change, string(to))
	if err != nil {
		return nil, false, err
	}
	if err := r.ready(ctx); err != nil {
		return nil, false, err
	}
	conf := "0"
	if confirmed {
		conf = "1"
	}
	code, raw, err := r.run(ctx, "apply payment status", scriptApplyPayment, []string{r.key(rkPayment, id)}, string(to), conf, ch)
	return recordResult[PaymentRecord](rkPayment, id, code, raw, err)
}

// recordResult turns a script's {code, json} reply into the method's
// results.
func recordResult[T any](kind, id string, code int64, raw string, err error) (*T, bool, error) {
	if err != nil {
		return nil, false, err
	}
	switch code {
	case luaNotFound:
		return nil, false, ErrNotFound
	case luaExceeds:
		return nil, false, ErrRefundExceeds
	case luaUnchanged, luaChanged:
		rec, err := decodeRecord[T](kind, id, raw)
		if err != nil {
			return nil, false, err
		}
		return rec, code == luaChanged, nil
	}
	return nil, false, redisErr(kind, fmt.Errorf("unexpected script result %d", code))
}

// ReserveRefund reserves amount under key within the paid amount, the cap
// checked inside one script. An amount above RedisMaxAmount always
// exceeds (no payment is larger), so it is passed to the script as 2^53:
// an unknown payment still reports ErrNotFound and an existing key still
// is a no-op, exactly as in Bolt.
func (r *Redis) ReserveRefund(ctx context.Context, paymentID, key string, amount int64) (*PaymentRecord, error) {
	if key == "" {
		return nil, providers.Missing("key")
	}
	if amount <= 0 {
		return nil, providers.Invalid("amount", "refund amount must be positive, got %d", amount)
	}
	if amount > RedisMaxAmount {
		amount = RedisMaxAmount + 1
	}
	if err := r.ready(ctx); err != nil {
		return nil, err
	}
	cmd, short := r.execWait(ctx, scriptReserveRefund, true, []string{r.key(rkPayment, paymentID)}, key, amount)
	code, raw, err := r.runCmd("reserve refund", cmd)
	rec, reserved, err := recordResult[PaymentRecord](rkPayment, paymentID, code, raw, err)
	if err == nil && short != nil {
		// Our reservation, which no replica may have: the refund is
		// refused (nothing is sent), so give the amount back on the
		// primary rather than hold it reserved.
		if reserved {
			_, _ = r.ReleaseRefund(context.WithoutCancel(ctx), paymentID, key)
		}
		return nil, redisErr("reserve refund", short)
	}
	return rec, err
}

// ReleaseRefund removes the reservation under key, if there is one.
func (r *Redis) ReleaseRefund(ctx context.Context, paymentID, key string) (*PaymentRecord, error) {
	if err := r.ready(ctx); err != nil {
		return nil, err
	}
	code, raw, err := r.run(ctx, "release refund", scriptReleaseRefund, []string{r.key(rkPayment, paymentID)}, key)
	rec, _, err := recordResult[PaymentRecord](rkPayment, paymentID, code, raw, err)
	return rec, err
}

// PutRefund stores rec, overwriting a refund with the same ID. Amounts
// beyond ±RedisMaxAmount are refused.
func (r *Redis) PutRefund(ctx context.Context, rec *RefundRecord) error {
	if rec == nil {
		return providers.Missing("refund")
	}
	if rec.ID == "" {
		return providers.Missing("id")
	}
	if err := checkRedisAmount(rec.Amount); err != nil {
		return err
	}
	data, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("store: encoding refund record %q: %w", rec.ID, err)
	}
	if err := r.ready(ctx); err != nil {
		return err
	}
	if err := r.client.Set(ctx, r.key(rkRefund, rec.ID), data, 0).Err(); err != nil {
		return redisErr("put refund", err)
	}
	return nil
}

// GetRefund returns a copy of the refund or ErrNotFound.
func (r *Redis) GetRefund(ctx context.Context, id string) (*RefundRecord, error) {
	return getRecord[RefundRecord](ctx, r, rkRefund, id)
}

// ApplyRefundStatus moves the refund to `to` when the Lua copy of
// providers.CanTransitionRefund allows it; moving to failed releases the
// reservation in the payment record in the same script. The payment's key
// is passed to the script (scripts must name the keys they touch), so the
// refund is read first for its payment id and the script re-checks it.
func (r *Redis) ApplyRefundStatus(ctx context.Context, id string, to string, change StatusChange) (*RefundRecord, bool, error) {
	ch, err := stampJSON(change, to)
	if err != nil {
		return nil, false, err
	}
	for range maxRefundStatusRetries {
		cur, err := r.GetRefund(ctx, id)
		if err != nil {
			return nil, false, err
		}
		keys := []string{r.key(rkRefund, id), r.key(rkPayment, cur.PaymentID)}
		code, raw, err := r.run(ctx, "apply refund status", scriptApplyRefund, keys, to, ch, cur.PaymentID)
		if err == nil && code == luaRetry {
			continue
		}
		return recordResult[RefundRecord](rkRefund, id, code, raw, err)
	}
	return nil, false, fmt.Errorf("store: refund %q kept changing its payment; gave up after %d attempts", id, maxRefundStatusRetries)
}

// PutPayout stores rec unless a payout with its ID exists (first writer
// wins); either way it returns a copy of the stored record. Amounts
// beyond ±RedisMaxAmount are refused.
func (r *Redis) PutPayout(ctx context.Context, rec *PayoutRecord) (*PayoutRecord, error) {
	if rec == nil {
		return nil, providers.Missing("payout")
	}
	if rec.ID == "" {
		return nil, providers.Missing("id")
	}
	if err := checkRedisAmount(rec.Amount); err != nil {
		return nil, err
	}
	return putFirst[PayoutRecord](ctx, r, rkPayout, rec.ID, rec)
}

// GetPayout returns a copy of the payout or ErrNotFound.
func (r *Redis) GetPayout(ctx context.Context, id string) (*PayoutRecord, error) {
	return getRecord[PayoutRecord](ctx, r, rkPayout, id)
}

// ApplyPayoutStatus moves the payout to `to` when the Lua copy of
// providers.CanTransitionPayout allows it, in one script.
func (r *Redis) ApplyPayoutStatus(ctx context.Context, id string, to string, change StatusChange) (*PayoutRecord, bool, error) {
	ch, err := stampJSON(change, to)
	if err != nil {
		return nil, false, err
	}
	if err := r.ready(ctx); err != nil {
		return nil, false, err
	}
	code, raw, err := r.run(ctx, "apply payout status", scriptApplyPayout, []string{r.key(rkPayout, id)}, to, ch)
	return recordResult[PayoutRecord](rkPayout, id, code, raw, err)
}
