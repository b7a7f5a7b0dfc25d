package conformance

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"testing"
	"time"

	"github.com/caddy-payments/caddy-payments/providers"
)

// Run runs the conformance suite against one provider. Subtests share
// state in order (a payment created early is fetched and refunded later);
// a subtest whose prerequisite failed fails too, saying so.
func Run(t *testing.T, h Harness) {
	t.Helper()
	if errs := harnessErrors(h); len(errs) > 0 {
		t.Fatalf("conformance: incomplete Harness: %v", errs)
	}
	s := newSuite(h)
	t.Run("capabilities", s.checkCapabilities)
	t.Run("validate_payment", s.checkValidatePayment)
	t.Run("create_payment", s.checkCreatePayment)
	t.Run("get_payment", s.checkGetPayment)
	t.Run("find_payment", s.checkFindPayment)
	t.Run("find_unknown_reference", s.checkFindUnknown)
	t.Run("approve", s.checkApprove)
	t.Run("decline", s.checkDecline)
	t.Run("event_keys", s.checkEventKeys)
	t.Run("tampered_notification", s.checkTampered)
	t.Run("unsigned_notification", s.checkUnsigned)
	t.Run("garbage_notification", s.checkGarbageNotification)
	t.Run("acknowledge", s.checkAcknowledge)
	t.Run("refund", s.checkRefund)
	t.Run("payout", s.checkPayout)
	t.Run("magic_decline", s.checkMagicDecline)
	t.Run("magic_garbage", s.checkMagicGarbage)
	t.Run("magic_slow", s.checkMagicSlow)
	t.Run("unreachable", s.checkUnreachable)
	t.Run("no_secrets", s.checkNoSecrets)
}

// suite is the state shared by the subtests of one Run.
type suite struct {
	h    Harness
	p    providers.Provider
	caps providers.Capabilities
	doer *countingDoer

	created  *providers.Payment // by create_payment, from createdReq
	req      *providers.CreatePayment
	approved *providers.Payment // succeeded, by approve
	notes    []verified         // every notification that verified

	refs map[string]bool // references NewPayment has returned

	// returned collects everything the provider handed back, for the
	// secrets scan.
	returned []any
}

// verified is a notification that passed VerifyNotification.
type verified struct {
	in *providers.IncomingNotification
	n  *providers.Notification
}

func newSuite(h Harness) *suite {
	d := *h.Doer
	if d.Timeout <= 0 || d.Timeout > 10*time.Second {
		d.Timeout = 10 * time.Second
	}
	return &suite{h: h, p: h.Provider, caps: h.Provider.Capabilities(), doer: &countingDoer{inner: &d}, refs: map[string]bool{}}
}

// keep records a returned value for the secrets scan.
func (s *suite) keep(v any) { s.returned = append(s.returned, v) }

// newPayment returns a fresh valid request, checking the harness keeps
// its promise of unique references.
func (s *suite) newPayment(t *testing.T) *providers.CreatePayment {
	t.Helper()
	req := s.h.NewPayment()
	if req == nil || req.Reference == "" || req.Amount < 2 || req.Currency == "" {
		t.Fatalf("Harness.NewPayment must return a request with a reference, an amount >= 2 and a currency; got %+v", req)
	}
	if s.refs[req.Reference] {
		t.Fatalf("Harness.NewPayment returned reference %q twice; each call must use a new one", req.Reference)
	}
	s.refs[req.Reference] = true
	return req
}

// create creates a payment and checks the canonical object.
func (s *suite) create(t *testing.T, req *providers.CreatePayment) *providers.Payment {
	t.Helper()
	if err := s.p.ValidatePayment(req); err != nil {
		t.Fatalf("ValidatePayment rejected the harness's valid request: %v", err)
	}
	before := s.doer.calls.Load()
	p, err := s.p.CreatePayment(t.Context(), s.doer, req)
	s.keep(err)
	if err != nil {
		t.Fatalf("CreatePayment: %v", err)
	}
	s.keep(p)
	if s.doer.calls.Load() == before {
		t.Errorf("CreatePayment made no call through the Doer it was given")
	}
	checkPayment(t, s.h.Name, p, req)
	return p
}

// get fetches a payment and checks it against the request it came from.
func (s *suite) get(t *testing.T, ref string, req *providers.CreatePayment) *providers.Payment {
	t.Helper()
	p, err := s.p.GetPayment(t.Context(), s.doer, ref)
	s.keep(err)
	if err != nil {
		t.Fatalf("GetPayment(%q): %v", ref, err)
	}
	s.keep(p)
	checkPayment(t, s.h.Name, p, req)
	if p.ProviderReference != ref {
		t.Errorf("GetPayment(%q).ProviderReference = %q, want the reference asked for", ref, p.ProviderReference)
	}
	return p
}

// checkPayment checks the fields every canonical payment must have.
func checkPayment(t *testing.T, account string, p *providers.Payment, req *providers.CreatePayment) {
	t.Helper()
	if p == nil {
		t.Fatalf("got a nil payment and no error")
	}
	if p.ProviderReference == "" {
		t.Fatalf("ProviderReference is empty")
	}
	if a, ref, ok := providers.DecodeID(providers.KindPayment, providers.EncodeID(providers.KindPayment, account, p.ProviderReference)); !ok || a != account || ref != p.ProviderReference {
		t.Errorf("ProviderReference %q does not survive EncodeID/DecodeID", p.ProviderReference)
	}
	if p.ID != "" || p.Provider != "" {
		t.Errorf("ID %q / Provider %q are set; the host fills them, providers leave them empty", p.ID, p.Provider)
	}
	if p.Object != "payment" {
		t.Errorf("Object = %q, want \"payment\"", p.Object)
	}
	if p.Amount != req.Amount || p.Currency != req.Currency {
		t.Errorf("amount %d %s, want %d %s", p.Amount, p.Currency, req.Amount, req.Currency)
	}
	if p.Reference != "" && p.Reference != req.Reference {
		t.Errorf("Reference = %q, want %q (or empty)", p.Reference, req.Reference)
	}
	if !p.Test {
		t.Errorf("Test = false for a test-mode account")
	}
	if !p.Status.Valid() {
		t.Errorf("Status %q is not a canonical payment status", p.Status)
	}
	if p.AmountRefunded < 0 || p.AmountRefunded > p.Amount {
		t.Errorf("AmountRefunded = %d, outside 0..%d", p.AmountRefunded, p.Amount)
	}
}

// asError checks err is a *providers.Error of the wanted type and
// request_sent ("" means any).
func asError(t *testing.T, err error, typ, sent string) *providers.Error {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want a %s error with request_sent %q", typ, sent)
	}
	var e *providers.Error
	if !errors.As(err, &e) {
		t.Fatalf("error %q is a %T, want a *providers.Error", err, err)
	}
	if typ != "" && e.Type != typ {
		t.Errorf("error type %q (%v), want %q", e.Type, e, typ)
	}
	if sent != "" && e.RequestSent != sent {
		t.Errorf("request_sent %q (%v), want %q", e.RequestSent, e, sent)
	}
	return e
}

// needs fails a subtest whose prerequisite did not produce its state.
func needs(t *testing.T, ok bool, what string) {
	t.Helper()
	if !ok {
		t.Fatalf("cannot run: %s failed earlier", what)
	}
}

// supports skips a subtest for an operation the capabilities exclude.
func (s *suite) supports(t *testing.T, ops ...string) {
	t.Helper()
	for _, op := range ops {
		if !s.caps.Supports(op) {
			t.Skipf("Capabilities.Operations has no %q", op)
		}
	}
}

// uniq returns a short random suffix for references the suite makes up.
func uniq() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// cloneNote deep-copies a notification, so providers (and Tamper) cannot
// change the suite's copy.
func cloneNote(n *providers.IncomingNotification) *providers.IncomingNotification {
	c := &providers.IncomingNotification{Method: n.Method, Header: n.Header.Clone(), Body: bytes.Clone(n.Body)}
	if n.Query != nil {
		c.Query = url.Values{}
		for k, v := range n.Query {
			c.Query[k] = append([]string(nil), v...)
		}
	}
	return c
}

// sameNote reports whether two raw notifications are byte-identical.
func sameNote(a, b *providers.IncomingNotification) bool {
	return a.Method == b.Method && bytes.Equal(a.Body, b.Body) && a.Query.Encode() == b.Query.Encode() &&
		fmt.Sprint(a.Header) == fmt.Sprint(b.Header)
}
