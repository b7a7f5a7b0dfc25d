package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/caddy-payments/caddy-payments/providers"
)

// The outbox and the reconcile queue keep each entry's due time in the
// next_at column, which is authoritative: the JSON's next_at is replaced
// by it on every read. A claim is one statement: it selects the due rows
// on the (next_at, id) index with FOR UPDATE SKIP LOCKED, so concurrent
// claimers (other instances) skip each other's rows instead of waiting or
// taking them twice, and moves their next_at to the lease's end. When
// nothing is due the statement locks and writes no row.

// EnqueueEvent stores e unless an entry with its EventID is queued, the
// event was delivered, or another event carries its announcement; the
// checks and the writes (outbox row, announcement, event log) are one
// transaction.
func (p *Postgres) EnqueueEvent(ctx context.Context, e *OutboxEntry) (bool, error) {
	if e == nil || e.EventID == "" {
		return false, providers.Missing("event_id")
	}
	data, err := json.Marshal(e)
	if err != nil {
		return false, err
	}
	logged := *e
	logged.Created = eventCreated(e)
	logged.Attempts, logged.LastError = 0, ""
	logData, err := json.Marshal(&logged)
	if err != nil {
		return false, err
	}
	var created any
	if !e.Created.IsZero() {
		created = e.Created.UTC()
	}
	stored := false
	errNo := errors.New("not stored")
	err = p.tx(ctx, "queueing event", func(tx pgx.Tx) error {
		stored = false
		var skip bool
		if err := tx.QueryRow(ctx, p.q(`SELECT EXISTS (SELECT 1 FROM {s}.outbox WHERE event_id = $1)
			OR EXISTS (SELECT 1 FROM {s}.delivered WHERE id = $1 OR (id = $2 AND $2 <> ''))`), e.EventID, e.Announce).Scan(&skip); err != nil {
			return err
		}
		if skip {
			return nil
		}
		if e.Announce != "" {
			var owner string
			err := tx.QueryRow(ctx, p.q(`WITH ins AS (
				INSERT INTO {s}.announced (key, event_id) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING RETURNING event_id)
				SELECT event_id FROM ins UNION ALL SELECT event_id FROM {s}.announced WHERE key = $1 LIMIT 1`), e.Announce, e.EventID).Scan(&owner)
			if errors.Is(err, pgx.ErrNoRows) {
				// Announced by a transaction this statement's snapshot
				// does not see (committed meanwhile): read it now.
				err = tx.QueryRow(ctx, p.q(`SELECT event_id FROM {s}.announced WHERE key = $1`), e.Announce).Scan(&owner)
			}
			if err != nil {
				return err
			}
			if owner != e.EventID {
				return keep{errNo}
			}
		}
		tag, err := tx.Exec(ctx, p.q(`INSERT INTO {s}.outbox (event_id, next_at, created, data) VALUES ($1, $2, $3, $4)
			ON CONFLICT (event_id) DO NOTHING`), e.EventID, e.NextAt.UTC(), created, data)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return keep{errNo} // queued concurrently: roll the announcement back
		}
		if _, err := tx.Exec(ctx, p.q(`INSERT INTO {s}.events (event_id, tkey, data) VALUES ($1, $2, $3) ON CONFLICT (event_id) DO NOTHING`),
			e.EventID, timeKey(logged.Created, e.EventID), logData); err != nil {
			return err
		}
		stored = true
		return nil
	})
	if errors.Is(err, errNo) {
		return false, nil
	}
	return stored && err == nil, err
}

// queued is a row of a due queue as claimed or listed.
type queued struct {
	id     string
	nextAt time.Time
	data   []byte
}

// claimRows runs a claim statement on table (outbox keyed by event_id, or
// reconcile keyed by id) and returns the rows as they were before the
// lease, in due order.
func (p *Postgres) claimRows(ctx context.Context, op, table, idCol string, now time.Time, limit int, lease time.Duration) ([]queued, error) {
	if err := p.ready(ctx); err != nil {
		return nil, err
	}
	if limit <= 0 {
		return nil, nil
	}
	rows, err := p.pool.Query(ctx, p.q(`WITH due AS (
		SELECT `+idCol+` AS id, next_at, data FROM {s}.`+table+`
		WHERE next_at <= $1 ORDER BY next_at, `+idCol+` LIMIT $2 FOR UPDATE SKIP LOCKED)
		UPDATE {s}.`+table+` t SET next_at = $3 FROM due WHERE t.`+idCol+` = due.id
		RETURNING due.id, due.next_at, due.data`), now.UTC(), limit, now.Add(lease).UTC())
	if err != nil {
		return nil, p.wrap(op, err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (queued, error) {
		var q queued
		err := r.Scan(&q.id, &q.nextAt, &q.data)
		return q, err
	})
	if err != nil {
		return nil, p.wrap(op, err)
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].nextAt.Equal(out[j].nextAt) {
			return out[i].nextAt.Before(out[j].nextAt)
		}
		return out[i].id < out[j].id
	})
	return out, nil
}

// outboxEntry decodes a row of the outbox, its due time from the column.
func outboxEntry(q queued) (*OutboxEntry, error) {
	e, err := pgDecode[OutboxEntry]("outbox", q.id, q.data)
	if err != nil {
		return nil, err
	}
	e.NextAt = q.nextAt.UTC()
	return e, nil
}

// ClaimDueEvents takes up to limit due entries and leases them (see the
// note above EnqueueEvent).
func (p *Postgres) ClaimDueEvents(ctx context.Context, now time.Time, limit int, lease time.Duration) ([]*OutboxEntry, error) {
	rows, err := p.claimRows(ctx, "claiming due events", "outbox", "event_id", now, limit, lease)
	if err != nil {
		return nil, err
	}
	out := make([]*OutboxEntry, 0, len(rows))
	for _, q := range rows {
		e, err := outboxEntry(q)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, nil
}

// RescheduleEvent records a failed attempt and the next attempt time
// (ErrNotFound when the entry is not queued).
func (p *Postgres) RescheduleEvent(ctx context.Context, eventID string, attempts int, next time.Time, lastError string) error {
	return p.tx(ctx, "rescheduling event", func(tx pgx.Tx) error {
		var raw []byte
		err := tx.QueryRow(ctx, p.q(`SELECT data FROM {s}.outbox WHERE event_id = $1 FOR UPDATE`), eventID).Scan(&raw)
		if errors.Is(err, pgx.ErrNoRows) {
			return keep{ErrNotFound}
		}
		if err != nil {
			return err
		}
		e, err := pgDecode[OutboxEntry]("outbox", eventID, raw)
		if err != nil {
			return keep{err}
		}
		e.Attempts, e.NextAt, e.LastError = attempts, next.UTC(), lastError
		data, err := json.Marshal(e)
		if err != nil {
			return keep{err}
		}
		_, err = tx.Exec(ctx, p.q(`UPDATE {s}.outbox SET next_at = $2, data = $3 WHERE event_id = $1`), eventID, e.NextAt, data)
		return err
	})
}

// RemoveEvent deletes a delivered entry (a missing one is no error).
func (p *Postgres) RemoveEvent(ctx context.Context, eventID string) error {
	if err := p.ready(ctx); err != nil {
		return err
	}
	_, err := p.pool.Exec(ctx, p.q(`DELETE FROM {s}.outbox WHERE event_id = $1`), eventID)
	return p.wrap("removing event", err)
}

// OutboxDepth counts the queued entries (count(*): a scan of the
// outbox's index, which stays small while the shop accepts events).
func (p *Postgres) OutboxDepth(ctx context.Context) (int, error) {
	if err := p.ready(ctx); err != nil {
		return 0, err
	}
	var n int
	err := p.pool.QueryRow(ctx, p.q(`SELECT count(*) FROM {s}.outbox`)).Scan(&n)
	return n, p.wrap("counting the outbox", err)
}

// OldestEvent is the creation time of the oldest queued entry.
func (p *Postgres) OldestEvent(ctx context.Context) (time.Time, bool, error) {
	if err := p.ready(ctx); err != nil {
		return time.Time{}, false, err
	}
	var t *time.Time
	if err := p.pool.QueryRow(ctx, p.q(`SELECT min(created) FROM {s}.outbox`)).Scan(&t); err != nil {
		return time.Time{}, false, p.wrap("reading the oldest outbox entry", err)
	}
	if t == nil {
		return time.Time{}, false, nil
	}
	return t.UTC(), true, nil
}

const sqlScheduleCheck = `INSERT INTO {s}.reconcile (id, next_at, data) VALUES ($1, $2, $3)
	ON CONFLICT (id) DO UPDATE SET next_at = EXCLUDED.next_at, data = EXCLUDED.data`

// ScheduleCheck stores or replaces an object's reconcile check.
func (p *Postgres) ScheduleCheck(ctx context.Context, c *ReconcileCheck) error {
	if c == nil || c.ID == "" {
		return providers.Missing("payment_id")
	}
	data, err := json.Marshal(c)
	if err != nil {
		return err
	}
	if err := p.ready(ctx); err != nil {
		return err
	}
	_, err = p.pool.Exec(ctx, p.q(sqlScheduleCheck), c.ID, c.NextAt.UTC(), data)
	return p.wrap("scheduling reconcile check", err)
}

// ClaimDueChecks takes due checks (payments, refunds and payouts alike,
// in due order) and leases them, like ClaimDueEvents.
func (p *Postgres) ClaimDueChecks(ctx context.Context, now time.Time, limit int, lease time.Duration) ([]*ReconcileCheck, error) {
	rows, err := p.claimRows(ctx, "claiming due checks", "reconcile", "id", now, limit, lease)
	if err != nil {
		return nil, err
	}
	out := make([]*ReconcileCheck, 0, len(rows))
	for _, q := range rows {
		c, err := pgDecode[ReconcileCheck]("reconcile check", q.id, q.data)
		if err != nil {
			return nil, err
		}
		c.NextAt = q.nextAt.UTC()
		out = append(out, c)
	}
	return out, nil
}

// DoneCheck removes an object's reconcile check.
func (p *Postgres) DoneCheck(ctx context.Context, id string) error {
	if err := p.ready(ctx); err != nil {
		return err
	}
	_, err := p.pool.Exec(ctx, p.q(`DELETE FROM {s}.reconcile WHERE id = $1`), id)
	return p.wrap("ending reconcile check", err)
}

// ListOutbox lists queued entries in due order; the cursor is the due
// time (µs) and id of the last entry of the previous page.
func (p *Postgres) ListOutbox(ctx context.Context, cursor string, limit int) ([]*OutboxEntry, string, error) {
	raw, err := decodeAdminCursor(cursor)
	if err != nil {
		return nil, "", err
	}
	limit = listLimit(limit)
	after, afterID := time.Time{}, ""
	if raw != nil {
		us, id, ok := strings.Cut(string(raw), "|")
		n, perr := strconv.ParseInt(us, 10, 64)
		if !ok || perr != nil || id == "" {
			return nil, "", badCursor()
		}
		after, afterID = time.UnixMicro(n).UTC(), id
	}
	if err := p.ready(ctx); err != nil {
		return nil, "", err
	}
	sql := `SELECT event_id, next_at, data FROM {s}.outbox ORDER BY next_at, event_id LIMIT $1`
	args := []any{limit + 1}
	if raw != nil {
		sql = `SELECT event_id, next_at, data FROM {s}.outbox WHERE (next_at, event_id) > ($2, $3) ORDER BY next_at, event_id LIMIT $1`
		args = append(args, after, afterID)
	}
	rows, err := p.pool.Query(ctx, p.q(sql), args...)
	if err != nil {
		return nil, "", p.wrap("listing the outbox", err)
	}
	qs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (queued, error) {
		var q queued
		err := r.Scan(&q.id, &q.nextAt, &q.data)
		return q, err
	})
	if err != nil {
		return nil, "", p.wrap("listing the outbox", err)
	}
	next := ""
	if len(qs) > limit {
		qs = qs[:limit]
		last := qs[len(qs)-1]
		next = encodeAdminCursor([]byte(strconv.FormatInt(last.nextAt.UnixMicro(), 10) + "|" + last.id))
	}
	out := make([]*OutboxEntry, 0, len(qs))
	for _, q := range qs {
		e, err := outboxEntry(q)
		if err != nil {
			return nil, "", err
		}
		out = append(out, e)
	}
	return out, next, nil
}

// OutboxEntry returns one queued entry, or ErrNotFound.
func (p *Postgres) OutboxEntry(ctx context.Context, eventID string) (*OutboxEntry, error) {
	if err := p.ready(ctx); err != nil {
		return nil, err
	}
	q := queued{id: eventID}
	err := p.pool.QueryRow(ctx, p.q(`SELECT next_at, data FROM {s}.outbox WHERE event_id = $1`), eventID).Scan(&q.nextAt, &q.data)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, p.wrap("reading outbox entry", err)
	}
	return outboxEntry(q)
}

// DropEvent deletes the entry and stores its DroppedEvent record in one
// transaction.
func (p *Postgres) DropEvent(ctx context.Context, d *DroppedEvent) (*DroppedEvent, error) {
	if err := checkDrop(d); err != nil {
		return nil, err
	}
	var rec *DroppedEvent
	err := p.tx(ctx, "dropping event", func(tx pgx.Tx) error {
		rec = nil
		q := queued{id: d.EventID}
		err := tx.QueryRow(ctx, p.q(`DELETE FROM {s}.outbox WHERE event_id = $1 RETURNING next_at, data`), d.EventID).Scan(&q.nextAt, &q.data)
		if errors.Is(err, pgx.ErrNoRows) {
			return keep{ErrNotFound}
		}
		if err != nil {
			return err
		}
		e, err := outboxEntry(q)
		if err != nil {
			return keep{err}
		}
		r := droppedFrom(e, d)
		data, err := json.Marshal(r)
		if err != nil {
			return keep{err}
		}
		if _, err := tx.Exec(ctx, p.q(`INSERT INTO {s}.dropped (event_id, data) VALUES ($1, $2)
			ON CONFLICT (event_id) DO UPDATE SET data = EXCLUDED.data`), d.EventID, data); err != nil {
			return err
		}
		rec = r
		return nil
	})
	if err != nil {
		return nil, err
	}
	return rec, nil
}

// ListDropped lists the dropped records in event id order; the cursor is
// the last id of the previous page.
func (p *Postgres) ListDropped(ctx context.Context, cursor string, limit int) ([]*DroppedEvent, string, error) {
	after, err := decodeAdminCursor(cursor)
	if err != nil {
		return nil, "", err
	}
	limit = listLimit(limit)
	if err := p.ready(ctx); err != nil {
		return nil, "", err
	}
	rows, err := p.pool.Query(ctx, p.q(`SELECT event_id, data FROM {s}.dropped WHERE event_id > $1 ORDER BY event_id LIMIT $2`), string(after), limit+1)
	if err != nil {
		return nil, "", p.wrap("listing dropped events", err)
	}
	type row struct {
		id   string
		data []byte
	}
	rs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (row, error) {
		var x row
		err := r.Scan(&x.id, &x.data)
		return x, err
	})
	if err != nil {
		return nil, "", p.wrap("listing dropped events", err)
	}
	next := ""
	if len(rs) > limit {
		rs = rs[:limit]
		next = encodeAdminCursor([]byte(rs[len(rs)-1].id))
	}
	out := make([]*DroppedEvent, 0, len(rs))
	for _, x := range rs {
		d, err := pgDecode[DroppedEvent]("dropped", x.id, x.data)
		if err != nil {
			return nil, "", err
		}
		out = append(out, d)
	}
	return out, next, nil
}

// walkIndex reads the rows of a time-indexed table (payments or events)
// newest first, from below upper down to lower (ListQuery.bounds), at
// most MaxListScan, calling fn until it returns false. The rows stream:
// a page that fills early stops reading.
func (p *Postgres) walkIndex(ctx context.Context, op, table, idCol, upper, lower string, fn func(key, id string, data []byte) (bool, error)) error {
	if err := p.ready(ctx); err != nil {
		return err
	}
	var where []string
	args := []any{MaxListScan}
	if upper != "" {
		args = append(args, upper)
		where = append(where, fmt.Sprintf("tkey < $%d", len(args)))
	}
	if lower != "" {
		args = append(args, lower)
		where = append(where, fmt.Sprintf("tkey >= $%d", len(args)))
	}
	sql := `SELECT tkey, ` + idCol + `, data FROM {s}.` + table
	if len(where) > 0 {
		sql += ` WHERE ` + strings.Join(where, " AND ")
	}
	sql += ` ORDER BY tkey DESC LIMIT $1`
	rows, err := p.pool.Query(ctx, p.q(sql), args...)
	if err != nil {
		return p.wrap(op, err)
	}
	defer rows.Close()
	for rows.Next() {
		var key, id string
		var data []byte
		if err := rows.Scan(&key, &id, &data); err != nil {
			return p.wrap(op, err)
		}
		cont, err := fn(key, id, data)
		if err != nil || !cont {
			return err
		}
	}
	return p.wrap(op, rows.Err())
}

// ListEvents walks the event log's time index newest first (see EventLog).
func (p *Postgres) ListEvents(ctx context.Context, q ListQuery) (*EventPage, error) {
	limit, upper, lower, err := q.bounds(listEvents)
	if err != nil {
		return nil, err
	}
	out := &EventPage{}
	pg := &pager{limit: limit, kind: listEvents}
	err = p.walkIndex(ctx, "listing events", "events", "event_id", upper, lower, func(key, id string, data []byte) (bool, error) {
		e, err := decodeEntry(id, data)
		if err != nil {
			return false, err
		}
		take, cont := pg.offer(key, eventMatches(&q, e))
		if take {
			out.Events = append(out.Events, e)
		}
		return cont, nil
	})
	if err != nil {
		return nil, err
	}
	out.HasMore, out.NextCursor = pg.page()
	return out, nil
}

// GetEvent returns a logged event or ErrNotFound.
func (p *Postgres) GetEvent(ctx context.Context, id string) (*OutboxEntry, error) {
	if err := p.ready(ctx); err != nil {
		return nil, err
	}
	var raw []byte
	err := p.pool.QueryRow(ctx, p.q(`SELECT data FROM {s}.events WHERE event_id = $1`), id).Scan(&raw)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, p.wrap("reading event", err)
	}
	return decodeEntry(id, raw)
}

// RedeliverEvent queues the logged event again, or makes its queued entry
// due now, in one transaction.
func (p *Postgres) RedeliverEvent(ctx context.Context, id string, now time.Time) error {
	return p.tx(ctx, "redelivering event", func(tx pgx.Tx) error {
		var raw []byte
		err := tx.QueryRow(ctx, p.q(`SELECT data FROM {s}.events WHERE event_id = $1`), id).Scan(&raw)
		if errors.Is(err, pgx.ErrNoRows) {
			return keep{ErrNotFound}
		}
		if err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, p.q(`UPDATE {s}.outbox SET next_at = $2 WHERE event_id = $1`), id, now.UTC())
		if err != nil || tag.RowsAffected() == 1 {
			return err // still queued: due now, attempts and last error kept
		}
		e, err := decodeEntry(id, raw)
		if err != nil {
			return keep{err}
		}
		next := redeliveryEntry(e, now)
		data, err := json.Marshal(next)
		if err != nil {
			return keep{err}
		}
		var created any
		if !next.Created.IsZero() {
			created = next.Created.UTC()
		}
		_, err = tx.Exec(ctx, p.q(`INSERT INTO {s}.outbox (event_id, next_at, created, data) VALUES ($1, $2, $3, $4)
			ON CONFLICT (event_id) DO UPDATE SET next_at = EXCLUDED.next_at`), id, now.UTC(), created, data)
		return err
	})
}

// PruneEvents removes up to limit logged events created before before,
// oldest first: one DELETE on the time index, which writes nothing when
// none is that old. As the outbox worker calls it every tick, it also
// deletes up to limit expired idempotency records and one-time values
// (which Redis expires by itself, and no read hands out once expired),
// so those tables do not grow without bound.
func (p *Postgres) PruneEvents(ctx context.Context, before time.Time, limit int) (int, error) {
	if err := p.ready(ctx); err != nil {
		return 0, err
	}
	if limit <= 0 {
		return 0, nil
	}
	tag, err := p.pool.Exec(ctx, p.q(`DELETE FROM {s}.events WHERE event_id IN (
		SELECT event_id FROM {s}.events WHERE tkey < $1 ORDER BY tkey LIMIT $2)`), timePrefix(before), limit)
	if err != nil {
		return 0, p.wrap("pruning events", err)
	}
	now := time.Now().UTC()
	for _, table := range []string{"idempotency", "once"} {
		if _, err := p.pool.Exec(ctx, p.q(`DELETE FROM {s}.`+table+` WHERE key IN (
			SELECT key FROM {s}.`+table+` WHERE expires < $1 ORDER BY expires LIMIT $2)`), now, limit); err != nil {
			return int(tag.RowsAffected()), p.wrap("pruning expired "+table+" rows", err)
		}
	}
	return int(tag.RowsAffected()), nil
}

// ListPayments walks the payments' time index newest first (see EventLog).
func (p *Postgres) ListPayments(ctx context.Context, q ListQuery) (*PaymentPage, error) {
	limit, upper, lower, err := q.bounds(listPayments)
	if err != nil {
		return nil, err
	}
	out := &PaymentPage{}
	pg := &pager{limit: limit, kind: listPayments}
	err = p.walkIndex(ctx, "listing payments", "payments", "id", upper, lower, func(key, id string, data []byte) (bool, error) {
		rec, err := pgDecode[PaymentRecord]("payment", id, data)
		if err != nil {
			return false, err
		}
		take, cont := pg.offer(key, paymentMatches(&q, rec))
		if take {
			out.Payments = append(out.Payments, rec)
		}
		return cont, nil
	})
	if err != nil {
		return nil, err
	}
	out.HasMore, out.NextCursor = pg.page()
	return out, nil
}
