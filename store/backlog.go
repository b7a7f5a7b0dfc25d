package store

import (
	"context"
	"strconv"
	"time"

	bolt "go.etcd.io/bbolt"
)

// BacklogCounter is implemented by stores that can count the reconcile
// checks that are due and not yet taken: the reconcile backlog. A check
// a worker holds has its next time pushed past its lease, so it is not
// counted. The gateway reports the count as a gauge
// (caddy_payments_reconcile_backlog); a store without it reports none.
type BacklogCounter interface {
	// ReconcileBacklog counts the payment, refund and payout checks due at
	// now, stopping at limit (so a huge backlog costs at most limit index
	// reads; the caller shows limit as "at least").
	ReconcileBacklog(ctx context.Context, now time.Time, limit int) (int, error)
}

var (
	_ BacklogCounter = (*Bolt)(nil)
	_ BacklogCounter = (*Redis)(nil)
	_ BacklogCounter = (*Postgres)(nil)
)

// ReconcileBacklog walks the two reconcile due-time indexes from their
// first key to the first one not yet due (bolt_index.go); with nothing
// due it reads no transaction at all (the committer's first keys).
func (b *Bolt) ReconcileBacklog(ctx context.Context, now time.Time, limit int) (int, error) {
	if err := b.ready(ctx); err != nil {
		return 0, err
	}
	bound := dueKey(now, nil)
	var todo [][]byte
	for _, bk := range [][]byte{bucketReconcile, bucketReconcileObjects} {
		if b.w.mayBeDue(queueIndex(bk), bound) {
			todo = append(todo, dueIndex(bk))
		}
	}
	if len(todo) == 0 || limit <= 0 {
		return 0, nil
	}
	n := 0
	err := b.view(ctx, func(tx *bolt.Tx) error {
		n = 0
		for _, idx := range todo {
			c := tx.Bucket(idx).Cursor()
			for k, _ := c.First(); k != nil && isDue(k, bound) && n < limit; k, _ = c.Next() {
				n++
			}
		}
		return nil
	})
	return n, err
}

// ReconcileBacklog is two ZCOUNTs of the reconcile due sets up to now
// (logarithmic in their size, whatever the backlog).
func (r *Redis) ReconcileBacklog(ctx context.Context, now time.Time, limit int) (int, error) {
	if err := r.ready(ctx); err != nil {
		return 0, err
	}
	upTo := strconv.FormatInt(now.UnixMicro(), 10)
	n := 0
	for _, key := range []string{rkReconDue, rkReconObjDue} {
		c, err := r.client.ZCount(ctx, r.prefix+key, "-inf", upTo).Result()
		if err != nil {
			return 0, redisErr("counting the reconcile backlog", err)
		}
		n += int(c)
	}
	return min(n, limit), nil
}

// ReconcileBacklog counts the due checks with the due index (next_at, id),
// reading at most limit index entries.
func (p *Postgres) ReconcileBacklog(ctx context.Context, now time.Time, limit int) (int, error) {
	if err := p.ready(ctx); err != nil {
		return 0, err
	}
	if limit <= 0 {
		return 0, nil
	}
	var n int
	err := p.pool.QueryRow(ctx, p.q(`SELECT count(*) FROM (SELECT 1 FROM {s}.reconcile WHERE next_at <= $1 ORDER BY next_at LIMIT $2) AS due`), now, limit).Scan(&n)
	return n, p.wrap("counting the reconcile backlog", err)
}
