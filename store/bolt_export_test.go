package store

import (
	"bytes"
	"fmt"
	"slices"

	bolt "go.etcd.io/bbolt"
)

// CheckDueIndexes compares each due-time index of b with the one its queue
// records give, and the kept outbox length with the records' count.
func CheckDueIndexes(b *Bolt) error {
	return b.db.View(func(tx *bolt.Tx) error {
		for _, q := range queues {
			var want, got [][]byte
			err := tx.Bucket(q.records).ForEach(func(k, v []byte) error {
				at, err := nextAtOf(v)
				if err != nil {
					return err
				}
				want = append(want, dueKey(at, k))
				return nil
			})
			if err != nil {
				return err
			}
			_ = tx.Bucket(q.due).ForEach(func(k, _ []byte) error {
				got = append(got, bytes.Clone(k))
				return nil
			})
			slices.SortFunc(want, bytes.Compare)
			if !slices.EqualFunc(want, got, bytes.Equal) {
				return fmt.Errorf("index %s has %d keys %q, the records give %d %q", q.due, len(got), got, len(want), want)
			}
			if bytes.Equal(q.records, bucketOutbox) && outboxLen(tx) != len(want) {
				return fmt.Errorf("outbox length kept as %d, %d records", outboxLen(tx), len(want))
			}
		}
		return nil
	})
}
