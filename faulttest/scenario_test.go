//go:build unix

package faulttest

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"time"
)

// world is what a payment's flow talks to.
type world struct {
	lb, a, b, sandbox string // base URLs
	cl                *client
	sandboxActions    int64
	mu                sync.Mutex
}

// payment is one planned payment and everything observed about it.
type payment struct {
	ref     string
	amount  int64
	copies  int    // how many times the create is sent with the same key
	decline bool   // the customer declines at the bank
	dup     bool   // magic 1414: every notification twice
	slow    bool   // magic 1234: the create times out (504, request_sent unknown)
	refund  bool   // two concurrent 60% refunds, through A and through B
	reorder bool   // its notifications arrive out of order (see reorderTap)
	via     string // base URL the create goes to first ("": the balancer)

	mu       sync.Mutex
	ids      map[string]bool // every payment id an answer gave (more than one is a double effect)
	first    string          // the first id learned: the payment the flow goes on with
	tx       string          // its payabl transactionid
	fresh    int             // 201s that were not replays
	problems []string
	refunds  []refundResult
	decided  bool
	cut      bool // a create got no answer (its instance was killed)
}

// refundResult is the outcome of one refund request.
type refundResult struct {
	via      string
	amount   int64
	id       string
	status   string // the refund's status when accepted
	accepted bool   // 201 with a status other than failed
	refused  bool   // 400 on amount: the gateway's reservation refused it
	declined bool   // 402: payabl refused it, so it got past the reservation
	answer   string // what came back, for the report
}

// magic amounts of the sandboxes, kept out of the ordinary amounts.
var magic = map[int64]bool{1111: true, 1212: true, 1234: true, 1313: true, 1414: true, 1515: true, 1616: true, 6666: true}

// plan makes n payments with a fixed mix: every 10th duplicates its
// notifications, every 20th times out on create, every 5th is declined,
// every 3rd approved one gets the concurrent refund pair.
func plan(run string, n int) []*payment {
	var ps []*payment
	for i := range n {
		p := &payment{
			ref:     fmt.Sprintf("FT-%s-%02d", run, i),
			amount:  1000 + 37*int64(i),
			copies:  2 + i%2,
			decline: i%5 == 4,
			ids:     map[string]bool{},
		}
		for magic[p.amount] {
			p.amount++
		}
		switch {
		case i%10 == 7:
			p.dup, p.amount = true, 1414
		case i%20 == 5:
			p.slow, p.amount = true, 1234
		}
		p.refund = !p.decline && i%3 == 0
		p.reorder = i%10 == 2 // never a dup, slow or declined one
		ps = append(ps, p)
	}
	return ps
}

func (p *payment) problem(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.problems = append(p.problems, fmt.Sprintf(format, args...))
}

// id is the payment's canonical id ("" if none was learned).
func (p *payment) id() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.first
}

// learn records a payment object from a 201 or a lookup.
func (p *payment) learn(a answer) {
	p.mu.Lock()
	defer p.mu.Unlock()
	id := a.str("id")
	p.ids[id] = true
	if p.first == "" && id != "" {
		p.first, p.tx = id, a.str("provider_reference")
	}
}

// body is the canonical create request.
func (p *payment) body() map[string]any {
	return map[string]any{
		"provider": "payabl", "reference": p.ref, "amount": p.amount, "currency": "EUR", "description": "Order " + p.ref,
		"customer": map[string]any{"id": "cust-42", "first_name": "Jane", "last_name": "Doe", "email": "jane@example.com",
			"country": "SE", "ip": "203.0.113.7"},
		"language": "en", "return_url": "https://shop.example/return",
		"success_url": "https://shop.example/ok", "failure_url": "https://shop.example/failed",
	}
}

// flow runs one payment from create to refunds.
func (w *world) flow(ctx context.Context, p *payment) {
	w.create(ctx, p)
	p.mu.Lock()
	tx, nIDs := p.tx, len(p.ids)
	p.mu.Unlock()
	if tx == "" || nIDs == 0 {
		p.problem("no payment after create")
		return
	}
	action := "approve"
	if p.decline {
		action = "decline"
	}
	if !w.decide(ctx, p, tx, action) {
		return
	}
	if p.refund {
		if w.waitSucceeded(ctx, p) {
			w.refundPair(ctx, p)
		}
	}
}

// create sends the create p.copies times, concurrently, with one key.
func (w *world) create(ctx context.Context, p *payment) {
	key := "ft-" + p.ref
	var wg sync.WaitGroup
	for c := range p.copies {
		wg.Go(func() {
			pause(ctx, time.Duration(c)*15*time.Millisecond)
			w.createCopy(ctx, p, key)
		})
	}
	wg.Wait()
}

// createCopy is one merchant retry loop: 201 (fresh or replayed) ends it;
// a 409 request_in_progress is retried for a while; a connection failure
// is retried (through the balancer); anything uncertain (504/502
// request_sent unknown, 409 outcome_unknown, a long in-progress) is
// resolved by finding the payment by reference, as the README tells
// merchants to.
func (w *world) createCopy(ctx context.Context, p *payment, key string) {
	base := w.lb
	if p.via != "" {
		base = p.via
	}
	start := time.Now()
	for time.Since(start) < 20*time.Second {
		w.cl.creates.Add(1)
		a := w.cl.do(ctx, http.MethodPost, base+"/payments", key, p.body())
		switch {
		case a.status == http.StatusCreated:
			p.learn(a)
			if !a.replayed {
				p.mu.Lock()
				p.fresh++
				p.mu.Unlock()
			}
			return
		case a.errCode() == "request_in_progress" && time.Since(start) < 6*time.Second:
		case a.status == 0 || (a.status == http.StatusBadGateway && a.body == nil):
			// no gateway answered: the instance was killed (or the
			// balancer found none); the same request goes again
			p.mu.Lock()
			p.cut = true
			p.mu.Unlock()
			base = w.lb
		default:
			w.lookup(ctx, p, a)
			return
		}
		if !pause(ctx, 200*time.Millisecond) {
			break
		}
	}
	p.problem("create never resolved")
}

// lookup finds the payment by reference after an uncertain create.
func (w *world) lookup(ctx context.Context, p *payment, after answer) {
	q := url.Values{"provider": {"payabl"}, "reference": {p.ref}}
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		a := w.cl.do(ctx, http.MethodGet, w.lb+"/payments?"+q.Encode(), "", nil)
		if a.status == http.StatusOK {
			p.learn(a)
			return
		}
		if !pause(ctx, 250*time.Millisecond) {
			break
		}
	}
	p.problem("create answered %d %s and the payment was not found by reference", after.status, after.errCode())
}

// decide approves or declines the payment at the sandbox, as the customer.
func (w *world) decide(ctx context.Context, p *payment, tx, action string) bool {
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, w.sandbox+"/sandbox/payabl/_sandbox/payments/"+tx+"/"+action, nil)
	w.mu.Lock()
	w.sandboxActions++
	w.mu.Unlock()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		p.problem("sandbox %s: %v", action, err)
		return false
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		p.problem("sandbox %s: %d", action, resp.StatusCode)
		return false
	}
	p.mu.Lock()
	p.decided = true
	p.mu.Unlock()
	return true
}

// waitSucceeded polls the payment through the balancer until it is
// succeeded (a refund needs that).
func (w *world) waitSucceeded(ctx context.Context, p *payment) bool {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		a := w.cl.do(ctx, http.MethodGet, w.lb+"/payments/"+p.id(), "", nil)
		if a.str("status") == "succeeded" {
			return true
		}
		if !pause(ctx, 200*time.Millisecond) {
			break
		}
	}
	p.problem("never seen succeeded")
	return false
}

// refundPair sends two 60% refunds of the same payment at once, one to
// instance A and one to instance B directly: together they exceed what was
// paid, so at most one may be accepted.
func (w *world) refundPair(ctx context.Context, p *payment) {
	amount := p.amount * 60 / 100
	var wg sync.WaitGroup
	for _, via := range []struct{ name, base string }{{"A", w.a}, {"B", w.b}} {
		wg.Go(func() {
			r := w.refund(ctx, p, via.name, via.base, amount)
			p.mu.Lock()
			p.refunds = append(p.refunds, r)
			p.mu.Unlock()
		})
	}
	wg.Wait()
}

// refund is one merchant refund with its own Idempotency-Key. When the
// chosen instance is down (killed), it goes through the balancer instead.
func (w *world) refund(ctx context.Context, p *payment, name, base string, amount int64) refundResult {
	key := "ft-rf-" + p.ref + "-" + name
	body := map[string]any{"amount": amount, "reason": "fault test"}
	r := refundResult{via: name, amount: amount}
	start := time.Now()
	for time.Since(start) < 20*time.Second {
		a := w.cl.do(ctx, http.MethodPost, base+"/payments/"+p.id()+"/refunds", key, body)
		switch {
		case a.status == http.StatusCreated:
			r.id, r.status = a.str("id"), a.str("status")
			r.accepted = r.status != "failed"
			return r
		case a.status == http.StatusBadRequest && a.errField("field") == "amount" && a.errField("request_sent") == "no":
			r.refused, r.answer = true, a.errField("message")
			return r
		case a.errField("type") == "provider_declined":
			r.declined, r.answer = true, a.errField("provider_message")
			return r
		case a.status == 0 || (a.status == http.StatusBadGateway && a.body == nil):
			base, r.via = w.lb, name+"→LB"
		case a.errCode() == "request_in_progress":
		default:
			r.answer = fmt.Sprintf("%d %s %s", a.status, a.errCode(), a.errField("message"))
			return r
		}
		if !pause(ctx, 200*time.Millisecond) {
			break
		}
	}
	r.answer = "never resolved"
	return r
}
