package providers

import "testing"

func TestCanTransitionPayment(t *testing.T) {
	all := []Status{StatusRequiresAction, StatusProcessing, StatusAuthorized, StatusSucceeded, StatusFailed, StatusCancelled, StatusExpired, StatusUnknown}
	allowed := map[[2]Status]bool{}
	for _, to := range []Status{StatusProcessing, StatusAuthorized, StatusSucceeded, StatusFailed, StatusCancelled, StatusExpired} {
		allowed[[2]Status{StatusRequiresAction, to}] = true
		allowed[[2]Status{StatusUnknown, to}] = true
	}
	allowed[[2]Status{StatusUnknown, StatusRequiresAction}] = true
	for _, to := range []Status{StatusAuthorized, StatusSucceeded, StatusFailed, StatusCancelled, StatusExpired} {
		allowed[[2]Status{StatusProcessing, to}] = true
	}
	for _, to := range []Status{StatusSucceeded, StatusFailed, StatusCancelled, StatusExpired} {
		allowed[[2]Status{StatusAuthorized, to}] = true
	}
	for _, from := range all {
		for _, to := range all {
			want := allowed[[2]Status{from, to}]
			if got := CanTransition(from, to, false); got != want {
				t.Errorf("CanTransition(%s → %s, unconfirmed) = %v, want %v", from, to, got, want)
			}
		}
	}
	// The one documented upward move out of failed needs a confirming fetch.
	for _, to := range []Status{StatusAuthorized, StatusSucceeded} {
		if !CanTransition(StatusFailed, to, true) {
			t.Errorf("failed → %s confirmed must be allowed", to)
		}
	}
	for _, to := range []Status{StatusProcessing, StatusRequiresAction, StatusCancelled, StatusExpired} {
		if CanTransition(StatusFailed, to, true) {
			t.Errorf("failed → %s must never be allowed", to)
		}
	}
	for _, from := range []Status{StatusSucceeded, StatusCancelled, StatusExpired} {
		for _, to := range all {
			if CanTransition(from, to, true) {
				t.Errorf("%s is final, but → %s was allowed", from, to)
			}
		}
	}
}

func TestCanTransitionRefundAndPayout(t *testing.T) {
	cases := []struct {
		from, to string
		refund   bool
		want     bool
	}{
		{RefundPending, RefundSucceeded, true, true},
		{RefundPending, RefundFailed, true, true},
		{RefundSucceeded, RefundFailed, true, false},
		{RefundFailed, RefundSucceeded, true, false},
		{RefundSucceeded, RefundPending, true, false},
		{PayoutPending, PayoutProcessing, false, true},
		{PayoutProcessing, PayoutSucceeded, false, true},
		{PayoutSucceeded, PayoutReversed, false, true},
		{PayoutProcessing, PayoutReversed, false, false},
		{PayoutFailed, PayoutSucceeded, false, false},
		{PayoutReversed, PayoutSucceeded, false, false},
		{PayoutSucceeded, PayoutProcessing, false, false},
	}
	for _, c := range cases {
		got := CanTransitionPayout(c.from, c.to)
		if c.refund {
			got = CanTransitionRefund(c.from, c.to)
		}
		if got != c.want {
			t.Errorf("%s → %s = %v, want %v", c.from, c.to, got, c.want)
		}
	}
}

func TestEventTypesAreTheContractsList(t *testing.T) {
	want := "payment.processing payment.authorized payment.succeeded payment.failed payment.cancelled payment.expired payment.disputed refund.pending refund.succeeded refund.failed payout.pending payout.processing payout.succeeded payout.failed payout.reversed"
	got := ""
	for i, e := range EventTypes {
		if i > 0 {
			got += " "
		}
		got += e
	}
	if got != want {
		t.Fatalf("event types:\n%s\nwant\n%s", got, want)
	}
	if ValidEventType("payment.requires_action") || !ValidEventType("payout.reversed") {
		t.Fatal("ValidEventType")
	}
}
