//go:build unix

package faulttest

import (
	"context"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
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

// The providers of the run, as the gateways' provider blocks name them.
const (
	provPayabl   = "payabl"
	provRazorpay = "razorpay"
	provPaysage  = "paysage"
)

// providerNames is the plan's rotation: payment i goes to providerNames[i%3].
var providerNames = []string{provPayabl, provRazorpay, provPaysage}

// payment is one planned payment and everything observed about it.
type payment struct {
	provider string // payabl, razorpay or paysage ("" is payabl)
	ref      string
	amount   int64
	copies   int    // how many times the create is sent with the same key
	decline  bool   // the customer declines at the bank
	dup      bool   // magic 1414: every notification twice (each provider has it)
	slow     bool   // magic 1234 (payabl.), 1212 (Razorpay, PaySage): the create times out (504, request_sent unknown)
	refund   bool   // two concurrent 60% refunds, through A and through B
	reorder  bool   // its notifications arrive out of order (see reorderTap)
	via      string // base URL the create goes to first ("": the balancer)

	mu       sync.Mutex
	ids      map[string]bool // every payment id an answer gave (more than one is a double effect)
	first    string          // the first id learned: the payment the flow goes on with
	tx       string          // its provider reference: payabl. transactionid, Razorpay order id, PaySage uid
	launch   string          // Razorpay: the one-time checkout link (next_action) a 201 gave
	pending  string          // why the customer never decided (no link to pay with); no events are due then
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
	declined bool   // the provider refused it (402, or a 4xx with request_sent yes), so it got past the reservation
	answer   string // what came back, for the report
}

// magic amounts of the sandboxes, kept out of the ordinary amounts.
var magic = map[int64]bool{1111: true, 1212: true, 1234: true, 1313: true, 1414: true, 1515: true, 1616: true, 6666: true}

// slowMagic is each provider's create-timeout magic amount (the sandbox
// holds the reply for slow_delay, 3s; the gateways wait 2s).
var slowMagic = map[string]int64{provPayabl: 1234, provRazorpay: 1212, provPaysage: 1212}

// plan makes n payments with a fixed mix: providers in turn (payabl.,
// Razorpay, PaySage), every 10th duplicates its notifications, every 10th
// (another) times out on create, every 5th is declined, every 4th
// approved one gets the concurrent refund pair, and a few payabl. ones
// have their notifications reordered.
func plan(run string, n int) []*payment {
	var ps []*payment
	for i := range n {
		p := &payment{
			provider: providerNames[i%len(providerNames)],
			ref:      fmt.Sprintf("FT-%s-%02d", run, i),
			amount:   1000 + 37*int64(i),
			copies:   2 + i%2,
			decline:  i%5 == 4,
			ids:      map[string]bool{},
		}
		for magic[p.amount] {
			p.amount++
		}
		switch {
		case i%10 == 7:
			p.dup, p.amount = true, 1414
		case i%10 == 5:
			p.slow, p.amount = true, slowMagic[p.provider]
		}
		p.refund = !p.decline && i%4 == 0
		// reorderTap reorders payabl.'s two notifications; never a dup,
		// slow or declined one
		p.reorder = p.provider == provPayabl && !p.dup && !p.slow && !p.decline && i%9 == 3
		ps = append(ps, p)
	}
	return ps
}

// providerName is the payment's provider ("" is payabl.).
func (p *payment) providerName() string {
	if p.provider == "" {
		return provPayabl
	}
	return p.provider
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
	if na, _ := a.body["next_action"].(map[string]any); p.launch == "" && a.status == http.StatusCreated && na["type"] == "redirect" {
		p.launch, _ = na["url"].(string)
	}
}

// leave records that the customer could not decide (see pending).
func (p *payment) leave(why string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.pending = why
}

// body is the canonical create request. Razorpay requires the customer's
// phone (its contact) and takes no language.
func (p *payment) body() map[string]any {
	customer := map[string]any{"id": "cust-42", "first_name": "Jane", "last_name": "Doe", "email": "jane@example.com",
		"country": "SE", "ip": "203.0.113.7"}
	b := map[string]any{
		"provider": p.providerName(), "reference": p.ref, "amount": p.amount, "currency": "EUR", "description": "Order " + p.ref,
		"customer": customer, "language": "en", "return_url": "https://shop.example/return",
		"success_url": "https://shop.example/ok", "failure_url": "https://shop.example/failed",
	}
	if p.providerName() == provRazorpay {
		customer["phone"], customer["user_agent"] = "+46701234567", "Mozilla/5.0 (fault test shop)"
		delete(b, "language")
	}
	return b
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
	decide := w.decide
	if p.providerName() == provRazorpay {
		decide = w.decideRazorpay
	}
	if !decide(ctx, p, tx, action) {
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
// resolved by finding the payment by reference, as docs/api.md tells
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
		if a.cut {
			p.mu.Lock()
			p.cut = true
			p.mu.Unlock()
		}
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
		case retryAsIs(a):
			w.cl.storeDown.Add(1)
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

// retryAsIs reports an answer a merchant retries unchanged: a 503 that
// says nothing was sent and the request may be retried (the state store
// was unreachable, as during the PostgreSQL restart).
func retryAsIs(a answer) bool {
	e, _ := a.body["error"].(map[string]any)
	return a.status == http.StatusServiceUnavailable && a.errField("request_sent") == "no" && e["retryable"] == true
}

// lookup finds the payment by reference after an uncertain create.
func (w *world) lookup(ctx context.Context, p *payment, after answer) {
	q := url.Values{"provider": {p.providerName()}, "reference": {p.ref}}
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

// decide approves or declines the payment at the sandbox, as the customer
// (payabl.: tx is the transactionid; PaySage: the uid). It is the
// checkout page's button, through the sandbox's own endpoint.
func (w *world) decide(ctx context.Context, p *payment, tx, action string) bool {
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, w.sandbox+"/sandbox/"+p.providerName()+"/_sandbox/payments/"+tx+"/"+action, nil)
	w.countAction()
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
		case a.errField("type") == "provider_declined" ||
			(a.errField("request_sent") == "yes" && a.status >= 400 && a.status < 500):
			r.declined, r.answer = true, fmt.Sprintf("%d %s %s", a.status, a.errCode(), a.errField("provider_message")+a.errField("message"))
			return r
		case a.status == 0 || (a.status == http.StatusBadGateway && a.body == nil):
			base, r.via = w.lb, name+"→LB"
		case retryAsIs(a):
			w.cl.storeDown.Add(1)
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

// countAction counts one customer decision at a sandbox.
func (w *world) countAction() {
	w.mu.Lock()
	w.sandboxActions++
	w.mu.Unlock()
}

// The browser's view of Razorpay's pages (as caddymodule's end-to-end
// test reads them).
var (
	rzpRefreshRe = regexp.MustCompile(`(?i)<meta http-equiv="refresh" content="0;url=([^"]+)"`)
	rzpTokenRe   = regexp.MustCompile(`name="token" value="([^"]+)"`)
	rzpFormRe    = regexp.MustCompile(`<form[^>]*action="([^"]+)"`)
	rzpInputRe   = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`)
)

// browser is the customer's browser: it shows each redirect instead of
// following it.
var browser = &http.Client{
	Timeout:       15 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// page is one answer the browser got.
type page struct {
	status   int
	body     []byte
	location string
	cut      bool // through the balancer, after a try cut off at a killed instance
	err      error
}

// browse sends one browser request (form: a POST of it; nil: a GET).
func browse(ctx context.Context, target string, form url.Values) page {
	method, body := http.MethodGet, io.Reader(nil)
	if form != nil {
		method, body = http.MethodPost, strings.NewReader(form.Encode())
	}
	req, err := http.NewRequestWithContext(ctx, method, target, body)
	if err != nil {
		return page{err: err}
	}
	req.Header.Set("User-Agent", "Mozilla/5.0 (fault test customer)")
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := browser.Do(req)
	if err != nil {
		return page{err: err}
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return page{status: resp.StatusCode, body: b, location: resp.Header.Get("Location"), cut: resp.Header.Get(cutHeader) == "1"}
}

// decideRazorpay plays the Razorpay customer, as caddymodule's end-to-end
// test does: open the one-time launch link the create gave (the gateway,
// through the balancer, calls create/redirect and serves Razorpay's
// "Processing" page), follow it to the sandbox's checkout page, press the
// button, and post the callback form back to the gateway's return URL,
// which must send the browser to success_url or failure_url.
//
// Without a launch link the customer cannot pay: a create that timed out
// (magic 1212) or was cut off by the kill is found by reference, which
// gives no link. The payment then stays pending and no event is due. So
// it does when the launch link was used up by the killed instance (its
// one-time token taken, the page never served).
func (w *world) decideRazorpay(ctx context.Context, p *payment, _, action string) bool {
	p.mu.Lock()
	launch, slow, cut := p.launch, p.slow, p.cut
	p.mu.Unlock()
	if launch == "" {
		switch {
		case slow:
			p.leave("create timed out; found by reference, which gives no checkout link")
		case cut:
			p.leave("create cut off by the kill; found by reference, which gives no checkout link")
		default:
			p.problem("the create gave no checkout link (next_action)")
		}
		return false
	}
	pg := browse(ctx, launch, nil)
	m := rzpRefreshRe.FindSubmatch(pg.body)
	if pg.err != nil || pg.status != http.StatusOK || m == nil {
		if pg.status == http.StatusNotFound && pg.cut {
			p.leave("launch link used up by the instance killed while serving it")
			return false
		}
		p.problem("launch link: %d %v %.200s", pg.status, pg.err, pg.body)
		return false
	}
	checkout := html.UnescapeString(string(m[1]))
	pg = browse(ctx, checkout, nil)
	tok := rzpTokenRe.FindSubmatch(pg.body)
	if pg.err != nil || pg.status != http.StatusOK || tok == nil {
		p.problem("checkout page: %d %v", pg.status, pg.err)
		return false
	}
	w.countAction()
	pg = browse(ctx, checkout, url.Values{"token": {html.UnescapeString(string(tok[1]))}, "action": {action}})
	form := rzpFormRe.FindSubmatch(pg.body)
	if pg.err != nil || pg.status != http.StatusOK || form == nil {
		p.problem("checkout %s: %d %v %.200s", action, pg.status, pg.err, pg.body)
		return false
	}
	p.mu.Lock()
	p.decided = true
	p.mu.Unlock()

	fields := url.Values{}
	for _, in := range rzpInputRe.FindAllSubmatch(pg.body, -1) {
		fields.Add(html.UnescapeString(string(in[1])), html.UnescapeString(string(in[2])))
	}
	want := "https://shop.example/ok?payment_id="
	if action == "decline" {
		want = "https://shop.example/failed?payment_id="
	}
	want += url.QueryEscape(p.id())
	pg = browse(ctx, html.UnescapeString(string(form[1])), fields)
	if pg.err != nil || pg.status != http.StatusSeeOther || pg.location != want {
		p.problem("return to the shop after %s: %d %v %q, want 303 to %q", action, pg.status, pg.err, pg.location, want)
	}
	return true
}
