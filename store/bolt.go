package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/caddyserver/caddy/v2"
	bolt "go.etcd.io/bbolt"

	"github.com/caddy-payments/caddy-payments/providers"
)

// One bucket per record kind; keys are the record ids (event ids for
// delivered), values are JSON.
var (
	bucketPayments  = []byte("payments")
	bucketRefunds   = []byte("refunds")
	bucketPayouts   = []byte("payouts")
	bucketDelivered = []byte("delivered")
	// bucketAnnounced maps an announcement key (one status of one object)
	// to the id of the event queued to announce it.
	bucketAnnounced = []byte("announced")
	bucketOnce      = []byte("once")
	bucketIdem      = []byte("idempotency")
	bucketOutbox    = []byte("outbox")
	bucketReconcile = []byte("reconcile")
	// bucketReconcileObjects holds the reconcile checks of refunds and
	// payouts (see objectCheck).
	bucketReconcileObjects = []byte("reconcile_objects")
)

// openTimeout bounds the wait for bbolt's exclusive file lock, so a file
// held by another process fails with a clear error instead of hanging
// Caddy's provisioning. A variable so tests can shorten it.
var openTimeout = 5 * time.Second

// ErrClosed is returned by every method of a Bolt after its Close.
var ErrClosed = errors.New("store: closed")

// dbPool shares one open *bolt.DB per absolute path. Caddy provisions a new
// config before it cleans up the old one, and bbolt holds an exclusive
// flock, so a second bolt.Open of the same file in this process would block
// until the old config let go — which it never does first.
var dbPool = caddy.NewUsagePool()

// sharedDB is the pooled value: the database and its committer (see
// bolt_commit.go). The pool calls Destruct when its last user is gone.
type sharedDB struct {
	db *bolt.DB
	w  *committer
}

// Destruct commits what is queued and closes the database file.
func (s *sharedDB) Destruct() error {
	s.w.close()
	return s.db.Close()
}

// Bolt is the embedded Store: a bbolt file, by default under Caddy's data
// directory. Every method is one bbolt transaction, so the read-check-write
// steps (refund caps, status rules) are atomic even across goroutines.
// Several Bolt values opened on the same path share one database.
type Bolt struct {
	key    string // absolute path: the pool key
	db     *bolt.DB
	w      *committer
	closed atomic.Bool
}

var _ Store = (*Bolt)(nil)

// DefaultPath is where the gateway keeps its state when no path is
// configured: payments/state.db under Caddy's data directory.
func DefaultPath() string {
	return filepath.Join(caddy.AppDataDir(), "payments", "state.db")
}

// OpenBolt opens (creating if needed) the state file at path, or at
// DefaultPath when path is empty. Opening a path this process already has
// open returns a handle on the same database; each handle must be closed.
// The parent directories are created with mode 0700 and the file with 0600
// because the records hold customers' payment details.
func OpenBolt(path string) (*Bolt, error) {
	if path == "" {
		path = DefaultPath()
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("store: resolving path %q: %w", path, err)
	}
	val, _, err := dbPool.LoadOrNew(abs, func() (caddy.Destructor, error) {
		db, err := openDB(abs)
		if err != nil {
			return nil, err
		}
		w, err := newCommitter(db)
		if err != nil {
			_ = db.Close()
			return nil, fmt.Errorf("store: reading the due indexes of %s: %w", abs, err)
		}
		return &sharedDB{db: db, w: w}, nil
	})
	if err != nil {
		// The pool already dropped the failed entry; calling Delete here
		// could decrement a fresh entry created by someone else meanwhile.
		return nil, err
	}
	shared := val.(*sharedDB)
	return &Bolt{key: abs, db: shared.db, w: shared.w}, nil
}

// openDB does the actual bolt.Open, creates the buckets and (re)builds the
// due-time indexes if needed (bolt_index.go).
func openDB(abs string) (*bolt.DB, error) {
	if err := os.MkdirAll(filepath.Dir(abs), 0o700); err != nil {
		return nil, fmt.Errorf("store: creating directory for %s: %w", abs, err)
	}
	db, err := bolt.Open(abs, 0o600, &bolt.Options{Timeout: openTimeout})
	if err != nil {
		if errors.Is(err, bolt.ErrTimeout) {
			return nil, fmt.Errorf("store: %s is locked by another process (waited %s): %w", abs, openTimeout, err)
		}
		return nil, fmt.Errorf("store: opening %s: %w", abs, err)
	}
	if err := migrateBoltFormat(db, abs); err != nil { // format.go
		_ = db.Close()
		return nil, err
	}
	err = writeTx(db, func(tx *bolt.Tx) error {
		for _, name := range [][]byte{bucketPayments, bucketRefunds, bucketPayouts, bucketDelivered, bucketOnce, bucketIdem, bucketOutbox, bucketReconcile, bucketReconcileObjects, bucketAnnounced, bucketDueMeta, bucketEvents, bucketEventsTime, bucketPaymentsTime} {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return err
			}
		}
		_, err := ensureDueIndexes(tx)
		return err
	})
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("store: creating buckets in %s: %w", abs, err)
	}
	return db, nil
}

// Close drops this handle's reference to the shared database; the file is
// closed when the last handle is. Calling Close again does nothing.
func (b *Bolt) Close() error {
	if !b.closed.CompareAndSwap(false, true) {
		return nil
	}
	_, err := dbPool.Delete(b.key)
	return err
}

// update runs fn in a write transaction, possibly shared with other
// writers (group commit, bolt_commit.go), and returns once it is on disk;
// view runs fn in a read-only transaction. Both check the handle and the
// context first. A write function may run more than once (see
// bolt_commit.go): it sets its results on every path, and returns
// refuse(err) for an error found before it wrote anything.
func (b *Bolt) update(ctx context.Context, fn func(tx *bolt.Tx) error) error {
	if err := b.ready(ctx); err != nil {
		return err
	}
	return b.w.do(fn)
}

func (b *Bolt) view(ctx context.Context, fn func(tx *bolt.Tx) error) error {
	if err := b.ready(ctx); err != nil {
		return err
	}
	return b.db.View(fn)
}

func (b *Bolt) ready(ctx context.Context) error {
	if b.closed.Load() {
		return ErrClosed
	}
	return ctx.Err()
}

// load decodes the record under id into a fresh value, which is therefore
// a copy the caller may change freely; ErrNotFound when absent.
func load[T any](tx *bolt.Tx, bucket []byte, id string) (*T, error) {
	data := tx.Bucket(bucket).Get([]byte(id))
	if data == nil {
		return nil, ErrNotFound
	}
	v := new(T)
	if err := json.Unmarshal(data, v); err != nil {
		return nil, fmt.Errorf("store: decoding %s record %q: %w", bucket, id, err)
	}
	return v, nil
}

// save encodes v under id.
func save(tx *bolt.Tx, bucket []byte, id string, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("store: encoding %s record %q: %w", bucket, id, err)
	}
	return tx.Bucket(bucket).Put([]byte(id), data)
}

// refuseNotFound marks ErrNotFound, returned by a write function before
// it wrote anything, as a refusal (see refuse).
func refuseNotFound(err error) error {
	if errors.Is(err, ErrNotFound) {
		return refuse(err)
	}
	return err
}

// stamp fills in the history entry for a transition to status.
func stamp(change StatusChange, status string) StatusChange {
	change.Status = status
	if change.At.IsZero() {
		change.At = time.Now().UTC()
	}
	return change
}

// validatePayment rejects records that would break the refund invariant.
func validatePayment(rec *PaymentRecord) error {
	if rec == nil {
		return providers.Missing("payment")
	}
	if rec.ID == "" {
		return providers.Missing("id")
	}
	if rec.Amount < 0 {
		return providers.Invalid("amount", "amount must not be negative, got %d", rec.Amount)
	}
	var sum int64
	for key, amt := range rec.Refunds {
		if amt <= 0 {
			return providers.Invalid("refunds", "refund %q must have a positive amount, got %d", key, amt)
		}
		sum += amt
	}
	if sum != rec.AmountRefunded {
		return providers.Invalid("amount_refunded", "amount_refunded (%d) must equal the sum of refunds (%d)", rec.AmountRefunded, sum)
	}
	if sum > rec.Amount {
		return providers.Invalid("amount_refunded", "amount_refunded (%d) must not exceed amount (%d)", sum, rec.Amount)
	}
	return nil
}

// PutPayment stores rec unless a payment with its ID exists; either way it
// returns (a copy of) the stored record.
func (b *Bolt) PutPayment(ctx context.Context, rec *PaymentRecord) (*PaymentRecord, error) {
	if err := validatePayment(rec); err != nil {
		return nil, err
	}
	var out *PaymentRecord
	err := b.update(ctx, func(tx *bolt.Tx) (err error) {
		if out, err = putPaymentTx(tx, rec); err != nil {
			return err
		}
		return indexPaymentTx(tx, out) // bolt_events.go
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// putPaymentTx stores rec unless a payment with its ID exists (first
// writer wins), except that an existing record gets the merchant's return
// URLs it lacks (fillReturnURLs); either way it returns a fresh copy of the
// stored record.
func putPaymentTx(tx *bolt.Tx, rec *PaymentRecord) (*PaymentRecord, error) {
	existing, err := putFirstTx(tx, bucketPayments, rec.ID, rec)
	if err != nil || existing == rec || !fillReturnURLs(existing, rec) {
		return existing, err
	}
	if err := save(tx, bucketPayments, rec.ID, existing); err != nil {
		return nil, err
	}
	return existing, nil
}

// putFirstTx stores rec under id unless the bucket has a record there;
// either way it returns a fresh copy of the stored record.
func putFirstTx[T any](tx *bolt.Tx, bucket []byte, id string, rec *T) (*T, error) {
	existing, err := load[T](tx, bucket, id)
	if err == nil || !errors.Is(err, ErrNotFound) {
		return existing, err
	}
	if err := save(tx, bucket, id, rec); err != nil {
		return nil, err
	}
	return load[T](tx, bucket, id)
}

// GetPayment returns a copy of the payment or ErrNotFound.
func (b *Bolt) GetPayment(ctx context.Context, id string) (*PaymentRecord, error) {
	var out *PaymentRecord
	err := b.view(ctx, func(tx *bolt.Tx) (err error) {
		out, err = load[PaymentRecord](tx, bucketPayments, id)
		return err
	})
	return out, err
}

// ApplyPaymentStatus moves the payment to `to` when providers.CanTransition
// allows it. change is appended to the history with its Status set to `to`
// (and At set to now when zero); a non-empty change.ProviderStatus also
// becomes the record's ProviderStatus.
func (b *Bolt) ApplyPaymentStatus(ctx context.Context, id string, to providers.Status, confirmed bool, change StatusChange) (*PaymentRecord, bool, error) {
	var out *PaymentRecord
	var changed bool
	err := b.update(ctx, func(tx *bolt.Tx) error {
		out, changed = nil, false
		rec, err := load[PaymentRecord](tx, bucketPayments, id)
		if err != nil {
			return refuseNotFound(err)
		}
		out = rec
		if !providers.CanTransition(rec.Status, to, confirmed) {
			return nil
		}
		rec.Status = to
		if change.ProviderStatus != "" {
			rec.ProviderStatus = change.ProviderStatus
		}
		rec.History = append(rec.History, stamp(change, string(to)))
		changed = true
		return save(tx, bucketPayments, id, rec)
	})
	if err != nil {
		return nil, false, err
	}
	return out, changed, nil
}

// ReserveRefund reserves amount under key within the paid amount. It does
// not look at the payment's status: whether a payment may be refunded at
// all is the gateway's decision.
func (b *Bolt) ReserveRefund(ctx context.Context, paymentID, key string, amount int64) (*PaymentRecord, error) {
	if key == "" {
		return nil, providers.Missing("key")
	}
	if amount <= 0 {
		return nil, providers.Invalid("amount", "refund amount must be positive, got %d", amount)
	}
	var out *PaymentRecord
	err := b.update(ctx, func(tx *bolt.Tx) error {
		rec, err := load[PaymentRecord](tx, bucketPayments, paymentID)
		if err != nil {
			return refuseNotFound(err)
		}
		out = rec
		if _, ok := rec.Refunds[key]; ok {
			return nil
		}
		var sum int64
		for _, amt := range rec.Refunds {
			sum += amt
		}
		// Compare as "amount > remaining" so a huge amount cannot overflow.
		if amount > rec.Amount-sum {
			return refuse(ErrRefundExceeds)
		}
		if rec.Refunds == nil {
			rec.Refunds = make(map[string]int64)
		}
		rec.Refunds[key] = amount
		rec.AmountRefunded = sum + amount
		return save(tx, bucketPayments, paymentID, rec)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// ReleaseRefund removes the reservation under key, if there is one.
func (b *Bolt) ReleaseRefund(ctx context.Context, paymentID, key string) (*PaymentRecord, error) {
	var out *PaymentRecord
	err := b.update(ctx, func(tx *bolt.Tx) error {
		rec, err := load[PaymentRecord](tx, bucketPayments, paymentID)
		if err != nil {
			return refuseNotFound(err)
		}
		out = rec
		if !release(rec, key) {
			return nil
		}
		return save(tx, bucketPayments, paymentID, rec)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// release drops key from rec's refunds and recomputes AmountRefunded; it
// reports whether anything changed.
func release(rec *PaymentRecord, key string) bool {
	if _, ok := rec.Refunds[key]; !ok {
		return false
	}
	delete(rec.Refunds, key)
	var sum int64
	for _, amt := range rec.Refunds {
		sum += amt
	}
	rec.AmountRefunded = sum
	if len(rec.Refunds) == 0 {
		rec.Refunds = nil
	}
	return true
}

// PutRefund stores rec, overwriting a refund with the same ID.
func (b *Bolt) PutRefund(ctx context.Context, rec *RefundRecord) error {
	if rec == nil {
		return providers.Missing("refund")
	}
	if rec.ID == "" {
		return providers.Missing("id")
	}
	return b.update(ctx, func(tx *bolt.Tx) error {
		return save(tx, bucketRefunds, rec.ID, rec)
	})
}

// GetRefund returns a copy of the refund or ErrNotFound.
func (b *Bolt) GetRefund(ctx context.Context, id string) (*RefundRecord, error) {
	var out *RefundRecord
	err := b.view(ctx, func(tx *bolt.Tx) (err error) {
		out, err = load[RefundRecord](tx, bucketRefunds, id)
		return err
	})
	return out, err
}

// ApplyRefundStatus moves the refund to `to` when
// providers.CanTransitionRefund allows it, appending change (Status set to
// `to`, At defaulted to now). Moving to failed also releases the refund's
// reservation in its payment record, in the same transaction; a payment
// record that does not exist is not an error there.
func (b *Bolt) ApplyRefundStatus(ctx context.Context, id string, to string, change StatusChange) (*RefundRecord, bool, error) {
	var out *RefundRecord
	var changed bool
	err := b.update(ctx, func(tx *bolt.Tx) error {
		out, changed = nil, false
		rec, err := load[RefundRecord](tx, bucketRefunds, id)
		if err != nil {
			return refuseNotFound(err)
		}
		out = rec
		if !providers.CanTransitionRefund(rec.Status, to) {
			return nil
		}
		rec.Status = to
		rec.History = append(rec.History, stamp(change, to))
		changed = true
		if err := save(tx, bucketRefunds, id, rec); err != nil {
			return err
		}
		if to != providers.RefundFailed || rec.Key == "" {
			return nil
		}
		pay, err := load[PaymentRecord](tx, bucketPayments, rec.PaymentID)
		if errors.Is(err, ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		if !release(pay, rec.Key) {
			return nil
		}
		return save(tx, bucketPayments, rec.PaymentID, pay)
	})
	if err != nil {
		return nil, false, err
	}
	return out, changed, nil
}

// PutPayout stores rec unless a payout with its ID exists (first writer
// wins, as for payments); either way it returns a copy of the stored record.
func (b *Bolt) PutPayout(ctx context.Context, rec *PayoutRecord) (*PayoutRecord, error) {
	if rec == nil {
		return nil, providers.Missing("payout")
	}
	if rec.ID == "" {
		return nil, providers.Missing("id")
	}
	var out *PayoutRecord
	err := b.update(ctx, func(tx *bolt.Tx) (err error) {
		out, err = putFirstTx[PayoutRecord](tx, bucketPayouts, rec.ID, rec)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// GetPayout returns a copy of the payout or ErrNotFound.
func (b *Bolt) GetPayout(ctx context.Context, id string) (*PayoutRecord, error) {
	var out *PayoutRecord
	err := b.view(ctx, func(tx *bolt.Tx) (err error) {
		out, err = load[PayoutRecord](tx, bucketPayouts, id)
		return err
	})
	return out, err
}

// ApplyPayoutStatus moves the payout to `to` when
// providers.CanTransitionPayout allows it, appending change (Status set to
// `to`, At defaulted to now).
func (b *Bolt) ApplyPayoutStatus(ctx context.Context, id string, to string, change StatusChange) (*PayoutRecord, bool, error) {
	var out *PayoutRecord
	var changed bool
	err := b.update(ctx, func(tx *bolt.Tx) error {
		out, changed = nil, false
		rec, err := load[PayoutRecord](tx, bucketPayouts, id)
		if err != nil {
			return refuseNotFound(err)
		}
		out = rec
		if !providers.CanTransitionPayout(rec.Status, to) {
			return nil
		}
		rec.Status = to
		rec.History = append(rec.History, stamp(change, to))
		changed = true
		return save(tx, bucketPayouts, id, rec)
	})
	if err != nil {
		return nil, false, err
	}
	return out, changed, nil
}

// MarkDelivered records eventID as accepted by the shop, with the time
// (a JSON timestamp) for whoever inspects the file.
func (b *Bolt) MarkDelivered(ctx context.Context, eventID string) error {
	if eventID == "" {
		return providers.Missing("event_id")
	}
	return b.update(ctx, func(tx *bolt.Tx) error {
		return markDeliveredTx(tx, eventID)
	})
}

// markDeliveredTx records eventID as delivered now.
func markDeliveredTx(tx *bolt.Tx, eventID string) error {
	at, err := json.Marshal(time.Now().UTC())
	if err != nil {
		return err
	}
	return tx.Bucket(bucketDelivered).Put([]byte(eventID), at)
}

// Delivered reports whether MarkDelivered was called for eventID.
func (b *Bolt) Delivered(ctx context.Context, eventID string) (bool, error) {
	if eventID == "" {
		return false, providers.Missing("event_id")
	}
	var ok bool
	err := b.view(ctx, func(tx *bolt.Tx) error {
		ok = tx.Bucket(bucketDelivered).Get([]byte(eventID)) != nil
		return nil
	})
	return ok, err
}

// onceEntry is a one-time value with its expiry.
type onceEntry struct {
	Data    []byte    `json:"data"`
	Expires time.Time `json:"expires"`
}

// PutOnce stores data under key until it is taken or ttl passes.
func (b *Bolt) PutOnce(ctx context.Context, key string, data []byte, ttl time.Duration) error {
	if key == "" {
		return providers.Missing("key")
	}
	if ttl <= 0 {
		return providers.Invalid("ttl", "ttl must be positive")
	}
	raw, err := encodeOnce(data, ttl)
	if err != nil {
		return err
	}
	return b.update(ctx, func(tx *bolt.Tx) error {
		return tx.Bucket(bucketOnce).Put([]byte(key), raw)
	})
}

// encodeOnce is the stored form of a one-time value that expires after ttl.
func encodeOnce(data []byte, ttl time.Duration) ([]byte, error) {
	return json.Marshal(onceEntry{Data: data, Expires: time.Now().Add(ttl).UTC()})
}

// TakeOnce returns and deletes the data under key in one transaction, so
// two concurrent takers never both get it.
func (b *Bolt) TakeOnce(ctx context.Context, key string) ([]byte, error) {
	if key == "" {
		return nil, ErrNotFound
	}
	var out []byte
	found := false
	err := b.update(ctx, func(tx *bolt.Tx) error {
		out, found = nil, false
		bk := tx.Bucket(bucketOnce)
		raw := bk.Get([]byte(key))
		if raw == nil {
			return nil
		}
		var e onceEntry
		if err := json.Unmarshal(raw, &e); err != nil {
			return err
		}
		if err := bk.Delete([]byte(key)); err != nil {
			return err
		}
		// An expired entry is deleted too (the delete commits), but not
		// handed out.
		if time.Now().Before(e.Expires) {
			out, found = e.Data, true
		}
		return nil
	})
	if err == nil && !found {
		err = ErrNotFound
	}
	return out, err
}

// BeginIdempotent claims key in one transaction (see Store).
func (b *Bolt) BeginIdempotent(ctx context.Context, key, fingerprint string, ttl time.Duration) (*IdempotencyRecord, bool, error) {
	if key == "" {
		return nil, false, providers.Missing("key")
	}
	if ttl <= 0 {
		return nil, false, providers.Invalid("ttl", "ttl must be positive")
	}
	var existing *IdempotencyRecord
	taken := func(tx *bolt.Tx) error {
		existing = nil
		raw := tx.Bucket(bucketIdem).Get([]byte(key))
		if raw == nil {
			return nil
		}
		var rec IdempotencyRecord
		if err := json.Unmarshal(raw, &rec); err != nil {
			return err
		}
		if time.Now().Before(rec.Expires) {
			existing = &rec
		}
		return nil
	}
	// A key that is taken (a replay, a conflict) is answered from a read:
	// no write transaction, no fsync. Only a free key is claimed in one.
	// A finished record is replayed from a read only once the transaction
	// that stored it is durable: a reader sees a transaction before its
	// fsync, and a replay must not hand out an answer (and the record it
	// reports) that a power loss could still take back; the write
	// transaction below runs after that fsync.
	var seen int
	err := b.view(ctx, func(tx *bolt.Tx) error {
		seen = tx.ID()
		return taken(tx)
	})
	if err != nil || (existing != nil && (!existing.Done || b.w.durable(seen))) {
		return existing, false, err
	}
	started := false
	err = b.update(ctx, func(tx *bolt.Tx) error {
		started = false
		if err := taken(tx); err != nil || existing != nil {
			return err
		}
		bk := tx.Bucket(bucketIdem)
		now := time.Now().UTC()
		raw, err := json.Marshal(IdempotencyRecord{Fingerprint: fingerprint, Started: now, Expires: now.Add(ttl)})
		if err != nil {
			return err
		}
		started = true
		return bk.Put([]byte(key), raw)
	})
	if err != nil {
		return nil, false, err
	}
	return existing, started, nil
}

// FinishIdempotent stores the response under a started key.
func (b *Bolt) FinishIdempotent(ctx context.Context, key string, status int, contentType string, body []byte) error {
	return b.update(ctx, func(tx *bolt.Tx) error {
		out, err := finishedIdem(tx, &IdempotentFinish{Key: key, Status: status, ContentType: contentType, Body: body})
		if err != nil {
			return err
		}
		return tx.Bucket(bucketIdem).Put([]byte(key), out)
	})
}

// finishedIdem reads the started record under f.Key and returns it
// encoded with f's response, writing nothing: refuse(ErrNotFound) when the
// key is missing.
func finishedIdem(tx *bolt.Tx, f *IdempotentFinish) ([]byte, error) {
	raw := tx.Bucket(bucketIdem).Get([]byte(f.Key))
	if raw == nil {
		return nil, refuse(ErrNotFound)
	}
	var rec IdempotencyRecord
	if err := json.Unmarshal(raw, &rec); err != nil {
		return nil, err
	}
	rec.Done, rec.Status, rec.ContentType, rec.Body = true, f.Status, f.ContentType, f.Body
	return json.Marshal(rec)
}

// AbandonIdempotent frees a key whose request executed nothing.
func (b *Bolt) AbandonIdempotent(ctx context.Context, key string) error {
	return b.update(ctx, func(tx *bolt.Tx) error {
		return tx.Bucket(bucketIdem).Delete([]byte(key))
	})
}

// EnqueueEvent stores e unless an entry with its EventID exists, the event
// was delivered, or another event carries its announcement, in one
// transaction.
func (b *Bolt) EnqueueEvent(ctx context.Context, e *OutboxEntry) (bool, error) {
	if e == nil || e.EventID == "" {
		return false, providers.Missing("event_id")
	}
	stored := false
	err := b.update(ctx, func(tx *bolt.Tx) error {
		stored = false
		bk := tx.Bucket(bucketOutbox)
		delivered := tx.Bucket(bucketDelivered)
		if bk.Get([]byte(e.EventID)) != nil || delivered.Get([]byte(e.EventID)) != nil {
			return nil
		}
		if e.Announce != "" {
			ab := tx.Bucket(bucketAnnounced)
			if owner := ab.Get([]byte(e.Announce)); owner != nil && string(owner) != e.EventID {
				return nil
			}
			if delivered.Get([]byte(e.Announce)) != nil {
				return nil
			}
			if err := ab.Put([]byte(e.Announce), []byte(e.EventID)); err != nil {
				return err
			}
		}
		raw, err := json.Marshal(e)
		if err != nil {
			return err
		}
		if _, err := putQueued(tx, bucketOutbox, []byte(e.EventID), raw, e.NextAt); err != nil {
			return err
		}
		if err := logEventTx(tx, e); err != nil { // bolt_events.go
			return err
		}
		stored = true
		return nil
	})
	return stored && err == nil, err
}

// claimDue takes up to limit due records of the queues (in order) and
// leases them: each is stored with its next time (read through next)
// pushed to now+lease and returned as it was. One transaction, so two
// claimers never get the same record; none at all (not even a read-only
// one) when the first keys of the due-time indexes, kept in memory by the
// committer, are not due. It reads the due records only, not the queue
// (bolt_index.go). Used by the outbox and the reconcile queues alike.
func claimDue[T any](ctx context.Context, b *Bolt, buckets [][]byte, now time.Time, limit int, lease time.Duration, next func(*T) *time.Time) ([]*T, error) {
	if err := b.ready(ctx); err != nil {
		return nil, err
	}
	if limit <= 0 {
		return nil, nil
	}
	bound := dueKey(now, nil)
	var todo [][]byte
	for _, bk := range buckets {
		if b.w.mayBeDue(queueIndex(bk), bound) {
			todo = append(todo, bk)
		}
	}
	if len(todo) == 0 {
		return nil, nil
	}
	var out []*T
	err := b.update(ctx, func(tx *bolt.Tx) error {
		out = nil
		for _, bk := range todo {
			got, err := claimTx(tx, bk, now, limit-len(out), lease, next)
			if err != nil {
				return err
			}
			out = append(out, got...)
			if len(out) >= limit {
				break
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// ClaimDueEvents takes due entries and leases them, in one transaction.
func (b *Bolt) ClaimDueEvents(ctx context.Context, now time.Time, limit int, lease time.Duration) ([]*OutboxEntry, error) {
	return claimDue(ctx, b, [][]byte{bucketOutbox}, now, limit, lease, func(e *OutboxEntry) *time.Time { return &e.NextAt })
}

// RescheduleEvent records a failed attempt.
func (b *Bolt) RescheduleEvent(ctx context.Context, eventID string, attempts int, next time.Time, lastError string) error {
	return b.update(ctx, func(tx *bolt.Tx) error {
		bk := tx.Bucket(bucketOutbox)
		raw := bk.Get([]byte(eventID))
		if raw == nil {
			return refuse(ErrNotFound)
		}
		var e OutboxEntry
		if err := json.Unmarshal(raw, &e); err != nil {
			return err
		}
		e.Attempts, e.NextAt, e.LastError = attempts, next.UTC(), lastError
		out, err := json.Marshal(e)
		if err != nil {
			return err
		}
		_, err = putQueued(tx, bucketOutbox, []byte(eventID), out, e.NextAt)
		return err
	})
}

// RemoveEvent deletes a delivered entry.
func (b *Bolt) RemoveEvent(ctx context.Context, eventID string) error {
	return b.update(ctx, func(tx *bolt.Tx) error {
		return deleteQueued(tx, bucketOutbox, []byte(eventID))
	})
}

// OutboxDepth counts queued entries: a counter kept with the due index,
// not a walk of the queue.
func (b *Bolt) OutboxDepth(ctx context.Context) (int, error) {
	n := 0
	err := b.view(ctx, func(tx *bolt.Tx) error {
		n = outboxLen(tx)
		return nil
	})
	return n, err
}

// checkBucket is the bucket of the check of id.
func checkBucket(id string) []byte {
	if objectCheck(id) {
		return bucketReconcileObjects
	}
	return bucketReconcile
}

// ScheduleCheck stores or replaces an object's reconcile check.
func (b *Bolt) ScheduleCheck(ctx context.Context, c *ReconcileCheck) error {
	if c == nil || c.ID == "" {
		return providers.Missing("payment_id")
	}
	raw, err := json.Marshal(c)
	if err != nil {
		return err
	}
	return b.update(ctx, func(tx *bolt.Tx) error {
		_, err := putQueued(tx, checkBucket(c.ID), []byte(c.ID), raw, c.NextAt)
		return err
	})
}

// ClaimDueChecks takes due checks and leases them: payment checks first,
// then refund and payout checks, in one transaction (none when nothing is
// due).
func (b *Bolt) ClaimDueChecks(ctx context.Context, now time.Time, limit int, lease time.Duration) ([]*ReconcileCheck, error) {
	return claimDue(ctx, b, [][]byte{bucketReconcile, bucketReconcileObjects}, now, limit, lease, func(c *ReconcileCheck) *time.Time { return &c.NextAt })
}

// DoneCheck removes an object's reconcile check.
func (b *Bolt) DoneCheck(ctx context.Context, id string) error {
	return b.update(ctx, func(tx *bolt.Tx) error {
		return deleteQueued(tx, checkBucket(id), []byte(id))
	})
}

var _ ReconcileQueue = (*Bolt)(nil)

// Commit makes the writes of w in one transaction of the group committer
// (one fsync, shared with concurrent writers). The parts that can fail
// without an I/O error are checked before anything is written: bad input
// before the transaction, the idempotency key first inside it; so a
// failing part leaves nothing written and the rest of the batch commits.
func (b *Bolt) Commit(ctx context.Context, w *Writes) error {
	if w.empty() {
		return b.ready(ctx)
	}
	if err := w.validate(); err != nil {
		return err
	}
	// Everything that can be encoded outside the transaction is.
	var checks [][]byte
	for _, c := range w.Checks {
		raw, err := json.Marshal(c)
		if err != nil {
			return err
		}
		checks = append(checks, raw)
	}
	var once [][]byte
	for _, o := range w.Once {
		raw, err := encodeOnce(o.Data, o.TTL)
		if err != nil {
			return err
		}
		once = append(once, raw)
	}
	return b.update(ctx, func(tx *bolt.Tx) error {
		var finished []byte
		if w.Finish != nil {
			var err error
			if finished, err = finishedIdem(tx, w.Finish); err != nil {
				return err
			}
		}
		if w.Payment != nil {
			p, err := putPaymentTx(tx, w.Payment)
			if err != nil {
				return err
			}
			if err := indexPaymentTx(tx, p); err != nil { // bolt_events.go
				return err
			}
		}
		if w.Refund != nil {
			if err := save(tx, bucketRefunds, w.Refund.ID, w.Refund); err != nil {
				return err
			}
		}
		if w.Payout != nil {
			if _, err := putFirstTx(tx, bucketPayouts, w.Payout.ID, w.Payout); err != nil {
				return err
			}
		}
		for i, c := range w.Checks {
			if _, err := putQueued(tx, checkBucket(c.ID), []byte(c.ID), checks[i], c.NextAt); err != nil {
				return err
			}
		}
		for i, o := range w.Once {
			if err := tx.Bucket(bucketOnce).Put([]byte(o.Key), once[i]); err != nil {
				return err
			}
		}
		if finished != nil {
			if err := tx.Bucket(bucketIdem).Put([]byte(w.Finish.Key), finished); err != nil {
				return err
			}
		}
		for _, id := range w.Delivered {
			if err := markDeliveredTx(tx, id); err != nil {
				return err
			}
		}
		if w.RemoveEvent != "" {
			return deleteQueued(tx, bucketOutbox, []byte(w.RemoveEvent))
		}
		return nil
	})
}

// Commits counts the write transactions committed on this handle's
// database file since it was opened (by every handle on it): what the
// group commit and Commit save shows here.
func (b *Bolt) Commits() int64 { return b.w.commits.Load() }
