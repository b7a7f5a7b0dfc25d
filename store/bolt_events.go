package store

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"time"

	bolt "go.etcd.io/bbolt"
)

// The event log and the payment index (see EventLog). bucketEvents maps an
// event id to its entry as first queued (JSON of OutboxEntry, Body the
// event as forwarded); bucketEventsTime and bucketPaymentsTime map a
// timeKey to the id. Each is a B+tree: finding a page's start is O(log n).
var (
	bucketEvents       = []byte("events")
	bucketEventsTime   = []byte("events_time")
	bucketPaymentsTime = []byte("payments_time")
)

var _ EventLog = (*Bolt)(nil)

// logEventTx records a just queued entry in the event log, unless the log
// has its id already (the first record stays).
func logEventTx(tx *bolt.Tx, e *OutboxEntry) error {
	bk := tx.Bucket(bucketEvents)
	if bk.Get([]byte(e.EventID)) != nil {
		return nil
	}
	rec := *e
	rec.Created = eventCreated(e)
	rec.Attempts, rec.LastError = 0, ""
	raw, err := json.Marshal(&rec)
	if err != nil {
		return err
	}
	if err := bk.Put([]byte(e.EventID), raw); err != nil {
		return err
	}
	return tx.Bucket(bucketEventsTime).Put([]byte(timeKey(rec.Created, e.EventID)), []byte(e.EventID))
}

// indexPaymentTx records the stored payment in the time index (a no-op
// when it is there already).
func indexPaymentTx(tx *bolt.Tx, p *PaymentRecord) error {
	if p == nil {
		return nil
	}
	return tx.Bucket(bucketPaymentsTime).Put([]byte(timeKey(p.CreatedAt, p.ID)), []byte(p.ID))
}

// indexPaymentsTx builds the payment index from the payment records (the
// format migration to version 2).
func indexPaymentsTx(tx *bolt.Tx) error {
	if _, err := tx.CreateBucketIfNotExists(bucketPaymentsTime); err != nil {
		return err
	}
	bk := tx.Bucket(bucketPayments)
	if bk == nil {
		return nil
	}
	return bk.ForEach(func(k, v []byte) error {
		var p PaymentRecord
		if err := json.Unmarshal(v, &p); err != nil {
			return err
		}
		return indexPaymentTx(tx, &p)
	})
}

// walkDesc walks the keys of index from below upper down to lower (see
// ListQuery.bounds), calling fn until it returns false.
func walkDesc(index *bolt.Bucket, upper, lower string, fn func(k, v []byte) (bool, error)) error {
	c := index.Cursor()
	var k, v []byte
	if upper == "" {
		k, v = c.Last()
	} else {
		if k, _ = c.Seek([]byte(upper)); k == nil {
			k, v = c.Last()
		} else {
			k, v = c.Prev()
		}
	}
	for ; k != nil; k, v = c.Prev() {
		if lower != "" && bytes.Compare(k, []byte(lower)) < 0 {
			return nil
		}
		cont, err := fn(k, v)
		if err != nil || !cont {
			return err
		}
	}
	return nil
}

// ListEvents walks the time index newest first (see EventLog).
func (b *Bolt) ListEvents(ctx context.Context, q ListQuery) (*EventPage, error) {
	limit, upper, lower, err := q.bounds(listEvents)
	if err != nil {
		return nil, err
	}
	out := &EventPage{}
	p := &pager{limit: limit, kind: listEvents}
	err = b.view(ctx, func(tx *bolt.Tx) error {
		out.Events = nil
		*p = pager{limit: limit, kind: listEvents}
		log := tx.Bucket(bucketEvents)
		return walkDesc(tx.Bucket(bucketEventsTime), upper, lower, func(k, v []byte) (bool, error) {
			raw := log.Get(v)
			var e *OutboxEntry
			if raw != nil {
				var err error
				if e, err = decodeEntry(string(v), raw); err != nil {
					return false, err
				}
			}
			take, cont := p.offer(string(k), e != nil && eventMatches(&q, e))
			if take {
				out.Events = append(out.Events, e)
			}
			return cont, nil
		})
	})
	if err != nil {
		return nil, err
	}
	out.HasMore, out.NextCursor = p.page()
	return out, nil
}

// GetEvent returns a logged event or ErrNotFound.
func (b *Bolt) GetEvent(ctx context.Context, id string) (*OutboxEntry, error) {
	var out *OutboxEntry
	err := b.view(ctx, func(tx *bolt.Tx) (err error) {
		raw := tx.Bucket(bucketEvents).Get([]byte(id))
		if raw == nil {
			return ErrNotFound
		}
		out, err = decodeEntry(id, raw)
		return err
	})
	return out, err
}

// RedeliverEvent queues the logged event again, or makes its queued entry
// due now, in one transaction.
func (b *Bolt) RedeliverEvent(ctx context.Context, id string, now time.Time) error {
	return b.update(ctx, func(tx *bolt.Tx) error {
		raw := tx.Bucket(bucketEvents).Get([]byte(id))
		if raw == nil {
			return refuse(ErrNotFound)
		}
		e, err := decodeEntry(id, raw)
		if err != nil {
			return refuse(err)
		}
		next := redeliveryEntry(e, now)
		if q := tx.Bucket(bucketOutbox).Get([]byte(id)); q != nil {
			// Still queued: made due now, its record (attempts, last
			// error) kept, as in Redis.
			if next, err = decodeEntry(id, q); err != nil {
				return refuse(err)
			}
			next.NextAt = now.UTC()
		}
		out, err := json.Marshal(next)
		if err != nil {
			return refuse(err)
		}
		_, err = putQueued(tx, bucketOutbox, []byte(id), out, now.UTC())
		return err
	})
}

// PruneEvents removes the oldest logged events created before before: no
// write transaction at all when the oldest is not.
func (b *Bolt) PruneEvents(ctx context.Context, before time.Time, limit int) (int, error) {
	bound := []byte(timePrefix(before))
	due := false
	if err := b.view(ctx, func(tx *bolt.Tx) error {
		k, _ := tx.Bucket(bucketEventsTime).Cursor().First()
		due = k != nil && bytes.Compare(k, bound) < 0
		return nil
	}); err != nil || !due {
		return 0, err
	}
	n := 0
	err := b.update(ctx, func(tx *bolt.Tx) error {
		n = 0
		log := tx.Bucket(bucketEvents)
		c := tx.Bucket(bucketEventsTime).Cursor()
		for k, v := c.First(); k != nil && bytes.Compare(k, bound) < 0 && n < limit; k, v = c.First() {
			if err := log.Delete(v); err != nil {
				return err
			}
			if err := c.Delete(); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	return n, err
}

// ListPayments walks the payment index newest first (see EventLog).
func (b *Bolt) ListPayments(ctx context.Context, q ListQuery) (*PaymentPage, error) {
	limit, upper, lower, err := q.bounds(listPayments)
	if err != nil {
		return nil, err
	}
	out := &PaymentPage{}
	p := &pager{limit: limit, kind: listPayments}
	err = b.view(ctx, func(tx *bolt.Tx) error {
		return walkDesc(tx.Bucket(bucketPaymentsTime), upper, lower, func(k, v []byte) (bool, error) {
			rec, err := load[PaymentRecord](tx, bucketPayments, string(v))
			if err != nil && !errors.Is(err, ErrNotFound) {
				return false, err
			}
			take, cont := p.offer(string(k), rec != nil && paymentMatches(&q, rec))
			if take {
				out.Payments = append(out.Payments, rec)
			}
			return cont, nil
		})
	})
	if err != nil {
		return nil, err
	}
	out.HasMore, out.NextCursor = p.page()
	return out, nil
}
