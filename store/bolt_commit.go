package store

import (
	"bytes"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	bolt "go.etcd.io/bbolt"
)

// Group commit. bbolt has one writer at a time and every commit ends in an
// fdatasync, so writers that each ran their own transaction queued up
// behind each other's fsyncs. A committer runs the write functions of all
// the Bolt handles on one file in a single goroutine: it takes whatever
// functions are waiting, runs them one after the other in ONE transaction
// and commits it, so concurrent writers share one fsync. Nobody waits for
// a timer (unlike bolt.DB.Batch, whose default is to wait up to 10 ms for
// company): a lone writer is committed at once, and writers that arrive
// during a commit form the next batch.
//
// Durability is unchanged: a writer gets its result only after the
// transaction holding its write was committed and synced (or failed, then
// with that error).
//
// bolt.DB.Batch was not used for two reasons: its timer adds up to
// MaxBatchDelay to every lone write, and it treats any error a function
// returns (our "not found", "refund exceeds") as a reason to roll the
// whole batch back and run the other functions again. Here a function
// says with refuse(err) that it stops before having written anything;
// the batch then goes on and the caller gets err. Any other error or a
// panic rolls the transaction back and the other functions of the batch
// run again, in their order, without the failing one (which returns its
// error, or panics in its caller's goroutine). Write functions therefore
// must be safe to run more than once: they read the transaction's state,
// set their results on every path, and do nothing outside the
// transaction.

// maxBatch caps the functions in one transaction.
const maxBatch = 1000

// refusal marks an error a write function returned before writing
// anything.
type refusal struct{ err error }

func (r refusal) Error() string { return r.err.Error() }
func (r refusal) Unwrap() error { return r.err }

// refuse wraps err (returned by a write function before any write) so the
// committer keeps the other functions of the batch.
func refuse(err error) error { return refusal{err} }

// writeOp is one write function waiting for its commit.
type writeOp struct {
	fn       func(*bolt.Tx) error
	err      error
	panicked any
	done     chan struct{}
}

// committer serialises the write transactions of one database file.
type committer struct {
	db      *bolt.DB
	mu      sync.Mutex
	cond    *sync.Cond
	queue   []*writeOp
	closing bool
	stopped chan struct{}

	// commits counts committed transactions, ops the functions run in
	// them (for tests and the benchmark's report).
	commits, ops atomic.Int64
	// beforeTx, when set (tests), runs before each transaction;
	// afterTx after a transaction was committed, before it counts as
	// durable (the time bbolt spends in its fdatasync, when a reader can
	// already see the transaction).
	beforeTx, afterTx func()

	// durableTx is the id of the last transaction known to be on disk.
	// bbolt makes a transaction visible to readers when it writes its meta
	// page, before the fdatasync that makes it durable; a reader that
	// must not act on what a power loss could still take back (a replayed
	// answer) compares its transaction's id with this one.
	durableTx atomic.Int64

	// firstDue holds, for each queue (queues[i]), the time prefix of the
	// first key of its due index as of the last committed transaction
	// (nil: empty). The committer is the file's only writer (bbolt's lock
	// keeps other processes out, and every write of this process goes
	// through it), and it reads these keys inside each transaction and
	// publishes them after the commit, before answering the writers; so
	// when firstDue says nothing is due, no committed transaction put a
	// due key there. An idle poll reads them and nothing else.
	firstDue [3]atomic.Pointer[[]byte]
}

func newCommitter(db *bolt.DB) (*committer, error) {
	c := &committer{db: db, stopped: make(chan struct{})}
	c.cond = sync.NewCond(&c.mu)
	err := db.View(func(tx *bolt.Tx) error {
		c.publish(firstDueKeys(tx))
		c.durableTx.Store(int64(tx.ID()))
		return nil
	})
	if err != nil {
		return nil, err
	}
	go c.run()
	return c, nil
}

// firstDueKeys reads the time prefix of each due index's first key.
func firstDueKeys(tx *bolt.Tx) (out [3][]byte) {
	for i, q := range queues {
		if k, _ := tx.Bucket(q.due).Cursor().First(); len(k) >= dueTimeLen {
			out[i] = bytes.Clone(k[:dueTimeLen])
		}
	}
	return out
}

func (c *committer) publish(first [3][]byte) {
	for i := range first {
		c.firstDue[i].Store(&first[i])
	}
}

// durable reports whether the transaction with id txID (a reader's
// tx.ID()) is on disk.
func (c *committer) durable(txID int) bool { return int64(txID) <= c.durableTx.Load() }

// mayBeDue reports whether the queue's first due key (as of the last
// commit) is due by bound (dueKey(now, nil)).
func (c *committer) mayBeDue(queue int, bound []byte) bool {
	p := c.firstDue[queue].Load()
	return p != nil && *p != nil && isDue(*p, bound)
}

// do runs fn in a write transaction shared with other writers and returns
// once that transaction is on disk.
func (c *committer) do(fn func(*bolt.Tx) error) error {
	op := &writeOp{fn: fn, done: make(chan struct{})}
	c.mu.Lock()
	if c.closing {
		c.mu.Unlock()
		return ErrClosed
	}
	c.queue = append(c.queue, op)
	c.cond.Signal()
	c.mu.Unlock()
	<-op.done
	if op.panicked != nil {
		panic(op.panicked)
	}
	return op.err
}

// close commits what is queued, then stops the goroutine.
func (c *committer) close() {
	c.mu.Lock()
	c.closing = true
	c.cond.Broadcast()
	c.mu.Unlock()
	<-c.stopped
}

func (c *committer) run() {
	defer close(c.stopped)
	batch := make([]*writeOp, 0, 64)
	for {
		c.mu.Lock()
		for len(c.queue) == 0 && !c.closing {
			c.cond.Wait()
		}
		if len(c.queue) == 0 {
			c.mu.Unlock()
			return
		}
		n := min(len(c.queue), maxBatch)
		batch = append(batch[:0], c.queue[:n]...)
		rest := copy(c.queue, c.queue[n:])
		clear(c.queue[rest:])
		c.queue = c.queue[:rest]
		c.mu.Unlock()
		c.commit(batch)
		clear(batch)
	}
}

// errRolledBack ends a transaction in which a function failed.
var errRolledBack = errors.New("store: batch rolled back")

// commit runs batch in one transaction, dropping (and answering) the
// functions that fail until the rest commits.
func (c *committer) commit(batch []*writeOp) {
	for len(batch) > 0 {
		if c.beforeTx != nil {
			c.beforeTx()
		}
		failed := -1
		var first [3][]byte
		var txID int
		err := writeTx(c.db, func(tx *bolt.Tx) error {
			defer func() { first, txID = firstDueKeys(tx), tx.ID() }()
			for i, op := range batch {
				err := op.run(tx)
				var r refusal
				switch {
				case op.panicked == nil && err == nil:
				case op.panicked == nil && errors.As(err, &r):
					op.err = r.err
				default:
					failed = i
					return errRolledBack
				}
			}
			return nil
		})
		if failed >= 0 {
			close(batch[failed].done)
			batch = append(batch[:failed], batch[failed+1:]...)
			continue
		}
		if err == nil {
			if c.afterTx != nil {
				c.afterTx()
			}
			c.durableTx.Store(int64(txID))
			c.publish(first)
			c.commits.Add(1)
			c.ops.Add(int64(len(batch)))
		}
		for _, op := range batch {
			if err != nil {
				op.err = err
			}
			close(op.done)
		}
		return
	}
}

// run calls the function, catching a panic for its caller.
func (op *writeOp) run(tx *bolt.Tx) (err error) {
	op.err = nil
	defer func() {
		if v := recover(); v != nil {
			op.panicked = v
			err = fmt.Errorf("store: write function panicked: %v", v)
		}
	}()
	err = op.fn(tx)
	if err != nil {
		op.err = err
	}
	return err
}
