//go:build unix

package faulttest

import (
	"fmt"
	"strings"
	"time"
)

// report is what one run measured. Its String is printed for CI.
type report struct {
	Store   string
	Elapsed time.Duration

	// the load
	Payments, Approved, Declined, Dup, Slow      int
	Pending                                      int // never decided: the customer had no checkout link (see payment.pending)
	RequestsSent, CreateRequests, SandboxActions int64
	Captures, RefundTxns                         int // transactions at payabl (the sandbox)
	RefundPairs, RefundsAccepted                 int
	RefundsRefused, RefundsOther                 int
	Sides                                        map[string]*providerSide // per provider: the run's payments and the provider's own objects

	// duplicates the gateway absorbed
	Replays, InProgress, Unknown                 int64
	NoticesSent, NoticesRepeated, NoticesUnacked int
	Reordered, LateAcked                         int // payments whose notifications came out of order; late ones acknowledged OK

	// what reached the shop
	EventsExpected, EventsLost, EventsDelivered int // delivered: unique webhook-ids accepted
	OptionalDelivered                           int // optional events (Razorpay's payment.authorized, refund.pending) accepted
	DeliveryAttempts, ShopRefused               int
	AttemptsA, AttemptsB                        int
	Reaccepted                                  int // events accepted again (same webhook-id)
	BadSignatures, Unexpected                   int
	Concurrent                                  int // deliveries of one event by both instances at once
	RepeatedAnnouncements                       int
	DoubleEffects                               int

	// timing
	FlowsEnded, LastEvent time.Duration
	LastEventWhat         string

	// the fault
	Restarts                        int
	KilledAt, DownFor               time.Duration
	VictimCut                       bool
	PendingAtKill, PendingDelivered int
	Failovers, Unbalanced, Cut      int64
	ServedA, ServedB, ServedAAfter  int64
	GatewayErrorLines, Problems     int

	// examples for the report
	Lost, Doubles, Repeats, Wrong, ConcurrentEx, Others, PendingWhy []string
}

// providerSide is one provider's part of the run: the payments made with
// it and what its sandbox holds at the end.
type providerSide struct {
	Payments, Approved, Declined, Pending, RefundPairs int // the run's
	Objects                                            int // payabl. transactions, Razorpay orders, PaySage payment transactions
	Attempts                                           int // Razorpay payment attempts (at most one per order: the customer's launch)
	Paid                                               int // payabl. credited, Razorpay captured, PaySage successful
	Refunds                                            int // refund transactions at the provider
}

// side returns the provider's counts, creating them.
func (r *report) side(name string) *providerSide {
	if r.Sides == nil {
		r.Sides = map[string]*providerSide{}
	}
	if r.Sides[name] == nil {
		r.Sides[name] = &providerSide{}
	}
	return r.Sides[name]
}

// sideLine is a provider's report line.
func (r *report) sideLine(name string) string {
	s := r.side(name)
	run := fmt.Sprintf("%d payments (approved %d, declined %d", s.Payments, s.Approved, s.Declined)
	if s.Pending > 0 {
		run += fmt.Sprintf(", %d left pending", s.Pending)
	}
	run += fmt.Sprintf("; %d refund pairs)", s.RefundPairs)
	switch name {
	case provPayabl:
		return fmt.Sprintf("%s; at payabl.: %d transactions (%d payments, %d credited; %d refunds)", run, s.Objects+s.Refunds, s.Objects, s.Paid, s.Refunds)
	case provRazorpay:
		return fmt.Sprintf("%s; at Razorpay: %d orders, %d payment attempts (%d captured), %d refunds", run, s.Objects, s.Attempts, s.Paid, s.Refunds)
	default:
		return fmt.Sprintf("%s; at PaySage: %d transactions (%d payments, %d successful; %d refunds)", run, s.Objects+s.Refunds, s.Objects, s.Paid, s.Refunds)
	}
}

// duplicatesSuppressed is idempotent replays + in-flight 409s + repeated
// provider notifications that did not reach the shop again.
func (r *report) duplicatesSuppressed() int64 {
	notForwarded := r.NoticesRepeated - r.Reaccepted
	if notForwarded < 0 {
		notForwarded = 0
	}
	return r.Replays + r.InProgress + int64(notForwarded)
}

func (r *report) String() string {
	var b strings.Builder
	line := func(k, format string, args ...any) { fmt.Fprintf(&b, "%-24s %s\n", k, fmt.Sprintf(format, args...)) }
	fmt.Fprintf(&b, "==== payments fault & load report (store: %s, %s) ====\n", r.Store, r.Elapsed.Round(100*time.Millisecond))
	line("payments", "%d (approved %d, declined %d, left pending %d; %d with every notification twice, %d timing out on create)", r.Payments, r.Approved, r.Declined, r.Pending, r.Dup, r.Slow)
	for _, name := range providerNames {
		line("  "+name, "%s", r.sideLine(name))
	}
	line("requests sent", "%d merchant API requests (%d creates), %d sandbox approve/decline", r.RequestsSent, r.CreateRequests, r.SandboxActions)
	line("duplicates suppressed", "%d = %d idempotent replays + %d request_in_progress 409s + %d repeated notifications not forwarded again",
		r.duplicatesSuppressed(), r.Replays, r.InProgress, r.duplicatesSuppressed()-r.Replays-r.InProgress)
	line("", "(%d outcome_unknown 409s; provider notifications: %d sent, %d repeats, %d not acknowledged: %d held back by the test)",
		r.Unknown, r.NoticesSent, r.NoticesRepeated, r.NoticesUnacked, r.Reordered)
	line("reordered", "%d payments: processing held back (503) and sent after succeeded; %d late ones acknowledged 200 OK (a forwarded payment.processing would be unexpected)",
		r.Reordered, r.LateAcked)
	line("events delivered", "%d unique webhook-ids accepted (%d expected, %d optional); %d accepted again", r.EventsDelivered, r.EventsExpected, r.OptionalDelivered, r.Reaccepted)
	line("delivery attempts", "%d (A %d, B %d; %d refused by the flapping shop)", r.DeliveryAttempts, r.AttemptsA, r.AttemptsB, r.ShopRefused)
	line("concurrent duplicates", "%d (one event delivered by both instances at once)", r.Concurrent)
	line("events lost", "%d", r.EventsLost)
	line("last event", "accepted at +%s (%s); the flows ended at +%s",
		r.LastEvent.Round(100*time.Millisecond), r.LastEventWhat, r.FlowsEnded.Round(100*time.Millisecond))
	line("double effects", "%d", r.DoubleEffects)
	line("repeated announcements", "%d (one status announced under several webhook-ids)", r.RepeatedAnnouncements)
	line("bad signatures", "%d", r.BadSignatures)
	line("unexpected events", "%d (not caused by the run, or wrong reference/amount)", r.Unexpected)
	line("refunds", "%d concurrent 60%%+60%% pairs: %d accepted, %d refused, %d other", r.RefundPairs, r.RefundsAccepted, r.RefundsRefused, r.RefundsOther)
	line("instance restarts", "%d (A killed -9 at +%s into the run, during a shop outage; restarted %s later)", r.Restarts, r.KilledAt.Round(100*time.Millisecond), r.DownFor.Round(100*time.Millisecond))
	line("at the kill", "a create in flight on A cut off: %v; %d events waiting in A's outbox, %d of them delivered since (from the logs)",
		r.VictimCut, r.PendingAtKill, r.PendingDelivered)
	line("load balancer", "A answered %d (%d after its restart), B %d; %d failovers (%d requests cut off in flight), %d requests no instance took",
		r.ServedA, r.ServedAAfter, r.ServedB, r.Failovers, r.Cut, r.Unbalanced)
	line("gateway error logs", "%d lines at level error", r.GatewayErrorLines)
	line("flow problems", "%d", r.Problems)
	for _, group := range []struct {
		name string
		list []string
	}{{"lost", r.Lost}, {"double", r.Doubles}, {"repeated", r.Repeats}, {"unexpected", r.Wrong}, {"concurrent", r.ConcurrentEx}, {"problem", r.Others}, {"pending", r.PendingWhy}} {
		for i, s := range group.list {
			if i == 10 {
				fmt.Fprintf(&b, "  %s: … %d more\n", group.name, len(group.list)-10)
				break
			}
			fmt.Fprintf(&b, "  %s: %s\n", group.name, s)
		}
	}
	return b.String()
}
