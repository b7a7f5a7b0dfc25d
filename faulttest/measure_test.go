//go:build unix

package faulttest

import (
	"fmt"
	"sort"
)

// measure builds the report from the run, the sandbox, the shop, the
// balancer and the logs.
func (c *cluster) measure(res *loadResult) *report {
	txns, err := sandboxTxns(c.s.base())
	r := measure(res.ps, txns, c.sh, res.expected)
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

// expectedEvents lists what the shop must get: processing and succeeded
// for each approved payment, failed for each declined one, succeeded for
// each accepted refund. A reordered payment gets only succeeded: its
// processing notification arrives after it succeeded, and forwarding it
// would move the payment backwards (checkEvents counts it as unexpected).
func expectedEvents(ps []*payment) []event {
	var out []event
	for _, p := range ps {
		p.mu.Lock()
		if p.decided {
			id := p.first
			if p.decline {
				out = append(out, event{id, "payment.failed"})
			} else {
				if !p.reorder {
					out = append(out, event{id, "payment.processing"})
				}
				out = append(out, event{id, "payment.succeeded"})
			}
		}
		for _, r := range p.refunds {
			if r.accepted {
				out = append(out, event{r.id, "refund.succeeded"})
			}
		}
		p.mu.Unlock()
	}
	return out
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

// measure computes the report from the flows, the sandbox and the shop.
func measure(ps []*payment, txns []sandboxTxn, sh *shop, expected []event) *report {
	r := &report{Payments: len(ps), EventsExpected: len(expected)}
	captures := map[string][]sandboxTxn{} // orderid → capture transactions
	refundsOf := map[string]int{}         // capture transactionid → refund transactions
	for _, tx := range txns {
		switch tx.Type {
		case "capture":
			captures[tx.OrderID] = append(captures[tx.OrderID], tx)
			r.Captures++
		case "refund":
			refundsOf[tx.Parent]++
			r.RefundTxns++
		}
	}
	r.NoticesSent, r.NoticesRepeated, r.NoticesUnacked = noticeStats(txns)

	for _, p := range ps {
		p.mu.Lock()
		switch {
		case p.dup:
			r.Dup++
		case p.slow:
			r.Slow++
		}
		if p.decided && p.decline {
			r.Declined++
		} else if p.decided {
			r.Approved++
		}
		extra := max(len(captures[p.ref])-1, p.fresh-1, len(p.ids)-1, 0)
		if extra > 0 {
			r.DoubleEffects += extra
			r.Doubles = append(r.Doubles, fmt.Sprintf("%s: %d transactions at payabl, %d fresh 201s, %d payment ids",
				p.ref, len(captures[p.ref]), p.fresh, len(p.ids)))
		}
		measureRefunds(r, p, captures[p.ref], refundsOf)
		r.Problems += len(p.problems)
		for _, s := range p.problems {
			r.Others = append(r.Others, p.ref+": "+s)
		}
		p.mu.Unlock()
	}

	want := wantSet(expected)
	for _, e := range expected {
		if !sh.has(e.object, e.typ) {
			r.EventsLost++
			r.Lost = append(r.Lost, e.typ+" "+e.object)
		}
	}
	r.Unexpected, r.Wrong = checkEvents(ps, sh, want)
	sh.mu.Lock()
	r.EventsDelivered, r.DeliveryAttempts, r.ShopRefused = len(sh.accepted), sh.attempts, sh.refused
	r.Reaccepted, r.BadSignatures = sh.reaccepts, len(sh.badSig)
	r.Others = append(r.Others, sh.badSig...)
	sh.mu.Unlock()
	r.RepeatedAnnouncements, r.Repeats = sh.repeatedAnnouncements()
	sort.Strings(r.Lost)
	return r
}

// measureRefunds checks one payment's refund pair: exactly one accepted,
// the other refused by the gateway's own reservation (not by payabl), and
// payabl holding no more refunds, and no more refunded, than the gateway
// accepted. Caller holds p.mu.
func measureRefunds(r *report, p *payment, captures []sandboxTxn, refundsOf map[string]int) {
	if len(p.refunds) == 0 {
		return
	}
	r.RefundPairs++
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
			r.Doubles = append(r.Doubles, fmt.Sprintf("%s: a refund over the balance reached payabl via %s (payabl refused it, the gateway's reservation did not): %s", p.ref, rf.via, rf.answer))
		default:
			r.RefundsOther++
			r.Problems++
			r.Others = append(r.Others, fmt.Sprintf("%s refund via %s: %s", p.ref, rf.via, rf.answer))
		}
	}
	if accepted != 1 {
		r.Problems++
		r.Others = append(r.Others, fmt.Sprintf("%s: %d of the two 60%% refunds accepted, want exactly 1", p.ref, accepted))
	}
	for _, tx := range captures {
		if tx.Refunded > tx.AmountMinor || sum > tx.AmountMinor || refundsOf[tx.TransactionID] > accepted {
			r.DoubleEffects++
			r.Doubles = append(r.Doubles, fmt.Sprintf("%s: paid %d; payabl holds %d refunds for %d, the gateway accepted %d for %d",
				p.ref, tx.AmountMinor, refundsOf[tx.TransactionID], tx.Refunded, accepted, sum))
		}
	}
}

// checkEvents counts accepted events that the run did not cause, or whose
// data names another reference or amount than the payment or refund had.
func checkEvents(ps []*payment, sh *shop, want map[event]bool) (n int, examples []string) {
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
		case !want[event{ev.Object, ev.Type}]:
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
