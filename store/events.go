package store

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/tidwall/gjson"

	"github.com/caddy-payments/caddy-payments/providers"
)

// EventLog is the log of the events the gateway announced, kept for a
// retention period (the Events API, GET /events), and the time index of
// payments (GET /payments without reference). Bolt and Redis implement
// it; EnqueueEvent records every event it queues in the log in the same
// atomic step, so no event reaches the shop without being logged, and
// PutPayment and Commit's payment part keep the payment index in the write
// that stores the payment.
//
// Both listings walk an index ordered by (creation time, id), newest first,
// from the cursor (or created_lt) down to created_gte: O(log n) to find
// the start, then one step and one record read per entry looked at. The
// filters (event type, provider, object id; payment provider, status) are
// applied to the records while walking, so a page looks at no more than
// MaxListScan entries: a rare filter value may therefore return a short or
// empty page with has_more true and a cursor to go on from.
type EventLog interface {
	// ListEvents returns one page of logged events, newest first.
	ListEvents(ctx context.Context, q ListQuery) (*EventPage, error)
	// GetEvent returns a logged event or ErrNotFound.
	GetEvent(ctx context.Context, id string) (*OutboxEntry, error)
	// RedeliverEvent queues a logged event for delivery again, now, with
	// the same event id, even when it was delivered before; an event
	// still queued is just made due now. ErrNotFound when it is not in the
	// log (unknown or pruned).
	RedeliverEvent(ctx context.Context, id string, now time.Time) error
	// PruneEvents removes up to limit logged events created before
	// before, oldest first, and reports how many it removed.
	PruneEvents(ctx context.Context, before time.Time, limit int) (int, error)
	// ListPayments returns one page of payments, newest first.
	ListPayments(ctx context.Context, q ListQuery) (*PaymentPage, error)
}

// MaxListScan bounds the index entries one page of a listing looks at.
const MaxListScan = 1000

// ListQuery selects a page of a listing. Zero fields do not filter.
type ListQuery struct {
	// Limit is the page size (1–100; 0 means 20).
	Limit int
	// Cursor is the NextCursor of the previous page.
	Cursor string
	// Type and ObjectID filter events only; Status filters payments only.
	Type     string
	Provider string
	ObjectID string
	Status   string
	// CreatedGTE (inclusive) and CreatedLT (exclusive) bound the creation
	// time.
	CreatedGTE time.Time
	CreatedLT  time.Time
}

// EventPage is one page of ListEvents: the logged entries (Body is the
// event exactly as forwarded).
type EventPage struct {
	Events     []*OutboxEntry
	HasMore    bool
	NextCursor string
}

// PaymentPage is one page of ListPayments.
type PaymentPage struct {
	Payments   []*PaymentRecord
	HasMore    bool
	NextCursor string
}

// EventObjectID is the id of the object an event is about: its data.id.
func EventObjectID(body []byte) string { return gjson.GetBytes(body, "data.id").String() }

// timeKey is an index key: the creation time in nanoseconds since the
// epoch, as 20 decimal digits, "|", the id; byte order is time order.
func timeKey(t time.Time, id string) string {
	return timePrefix(t) + "|" + id
}

func timePrefix(t time.Time) string {
	// UnixNano is undefined (it wraps) outside 1678–2262, so times are
	// clamped to [epoch, the largest int64] first: a created_lt in year
	// 9999 bounds nothing, a created_gte in 1600 likewise.
	var n int64
	switch {
	case !t.After(time.Unix(0, 0)):
		n = 0
	case t.After(maxKeyTime):
		n = math.MaxInt64
	default:
		n = t.UnixNano()
	}
	return fmt.Sprintf("%020d", n)
}

// maxKeyTime is the latest time a timeKey represents exactly.
var maxKeyTime = time.Unix(0, math.MaxInt64)

// idOfKey is the id part of a timeKey.
func idOfKey(k string) string {
	if len(k) < 22 {
		return ""
	}
	return k[21:]
}

// validKey reports whether k has the shape of a timeKey.
func validKey(k string) bool {
	if len(k) < 22 || k[20] != '|' {
		return false
	}
	for i := range 20 {
		if k[i] < '0' || k[i] > '9' {
			return false
		}
	}
	return true
}

// Listing kinds: a cursor names the listing it was issued by, so a
// cursor of one listing given to another is refused, not taken as a
// position in it.
const (
	listEvents   = "e"
	listPayments = "p"
)

// encodeCursor and decodeCursor make a timeKey of a listing opaque.
func encodeCursor(kind, k string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(kind + k))
}

func decodeCursor(kind, c string) (string, error) {
	raw, err := base64.RawURLEncoding.DecodeString(c)
	k, ok := strings.CutPrefix(string(raw), kind)
	if err != nil || !ok || !validKey(k) {
		return "", providers.Invalid("cursor", "cursor must be the next_cursor of a previous page of this listing")
	}
	return k, nil
}

// bounds checks q for the listing kind and returns the page size and the
// index range to walk: keys below upper (exclusive; "" for no bound) down
// to lower (inclusive; "" for none).
func (q *ListQuery) bounds(kind string) (limit int, upper, lower string, err error) {
	limit = q.Limit
	if limit == 0 {
		limit = 20
	}
	if limit < 1 || limit > 100 {
		return 0, "", "", providers.Invalid("limit", "limit must be between 1 and 100")
	}
	if !q.CreatedLT.IsZero() {
		upper = timePrefix(q.CreatedLT)
	}
	if q.Cursor != "" {
		c, err := decodeCursor(kind, q.Cursor)
		if err != nil {
			return 0, "", "", err
		}
		if upper == "" || c < upper {
			upper = c
		}
	}
	if !q.CreatedGTE.IsZero() {
		lower = timePrefix(q.CreatedGTE)
	}
	return limit, upper, lower, nil
}

// pager collects a page while an index is walked newest first.
type pager struct {
	limit   int
	scanned int
	taken   int
	last    string // key of the last entry taken
	more    bool
	cursor  string
	kind    string // listEvents or listPayments
}

// page is what the walk found beyond the page: whether there is more, and
// the cursor that continues after it ("" when there is none).
func (p *pager) page() (hasMore bool, next string) {
	if !p.more {
		return false, ""
	}
	return true, encodeCursor(p.kind, p.cursor)
}

// offer is called for each key walked, with whether its record matches;
// take says to put it on the page, cont whether to walk on.
func (p *pager) offer(key string, matched bool) (take, cont bool) {
	p.scanned++
	if matched {
		if p.taken == p.limit {
			p.more, p.cursor = true, p.last
			return false, false
		}
		p.taken++
		p.last = key
		take = true
	}
	if p.scanned >= MaxListScan {
		p.more, p.cursor = true, key
		return take, false
	}
	return take, true
}

// eventMatches applies the event filters of q to a logged entry.
func eventMatches(q *ListQuery, e *OutboxEntry) bool {
	return (q.Type == "" || e.EventType == q.Type) &&
		(q.Provider == "" || e.Provider == q.Provider) &&
		(q.ObjectID == "" || EventObjectID(e.Body) == q.ObjectID)
}

// paymentMatches applies the payment filters of q.
func paymentMatches(q *ListQuery, p *PaymentRecord) bool {
	return (q.Provider == "" || p.Provider == q.Provider) &&
		(q.Status == "" || string(p.Status) == q.Status)
}

// eventCreated is the time an entry is logged under.
func eventCreated(e *OutboxEntry) time.Time {
	if e.Created.IsZero() {
		return time.Now().UTC()
	}
	return e.Created
}

// decodeEntry decodes a logged entry.
func decodeEntry(id string, raw []byte) (*OutboxEntry, error) {
	var e OutboxEntry
	if err := json.Unmarshal(raw, &e); err != nil {
		return nil, fmt.Errorf("store: decoding logged event %q: %w", id, err)
	}
	return &e, nil
}

// redeliveryEntry is the outbox entry that delivers a logged event again.
func redeliveryEntry(e *OutboxEntry, now time.Time) *OutboxEntry {
	out := *e
	out.Attempts, out.NextAt, out.LastError = 0, now.UTC(), ""
	return &out
}
