package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/caddy-payments/caddy-payments/providers"
)

// casAttempts is how many compare-and-swap updates modify tries before
// it takes the row lock instead.
const casAttempts = 4

// modify reads the record in table under id, lets change alter it and,
// when change says so, writes it back with a conditional update that
// succeeds only if the row still holds what was read (compare and swap:
// two writers never both apply a change computed from the same state).
// That is two statements and no transaction. After casAttempts lost
// races it runs the change once more in a transaction holding the row
// lock (SELECT … FOR UPDATE), which cannot lose, so a hot row (many
// concurrent refunds of one payment) still makes progress. change returns
// keep(err) to refuse; it must set its results afresh on every call. The
// result is the record as stored after the call.
func modify[T any](ctx context.Context, p *Postgres, op, kind, table, id string, change func(rec *T) (write bool, err error)) (*T, error) {
	if err := p.ready(ctx); err != nil {
		return nil, err
	}
	apply := func(raw []byte) (*T, []byte, error) {
		rec, err := pgDecode[T](kind, id, raw)
		if err != nil {
			return nil, nil, keep{err}
		}
		write, err := change(rec)
		if err != nil || !write {
			return rec, nil, err
		}
		data, err := json.Marshal(rec)
		if err != nil {
			return nil, nil, keep{fmt.Errorf("store: encoding %s record %q: %w", kind, id, err)}
		}
		return rec, data, nil
	}
	unkeep := func(err error) error {
		var k keep
		if errors.As(err, &k) {
			return k.error
		}
		return err
	}
	sel := p.q(`SELECT data FROM {s}.` + table + ` WHERE id = $1`)
	for range casAttempts {
		var raw []byte
		if err := p.pool.QueryRow(ctx, sel, id).Scan(&raw); err != nil {
			if errors.Is(err, pgx.ErrNoRows) {
				return nil, ErrNotFound
			}
			return nil, p.wrap(op, err)
		}
		rec, data, err := apply(raw)
		if err != nil {
			return nil, unkeep(err)
		}
		if data == nil {
			return rec, nil
		}
		tag, err := p.pool.Exec(ctx, p.q(`UPDATE {s}.`+table+` SET data = $2 WHERE id = $1 AND data = $3`), id, data, raw)
		if err != nil {
			return nil, p.wrap(op, err)
		}
		if tag.RowsAffected() == 1 {
			return rec, nil
		}
	}
	var out *T
	err := p.tx(ctx, op, func(tx pgx.Tx) error {
		var raw []byte
		err := tx.QueryRow(ctx, sel+" FOR UPDATE", id).Scan(&raw)
		if errors.Is(err, pgx.ErrNoRows) {
			return keep{ErrNotFound}
		}
		if err != nil {
			return err
		}
		rec, data, err := apply(raw)
		if err != nil || data == nil {
			out = rec
			return err
		}
		if _, err := tx.Exec(ctx, p.q(`UPDATE {s}.`+table+` SET data = $2 WHERE id = $1`), id, data); err != nil {
			return err
		}
		out = rec
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// PutPayment stores rec unless a payment with its ID exists; either way
// it returns a copy of the stored record (see Store). A new payment is
// one INSERT; an existing one is read, and gains the return URLs it
// lacks, in a transaction.
func (p *Postgres) PutPayment(ctx context.Context, rec *PaymentRecord) (*PaymentRecord, error) {
	if err := validatePayment(rec); err != nil {
		return nil, err
	}
	data, err := json.Marshal(rec)
	if err != nil {
		return nil, fmt.Errorf("store: encoding payment record %q: %w", rec.ID, err)
	}
	if err := p.ready(ctx); err != nil {
		return nil, err
	}
	tag, err := p.pool.Exec(ctx, p.q(`INSERT INTO {s}.payments (id, tkey, data) VALUES ($1, $2, $3) ON CONFLICT (id) DO NOTHING`),
		rec.ID, timeKey(rec.CreatedAt, rec.ID), data)
	if err != nil {
		return nil, p.wrap("storing payment", err)
	}
	if tag.RowsAffected() == 1 {
		return pgDecode[PaymentRecord]("payment", rec.ID, data)
	}
	var out *PaymentRecord
	err = p.tx(ctx, "storing payment", func(tx pgx.Tx) (err error) {
		out, err = p.putPaymentTx(ctx, tx, rec, data)
		return err
	})
	return out, err
}

// putPaymentTx is PutPayment in a transaction: insert rec (encoded as
// data) unless the id exists; an existing record, locked, gains the
// return URLs it lacks.
func (p *Postgres) putPaymentTx(ctx context.Context, tx pgx.Tx, rec *PaymentRecord, data []byte) (*PaymentRecord, error) {
	tag, err := tx.Exec(ctx, p.q(`INSERT INTO {s}.payments (id, tkey, data) VALUES ($1, $2, $3) ON CONFLICT (id) DO NOTHING`),
		rec.ID, timeKey(rec.CreatedAt, rec.ID), data)
	if err != nil {
		return nil, err
	}
	if tag.RowsAffected() == 1 {
		return pgDecode[PaymentRecord]("payment", rec.ID, data)
	}
	var raw []byte
	if err := tx.QueryRow(ctx, p.q(`SELECT data FROM {s}.payments WHERE id = $1 FOR UPDATE`), rec.ID).Scan(&raw); err != nil {
		return nil, err
	}
	existing, err := pgDecode[PaymentRecord]("payment", rec.ID, raw)
	if err != nil {
		return nil, keep{err}
	}
	if !fillReturnURLs(existing, rec) {
		return existing, nil
	}
	out, err := json.Marshal(existing)
	if err != nil {
		return nil, keep{err}
	}
	if _, err := tx.Exec(ctx, p.q(`UPDATE {s}.payments SET data = $2 WHERE id = $1`), rec.ID, out); err != nil {
		return nil, err
	}
	return existing, nil
}

// getRow reads one record by id from table; ErrNotFound when absent.
func getRow[T any](ctx context.Context, p *Postgres, kind, table, id string) (*T, error) {
	if err := p.ready(ctx); err != nil {
		return nil, err
	}
	var raw []byte
	err := p.pool.QueryRow(ctx, p.q(`SELECT data FROM {s}.`+table+` WHERE id = $1`), id).Scan(&raw)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, p.wrap("reading "+kind, err)
	}
	return pgDecode[T](kind, id, raw)
}

// GetPayment returns a copy of the payment or ErrNotFound.
func (p *Postgres) GetPayment(ctx context.Context, id string) (*PaymentRecord, error) {
	return getRow[PaymentRecord](ctx, p, "payment", "payments", id)
}

// ApplyPaymentStatus moves the payment when providers.CanTransition
// allows it (a compare-and-swap update; see Bolt's method for how change
// is recorded).
func (p *Postgres) ApplyPaymentStatus(ctx context.Context, id string, to providers.Status, confirmed bool, change StatusChange) (*PaymentRecord, bool, error) {
	changed := false
	rec, err := modify(ctx, p, "applying payment status", "payment", "payments", id, func(rec *PaymentRecord) (bool, error) {
		changed = false
		if !providers.CanTransition(rec.Status, to, confirmed) {
			return false, nil
		}
		rec.Status = to
		if change.ProviderStatus != "" {
			rec.ProviderStatus = change.ProviderStatus
		}
		rec.History = append(rec.History, stamp(change, string(to)))
		changed = true
		return true, nil
	})
	if err != nil {
		return nil, false, err
	}
	return rec, changed, nil
}

// reserveIn adds amount under key to rec's refunds when the total stays
// within the paid amount; it reports whether it changed rec.
func reserveIn(rec *PaymentRecord, key string, amount int64) (bool, error) {
	if _, ok := rec.Refunds[key]; ok {
		return false, nil
	}
	var sum int64
	for _, amt := range rec.Refunds {
		sum += amt
	}
	if amount > rec.Amount-sum { // no overflow for a huge amount
		return false, keep{ErrRefundExceeds}
	}
	if rec.Refunds == nil {
		rec.Refunds = make(map[string]int64)
	}
	rec.Refunds[key] = amount
	rec.AmountRefunded = sum + amount
	return true, nil
}

// ReserveRefund reserves amount under key within the paid amount: the
// cap is checked on the record as read, and the update applies only if
// the record is still that one (compare and swap), so concurrent
// reservations on several instances never exceed the paid amount.
func (p *Postgres) ReserveRefund(ctx context.Context, paymentID, key string, amount int64) (*PaymentRecord, error) {
	if key == "" {
		return nil, providers.Missing("key")
	}
	if amount <= 0 {
		return nil, providers.Invalid("amount", "refund amount must be positive, got %d", amount)
	}
	return modify(ctx, p, "reserving refund", "payment", "payments", paymentID, func(rec *PaymentRecord) (bool, error) {
		return reserveIn(rec, key, amount)
	})
}

// ReleaseRefund removes the reservation under key, if there is one.
func (p *Postgres) ReleaseRefund(ctx context.Context, paymentID, key string) (*PaymentRecord, error) {
	return modify(ctx, p, "releasing refund", "payment", "payments", paymentID, func(rec *PaymentRecord) (bool, error) {
		return release(rec, key), nil
	})
}

// PutRefund stores rec, overwriting a refund with the same ID.
func (p *Postgres) PutRefund(ctx context.Context, rec *RefundRecord) error {
	if rec == nil {
		return providers.Missing("refund")
	}
	if rec.ID == "" {
		return providers.Missing("id")
	}
	data, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("store: encoding refund record %q: %w", rec.ID, err)
	}
	if err := p.ready(ctx); err != nil {
		return err
	}
	_, err = p.pool.Exec(ctx, p.q(sqlPutRefund), rec.ID, data)
	return p.wrap("storing refund", err)
}

const sqlPutRefund = `INSERT INTO {s}.refunds (id, data) VALUES ($1, $2) ON CONFLICT (id) DO UPDATE SET data = EXCLUDED.data`

// GetRefund returns a copy of the refund or ErrNotFound.
func (p *Postgres) GetRefund(ctx context.Context, id string) (*RefundRecord, error) {
	return getRow[RefundRecord](ctx, p, "refund", "refunds", id)
}

// ApplyRefundStatus moves the refund when providers.CanTransitionRefund
// allows it; moving to failed releases its reservation in the payment
// record in the same transaction (both rows locked, refund first).
func (p *Postgres) ApplyRefundStatus(ctx context.Context, id string, to string, change StatusChange) (*RefundRecord, bool, error) {
	var out *RefundRecord
	var changed bool
	err := p.tx(ctx, "applying refund status", func(tx pgx.Tx) error {
		out, changed = nil, false
		var raw []byte
		err := tx.QueryRow(ctx, p.q(`SELECT data FROM {s}.refunds WHERE id = $1 FOR UPDATE`), id).Scan(&raw)
		if errors.Is(err, pgx.ErrNoRows) {
			return keep{ErrNotFound}
		}
		if err != nil {
			return err
		}
		rec, err := pgDecode[RefundRecord]("refund", id, raw)
		if err != nil {
			return keep{err}
		}
		out = rec
		if !providers.CanTransitionRefund(rec.Status, to) {
			return nil
		}
		rec.Status = to
		rec.History = append(rec.History, stamp(change, to))
		data, err := json.Marshal(rec)
		if err != nil {
			return keep{err}
		}
		if _, err := tx.Exec(ctx, p.q(`UPDATE {s}.refunds SET data = $2 WHERE id = $1`), id, data); err != nil {
			return err
		}
		changed = true
		if to != providers.RefundFailed || rec.Key == "" {
			return nil
		}
		var praw []byte
		err = tx.QueryRow(ctx, p.q(`SELECT data FROM {s}.payments WHERE id = $1 FOR UPDATE`), rec.PaymentID).Scan(&praw)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		pay, err := pgDecode[PaymentRecord]("payment", rec.PaymentID, praw)
		if err != nil {
			return keep{err}
		}
		if !release(pay, rec.Key) {
			return nil
		}
		pdata, err := json.Marshal(pay)
		if err != nil {
			return keep{err}
		}
		_, err = tx.Exec(ctx, p.q(`UPDATE {s}.payments SET data = $2 WHERE id = $1`), rec.PaymentID, pdata)
		return err
	})
	if err != nil {
		return nil, false, err
	}
	return out, changed, nil
}

// PutPayout stores rec unless a payout with its ID exists (first writer
// wins); either way it returns a copy of the stored record.
func (p *Postgres) PutPayout(ctx context.Context, rec *PayoutRecord) (*PayoutRecord, error) {
	if rec == nil {
		return nil, providers.Missing("payout")
	}
	if rec.ID == "" {
		return nil, providers.Missing("id")
	}
	data, err := json.Marshal(rec)
	if err != nil {
		return nil, fmt.Errorf("store: encoding payout record %q: %w", rec.ID, err)
	}
	if err := p.ready(ctx); err != nil {
		return nil, err
	}
	// One statement: the insert, or (on a conflict) the stored row.
	var raw []byte
	err = p.pool.QueryRow(ctx, p.q(`WITH ins AS (
		INSERT INTO {s}.payouts (id, data) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING RETURNING data)
		SELECT data FROM ins UNION ALL SELECT data FROM {s}.payouts WHERE id = $1 LIMIT 1`), rec.ID, data).Scan(&raw)
	if errors.Is(err, pgx.ErrNoRows) {
		// The conflicting row was inserted by a transaction not visible
		// to this statement's snapshot; read it now.
		return getRow[PayoutRecord](ctx, p, "payout", "payouts", rec.ID)
	}
	if err != nil {
		return nil, p.wrap("storing payout", err)
	}
	return pgDecode[PayoutRecord]("payout", rec.ID, raw)
}

// GetPayout returns a copy of the payout or ErrNotFound.
func (p *Postgres) GetPayout(ctx context.Context, id string) (*PayoutRecord, error) {
	return getRow[PayoutRecord](ctx, p, "payout", "payouts", id)
}

// ApplyPayoutStatus moves the payout when providers.CanTransitionPayout
// allows it (compare and swap).
func (p *Postgres) ApplyPayoutStatus(ctx context.Context, id string, to string, change StatusChange) (*PayoutRecord, bool, error) {
	changed := false
	rec, err := modify(ctx, p, "applying payout status", "payout", "payouts", id, func(rec *PayoutRecord) (bool, error) {
		changed = false
		if !providers.CanTransitionPayout(rec.Status, to) {
			return false, nil
		}
		rec.Status = to
		rec.History = append(rec.History, stamp(change, to))
		changed = true
		return true, nil
	})
	if err != nil {
		return nil, false, err
	}
	return rec, changed, nil
}

const sqlMarkDelivered = `INSERT INTO {s}.delivered (id, at) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING`

// MarkDelivered records eventID as accepted by the shop.
func (p *Postgres) MarkDelivered(ctx context.Context, eventID string) error {
	if eventID == "" {
		return providers.Missing("event_id")
	}
	if err := p.ready(ctx); err != nil {
		return err
	}
	_, err := p.pool.Exec(ctx, p.q(sqlMarkDelivered), eventID, time.Now().UTC())
	return p.wrap("marking delivered", err)
}

// Delivered reports whether MarkDelivered was called for eventID.
func (p *Postgres) Delivered(ctx context.Context, eventID string) (bool, error) {
	if eventID == "" {
		return false, providers.Missing("event_id")
	}
	if err := p.ready(ctx); err != nil {
		return false, err
	}
	var ok bool
	err := p.pool.QueryRow(ctx, p.q(`SELECT EXISTS (SELECT 1 FROM {s}.delivered WHERE id = $1)`), eventID).Scan(&ok)
	return ok, p.wrap("reading delivered", err)
}

const sqlPutOnce = `INSERT INTO {s}.once (key, expires, data) VALUES ($1, $2, $3)
	ON CONFLICT (key) DO UPDATE SET expires = EXCLUDED.expires, data = EXCLUDED.data`

// PutOnce stores data under key until it is taken or ttl passes.
func (p *Postgres) PutOnce(ctx context.Context, key string, data []byte, ttl time.Duration) error {
	if key == "" {
		return providers.Missing("key")
	}
	if ttl <= 0 {
		return providers.Invalid("ttl", "ttl must be positive")
	}
	if err := p.ready(ctx); err != nil {
		return err
	}
	if data == nil {
		data = []byte{}
	}
	_, err := p.pool.Exec(ctx, p.q(sqlPutOnce), key, time.Now().Add(ttl).UTC(), data)
	return p.wrap("storing one-time data", err)
}

// TakeOnce deletes the row under key and returns its data unless it
// expired: one DELETE … RETURNING, so two takers never both get it.
func (p *Postgres) TakeOnce(ctx context.Context, key string) ([]byte, error) {
	if key == "" {
		return nil, ErrNotFound
	}
	if err := p.ready(ctx); err != nil {
		return nil, err
	}
	var data []byte
	var expires time.Time
	err := p.pool.QueryRow(ctx, p.q(`DELETE FROM {s}.once WHERE key = $1 RETURNING expires, data`), key).Scan(&expires, &data)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, p.wrap("taking one-time data", err)
	}
	if !time.Now().Before(expires) {
		return nil, ErrNotFound
	}
	return data, nil
}

// maxBeginAttempts bounds BeginIdempotent's retries when the key it
// found taken was freed or expired before it could read it.
const maxBeginAttempts = 16

// BeginIdempotent claims key (see Store): one upsert that inserts the
// in-flight record, or replaces an expired one; when the key is taken,
// the record is read and returned.
func (p *Postgres) BeginIdempotent(ctx context.Context, key, fingerprint string, ttl time.Duration) (*IdempotencyRecord, bool, error) {
	if key == "" {
		return nil, false, providers.Missing("key")
	}
	if ttl <= 0 {
		return nil, false, providers.Invalid("ttl", "ttl must be positive")
	}
	for range maxBeginAttempts {
		if err := p.ready(ctx); err != nil {
			return nil, false, err
		}
		now := time.Now().UTC()
		rec := IdempotencyRecord{Fingerprint: fingerprint, Started: now, Expires: now.Add(ttl)}
		data, err := json.Marshal(rec)
		if err != nil {
			return nil, false, err
		}
		tag, err := p.pool.Exec(ctx, p.q(`INSERT INTO {s}.idempotency (key, expires, data) VALUES ($1, $2, $3)
			ON CONFLICT (key) DO UPDATE SET expires = EXCLUDED.expires, data = EXCLUDED.data
			WHERE {s}.idempotency.expires <= $4`), key, rec.Expires, data, now)
		if err != nil {
			return nil, false, p.wrap("beginning idempotent request", err)
		}
		if tag.RowsAffected() == 1 {
			return nil, true, nil
		}
		var raw []byte
		err = p.pool.QueryRow(ctx, p.q(`SELECT data FROM {s}.idempotency WHERE key = $1`), key).Scan(&raw)
		if errors.Is(err, pgx.ErrNoRows) {
			continue // abandoned meanwhile: try to claim it again
		}
		if err != nil {
			return nil, false, p.wrap("reading idempotency key", err)
		}
		existing, err := pgDecode[IdempotencyRecord]("idempotency", key, raw)
		if err != nil {
			return nil, false, err
		}
		if !time.Now().Before(existing.Expires) {
			continue // expired in between: claim it
		}
		return existing, false, nil
	}
	return nil, false, fmt.Errorf("store: postgres: idempotency key kept changing; gave up after %d attempts", maxBeginAttempts)
}

// finishIdemData is the stored record of a started key with f's response.
func finishIdemData(raw []byte, f *IdempotentFinish) ([]byte, error) {
	var rec IdempotencyRecord
	if err := json.Unmarshal(raw, &rec); err != nil {
		return nil, err
	}
	rec.Done, rec.Status, rec.ContentType, rec.Body = true, f.Status, f.ContentType, f.Body
	return json.Marshal(rec)
}

// FinishIdempotent stores the response under a started key (ErrNotFound
// when it is not there).
func (p *Postgres) FinishIdempotent(ctx context.Context, key string, status int, contentType string, body []byte) error {
	return p.tx(ctx, "finishing idempotent request", func(tx pgx.Tx) error {
		return p.finishTx(ctx, tx, &IdempotentFinish{Key: key, Status: status, ContentType: contentType, Body: body})
	})
}

// finishTx locks the started record of f.Key and stores the finished
// one; keep(ErrNotFound) when the key is missing.
func (p *Postgres) finishTx(ctx context.Context, tx pgx.Tx, f *IdempotentFinish) error {
	var raw []byte
	err := tx.QueryRow(ctx, p.q(`SELECT data FROM {s}.idempotency WHERE key = $1 FOR UPDATE`), f.Key).Scan(&raw)
	if errors.Is(err, pgx.ErrNoRows) {
		return keep{ErrNotFound}
	}
	if err != nil {
		return err
	}
	out, err := finishIdemData(raw, f)
	if err != nil {
		return keep{err}
	}
	_, err = tx.Exec(ctx, p.q(`UPDATE {s}.idempotency SET data = $2 WHERE key = $1`), f.Key, out)
	return err
}

// AbandonIdempotent frees a key whose request executed nothing.
func (p *Postgres) AbandonIdempotent(ctx context.Context, key string) error {
	if err := p.ready(ctx); err != nil {
		return err
	}
	_, err := p.pool.Exec(ctx, p.q(`DELETE FROM {s}.idempotency WHERE key = $1`), key)
	return p.wrap("abandoning idempotency key", err)
}

// Commit makes the writes of w in one transaction: the started
// idempotency record is locked and checked first (ErrNotFound before
// anything is written), then the parts are sent as one batch, in the
// order of Writes' fields.
func (p *Postgres) Commit(ctx context.Context, w *Writes) error {
	if w.empty() {
		return p.ready(ctx)
	}
	if err := w.validate(); err != nil {
		return err
	}
	var payment, refund, payout []byte
	var err error
	if w.Payment != nil {
		if payment, err = json.Marshal(w.Payment); err != nil {
			return err
		}
	}
	if w.Refund != nil {
		if refund, err = json.Marshal(w.Refund); err != nil {
			return err
		}
	}
	if w.Payout != nil {
		if payout, err = json.Marshal(w.Payout); err != nil {
			return err
		}
	}
	checks := make([][]byte, len(w.Checks))
	for i, c := range w.Checks {
		if checks[i], err = json.Marshal(c); err != nil {
			return err
		}
	}
	return p.tx(ctx, "committing writes", func(tx pgx.Tx) error {
		var finished []byte
		if f := w.Finish; f != nil {
			var raw []byte
			err := tx.QueryRow(ctx, p.q(`SELECT data FROM {s}.idempotency WHERE key = $1 FOR UPDATE`), f.Key).Scan(&raw)
			if errors.Is(err, pgx.ErrNoRows) {
				return keep{ErrNotFound}
			}
			if err != nil {
				return err
			}
			if finished, err = finishIdemData(raw, f); err != nil {
				return keep{err}
			}
		}
		if w.Payment != nil {
			if _, err := p.putPaymentTx(ctx, tx, w.Payment, payment); err != nil {
				return err
			}
		}
		b := &pgx.Batch{}
		if w.Refund != nil {
			b.Queue(p.q(sqlPutRefund), w.Refund.ID, refund)
		}
		if w.Payout != nil {
			b.Queue(p.q(`INSERT INTO {s}.payouts (id, data) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING`), w.Payout.ID, payout)
		}
		for i, c := range w.Checks {
			b.Queue(p.q(sqlScheduleCheck), c.ID, c.NextAt.UTC(), checks[i])
		}
		for _, o := range w.Once {
			data := o.Data
			if data == nil {
				data = []byte{}
			}
			b.Queue(p.q(sqlPutOnce), o.Key, time.Now().Add(o.TTL).UTC(), data)
		}
		if finished != nil {
			b.Queue(p.q(`UPDATE {s}.idempotency SET data = $2 WHERE key = $1`), w.Finish.Key, finished)
		}
		at := time.Now().UTC()
		for _, id := range w.Delivered {
			b.Queue(p.q(sqlMarkDelivered), id, at)
		}
		if w.RemoveEvent != "" {
			b.Queue(p.q(`DELETE FROM {s}.outbox WHERE event_id = $1`), w.RemoveEvent)
		}
		if b.Len() == 0 {
			return nil
		}
		return tx.SendBatch(ctx, b).Close()
	})
}
