package conformance

import (
	"errors"
	"testing"

	"github.com/caddy-payments/caddy-payments/providers"
)

func (s *suite) checkRefund(t *testing.T) {
	s.supports(t, providers.OpRefund)
	r, ok := s.p.(providers.Refunder)
	if !ok {
		t.Fatalf("Capabilities lists %q but the provider is not a providers.Refunder", providers.OpRefund)
	}
	needs(t, s.approved != nil, "approve")
	p := s.approved
	req := &providers.RefundRequest{
		Amount: p.Amount / 2, Currency: p.Currency, Reason: "conformance partial refund",
		Reference:          pad("rf"+uniq(), min(16, limitOr(s.caps, "reference", 16))),
		PaymentProviderRef: p.ProviderReference, PaymentAmount: p.Amount, IdempotencyKey: "cf-" + uniq(),
	}
	if err := r.ValidateRefund(req); err != nil {
		t.Fatalf("ValidateRefund rejected a partial refund of %d of %d: %v", req.Amount, p.Amount, err)
	}
	rf, err := r.Refund(t.Context(), s.doer, req)
	s.keep(err)
	if err != nil {
		t.Fatalf("Refund: %v", err)
	}
	s.keep(rf)
	checkRefund(t, rf, req)
	if rf.Status == providers.RefundFailed {
		t.Errorf("a valid partial refund failed: %+v", rf)
	}

	if s.caps.Supports(providers.OpGetRefund) {
		got, err := r.GetRefund(t.Context(), s.doer, rf.ProviderReference)
		s.keep(err)
		if err != nil {
			t.Fatalf("GetRefund(%q): %v", rf.ProviderReference, err)
		}
		s.keep(got)
		checkRefund(t, got, req)
		if got.ProviderReference != rf.ProviderReference {
			t.Errorf("GetRefund gave ProviderReference %q, want %q", got.ProviderReference, rf.ProviderReference)
		}
	} else if _, err := r.GetRefund(t.Context(), s.doer, rf.ProviderReference); err != nil {
		var e *providers.Error
		if !errors.As(err, &e) || e.Type != providers.TypeNotSupported {
			t.Errorf("GetRefund without %q in Operations gave %v, want a not_supported error or a refund", providers.OpGetRefund, err)
		}
	}

	if s.caps.Supports(providers.OpGetPayment) {
		got := s.get(t, p.ProviderReference, &providers.CreatePayment{Reference: p.Reference, Amount: p.Amount, Currency: p.Currency})
		if got.Status != providers.StatusSucceeded && got.Confirms != providers.StatusSucceeded {
			t.Errorf("after a partial refund the payment is %q (confirms %q), want still %q", got.Status, got.Confirms, providers.StatusSucceeded)
		}
		if got.AmountRefunded != 0 && got.AmountRefunded != req.Amount {
			t.Errorf("after refunding %d the payment says AmountRefunded %d", req.Amount, got.AmountRefunded)
		}
	}
}

func checkRefund(t *testing.T, rf *providers.Refund, req *providers.RefundRequest) {
	t.Helper()
	if rf == nil {
		t.Fatalf("got a nil refund and no error")
	}
	if rf.ProviderReference == "" {
		t.Errorf("refund ProviderReference is empty")
	}
	if rf.ID != "" || rf.Provider != "" || rf.PaymentID != "" {
		t.Errorf("refund ID/Provider/PaymentID are set; the host fills them")
	}
	if rf.Object != "refund" {
		t.Errorf("refund Object %q, want \"refund\"", rf.Object)
	}
	if rf.Amount != req.Amount || rf.Currency != req.Currency {
		t.Errorf("refund of %d %s, want %d %s", rf.Amount, rf.Currency, req.Amount, req.Currency)
	}
	switch rf.Status {
	case providers.RefundPending, providers.RefundSucceeded, providers.RefundFailed:
	default:
		t.Errorf("refund Status %q is not canonical", rf.Status)
	}
	if !rf.Test {
		t.Errorf("refund Test = false for a test-mode account")
	}
}

func (s *suite) checkPayout(t *testing.T) {
	s.supports(t, providers.OpPayout)
	ps, ok := s.p.(providers.PayoutSender)
	if !ok {
		t.Fatalf("Capabilities lists %q but the provider is not a providers.PayoutSender", providers.OpPayout)
	}
	if s.h.NewPayout == nil {
		t.Fatalf("Harness.NewPayout is nil, but Capabilities lists %q", providers.OpPayout)
	}
	req := s.h.NewPayout()
	if err := ps.ValidatePayout(req); err != nil {
		t.Fatalf("ValidatePayout rejected the harness's valid payout: %v", err)
	}
	po, err := ps.CreatePayout(t.Context(), s.doer, req)
	s.keep(err)
	if err != nil {
		t.Fatalf("CreatePayout: %v", err)
	}
	s.keep(po)
	checkPayout(t, po, req)
	if po.Status == providers.PayoutFailed || po.Status == providers.PayoutReversed {
		t.Errorf("a valid payout is %q at creation", po.Status)
	}
	if !s.caps.Supports(providers.OpGetPayout) {
		return
	}
	got, err := ps.GetPayout(t.Context(), s.doer, po.ProviderReference)
	s.keep(err)
	if err != nil {
		t.Fatalf("GetPayout(%q): %v", po.ProviderReference, err)
	}
	s.keep(got)
	checkPayout(t, got, req)
	if got.ProviderReference != po.ProviderReference {
		t.Errorf("GetPayout gave ProviderReference %q, want %q", got.ProviderReference, po.ProviderReference)
	}
}

func checkPayout(t *testing.T, po *providers.Payout, req *providers.CreatePayout) {
	t.Helper()
	if po == nil {
		t.Fatalf("got a nil payout and no error")
	}
	if po.ProviderReference == "" {
		t.Errorf("payout ProviderReference is empty")
	}
	if po.ID != "" || po.Provider != "" {
		t.Errorf("payout ID/Provider are set; the host fills them")
	}
	if po.Object != "payout" {
		t.Errorf("payout Object %q, want \"payout\"", po.Object)
	}
	if po.Amount != req.Amount || po.Currency != req.Currency {
		t.Errorf("payout of %d %s, want %d %s", po.Amount, po.Currency, req.Amount, req.Currency)
	}
	if po.Reference != "" && po.Reference != req.Reference {
		t.Errorf("payout Reference %q, want %q (or empty)", po.Reference, req.Reference)
	}
	switch po.Status {
	case providers.PayoutPending, providers.PayoutProcessing, providers.PayoutSucceeded,
		providers.PayoutFailed, providers.PayoutReversed:
	default:
		t.Errorf("payout Status %q is not canonical", po.Status)
	}
	if !po.Test {
		t.Errorf("payout Test = false for a test-mode account")
	}
}

// limitOr returns Capabilities.Limits[field], or def when unset.
func limitOr(c providers.Capabilities, field string, def int) int {
	if v, ok := c.Limits[field]; ok {
		return v
	}
	return def
}
