//go:build unix

package faulttest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// shop stands in for the merchant's application behind the gateways. It
// verifies every delivery's signature (401 when it does not verify),
// records every delivery attempt and every accepted event, and flaps:
// during the first `down` of every `period` it answers 503, as a shop being
// redeployed would.
type shop struct {
	secret       string
	start        time.Time
	period, down time.Duration
	forceDown    atomic.Bool // answers 503 while set, whatever the schedule

	mu        sync.Mutex
	attempts  int                      // every POST carrying a webhook-id
	refused   int                      // answered 503 (down window)
	badSig    []string                 // deliveries that did not verify
	accepted  map[string]acceptedEvent // webhook-id → the event, on its first 2xx
	reaccepts int                      // 2xx answers for a webhook-id already accepted
	other     int                      // non-event requests (none expected)
	log       []attempt                // every delivery attempt, in arrival order
}

// attempt is one delivery as the shop saw it.
type attempt struct {
	id, instance string // webhook-id; X-Faulttest-Instance (which gateway sent it)
	at           time.Time
}

// acceptedEvent is what the shop keeps of an event it took.
type acceptedEvent struct {
	Type      string
	Object    string // data.id
	Reference string // data.reference
	Amount    int64  // data.amount
	Status    string // data.status
	Body      json.RawMessage
	At        time.Time // when it was accepted
	By        string    // the instance that delivered it
}

func newShop(secret string, period, down time.Duration) *shop {
	return &shop{secret: secret, start: time.Now(), period: period, down: down, accepted: map[string]acceptedEvent{}}
}

// intoDown returns the first moment at or after t that is offset into a
// down window, so a kill can be timed while events are waiting in the
// outbox.
func (s *shop) intoDown(t time.Time, offset time.Duration) time.Time {
	phase := t.Sub(s.start) % s.period
	if phase <= offset {
		return t.Add(offset - phase)
	}
	return t.Add(s.period - phase + offset)
}

// isDown reports whether the shop is in a down window at now.
func (s *shop) isDown(now time.Time) bool {
	if s.forceDown.Load() {
		return true
	}
	return now.Sub(s.start)%s.period < s.down
}

func (s *shop) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	id := r.Header.Get("webhook-id")
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if id == "" {
		s.other++
		w.WriteHeader(http.StatusOK)
		return
	}
	s.attempts++
	s.log = append(s.log, attempt{id: id, instance: r.Header.Get("X-Faulttest-Instance"), at: now})
	if err := verifyWebhook(s.secret, r.Header, body, now); err != nil {
		s.badSig = append(s.badSig, id+": "+err.Error())
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	if s.isDown(now) {
		s.refused++
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	if _, seen := s.accepted[id]; seen {
		s.reaccepts++
		w.WriteHeader(http.StatusOK)
		return
	}
	var ev struct {
		Type string `json:"type"`
		Data struct {
			ID        string `json:"id"`
			Reference string `json:"reference"`
			Amount    int64  `json:"amount"`
			Status    string `json:"status"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &ev); err != nil {
		s.badSig = append(s.badSig, id+": body is not JSON")
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	s.accepted[id] = acceptedEvent{Type: ev.Type, Object: ev.Data.ID, Reference: ev.Data.Reference,
		Amount: ev.Data.Amount, Status: ev.Data.Status, Body: body, At: now, By: r.Header.Get("X-Faulttest-Instance")}
	w.WriteHeader(http.StatusOK)
}

// has reports whether an event of type typ about object was accepted.
func (s *shop) has(object, typ string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, ev := range s.accepted {
		if ev.Object == object && ev.Type == typ {
			return true
		}
	}
	return false
}

// repeatedAnnouncements counts (object, type) pairs the shop accepted under
// more than one webhook-id: the same status announced twice as different
// events, which a shop de-duplicating on webhook-id would act on twice.
func (s *shop) repeatedAnnouncements() (n int, examples []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	seen := map[[2]string][]string{}
	for id, ev := range s.accepted {
		k := [2]string{ev.Object, ev.Type}
		seen[k] = append(seen[k], id)
	}
	for k, ids := range seen {
		if len(ids) > 1 {
			n += len(ids) - 1
			if len(examples) < 5 {
				sort.Slice(ids, func(i, j int) bool { return s.accepted[ids[i]].At.Before(s.accepted[ids[j]].At) })
				var each []string
				for _, id := range ids {
					ev := s.accepted[id]
					each = append(each, fmt.Sprintf("%s (from %s, by %s at %s)", id, providerEventName(ev.Body), ev.By, ev.At.Format("15:04:05.000")))
				}
				examples = append(examples, k[1]+" "+k[0]+" as "+strings.Join(each, ", "))
			}
		}
	}
	return n, examples
}

// providerEventName names the provider notification an event came from,
// as far as its provider_event says (Razorpay's "event", PaySage's
// transaction status, payabl.'s payment_state or type).
func providerEventName(body []byte) string {
	var ev struct {
		ProviderEvent map[string]any `json:"provider_event"`
	}
	if json.Unmarshal(body, &ev) != nil || ev.ProviderEvent == nil {
		return "no provider_event"
	}
	pe := ev.ProviderEvent
	if s, ok := pe["event"].(string); ok {
		return s
	}
	if t, ok := pe["transaction"].(map[string]any); ok {
		return fmt.Sprintf("transaction %v", t["status"])
	}
	for _, k := range []string{"payment_state", "type"} {
		if s, ok := pe[k].(string); ok && s != "" {
			return k + " " + s
		}
	}
	return "provider_event"
}

// concurrentDuplicates counts deliveries of an event that another instance
// delivered too within window: both instances were working on the same
// outbox entry at once, which a shared outbox's claim must prevent (a
// shop's de-duplication on webhook-id can race then).
func (s *shop) concurrentDuplicates(window time.Duration) (n int, examples []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	last := map[string]attempt{}
	for _, a := range s.log {
		if prev, ok := last[a.id]; ok && prev.instance != a.instance && a.at.Sub(prev.at) < window {
			n++
			if len(examples) < 10 {
				examples = append(examples, fmt.Sprintf("%s from %s and %s %s apart", a.id, prev.instance, a.instance, a.at.Sub(prev.at).Round(time.Microsecond)))
			}
		}
		last[a.id] = a
	}
	return n, examples
}

// attemptsBy counts delivery attempts per instance.
func (s *shop) attemptsBy() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]int{}
	for _, a := range s.log {
		out[a.instance]++
	}
	return out
}

// lastAccepted is the latest acceptance among the wanted events.
func (s *shop) lastAccepted(want map[event]bool) (last acceptedEvent) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, ev := range s.accepted {
		if want[event{ev.Object, ev.Type}] && ev.At.After(last.At) {
			last = ev
		}
	}
	return last
}
