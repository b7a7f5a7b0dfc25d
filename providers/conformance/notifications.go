package conformance

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/caddy-payments/caddy-payments/providers"
)

// verify calls VerifyNotification on a copy, turning a panic into a
// failure rather than a crashed test binary.
func (s *suite) verify(t *testing.T, in *providers.IncomingNotification) (n *providers.Notification, err error) {
	t.Helper()
	defer func() {
		if r := recover(); r != nil {
			t.Fatalf("VerifyNotification panicked: %v", r)
		}
	}()
	return s.p.VerifyNotification(cloneNote(in))
}

// complete drives the checkout and verifies every notification sent: it
// returns them verified. want lists the event types of which at least one
// must appear.
func (s *suite) complete(t *testing.T, p *providers.Payment, approve bool, want ...string) []verified {
	t.Helper()
	ins := s.h.Complete(t, p, approve)
	if !s.caps.Supports(providers.OpNotifications) {
		return nil
	}
	if len(ins) == 0 {
		t.Fatalf("Complete returned no notifications, but Capabilities lists %q", providers.OpNotifications)
	}
	var out []verified
	trusted, found := false, false
	for i, in := range ins {
		if in == nil {
			t.Fatalf("notification %d is nil", i)
		}
		n, err := s.verify(t, in)
		s.keep(err)
		if err != nil {
			t.Fatalf("notification %d did not verify: %v", i, err)
		}
		s.keep(n)
		checkNotification(t, i, n, p, in)
		again, err := s.verify(t, in)
		if err != nil {
			t.Fatalf("notification %d verified once, not twice: %v", i, err)
		}
		if again.EventKey != n.EventKey {
			t.Errorf("notification %d gave EventKey %q, then %q: keys must be deterministic", i, n.EventKey, again.EventKey)
		}
		if n.Trust.Object != providers.Unsigned {
			trusted = true
			if contains(want, n.EventType) {
				found = true
			}
		}
		out = append(out, verified{in: cloneNote(in), n: n})
	}
	if trusted && !found {
		t.Errorf("no notification claimed any of %v", want)
	}
	s.notes = append(s.notes, out...)
	return out
}

// checkNotification checks one verified notification about payment p.
func checkNotification(t *testing.T, i int, n *providers.Notification, p *providers.Payment, in *providers.IncomingNotification) {
	t.Helper()
	if n == nil {
		t.Fatalf("notification %d: VerifyNotification returned nil and no error", i)
	}
	switch {
	case n.Trust.Object != providers.Unsigned && n.EventKey == "":
		t.Errorf("notification %d: EventKey is empty", i)
	case n.Trust.Object == providers.Unsigned && n.EventKey != "":
		t.Errorf("notification %d: unverifiable, but has an EventKey %q (nothing in it is signed)", i, n.EventKey)
	}
	if n.Object != "payment" && n.Object != "refund" && n.Object != "payout" {
		t.Errorf("notification %d: Object %q, want payment, refund or payout", i, n.Object)
	}
	if n.EventType != "" {
		if !providers.ValidEventType(n.EventType) {
			t.Errorf("notification %d: EventType %q is not in providers.EventTypes", i, n.EventType)
		}
		if !strings.HasPrefix(n.EventType, n.Object+".") {
			t.Errorf("notification %d: EventType %q does not match Object %q", i, n.EventType, n.Object)
		}
	}
	if n.Object != "payment" {
		return
	}
	if n.ProviderRef != p.ProviderReference && !(n.ProviderRef == "" && n.Reference == p.Reference) {
		t.Errorf("notification %d: ProviderRef %q, want %q (the payment it is about)", i, n.ProviderRef, p.ProviderReference)
	}
	if n.Status != "" && !providers.Status(n.Status).Valid() {
		t.Errorf("notification %d: Status %q is not a canonical payment status", i, n.Status)
	}
	if st, ok := strings.CutPrefix(n.EventType, "payment."); ok && st != "disputed" && n.Status != st {
		t.Errorf("notification %d: EventType %q but Status %q", i, n.EventType, n.Status)
	}
	if (n.Amount != 0 && n.Amount != p.Amount) || (n.Currency != "" && n.Currency != p.Currency) {
		t.Errorf("notification %d: amount %d %s, want %d %s", i, n.Amount, n.Currency, p.Amount, p.Currency)
	}
	if n.Trust.Amount > n.Trust.Object || n.Trust.Status > n.Trust.Object || n.Trust.Reference > n.Trust.Object {
		t.Errorf("notification %d: a claim is trusted more than the notification itself: %+v", i, n.Trust)
	}
	// ProviderEvent is nil or one compact-able JSON object with members,
	// and it must not carry the signature or credentials: neither in its
	// bytes nor in any of its strings once decoded (an escaped copy of a
	// secret is still the secret).
	ev := eventText(t, i, n.ProviderEvent)
	for name, vals := range in.Header {
		l := strings.ToLower(name)
		if !strings.Contains(l, "signature") && !strings.Contains(l, "authorization") {
			continue
		}
		for _, v := range vals {
			if len(v) >= 8 && strings.Contains(ev, v) {
				t.Errorf("notification %d: ProviderEvent holds the %s header value", i, name)
			}
			// Basic credentials travel base64-encoded: their decoded
			// form must not be in the event either.
			if scheme, cred, ok := strings.Cut(v, " "); ok && strings.EqualFold(scheme, "Basic") {
				if plain, err := base64.StdEncoding.DecodeString(strings.TrimSpace(cred)); err == nil && len(plain) >= 8 {
					_, secret, _ := strings.Cut(string(plain), ":")
					if len(secret) >= 8 && strings.Contains(ev, secret) {
						t.Errorf("notification %d: ProviderEvent holds the password of the %s header", i, name)
					}
				}
			}
		}
	}
}

// eventText checks that a ProviderEvent is nil or a JSON object with at
// least one member, and returns its bytes followed by every key and string
// value it holds, decoded, for the secret scans.
func eventText(t *testing.T, i int, raw json.RawMessage) string {
	t.Helper()
	if raw == nil {
		return ""
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil || m == nil {
		t.Errorf("notification %d: ProviderEvent %.200q is not a JSON object", i, raw)
		return string(raw)
	}
	if len(m) == 0 {
		t.Errorf("notification %d: ProviderEvent is an empty object (leave it nil)", i)
	}
	return string(raw) + "\n" + decodedStrings(raw)
}

func (s *suite) checkApprove(t *testing.T) {
	req := s.newPayment(t)
	p := s.create(t, req)
	s.complete(t, p, true, "payment.authorized", "payment.succeeded")
	if !s.caps.Supports(providers.OpGetPayment) {
		if !s.caps.Supports(providers.OpNotifications) {
			t.Skip("Capabilities lists neither get_payment nor notifications: nothing to observe")
		}
		s.approved = p
		return
	}
	got := s.get(t, p.ProviderReference, req)
	// A fetch that cannot establish success on its own (payabl's
	// tx_diagnose error_code 0) says so with Confirms.
	if got.Status != providers.StatusSucceeded && got.Confirms != providers.StatusSucceeded {
		t.Fatalf("after an approved checkout GetPayment says %q (confirms %q), want %q", got.Status, got.Confirms, providers.StatusSucceeded)
	}
	s.approved = got
}

func (s *suite) checkDecline(t *testing.T) {
	req := s.newPayment(t)
	p := s.create(t, req)
	s.complete(t, p, false, "payment.failed")
	if !s.caps.Supports(providers.OpGetPayment) {
		if !s.caps.Supports(providers.OpNotifications) {
			t.Skip("Capabilities lists neither get_payment nor notifications: nothing to observe")
		}
		return
	}
	if got := s.get(t, p.ProviderReference, req); got.Status != providers.StatusFailed {
		t.Errorf("after a declined checkout GetPayment says %q, want %q", got.Status, providers.StatusFailed)
	}
}

func (s *suite) checkEventKeys(t *testing.T) {
	s.supports(t, providers.OpNotifications)
	distinct := 0
	for i, a := range s.notes {
		unique := true
		for _, b := range s.notes[:i] {
			same := sameNote(a.in, b.in)
			if same {
				unique = false
			}
			if same && a.n.EventKey != b.n.EventKey {
				t.Errorf("two identical notifications gave EventKeys %q and %q", a.n.EventKey, b.n.EventKey)
			}
			if !same && a.n.EventKey == b.n.EventKey {
				t.Errorf("two different notifications share EventKey %q", a.n.EventKey)
			}
		}
		if unique {
			distinct++
		}
	}
	if distinct < 2 {
		t.Fatalf("approve and decline produced %d distinct notifications; at least 2 are needed to compare keys", distinct)
	}
}

// trustedNotes returns the verified notifications that claim authenticity,
// skipping the test when there are none because the provider marks every
// notification unverifiable (Trust.Object Unsigned).
func (s *suite) trustedNotes(t *testing.T) []verified {
	t.Helper()
	s.supports(t, providers.OpNotifications)
	needs(t, len(s.notes) > 0, "approve/decline (no verified notifications)")
	var out []verified
	for _, v := range s.notes {
		if v.n.Trust.Object != providers.Unsigned {
			out = append(out, v)
		}
	}
	if len(out) == 0 {
		t.Skip("every notification is unverifiable: the provider has no authentication to defeat")
	}
	return out
}

// checkForged runs a harness forgery on every trusted notification and
// requires ErrUnauthenticated.
func (s *suite) checkForged(t *testing.T, name string, forge func(*providers.IncomingNotification) *providers.IncomingNotification) {
	notes := s.trustedNotes(t)
	if forge == nil {
		t.Fatalf("Harness.%s is nil, but the provider's notifications are authenticated", name)
	}
	for i, v := range notes {
		orig := cloneNote(v.in)
		forged := forge(cloneNote(v.in))
		if forged == nil || sameNote(forged, orig) {
			t.Fatalf("Harness.%s returned nil or an unchanged notification", name)
		}
		n, err := s.verify(t, forged)
		s.keep(err)
		if !errors.Is(err, providers.ErrUnauthenticated) {
			t.Errorf("%s notification %d: got (%v, %v), want an error wrapping ErrUnauthenticated", name, i, n, err)
		}
		if n != nil {
			t.Errorf("%s notification %d: VerifyNotification returned a notification with its error", name, i)
		}
	}
}

func (s *suite) checkTampered(t *testing.T) { s.checkForged(t, "Tamper", s.h.Tamper) }

func (s *suite) checkUnsigned(t *testing.T) { s.checkForged(t, "Unsigned", s.h.Unsigned) }

func (s *suite) checkGarbageNotification(t *testing.T) {
	s.supports(t, providers.OpNotifications)
	random := make([]byte, 4096)
	_, _ = rand.Read(random)
	var form strings.Builder
	for i := 0; form.Len() < 1<<20; i++ {
		fmt.Fprintf(&form, "field%d=%s&", i, strings.Repeat("x", 100))
	}
	bodies := map[string][]byte{
		"empty":     nil,
		"random":    random,
		"huge form": []byte(form.String()),
		"json null": []byte("null"),
		"json {}":   []byte("{}"),
		"json []":   []byte("[]"),
	}
	// With no headers, and with the headers (signature) of a real
	// notification, whose signature then does not match the body.
	headers := map[string]http.Header{"no headers": {}}
	if len(s.notes) > 0 {
		headers["real headers"] = s.notes[0].in.Header
	}
	for hn, h := range headers {
		for bn, b := range bodies {
			in := &providers.IncomingNotification{Method: http.MethodPost, Header: h.Clone(), Body: b}
			n, err := s.verify(t, in)
			s.keep(err)
			if err == nil || n != nil {
				t.Errorf("%s body, %s: got (%v, %v), want an error and no notification", bn, hn, n, err)
			}
		}
	}
}

func (s *suite) checkAcknowledge(t *testing.T) {
	s.supports(t, providers.OpNotifications)
	w := httptest.NewRecorder()
	if err := s.p.Acknowledge(w); err != nil {
		t.Fatalf("Acknowledge: %v", err)
	}
	if w.Code/100 != 2 {
		t.Errorf("Acknowledge wrote status %d, want 2xx", w.Code)
	}
}
