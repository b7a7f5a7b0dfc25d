package store

import (
	"context"
	"encoding/base64"
	"time"

	"github.com/caddy-payments/caddy-payments/providers"
)

// OutboxAdmin is what an operator's tools need of the outbox (the
// admin API's routes under /payments/, the `caddy payments` commands):
// listing what waits, looking at one entry, and dropping one for good,
// with a record of the drop. Both stores implement it; it is an interface
// of its own so that Store stays the gateway's working set.
//
// Redelivering an entry at once needs no method of its own: it is
// RescheduleEvent with the entry's attempts, last error and now.
type OutboxAdmin interface {
	// ListOutbox returns up to limit queued entries in due order (next
	// attempt first, then event id), starting after cursor ("" starts at
	// the beginning). next is the cursor of the following page, "" when
	// there is none. A cursor is opaque and belongs to the store that
	// made it; a malformed one is a providers.Error naming "cursor".
	ListOutbox(ctx context.Context, cursor string, limit int) (entries []*OutboxEntry, next string, err error)
	// OutboxEntry returns one queued entry, or ErrNotFound.
	OutboxEntry(ctx context.Context, eventID string) (*OutboxEntry, error)
	// DropEvent removes a queued entry and keeps a DroppedEvent record
	// of it, in one atomic step; ErrNotFound when the entry is not
	// queued (delivered, dropped already, or unknown). d's EventID,
	// DroppedAt, Reason and By are taken from d; the rest is copied from
	// the entry. It returns the record as stored.
	DropEvent(ctx context.Context, d *DroppedEvent) (*DroppedEvent, error)
	// ListDropped returns up to limit dropped-event records in event id
	// order, starting after cursor, like ListOutbox.
	ListDropped(ctx context.Context, cursor string, limit int) (records []*DroppedEvent, next string, err error)
}

// DroppedEvent records an outbox entry an operator removed before the
// shop accepted it, so a drop is never silent. It keeps the entry's
// metadata, not its body.
type DroppedEvent struct {
	EventID   string    `json:"event_id"`
	Provider  string    `json:"provider"`
	EventType string    `json:"event_type"`
	Attempts  int       `json:"attempts"`
	LastError string    `json:"last_error,omitempty"`
	Created   time.Time `json:"created"`
	DroppedAt time.Time `json:"dropped_at"`
	// Reason is the operator's, required.
	Reason string `json:"reason"`
	// By names who dropped it, as the admin request said (free text:
	// the admin API has no users of its own), and from where.
	By string `json:"by,omitempty"`
}

// droppedFrom is the record of dropping e, with d's own fields.
func droppedFrom(e *OutboxEntry, d *DroppedEvent) *DroppedEvent {
	return &DroppedEvent{
		EventID: e.EventID, Provider: e.Provider, EventType: e.EventType, Attempts: e.Attempts,
		LastError: e.LastError, Created: e.Created,
		DroppedAt: d.DroppedAt.UTC(), Reason: d.Reason, By: d.By,
	}
}

// checkDrop refuses a drop request without an event id or a reason.
func checkDrop(d *DroppedEvent) error {
	if d == nil || d.EventID == "" {
		return providers.Missing("event_id")
	}
	if d.Reason == "" {
		return providers.Missing("reason")
	}
	return nil
}

// listLimit bounds a listing's page size.
func listLimit(limit int) int {
	if limit <= 0 {
		return 20
	}
	return min(limit, 1000)
}

// encodeAdminCursor and decodeAdminCursor make an outbox listing's position
// opaque (the Events API's time-key cursors are encodeCursor in events.go).
func encodeAdminCursor(raw []byte) string {
	if raw == nil {
		return ""
	}
	return base64.RawURLEncoding.EncodeToString(raw)
}

func decodeAdminCursor(c string) ([]byte, error) {
	if c == "" {
		return nil, nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil || len(raw) == 0 {
		return nil, badCursor()
	}
	return raw, nil
}

func badCursor() error {
	return providers.Invalid("cursor", "cursor must be a next_cursor value returned by a previous listing")
}

var (
	_ OutboxAdmin = (*Bolt)(nil)
	_ OutboxAdmin = (*Redis)(nil)
)
