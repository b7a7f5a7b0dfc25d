package store

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Due-time indexes. Each queue bucket (the outbox and the two reconcile
// queues) has an index bucket whose keys are (due time, id) and whose
// values are empty: dueKey's 12-byte big-endian time prefix sorts like the
// time, so a claim walks the index from its first key and stops at the
// first one not yet due, and a poll with nothing due reads one key in a
// read-only transaction. The queue record stays the truth (its next_at);
// every write of a queued record updates its index key in the same
// transaction. Better still, the committer keeps the first key of each
// index in memory (committer.firstDue), so a poll with nothing due needs
// not even a read-only transaction.
//
// The index is trusted only if the last transaction committed to the file
// was one of this code's: every write transaction records its id under
// dueMetaTx (writeTx). When the file was written by something that does
// not keep the index (a release before it, or a downgrade in between), or
// the index is missing, openDB rebuilds it from the records, in the open
// transaction.
var (
	bucketOutboxDue           = []byte("outbox_due")
	bucketReconcileDue        = []byte("reconcile_due")
	bucketReconcileObjectsDue = []byte("reconcile_objects_due")
	// bucketDueMeta holds the id of the last transaction that kept the
	// indexes (dueMetaTx) and the outbox's length (dueMetaOutboxLen).
	bucketDueMeta    = []byte("due_index_meta")
	dueMetaTx        = []byte("tx")
	dueMetaOutboxLen = []byte("outbox_len")
)

// queues pairs each queue bucket with its index.
var queues = []struct{ records, due []byte }{
	{bucketOutbox, bucketOutboxDue},
	{bucketReconcile, bucketReconcileDue},
	{bucketReconcileObjects, bucketReconcileObjectsDue},
}

// dueIndex is the index bucket of a queue bucket.
func dueIndex(records []byte) []byte { return queues[queueIndex(records)].due }

// queueIndex is the position of a queue bucket in queues.
func queueIndex(records []byte) int {
	for i, q := range queues {
		if bytes.Equal(q.records, records) {
			return i
		}
	}
	panic("store: no due index for bucket " + string(records))
}

// dueTimeLen is the length of a due key's time prefix: seconds since the
// epoch with the sign bit flipped (so negative times sort first), then
// nanoseconds, both big-endian.
const dueTimeLen = 12

// dueKey is the index key of id due at t.
func dueKey(t time.Time, id []byte) []byte {
	k := make([]byte, dueTimeLen+len(id))
	binary.BigEndian.PutUint64(k, uint64(t.Unix())^(1<<63))
	binary.BigEndian.PutUint32(k[8:], uint32(t.Nanosecond()))
	copy(k[dueTimeLen:], id)
	return k
}

// isDue reports whether index key k is due at the time whose prefix is
// bound (dueKey(now, nil)).
func isDue(k, bound []byte) bool {
	return len(k) >= dueTimeLen && bytes.Compare(k[:dueTimeLen], bound) <= 0
}

// nextAtOf reads the next_at of a stored outbox entry or reconcile check
// (both call it so) without decoding the rest into values.
func nextAtOf(raw []byte) (time.Time, error) {
	var v struct {
		NextAt time.Time `json:"next_at"`
	}
	err := json.Unmarshal(raw, &v)
	return v.NextAt, err
}

// putQueued stores raw (due at next) under id in a queue bucket and moves
// its index key; it reports whether the record is new.
func putQueued(tx *bolt.Tx, records []byte, id []byte, raw []byte, next time.Time) (bool, error) {
	bk, idx := tx.Bucket(records), tx.Bucket(dueIndex(records))
	isNew := true
	if old := bk.Get(id); old != nil {
		isNew = false
		at, err := nextAtOf(old)
		if err != nil {
			return false, fmt.Errorf("store: decoding %s entry %q: %w", records, id, err)
		}
		if err := idx.Delete(dueKey(at, id)); err != nil {
			return false, err
		}
	}
	if err := bk.Put(id, raw); err != nil {
		return false, err
	}
	if err := idx.Put(dueKey(next, id), nil); err != nil {
		return false, err
	}
	if isNew && bytes.Equal(records, bucketOutbox) {
		addOutboxLen(tx, 1)
	}
	return isNew, nil
}

// deleteQueued removes id and its index key from a queue bucket; a
// missing record is no error.
func deleteQueued(tx *bolt.Tx, records []byte, id []byte) error {
	bk := tx.Bucket(records)
	old := bk.Get(id)
	if old == nil {
		return nil
	}
	at, err := nextAtOf(old)
	if err != nil {
		return fmt.Errorf("store: decoding %s entry %q: %w", records, id, err)
	}
	if err := tx.Bucket(dueIndex(records)).Delete(dueKey(at, id)); err != nil {
		return err
	}
	if err := bk.Delete(id); err != nil {
		return err
	}
	if bytes.Equal(records, bucketOutbox) {
		addOutboxLen(tx, -1)
	}
	return nil
}

// outboxLen reads the outbox's length kept in the meta bucket.
func outboxLen(tx *bolt.Tx) int {
	v := tx.Bucket(bucketDueMeta).Get(dueMetaOutboxLen)
	if len(v) != 8 {
		return 0
	}
	return int(binary.BigEndian.Uint64(v))
}

func addOutboxLen(tx *bolt.Tx, d int) {
	n := max(outboxLen(tx)+d, 0)
	_ = tx.Bucket(bucketDueMeta).Put(dueMetaOutboxLen, binary.BigEndian.AppendUint64(nil, uint64(n)))
}

// writeTx runs fn in a write transaction that records itself as one that
// kept the due indexes. Every write to the file goes through it.
func writeTx(db *bolt.DB, fn func(*bolt.Tx) error) error {
	return db.Update(func(tx *bolt.Tx) error {
		if err := fn(tx); err != nil {
			return err
		}
		return markIndexed(tx)
	})
}

func markIndexed(tx *bolt.Tx) error {
	return tx.Bucket(bucketDueMeta).Put(dueMetaTx, binary.BigEndian.AppendUint64(nil, uint64(tx.ID())))
}

// ensureDueIndexes (in the open transaction, after the buckets exist)
// rebuilds the indexes unless the last committed transaction kept them.
// It reports whether it rebuilt them.
func ensureDueIndexes(tx *bolt.Tx) (bool, error) {
	meta := tx.Bucket(bucketDueMeta)
	if v := meta.Get(dueMetaTx); len(v) == 8 && int(binary.BigEndian.Uint64(v)) == tx.ID()-1 {
		trusted := true
		for _, q := range queues {
			if tx.Bucket(q.due) == nil {
				trusted = false
			}
		}
		if trusted {
			return false, nil
		}
	}
	for _, q := range queues {
		if tx.Bucket(q.due) != nil {
			if err := tx.DeleteBucket(q.due); err != nil {
				return false, err
			}
		}
		idx, err := tx.CreateBucket(q.due)
		if err != nil {
			return false, err
		}
		n := 0
		err = tx.Bucket(q.records).ForEach(func(k, v []byte) error {
			at, err := nextAtOf(v)
			if err != nil {
				return fmt.Errorf("store: decoding %s entry %q: %w", q.records, k, err)
			}
			n++
			return idx.Put(dueKey(at, k), nil)
		})
		if err != nil {
			return false, err
		}
		if bytes.Equal(q.records, bucketOutbox) {
			if err := meta.Put(dueMetaOutboxLen, binary.BigEndian.AppendUint64(nil, uint64(n))); err != nil {
				return false, err
			}
		}
	}
	return true, nil
}

// claimTx claims up to limit due records of one queue inside tx: each is
// stored with its next time pushed to now+lease (and re-indexed there) and
// returned as it was. An index key whose record is gone is dropped; one
// whose record says a later time is moved there.
func claimTx[T any](tx *bolt.Tx, records []byte, now time.Time, limit int, lease time.Duration, next func(*T) *time.Time) ([]*T, error) {
	bk, idx := tx.Bucket(records), tx.Bucket(dueIndex(records))
	bound := dueKey(now, nil)
	var out []*T
	// Keys to add are put after the walk, so that a lease <= 0 cannot
	// bring a claimed record back under the cursor.
	var moved [][]byte
	for len(out) < limit {
		k, _ := idx.Cursor().First()
		if k == nil || !isDue(k, bound) {
			break
		}
		k = bytes.Clone(k)
		id := k[dueTimeLen:]
		if err := idx.Delete(k); err != nil {
			return nil, err
		}
		raw := bk.Get(id)
		if raw == nil {
			continue
		}
		rec := new(T)
		if err := json.Unmarshal(raw, rec); err != nil {
			return nil, fmt.Errorf("store: decoding %s entry %q: %w", records, id, err)
		}
		if at := *next(rec); at.After(now) {
			moved = append(moved, dueKey(at, id))
			continue
		}
		claimed := *rec
		until := now.Add(lease)
		*next(rec) = until
		data, err := json.Marshal(rec)
		if err != nil {
			return nil, err
		}
		if err := bk.Put(id, data); err != nil {
			return nil, err
		}
		moved = append(moved, dueKey(until, id))
		out = append(out, &claimed)
	}
	for _, k := range moved {
		if err := idx.Put(k, nil); err != nil {
			return nil, err
		}
	}
	return out, nil
}
