package conformance

import (
	"testing"
	"time"

	"github.com/caddy-payments/caddy-payments/providers"
)

// magic creates a payment mutated by a harness magic function and returns
// the canonical error it must produce.
func (s *suite) magic(t *testing.T, name string, mutate func(*providers.CreatePayment), do providers.Doer) *providers.Error {
	t.Helper()
	req := s.newPayment(t)
	mutate(req)
	if err := s.p.ValidatePayment(req); err != nil {
		t.Fatalf("the Harness.%s request does not pass ValidatePayment: %v", name, err)
	}
	p, err := s.p.CreatePayment(t.Context(), do, req)
	s.keep(err)
	if p != nil {
		t.Errorf("CreatePayment returned a payment with its error: %+v", p)
	}
	return asError(t, err, "", "")
}

func (s *suite) checkMagicDecline(t *testing.T) {
	e := s.magic(t, "Decline", s.h.Decline, s.doer)
	if e.Type != providers.TypeProviderDeclined || e.RequestSent != providers.SentYes {
		t.Errorf("got %s with request_sent %q (%v), want provider_declined with request_sent yes", e.Type, e.RequestSent, e)
	}
	if e.ProviderCode == nil || *e.ProviderCode == "" {
		t.Errorf("a decline carries no ProviderCode")
	}
}

func (s *suite) checkMagicGarbage(t *testing.T) {
	e := s.magic(t, "Garbage", s.h.Garbage, s.doer)
	if e.RequestSent != providers.SentUnknown {
		t.Errorf("request_sent %q (%v), want unknown: the request reached the provider, the outcome is not known", e.RequestSent, e)
	}
	if e.Type != providers.TypeProviderError && e.Type != providers.TypeProviderUnreachable {
		t.Errorf("type %q, want provider_error (or provider_unreachable)", e.Type)
	}
}

func (s *suite) checkMagicSlow(t *testing.T) {
	timeout := s.h.SlowTimeout
	if timeout <= 0 {
		timeout = 500 * time.Millisecond
	}
	d := *s.h.Doer
	d.Timeout = timeout
	start := time.Now()
	e := s.magic(t, "Slow", s.h.Slow, &d)
	if took := time.Since(start); took > timeout+3*time.Second {
		t.Errorf("CreatePayment took %v with a %v Doer timeout", took, timeout)
	}
	if e.Type != providers.TypeProviderUnreachable || !e.Timeout || e.RequestSent != providers.SentUnknown {
		t.Errorf("got %s timeout=%v request_sent %q (%v), want provider_unreachable, timeout, request_sent unknown", e.Type, e.Timeout, e.RequestSent, e)
	}
}

func (s *suite) checkUnreachable(t *testing.T) {
	d := *s.h.Doer
	d.Timeout = 5 * time.Second
	dead := redirectDoer{inner: &d, host: deadAddress(t)}
	e := s.magic(t, "NewPayment", func(*providers.CreatePayment) {}, dead)
	if e.Type != providers.TypeProviderUnreachable || e.RequestSent != providers.SentNo || e.Timeout {
		t.Errorf("got %s timeout=%v request_sent %q (%v), want provider_unreachable, no timeout, request_sent no", e.Type, e.Timeout, e.RequestSent, e)
	}
	if s.caps.Supports(providers.OpGetPayment) {
		ref := "unreachable"
		if s.created != nil {
			ref = s.created.ProviderReference
		}
		_, err := s.p.GetPayment(t.Context(), dead, ref)
		s.keep(err)
		asError(t, err, providers.TypeProviderUnreachable, providers.SentNo)
	}
}
