package caddymodule

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/caddy-payments/caddy-payments/sandbox"
)

// The browser test: a real headless Chromium (Debian's chromium package)
// pays on each provider's sandbox checkout, from the next_action.url the
// create returned to the merchant's page the browser comes back to, with
// JavaScript on and off, failing on any console error or exception.

// startChromium starts a headless Chromium for the test and returns its
// context (each newTab opens a tab in it). The test counts as a real-Caddy
// integration test (see TestMain): without chromium on PATH it is skipped,
// and under CI that skip fails the run.
func startChromium(t *testing.T) context.Context {
	t.Helper()
	integrationStarted.Add(1)
	exe, err := exec.LookPath("chromium")
	if err != nil {
		t.Skip("chromium (Debian's package) is not installed; the browser test needs it")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe),
		chromedp.NoSandbox, // root in a container: Chromium's sandbox needs user namespaces
		chromedp.DisableGPU,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1024, 768),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelAlloc)
	ctx, cancel := chromedp.NewContext(allocCtx)
	t.Cleanup(cancel)
	if err := chromedp.Do(ctx); err != nil { // starts the browser, with no timeout
		t.Fatalf("starting chromium (%s): %v", exe, err)
	}
	integrationRan.Add(1)
	return ctx
}

// browserTab is one tab of the browser. It records every console error,
// uncaught exception and browser log error (CSP violations, failed loads)
// of its pages, and each document request (method and URL, redirects
// included) in order.
type browserTab struct {
	ctx      context.Context
	mu       sync.Mutex
	problems []string
	docs     []string
}

// newTab opens a tab; with jsOff the tab runs no page script at all.
func newTab(t *testing.T, browser context.Context, jsOff bool) *browserTab {
	t.Helper()
	ctx, cancel := chromedp.NewContext(browser)
	t.Cleanup(cancel)
	tab := &browserTab{ctx: ctx}
	err := chromedp.Listen(ctx, func(ev any) {
		tab.mu.Lock()
		defer tab.mu.Unlock()
		switch ev := ev.(type) {
		case *runtime.EventConsoleAPICalled:
			if ev.Type == runtime.ConsoleAPICalledTypeError || ev.Type == runtime.ConsoleAPICalledTypeAssert {
				var args []string
				for _, a := range ev.Args {
					args = append(args, string(a.Value)+a.Description)
				}
				tab.problems = append(tab.problems, fmt.Sprintf("console.%s: %s", ev.Type, strings.Join(args, " ")))
			}
		case *runtime.EventExceptionThrown:
			d := ev.ExceptionDetails
			msg := d.Text
			if d.Exception != nil {
				msg += " " + d.Exception.Description
			}
			tab.problems = append(tab.problems, fmt.Sprintf("exception at %s:%d: %s", d.URL, d.LineNumber, msg))
		case *cdplog.EventEntryAdded:
			if ev.Entry.Level == cdplog.EntryLevelError {
				tab.problems = append(tab.problems, fmt.Sprintf("log %s: %s (%s)", ev.Entry.Source, ev.Entry.Text, ev.Entry.URL))
			}
		case *network.EventRequestWillBeSent:
			if ev.Type == network.ResourceTypeDocument {
				tab.docs = append(tab.docs, ev.Request.Method+" "+ev.Request.URL)
			}
		}
	})
	if err != nil {
		t.Fatalf("opening a tab: %v", err)
	}
	if jsOff {
		if _, err := chromedp.Call(ctx, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true}); err != nil {
			t.Fatalf("disabling JavaScript: %v", err)
		}
	}
	return tab
}

// Problems returns the console errors, exceptions and log errors so far.
func (b *browserTab) Problems() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.problems)
}

// Docs returns the document requests so far ("METHOD URL").
func (b *browserTab) Docs() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.docs)
}

// current is the URL and title of the tab's current history entry, read
// from the browser's navigation history (no page script involved). The
// browser answers "Not attached to an active page" while a navigation
// swaps the page's renderer: that is an error to retry.
func (b *browserTab) current() (string, string, error) {
	h, err := chromedp.Call(b.ctx, page.GetNavigationHistory, cdp.Empty{})
	if err != nil {
		return "", "", err
	}
	if h.CurrentIndex < 0 || int(h.CurrentIndex) >= len(h.Entries) {
		return "", "", nil
	}
	e := h.Entries[h.CurrentIndex]
	return e.URL, e.Title, nil
}

// waitURL waits until the tab shows a page whose URL starts with prefix
// and whose title starts with title (any title when empty).
func (b *browserTab) waitURL(t *testing.T, prefix, title string) string {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		u, ti, err := b.current()
		if err == nil && strings.HasPrefix(u, prefix) && strings.HasPrefix(ti, title) {
			return u
		}
		if time.Now().After(deadline) {
			t.Fatalf("the browser did not reach %s (title %q): it is at %s (title %q, %v); documents: %q; problems: %q",
				prefix, title, u, ti, err, b.Docs(), b.Problems())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// do runs browser actions with a timeout.
func (b *browserTab) do(t *testing.T, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 15*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatalf("%s: %v; documents: %q; problems: %q", what, err, b.Docs(), b.Problems())
	}
}

// text reads the visible text of the first element matching css.
func (b *browserTab) text(t *testing.T, css string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 15*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(css), chromedp.NodeVisible))
	if err != nil {
		t.Fatalf("reading %s: %v; documents: %q", css, err, b.Docs())
	}
	return strings.TrimSpace(s)
}

// shopVisits returns the page requests the shop served (path and query),
// favicons aside.
func shopVisits(sh *shop) []string {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	var out []string
	for _, r := range sh.other {
		if r.URL.Path != "/favicon.ico" {
			out = append(out, r.URL.RequestURI())
		}
	}
	return out
}

// browserGateway starts Caddy with the three sandboxes, a gateway account
// on each and the stand-in shop.
func browserGateway(t *testing.T) *shop {
	sh := newShop(t)
	t.Setenv("PAYABL_TEST_SECRET", payablSecret)
	t.Setenv("RZP_TEST_KEY_SECRET", rzpKeySecret)
	t.Setenv("RZP_TEST_WH_NOW", rzpWebhookNow)
	t.Setenv("PAYSAGE_TEST_SECRET", paysageSecret)
	t.Setenv("PAYMENTS_TEST_TOKEN", testToken)
	t.Setenv("PAYMENTS_TEST_WHSEC", testWhsec)
	loadCaddy(t, fmt.Sprintf(`
http://localhost:9080 {
	payments_sandbox {
		payabl {
			merchant_id gateway_test
			secret {env.PAYABL_TEST_SECRET}
		}
		razorpay {
			key_id %[1]s
			key_secret {env.RZP_TEST_KEY_SECRET}
			webhook_secret {env.RZP_TEST_WH_NOW}
			webhook_url http://localhost:9080/notifications/razorpay
		}
		paysage {
			shop_id %[2]s
			secret_key {env.PAYSAGE_TEST_SECRET}
		}
	}
	payments {
		provider payabl {
			merchant_id gateway_test
			secret {env.PAYABL_TEST_SECRET}
			endpoint http://localhost:9080/sandbox/payabl/pay/backoffice
		}
		provider razorpay {
			key_id %[1]s
			key_secret {env.RZP_TEST_KEY_SECRET}
			webhook_secret {env.RZP_TEST_WH_NOW}
			account_id %[3]s
			endpoint http://localhost:9080/sandbox/razorpay
		}
		provider paysage {
			shop_id %[2]s
			secret_key {env.PAYSAGE_TEST_SECRET}
			public_key %[4]s
			test
			endpoint http://localhost:9080/sandbox/paysage
		}
		api_token {env.PAYMENTS_TEST_TOKEN}
		forward_secret {env.PAYMENTS_TEST_WHSEC}
		public_url http://localhost:9080
		timeout 2s
		retry_schedule 300ms 300ms
		storage_path %[5]s
	}
	reverse_proxy %[6]s
}
`, rzpKeyID, paysageShopID, rzpAccountID, sandbox.PaysagePublicKey(), filepath.Join(t.TempDir(), "state.db"), sh.srv.URL))
	return sh
}

// browserProvider is what the browser test expects of one provider.
type browserProvider struct {
	name    string
	display string // the checkout page's provider name
	// viaReturns: the browser comes back through the gateway's
	// /returns/<name> (the provider's return is checked there) and the
	// merchant's URL gets payment_id. payabl. sends the browser to the
	// merchant's URLs directly.
	viaReturns bool
	// launch: next_action.url is the gateway's one-time launch URL.
	launch   bool
	approved []string // the events the shop must get after Approve (in any order)
	declined []string
}

var browserProviders = []browserProvider{
	{name: "payabl", display: "payabl.", approved: []string{"payment.processing", "payment.succeeded"}, declined: []string{"payment.failed"}},
	{name: "razorpay", display: "Razorpay", viaReturns: true, launch: true, approved: []string{"payment.authorized", "payment.succeeded"}, declined: []string{"payment.failed"}},
	{name: "paysage", display: "PaySage", viaReturns: true, approved: []string{"payment.succeeded"}, declined: []string{"payment.failed"}},
}

// TestBrowserCheckout drives headless Chromium through each provider's
// sandbox checkout, from the next_action.url of a create: the page
// renders (title, provider, amount, order), Approve and Decline work,
// the browser comes back to the merchant's success or failure URL
// (through /returns/<name>, with payment_id, where the provider's return
// is checked), the shop receives the signed events, no page logs a
// console error or throws, and all of it works with JavaScript disabled.
func TestBrowserCheckout(t *testing.T) {
	browser := startChromium(t)
	sh := browserGateway(t)
	t.Run("the tab sees console errors, exceptions and CSP violations, and none without JavaScript", func(t *testing.T) {
		browserWatchCheck(t, browser)
	})
	shopURL := sh.srv.URL
	n := 0
	for _, p := range browserProviders {
		for _, action := range []string{"approve", "decline"} {
			for _, jsOff := range []bool{false, true} {
				n++
				js := "js_on"
				if jsOff {
					js = "js_off"
				}
				t.Run(p.name+"/"+action+"/"+js, func(t *testing.T) {
					browserPay(t, browser, sh, shopURL, p, action, jsOff, fmt.Sprintf("BR-%d", n), int64(1900+n))
				})
			}
		}
	}
}

func browserPay(t *testing.T, browser context.Context, sh *shop, shopURL string, p browserProvider, action string, jsOff bool, ref string, amount int64) {
	req := map[string]any{
		"provider": p.name, "reference": ref, "amount": amount, "currency": "EUR", "description": "Order " + ref,
		"customer": map[string]any{"id": "cust-42", "first_name": "Jane", "last_name": "Doe", "email": "jane@example.com",
			"phone": "+46701234567", "country": "SE", "ip": "203.0.113.7", "birth_date": "1990-02-08"},
		"language": "en", "return_url": shopURL + "/return", "success_url": shopURL + "/ok", "failure_url": shopURL + "/failed",
	}
	code, pay := api(t, "POST", "/payments", testToken, req)
	if code != 201 || pay["status"] != "requires_action" {
		t.Fatalf("create: %d %v", code, pay)
	}
	id := pay["id"].(string)
	na, _ := pay["next_action"].(map[string]any)
	next := fmt.Sprint(na["url"])
	if na["type"] != "redirect" || !strings.HasPrefix(next, gwBase+"/") {
		t.Fatalf("next_action: %v", na)
	}
	if got := strings.HasPrefix(next, gwBase+"/returns/"+p.name+"/launch/"); got != p.launch {
		t.Fatalf("next_action.url %s: launch URL %v, want %v", next, got, p.launch)
	}

	tab := newTab(t, browser, jsOff)
	tab.do(t, "opening next_action.url", chromedp.Navigate(next))

	// The checkout page (Razorpay's launch page sends the browser on by a
	// meta refresh, which needs no script).
	checkout := tab.waitURL(t, gwBase+"/sandbox/"+p.name+"/", "SANDBOX checkout — "+p.display)
	if h := tab.text(t, "h1"); !strings.Contains(h, p.display) || !strings.Contains(h, "Trustly") {
		t.Fatalf("heading %q", h)
	}
	if a, want := tab.text(t, ".amount"), fmt.Sprintf("%d.%02d EUR", amount/100, amount%100); a != want {
		t.Fatalf("amount %q, want %q", a, want)
	}
	order := tab.text(t, "dl dd:nth-of-type(2)")
	wantOrder := ref
	if p.name == "razorpay" {
		wantOrder = pay["provider_reference"].(string)
	}
	if order != wantOrder {
		t.Fatalf("order %q, want %q", order, wantOrder)
	}

	before := len(shopVisits(sh))
	tab.do(t, "clicking "+action, chromedp.Click(chromedp.CSS("button[value="+action+"]"), chromedp.NodeVisible))

	if p.name == "razorpay" {
		// Razorpay's page that posts the result to callback_url: with
		// JavaScript it submits itself; without, the customer presses
		// Continue.
		if jsOff {
			tab.waitURL(t, checkout, "Returning to the shop")
			time.Sleep(300 * time.Millisecond)
			if u, _, _ := tab.current(); u != checkout {
				t.Fatalf("with JavaScript disabled the callback form submitted itself: at %s", u)
			}
			tab.do(t, "pressing Continue", chromedp.Click(chromedp.CSS(`#rzp-callback button[type=submit]`), chromedp.NodeVisible))
		}
	}

	target := shopURL + "/ok"
	if action == "decline" {
		target = shopURL + "/failed"
	}
	landed := tab.waitURL(t, target, "")
	want := target
	if p.viaReturns {
		want += "?payment_id=" + url.QueryEscape(id)
	}
	if landed != want {
		t.Fatalf("the browser landed on %s, want %s", landed, want)
	}
	visits := shopVisits(sh)[before:]
	if len(visits) != 1 || shopURL+visits[0] != want {
		t.Fatalf("the shop served %q, want one visit to %s", visits, want)
	}

	// The way back: through /returns/<name> where the provider's return is
	// checked, and straight from the sandbox for payabl.
	docs := tab.Docs()
	var returns []string
	for _, d := range docs {
		if strings.Contains(d, gwBase+"/returns/"+p.name+"?") {
			returns = append(returns, d)
		}
	}
	if p.viaReturns && len(returns) != 1 || !p.viaReturns && len(returns) != 0 {
		t.Fatalf("returns through the gateway: %q (documents %q)", returns, docs)
	}

	// The shop receives the signed events (eventsOf fails on any that does
	// not verify).
	wantEvents := p.approved
	wantStatus := "succeeded"
	if action == "decline" {
		wantEvents, wantStatus = p.declined, "failed"
	}
	waitFor(t, fmt.Sprint(wantEvents), func() bool { return len(eventsOf(t, sh, id)) >= len(wantEvents) })
	time.Sleep(200 * time.Millisecond) // no further event follows
	got := types(eventsOf(t, sh, id))
	slices.Sort(got)
	if !slices.Equal(got, slices.Sorted(slices.Values(wantEvents))) {
		t.Fatalf("the shop got %v, want %v", got, wantEvents)
	}
	code, after := api(t, "GET", "/payments/"+id, testToken, nil)
	if code != 200 || after["status"] != wantStatus {
		t.Fatalf("after %s: %d %v", action, code, after)
	}

	if pr := tab.Problems(); len(pr) > 0 {
		t.Fatalf("console errors or exceptions on the pages: %q (documents %q)", pr, docs)
	}
	t.Logf("documents: %q", docs)
}

// browserWatchCheck shows that the checks of browserPay can fail: a page
// that calls console.error, throws, and has an inline script its CSP
// refuses gives three problems in a tab, and none in a tab without
// JavaScript (where no script runs).
func browserWatchCheck(t *testing.T, browser context.Context) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		switch r.URL.Path {
		case "/errors":
			fmt.Fprint(w, `<!doctype html><title>errors</title><script>console.error("boom-console")</script><script>throw new Error("boom-throw")</script>`)
		case "/favicon.ico":
			w.WriteHeader(http.StatusNoContent) // the browser may ask; a 404 would be a logged error
		case "/csp":
			w.Header().Set("Content-Security-Policy", "default-src 'none'")
			fmt.Fprint(w, `<!doctype html><title>csp</title><script>document.title = "ran"</script>`)
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	on := newTab(t, browser, false)
	on.do(t, "opening the error page", chromedp.Navigate(srv.URL+"/errors"))
	on.do(t, "opening the CSP page", chromedp.Navigate(srv.URL+"/csp"))
	waitFor(t, "three problems", func() bool { return len(on.Problems()) >= 3 })
	pr := strings.Join(on.Problems(), "\n")
	for _, want := range []string{"boom-console", "boom-throw", "Content Security Policy"} {
		if !strings.Contains(pr, want) {
			t.Errorf("the tab did not see %q: %s", want, pr)
		}
	}
	off := newTab(t, browser, true)
	off.do(t, "opening the error page without JavaScript", chromedp.Navigate(srv.URL+"/errors"))
	time.Sleep(200 * time.Millisecond)
	if pr := off.Problems(); len(pr) != 0 {
		t.Errorf("scripts ran with JavaScript disabled: %q", pr)
	}
}
