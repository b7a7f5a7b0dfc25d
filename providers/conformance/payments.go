package conformance

import (
	"net/url"
	"testing"

	"github.com/caddy-payments/caddy-payments/providers"
)

func (s *suite) checkCreatePayment(t *testing.T) {
	req := s.newPayment(t)
	p := s.create(t, req)
	if p.Status != providers.StatusRequiresAction {
		t.Errorf("a new payment has status %q, want %q", p.Status, providers.StatusRequiresAction)
	}
	checkNextAction(t, p.NextAction)
	s.created, s.req = p, req
}

// checkNextAction checks the customer can be sent somewhere.
func checkNextAction(t *testing.T, a *providers.NextAction) {
	t.Helper()
	if a == nil {
		t.Fatalf("a payment that requires action has no NextAction")
	}
	switch a.Type {
	case "poll":
	case "redirect":
		u, err := url.Parse(a.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			t.Errorf("NextAction.URL %q is not an absolute http(s) URL", a.URL)
		}
		if a.Method != "" && a.Method != "GET" && a.Method != "POST" {
			t.Errorf("NextAction.Method %q, want GET or POST", a.Method)
		}
		if len(a.Fields) > 0 && a.Method != "POST" {
			t.Errorf("NextAction has form fields but method %q", a.Method)
		}
	default:
		t.Errorf("NextAction.Type %q, want redirect or poll", a.Type)
	}
}

func (s *suite) checkGetPayment(t *testing.T) {
	s.supports(t, providers.OpGetPayment)
	needs(t, s.created != nil, "create_payment")
	p := s.get(t, s.created.ProviderReference, s.req)
	if p.Status != providers.StatusRequiresAction {
		t.Errorf("a payment nobody paid has status %q, want %q", p.Status, providers.StatusRequiresAction)
	}
}

func (s *suite) checkFindPayment(t *testing.T) {
	s.supports(t, providers.OpFindPayment)
	needs(t, s.created != nil, "create_payment")
	p, err := s.p.FindPayment(t.Context(), s.doer, s.req.Reference)
	s.keep(err)
	if err != nil {
		t.Fatalf("FindPayment(%q): %v", s.req.Reference, err)
	}
	s.keep(p)
	checkPayment(t, s.h.Name, p, s.req)
	if p.ProviderReference != s.created.ProviderReference {
		t.Errorf("FindPayment gave ProviderReference %q, want %q (from create)", p.ProviderReference, s.created.ProviderReference)
	}
}

func (s *suite) checkFindUnknown(t *testing.T) {
	s.supports(t, providers.OpFindPayment)
	// A fresh harness reference is valid for the provider and never used.
	ref := s.newPayment(t).Reference
	p, err := s.p.FindPayment(t.Context(), s.doer, ref)
	s.keep(err)
	if p != nil {
		t.Errorf("FindPayment of unknown reference %q returned a payment: %+v", ref, p)
	}
	asError(t, err, providers.TypeNotFound, "")
}
