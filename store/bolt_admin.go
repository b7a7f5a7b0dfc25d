package store

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// bucketDropped keeps the DroppedEvent records, keyed by event id. It is
// created by the first drop; a file without it has dropped nothing.
var bucketDropped = []byte("dropped")

// ListOutbox walks the outbox's due index (bolt_index.go) from after the
// cursor, which is the due key of the last entry of the previous page.
func (b *Bolt) ListOutbox(ctx context.Context, cursor string, limit int) ([]*OutboxEntry, string, error) {
	after, err := decodeAdminCursor(cursor)
	if err != nil {
		return nil, "", err
	}
	if after != nil && len(after) <= dueTimeLen {
		return nil, "", badCursor()
	}
	limit = listLimit(limit)
	var out []*OutboxEntry
	next := ""
	err = b.view(ctx, func(tx *bolt.Tx) error {
		records := tx.Bucket(bucketOutbox)
		c := tx.Bucket(bucketOutboxDue).Cursor()
		k, _ := c.First()
		if after != nil {
			k, _ = c.Seek(after)
			if k != nil && bytes.Equal(k, after) {
				k, _ = c.Next()
			}
		}
		var last []byte
		for ; k != nil; k, _ = c.Next() {
			if len(out) == limit {
				next = encodeAdminCursor(last)
				return nil
			}
			id := k[dueTimeLen:]
			raw := records.Get(id)
			if raw == nil {
				continue
			}
			e := new(OutboxEntry)
			if err := json.Unmarshal(raw, e); err != nil {
				return fmt.Errorf("store: decoding outbox entry %q: %w", id, err)
			}
			out = append(out, e)
			last = append([]byte(nil), k...)
		}
		return nil
	})
	if err != nil {
		return nil, "", err
	}
	return out, next, nil
}

// OutboxEntry returns one queued entry.
func (b *Bolt) OutboxEntry(ctx context.Context, eventID string) (*OutboxEntry, error) {
	var out *OutboxEntry
	err := b.view(ctx, func(tx *bolt.Tx) error {
		var err error
		out, err = load[OutboxEntry](tx, bucketOutbox, eventID)
		return err
	})
	return out, err
}

// DropEvent removes the entry (and its due index key) and stores its
// DroppedEvent record, in one transaction.
func (b *Bolt) DropEvent(ctx context.Context, d *DroppedEvent) (*DroppedEvent, error) {
	if err := checkDrop(d); err != nil {
		return nil, err
	}
	var rec *DroppedEvent
	err := b.update(ctx, func(tx *bolt.Tx) error {
		rec = nil
		e, err := load[OutboxEntry](tx, bucketOutbox, d.EventID)
		if err != nil {
			return refuse(err)
		}
		bk, err := tx.CreateBucketIfNotExists(bucketDropped)
		if err != nil {
			return err
		}
		if err := deleteQueued(tx, bucketOutbox, []byte(d.EventID)); err != nil {
			return err
		}
		r := droppedFrom(e, d)
		raw, err := json.Marshal(r)
		if err != nil {
			return err
		}
		if err := bk.Put([]byte(d.EventID), raw); err != nil {
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

// ListDropped walks the dropped records in event id order; the cursor is
// the last id of the previous page.
func (b *Bolt) ListDropped(ctx context.Context, cursor string, limit int) ([]*DroppedEvent, string, error) {
	after, err := decodeAdminCursor(cursor)
	if err != nil {
		return nil, "", err
	}
	limit = listLimit(limit)
	var out []*DroppedEvent
	next := ""
	err = b.view(ctx, func(tx *bolt.Tx) error {
		out, next = nil, ""
		bk := tx.Bucket(bucketDropped)
		if bk == nil {
			return nil
		}
		c := bk.Cursor()
		k, v := c.First()
		if after != nil {
			k, v = c.Seek(after)
			if k != nil && bytes.Equal(k, after) {
				k, v = c.Next()
			}
		}
		for ; k != nil; k, v = c.Next() {
			if len(out) == limit {
				next = encodeAdminCursor([]byte(out[len(out)-1].EventID))
				return nil
			}
			r := new(DroppedEvent)
			if err := json.Unmarshal(v, r); err != nil {
				return fmt.Errorf("store: decoding dropped record %q: %w", k, err)
			}
			out = append(out, r)
		}
		return nil
	})
	if err != nil {
		return nil, "", err
	}
	return out, next, nil
}
