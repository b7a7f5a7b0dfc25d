//go:build unix

package faulttest

import (
	"fmt"
	"sort"
)

// measure builds the report from the run, the sandbox, the shop, the
// balancer and the logs.
func (c *cluster) measure(res *loadResult) *report {
	side, err := readSandbox(c.s.base())
	r := measure(res.ps, side, c.sh, res.expected, res.optional)
	if err != nil {
		r.Problems++
		r.Others = append(r.Others, "reading the sandbox: "+err.Error())
	}
	cl := res.w.cl
	r.Store = c.store
	var reorderProblems []string
	r.Reordered, r.LateAcked, reorderProblems = c.tap.results()
	r.Problems += len(reorderProblems)
	r.Others = append(r.Others, reorderProblems...)
	r.RequestsSent, r.CreateRequests, r.SandboxActions = cl.requests.Load(), cl.creates.Load(), res.w.sandboxActions
	r.Replays, r.InProgress, r.Unknown = cl.replays.Load(), cl.inProgress.Load(), cl.unknown.Load()
	r.Restarts, r.KilledAt, r.DownFor, r.VictimCut = res.restarts, res.killedAt, downFor, res.victim.cut
	r.Failovers, r.Unbalanced, r.Cut = c.lb.failovers.Load(), c.lb.failed.Load(), c.lb.cut.Load()
	r.ServedA, r.ServedB = c.lb.served[0].Load(), c.lb.served[1].Load()
	r.ServedAAfter = r.ServedA - res.servedBeforeRestart
	r.GatewayErrorLines = c.a.countLog(`"level":"error"`) + c.b.countLog(`"level":"error"`)
	r.PendingAtKill, r.PendingDelivered = outboxAtKill(c.a, c.b)
	r.FlowsEnded = res.flowsEnded
	if last := c.sh.lastAccepted(wantSet(res.expected)); !last.At.IsZero() {
		r.LastEvent = last.At.Sub(res.start)
		r.LastEventWhat = fmt.Sprintf("%s %s, by %s", last.Type, last.Object, last.By)
	}
	r.Concurrent, r.ConcurrentEx = c.sh.concurrentDuplicates(concurrentWindow)
	by := c.sh.attemptsBy()
	r.AttemptsA, r.AttemptsB = by["A"], by["B"]
	return r
}

// event is one (object id, event type) the shop must receive.
type event struct{ object, typ string }

// expectedEvents lists what the shop must get (expected) and what it may
// get besides (optional: checkEvents does not count those as unexpected,
// and nothing waits for them).
//
//   - payabl.: processing and succeeded for each approved payment, failed
//     for each declined one, succeeded for each accepted refund (payabl.
//     notifies refunds). A reordered payment gets only succeeded: its
//     processing notification arrives after it succeeded, and forwarding it
//     would move the payment backwards (checkEvents counts it as
//     unexpected).
//   - Razorpay: succeeded for each approved payment (payment.captured and
//     order.paid announce it once), failed for each declined one,
//     succeeded for each accepted refund (refund.processed). Optional:
//     payment.authorized (forwarded when its webhook is handled before
//     anything recorded the payment as succeeded) and refund.pending
//     (refund.created: the refund create records it succeeded, unless the
//     webhook reaches an instance before that record exists).
//   - PaySage: succeeded for each approved payment, failed for each
//     declined one; its refunds are final at once and send no webhook, so
//     no refund event.
//
// A payment the customer never decided (pending) is due nothing.
func expectedEvents(ps []*payment) (expected, optional []event) {
	for _, p := range ps {
		p.mu.Lock()
		prov := p.providerName()
		if p.decided {
			id := p.first
			switch {
			case p.decline:
				expected = append(expected, event{id, "payment.failed"})
			case prov == provPayabl:
				if !p.reorder {
					expected = append(expected, event{id, "payment.processing"})
				}
				expected = append(expected, event{id, "payment.succeeded"})
			case prov == provRazorpay:
				expected = append(expected, event{id, "payment.succeeded"})
				optional = append(optional, event{id, "payment.authorized"})
			default:
				expected = append(expected, event{id, "payment.succeeded"})
			}
		}
		for _, r := range p.refunds {
			if !r.accepted {
				continue
			}
			switch prov {
			case provPayabl:
				expected = append(expected, event{r.id, "refund.succeeded"})
			case provRazorpay:
				expected = append(expected, event{r.id, "refund.succeeded"})
				optional = append(optional, event{r.id, "refund.pending"})
			}
		}
		p.mu.Unlock()
	}
	return expected, optional
}

// wantSet indexes the expected events.
func wantSet(expected []event) map[event]bool {
	m := map[event]bool{}
	for _, e := range expected {
		m[e] = true
	}
	return m
}

// missing counts expected events the shop has not accepted.
func missing(sh *shop, want []event) int {
	n := 0
	for _, e := range want {
		if !sh.has(e.object, e.typ) {
			n++
		}
	}
	return n
}

// charge is one provider-side payment that took (or may take) the money,
// with what the provider holds refunded against it.
type charge struct {
	id               string
	amount, refunded int64
	refunds          int // refund transactions the provider holds for it
}

// refView is what one provider holds for one merchant reference.
type refView struct {
	created int      // payabl. transactions, Razorpay orders, PaySage payment transactions for the reference
	charges []charge // payabl. transactions, Razorpay captured attempts, PaySage payment transactions
}

// byReference indexes the sandbox's state by provider and merchant
// reference, and counts each provider's side for the report.
func (st sandboxState) byReference(r *report) map[string]map[string]*refView {
	out := map[string]map[string]*refView{}
	for _, name := range providerNames {
		out[name] = map[string]*refView{}
	}
	view := func(prov, ref string) *refView {
		v := out[prov][ref]
		if v == nil {
			v = &refView{}
			out[prov][ref] = v
		}
		return v
	}

	// payabl.: a "capture" (preauthorisation) per payment, refunds by parent.
	pay := r.side(provPayabl)
	refundsOf := map[string]int{}
	for _, tx := range st.payabl {
		if tx.Type == "refund" {
			refundsOf[tx.Parent]++
			pay.Refunds++
			r.RefundTxns++
		}
	}
	for _, tx := range st.payabl {
		if tx.Type != "capture" {
			continue
		}
		pay.Objects++
		r.Captures++
		if tx.Status == 0 && tx.PaymentState == "credited" {
			pay.Paid++
		}
		v := view(provPayabl, tx.OrderID)
		v.created++
		v.charges = append(v.charges, charge{tx.TransactionID, tx.AmountMinor, tx.Refunded, refundsOf[tx.TransactionID]})
	}

	// Razorpay: an order per payment (receipt = reference), attempts
	// (payments) per order, refunds per captured attempt.
	rz := r.side(provRazorpay)
	receipt := map[string]string{} // order id → receipt
	for _, o := range st.razorpay.Orders {
		rz.Objects++
		if o.Receipt != nil {
			receipt[o.ID] = *o.Receipt
			view(provRazorpay, *o.Receipt).created++
		}
	}
	for _, a := range st.razorpay.Payments {
		rz.Attempts++
		rz.Refunds += len(a.Refunds)
		if !a.Payment.Captured {
			continue
		}
		rz.Paid++
		order := ""
		if a.Payment.OrderID != nil {
			order = *a.Payment.OrderID
		}
		v := view(provRazorpay, receipt[order])
		v.charges = append(v.charges, charge{a.Payment.ID, a.Payment.Amount, a.Payment.AmountRefunded, len(a.Refunds)})
	}

	// PaySage: payment transactions (tracking_id = reference), refund
	// transactions by parent_uid.
	ps := r.side(provPaysage)
	refundsOf = map[string]int{}
	for _, t := range st.paysage.Payments {
		if t.Type == "refund" {
			refundsOf[t.ParentUID]++
			ps.Refunds++
		}
	}
	for _, t := range st.paysage.Payments {
		if t.Type != "payment" {
			continue
		}
		ps.Objects++
		if t.Status == "successful" {
			ps.Paid++
		}
		v := view(provPaysage, t.TrackingID)
		v.created++
		v.charges = append(v.charges, charge{t.UID, t.Amount, t.Refunded, refundsOf[t.UID]})
	}
	return out
}

// measure computes the report from the flows, the sandbox and the shop.
func measure(ps []*payment, st sandboxState, sh *shop, expected, optional []event) *report {
	r := &report{Payments: len(ps), EventsExpected: len(expected)}
	views := st.byReference(r)
	r.NoticesSent, r.NoticesRepeated, r.NoticesUnacked = st.noticeStats()

	for _, p := range ps {
		p.mu.Lock()
		prov := p.providerName()
		side := r.side(prov)
		side.Payments++
		switch {
		case p.dup:
			r.Dup++
		case p.slow:
			r.Slow++
		}
		switch {
		case p.decided && p.decline:
			r.Declined++
			side.Declined++
		case p.decided:
			r.Approved++
			side.Approved++
		case p.pending != "":
			r.Pending++
			side.Pending++
			r.PendingWhy = append(r.PendingWhy, p.ref+" ("+prov+"): "+p.pending)
		}
		v := views[prov][p.ref]
		if v == nil {
			v = &refView{}
		}
		extra := max(v.created-1, len(v.charges)-1, p.fresh-1, len(p.ids)-1, 0)
		if extra > 0 {
			r.DoubleEffects += extra
			r.Doubles = append(r.Doubles, fmt.Sprintf("%s: %d %s, %d of them charged; %d fresh 201s, %d payment ids",
				p.ref, v.created, providerObjects[prov], len(v.charges), p.fresh, len(p.ids)))
		}
		measureRefunds(r, p, v.charges)
		r.Problems += len(p.problems)
		for _, s := range p.problems {
			r.Others = append(r.Others, p.ref+" ("+prov+"): "+s)
		}
		p.mu.Unlock()
	}

	for _, e := range expected {
		if !sh.has(e.object, e.typ) {
			r.EventsLost++
			r.Lost = append(r.Lost, e.typ+" "+e.object)
		}
	}
	allowed := wantSet(expected)
	for _, e := range optional {
		if !allowed[e] && sh.has(e.object, e.typ) {
			r.OptionalDelivered++
		}
		allowed[e] = true
	}
	r.Unexpected, r.Wrong = checkEvents(ps, sh, allowed)
	sh.mu.Lock()
	r.EventsDelivered, r.DeliveryAttempts, r.ShopRefused = len(sh.accepted), sh.attempts, sh.refused
	r.Reaccepted, r.BadSignatures = sh.reaccepts, len(sh.badSig)
	r.Others = append(r.Others, sh.badSig...)
	sh.mu.Unlock()
	r.RepeatedAnnouncements, r.Repeats = sh.repeatedAnnouncements()
	sort.Strings(r.Lost)
	return r
}

// providerObjects names what refView.created counts, per provider.
var providerObjects = map[string]string{
	provPayabl:   "transactions at payabl.",
	provRazorpay: "orders at Razorpay",
	provPaysage:  "payment transactions at PaySage",
}

// measureRefunds checks one payment's refund pair: exactly one accepted,
// the other refused by the gateway's own reservation (not by the
// provider), and the provider holding no more refunds, and no more
// refunded, than the gateway accepted. Caller holds p.mu.
func measureRefunds(r *report, p *payment, charges []charge) {
	if len(p.refunds) == 0 {
		return
	}
	prov := p.providerName()
	r.RefundPairs++
	r.side(prov).RefundPairs++
	var sum int64
	accepted := 0
	for _, rf := range p.refunds {
		switch {
		case rf.accepted:
			r.RefundsAccepted++
			accepted++
			sum += rf.amount
		case rf.refused:
			r.RefundsRefused++
		case rf.declined:
			r.RefundsOther++
			r.DoubleEffects++
			r.Doubles = append(r.Doubles, fmt.Sprintf("%s: a refund over the balance reached %s via %s (the provider refused it, the gateway's reservation did not): %s", p.ref, prov, rf.via, rf.answer))
		default:
			r.RefundsOther++
			r.Problems++
			r.Others = append(r.Others, fmt.Sprintf("%s (%s) refund via %s: %s", p.ref, prov, rf.via, rf.answer))
		}
	}
	if accepted != 1 {
		r.Problems++
		r.Others = append(r.Others, fmt.Sprintf("%s (%s): %d of the two 60%% refunds accepted, want exactly 1", p.ref, prov, accepted))
	}
	for _, c := range charges {
		if c.refunded > c.amount || sum > c.amount || c.refunds > accepted {
			r.DoubleEffects++
			r.Doubles = append(r.Doubles, fmt.Sprintf("%s: paid %d; %s holds %d refunds for %d on %s, the gateway accepted %d for %d",
				p.ref, c.amount, prov, c.refunds, c.refunded, c.id, accepted, sum))
		}
	}
}

// checkEvents counts accepted events that the run did not cause (not in
// allowed: the expected and the optional events), or whose data names
// another reference or amount than the payment or refund had.
func checkEvents(ps []*payment, sh *shop, allowed map[event]bool) (n int, examples []string) {
	type known struct {
		ref    string
		amount int64
	}
	objects := map[string]known{}
	for _, p := range ps {
		p.mu.Lock()
		objects[p.first] = known{p.ref, p.amount}
		for _, rf := range p.refunds {
			if rf.accepted {
				objects[rf.id] = known{"", rf.amount}
			}
		}
		p.mu.Unlock()
	}
	sh.mu.Lock()
	defer sh.mu.Unlock()
	for id, ev := range sh.accepted {
		k, ok := objects[ev.Object]
		bad := ""
		switch {
		case !allowed[event{ev.Object, ev.Type}]:
			bad = "not caused by the run"
		case !ok || ev.Amount != k.amount:
			bad = fmt.Sprintf("amount %d, want %d", ev.Amount, k.amount)
		case k.ref != "" && ev.Reference != k.ref:
			bad = fmt.Sprintf("reference %q, want %q", ev.Reference, k.ref)
		}
		if bad != "" {
			n++
			examples = append(examples, fmt.Sprintf("%s %s %s: %s", id, ev.Type, ev.Object, bad))
		}
	}
	return n, examples
}
