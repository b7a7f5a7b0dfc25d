// Package store keeps what the gateway must remember about the payments it
// handled: amounts, currency, refunded totals, status history, provider
// references, refunds, payouts and which notifications were already seen.
//
// Store is a small interface of atomic, domain-level operations (not a
// generic read-modify-write key-value API) so that a networked
// implementation can do each one atomically. The default implementation,
// Bolt, is an embedded bbolt file under Caddy's data directory.
package store

import (
	"context"
	"errors"
	"time"

	"github.com/caddy-payments/caddy-payments/providers"
)

// ErrNotFound is returned for an unknown id.
var ErrNotFound = errors.New("not found")

// ErrRefundExceeds is returned when a refund would take the refunded total
// above the paid amount.
var ErrRefundExceeds = errors.New("refund exceeds the refundable amount")

// StatusChange is one entry of a status history.
type StatusChange struct {
	Status string    `json:"status"`
	At     time.Time `json:"at"`
	// Source says what moved it: "create", "fetch", "notification", "return".
	Source string `json:"source"`
	// ProviderStatus is the provider's raw code, when known.
	ProviderStatus string `json:"provider_status,omitempty"`
}

// PaymentRecord is what the gateway keeps about a payment.
type PaymentRecord struct {
	ID              string           `json:"id"`
	Provider        string           `json:"provider"` // block name
	ProviderRef     string           `json:"provider_ref"`
	Reference       string           `json:"reference"`
	Amount          int64            `json:"amount"`
	Currency        string           `json:"currency"`
	Status          providers.Status `json:"status"`
	ProviderStatus  string           `json:"provider_status,omitempty"`
	ProviderMessage string           `json:"provider_message,omitempty"`
	Test            bool             `json:"test"`
	CreatedAt       time.Time        `json:"created_at"`
	// Refunds maps a refund reservation key to its amount; failed refunds
	// are removed. AmountRefunded is their sum.
	Refunds        map[string]int64 `json:"refunds,omitempty"`
	AmountRefunded int64            `json:"amount_refunded"`
	History        []StatusChange   `json:"history,omitempty"`
	// Where the customer goes after a provider return.
	SuccessURL string `json:"success_url,omitempty"`
	FailureURL string `json:"failure_url,omitempty"`
	ReturnURL  string `json:"return_url,omitempty"`
}

// RefundRecord is what the gateway keeps about a refund.
type RefundRecord struct {
	ID          string         `json:"id"`
	Key         string         `json:"key"` // reservation key in the payment record
	PaymentID   string         `json:"payment_id"`
	Provider    string         `json:"provider"`
	ProviderRef string         `json:"provider_ref"`
	Reference   string         `json:"reference,omitempty"`
	Amount      int64          `json:"amount"`
	Currency    string         `json:"currency"`
	Status      string         `json:"status"`
	Test        bool           `json:"test"`
	CreatedAt   time.Time      `json:"created_at"`
	History     []StatusChange `json:"history,omitempty"`
	CreatedBy   string         `json:"created_by,omitempty"` // the API key's name
}

// PayoutRecord is what the gateway keeps about a payout.
type PayoutRecord struct {
	ID          string         `json:"id"`
	Provider    string         `json:"provider"`
	ProviderRef string         `json:"provider_ref"`
	Reference   string         `json:"reference,omitempty"`
	Amount      int64          `json:"amount"`
	Currency    string         `json:"currency"`
	Status      string         `json:"status"`
	Test        bool           `json:"test"`
	CreatedAt   time.Time      `json:"created_at"`
	History     []StatusChange `json:"history,omitempty"`
	CreatedBy   string         `json:"created_by,omitempty"` // the API key's name
}

// OutboxEntry is an event waiting for delivery to the shop. Body is the
// event JSON; it is signed afresh on every attempt. Server, Host and Path
// say where the original notification came in, so a redelivery goes
// through the same Caddy routes.
type OutboxEntry struct {
	EventID   string    `json:"event_id"`
	Announce  string    `json:"announce,omitempty"`
	Provider  string    `json:"provider"`
	EventType string    `json:"event_type"`
	Body      []byte    `json:"body"`
	Server    string    `json:"server"`
	Host      string    `json:"host"`
	Path      string    `json:"path"`
	Attempts  int       `json:"attempts"`
	NextAt    time.Time `json:"next_at"`
	LastError string    `json:"last_error,omitempty"`
	Created   time.Time `json:"created"`
	// Native, when set, is the provider's original notification the event
	// was made from, sent instead of Body to an account in forward_format
	// native (the same bytes on every attempt and redelivery). Body stays
	// the canonical event (the Events API serves it).
	Native *NativeOriginal `json:"native,omitempty"`
}

// NativeOriginal is what a native delivery sends of the provider's
// original notification: its method, Content-Type and body byte for byte,
// and the one header that carries the provider's signature (none when the
// signature is in the body). Never credentials: no Authorization.
type NativeOriginal struct {
	Method      string `json:"method"`
	ContentType string `json:"content_type,omitempty"`
	Body        []byte `json:"body"`
	// SignatureHeader and Signature are the provider's signature header's
	// name and value ("" when there is none).
	SignatureHeader string `json:"signature_header,omitempty"`
	Signature       string `json:"signature,omitempty"`
}

// IdempotencyRecord is what is kept under an Idempotency-Key.
type IdempotencyRecord struct {
	Fingerprint string `json:"fingerprint"`
	// Nonce is random per claim (Redis): a claim script that the client
	// sent again (a connection broken while it waited for replicas)
	// recognises its own claim by it, and an undo deletes only its own.
	Nonce       string    `json:"nonce,omitempty"`
	Done        bool      `json:"done"`
	Started     time.Time `json:"started"`
	Expires     time.Time `json:"expires"`
	Status      int       `json:"status,omitempty"`
	ContentType string    `json:"content_type,omitempty"`
	Body        []byte    `json:"body,omitempty"`
}

// Store is the gateway's durable state. Every method is atomic on its own.
type Store interface {
	// PutPayment stores a payment record. If one with the same ID exists it
	// is kept and returned (first writer wins), so a notification about a
	// payment created elsewhere cannot overwrite a richer record; it only
	// gains the merchant's return URLs it lacks (fillReturnURLs), which a
	// record a notification made first cannot know.
	PutPayment(ctx context.Context, rec *PaymentRecord) (*PaymentRecord, error)
	// GetPayment returns the record or ErrNotFound.
	GetPayment(ctx context.Context, id string) (*PaymentRecord, error)
	// ApplyPaymentStatus moves the payment to a new status when
	// providers.CanTransition(from, to, confirmed) allows it, appending to
	// its history. changed is false (and the record unchanged) otherwise.
	ApplyPaymentStatus(ctx context.Context, id string, to providers.Status, confirmed bool, change StatusChange) (rec *PaymentRecord, changed bool, err error)

	// ReserveRefund adds amount under key to the payment's refunds if the
	// total stays within the paid amount (ErrRefundExceeds otherwise).
	// Reserving an existing key again is a no-op that returns the record.
	ReserveRefund(ctx context.Context, paymentID, key string, amount int64) (*PaymentRecord, error)
	// ReleaseRefund removes the reservation under key (the provider refused
	// or the refund failed). Releasing an unknown key is a no-op.
	ReleaseRefund(ctx context.Context, paymentID, key string) (*PaymentRecord, error)
	// PutRefund stores a refund record (overwriting one with the same ID).
	PutRefund(ctx context.Context, rec *RefundRecord) error
	GetRefund(ctx context.Context, id string) (*RefundRecord, error)
	// ApplyRefundStatus moves a refund when providers.CanTransitionRefund
	// allows it; moving to failed also releases its reservation in the
	// payment record, in the same transaction.
	ApplyRefundStatus(ctx context.Context, id string, to string, change StatusChange) (rec *RefundRecord, changed bool, err error)

	PutPayout(ctx context.Context, rec *PayoutRecord) (*PayoutRecord, error)
	GetPayout(ctx context.Context, id string) (*PayoutRecord, error)
	ApplyPayoutStatus(ctx context.Context, id string, to string, change StatusChange) (rec *PayoutRecord, changed bool, err error)

	// PutOnce stores data under key until it is taken or ttl passes
	// (one-time tokens, e.g. a customer's launch URL). An existing key is
	// overwritten.
	PutOnce(ctx context.Context, key string, data []byte, ttl time.Duration) error
	// TakeOnce returns and deletes the data under key, atomically, so it
	// is handed out at most once; ErrNotFound when missing, taken or expired.
	TakeOnce(ctx context.Context, key string) ([]byte, error)

	// BeginIdempotent claims an idempotency key for a request with the given
	// fingerprint. When the key is free (or its record expired) it is
	// recorded as in flight and started is true: the caller executes the
	// request and then calls FinishIdempotent or AbandonIdempotent. When
	// the key is taken, started is false and the existing record is
	// returned for the caller to compare (fingerprint) and replay (done)
	// or refuse (in flight). Atomic: of concurrent callers, one starts.
	BeginIdempotent(ctx context.Context, key, fingerprint string, ttl time.Duration) (rec *IdempotencyRecord, started bool, err error)
	// FinishIdempotent stores the response of a started request.
	FinishIdempotent(ctx context.Context, key string, status int, contentType string, body []byte) error
	// AbandonIdempotent frees a started key (nothing was executed).
	AbandonIdempotent(ctx context.Context, key string) error

	// EnqueueEvent stores an event for delivery and reports whether it
	// did. It stores nothing, and reports false, when an entry with the
	// same EventID is already queued (that entry is kept as it is), the
	// event was already delivered (MarkDelivered), or e.Announce is set
	// and another event already carries that announcement (queued or
	// delivered under another id, or MarkDelivered(e.Announce) was
	// called). The checks and the write are one atomic step, so of several
	// notifications carrying one event, or several events announcing one
	// status (Razorpay's payment.captured and order.paid), exactly one is
	// queued.
	EnqueueEvent(ctx context.Context, e *OutboxEntry) (bool, error)
	// ClaimDueEvents atomically takes up to limit entries whose NextAt has
	// come and pushes their NextAt lease into the future, so that of
	// several workers (or an old and a new config during a reload) only
	// one attempts each entry.
	ClaimDueEvents(ctx context.Context, now time.Time, limit int, lease time.Duration) ([]*OutboxEntry, error)
	// RescheduleEvent records a failed attempt and the next attempt time.
	RescheduleEvent(ctx context.Context, eventID string, attempts int, next time.Time, lastError string) error
	// RemoveEvent deletes a delivered entry (a missing one is no error).
	RemoveEvent(ctx context.Context, eventID string) error
	// OutboxDepth counts the entries waiting for delivery.
	OutboxDepth(ctx context.Context) (int, error)
	// OldestEvent is the creation time of the oldest queued entry, ok false when none (store/oldest.go).
	OldestEvent(ctx context.Context) (oldest time.Time, ok bool, err error)

	// MarkDelivered records that the event with this id was accepted by the
	// shop. Delivered reports whether it was.
	MarkDelivered(ctx context.Context, eventID string) error
	Delivered(ctx context.Context, eventID string) (bool, error)

	// Commit makes the writes of w as ONE atomic step: all of them or,
	// when one part fails, none (an embedded store commits them in one
	// transaction with one fsync; Redis runs them in one script). Each
	// part keeps the semantics of the single-step method named on its
	// field. It exists so that the writes one request makes after a
	// provider call (the payment record, its reconcile check, its launch
	// token, the idempotency completion), or after a delivery (delivered
	// marks, the outbox removal), cost one durable write instead of one
	// each. An empty w writes nothing.
	Commit(ctx context.Context, w *Writes) error
}

// Writes is a group of writes for Store.Commit. Every field is optional.
// The parts are applied in the order of the fields; a part that fails
// (Finish on a missing key, an invalid record) fails the whole Commit with
// the error the single-step method would return, and nothing is written.
type Writes struct {
	// Payment is stored unless a payment with its ID exists, which is
	// then kept, gaining only the return URLs it lacks (PutPayment: first
	// writer wins).
	Payment *PaymentRecord
	// Refund is stored, overwriting a refund with the same ID (PutRefund).
	Refund *RefundRecord
	// Payout is stored unless a payout with its ID exists (PutPayout).
	Payout *PayoutRecord
	// Checks are stored or replace the check of their ID (ScheduleCheck).
	Checks []*ReconcileCheck
	// Once entries are stored, overwriting (PutOnce).
	Once []OnceWrite
	// Finish stores the response of a started idempotent request
	// (FinishIdempotent); ErrNotFound when its key is not there.
	Finish *IdempotentFinish
	// Delivered event ids (and announcement keys) are marked as accepted
	// by the shop (MarkDelivered).
	Delivered []string
	// RemoveEvent, when not empty, is deleted from the outbox
	// (RemoveEvent: a missing entry is no error).
	RemoveEvent string
}

// OnceWrite is one PutOnce of a Writes.
type OnceWrite struct {
	Key  string
	Data []byte
	TTL  time.Duration
}

// IdempotentFinish is the FinishIdempotent of a Writes: the response
// stored under Key, exactly as the client receives it.
type IdempotentFinish struct {
	Key         string
	Status      int
	ContentType string
	Body        []byte
}

// empty reports whether w holds no write.
func (w *Writes) empty() bool {
	return w == nil || (w.Payment == nil && w.Refund == nil && w.Payout == nil && len(w.Checks) == 0 &&
		len(w.Once) == 0 && w.Finish == nil && len(w.Delivered) == 0 && w.RemoveEvent == "")
}

// validate applies the checks the single-step methods make before they
// write anything, so a Commit refuses bad input before its transaction.
func (w *Writes) validate() error {
	if w.Payment != nil {
		if err := validatePayment(w.Payment); err != nil {
			return err
		}
	}
	if w.Refund != nil && w.Refund.ID == "" {
		return providers.Missing("id")
	}
	if w.Payout != nil && w.Payout.ID == "" {
		return providers.Missing("id")
	}
	for _, c := range w.Checks {
		if c == nil || c.ID == "" {
			return providers.Missing("payment_id")
		}
	}
	for _, o := range w.Once {
		if o.Key == "" {
			return providers.Missing("key")
		}
		if o.TTL <= 0 {
			return providers.Invalid("ttl", "ttl must be positive")
		}
	}
	if w.Finish != nil && w.Finish.Key == "" {
		return providers.Missing("key")
	}
	for _, id := range w.Delivered {
		if id == "" {
			return providers.Missing("event_id")
		}
	}
	return nil
}

// fillReturnURLs copies into existing the merchant's return URLs that only
// a create knows (success_url, failure_url, return_url), where existing
// has none, and reports whether it changed anything. A notification or a
// fetch that recorded the payment first — between the provider's create
// reply and the create's commit — knows the payment but not where its
// customer goes back to; every other field stays the first writer's.
func fillReturnURLs(existing, rec *PaymentRecord) bool {
	changed := false
	for _, f := range []struct {
		to   *string
		from string
	}{
		{&existing.SuccessURL, rec.SuccessURL}, {&existing.FailureURL, rec.FailureURL}, {&existing.ReturnURL, rec.ReturnURL},
	} {
		if *f.to == "" && f.from != "" {
			*f.to, changed = f.from, true
		}
	}
	return changed
}
