package caddymodule

// Regression tests for the adversarial review of issue 10: each was a
// proof that a hole was open (it passed then); each now checks the fix.

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddy-payments/caddy-payments/providers"
)

// Unsigned fields never reach the shop inside the gateway-signed event:
// an unverifiable notification's fields are dropped from provider_event,
// and a field-signed notification's unsigned errormessage is not the
// event's provider_message.
func TestReviewUnsignedFieldsStayOutOfSignedEvents(t *testing.T) {
	sh := payablTrustGateway(t)

	t.Run("unverifiable: no provider_event", func(t *testing.T) {
		id, tx := createPayabl(t, "ORD-RV1", 2500)
		sandboxAction(t, tx, "approve") // the sandbox's own notifications are lost
		forged := url.Values{"transactionid": {tx}, "type": {"capture"}, "errorcode": {"0"},
			"timestamp": {fmt.Sprint(time.Now().Unix())}, "security": {strings.Repeat("ab", 20)},
			"payment_state": {"credited"}, "amount": {"9999.99"}, // no currency: escapes the tampering check
			"chargeback": {"yes"}, "note": {"ship to 1 Evil Street"}}
		if code, body := postNote(t, forged); code != 200 || body != "OK" {
			t.Fatalf("forged: %d %s", code, body)
		}
		waitFor(t, "an event", func() bool { return len(eventsOf(t, sh, id)) == 1 })
		ev := eventsOf(t, sh, id)[0]
		if pe, ok := ev["provider_event"]; ok {
			t.Fatalf("a signed %s event carries the fields of an unverifiable notification: %v", ev["type"], pe)
		}
	})

	t.Run("field-signed: the unsigned errormessage is not data.provider_message", func(t *testing.T) {
		id, tx := createPayabl(t, "ORD-RV2", 2600)
		f := payablNote(tx, "capture", "2000", fmt.Sprint(time.Now().Unix()),
			url.Values{"errormessage": {"Chargeback filed: do not ship"}, "orderid": {"ORD-RV2"}, "amount": {"26.00"}, "currency": {"EUR"}})
		if code, body := postNote(t, f); code != 200 || body != "OK" {
			t.Fatalf("notification: %d %s", code, body)
		}
		waitFor(t, "payment.processing", func() bool { return len(eventsOf(t, sh, id)) == 1 })
		data := eventsOf(t, sh, id)[0]["data"].(map[string]any)
		if data["provider_message"] == "Chargeback filed: do not ship" {
			t.Fatalf("data.provider_message comes from the unsigned errormessage: %v", data["provider_message"])
		}
	})
}

// reviewPayablAPI is a stand-in for payabl's tx_diagnose on loopback: it
// counts the calls and answers per transaction id: "111" a captured
// payment of 25.00 EUR, "222" a query error whose message is internal to
// the merchant's account, anything else "no transaction found".
type reviewPayablAPI struct {
	mu    sync.Mutex
	calls int
}

func (a *reviewPayablAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	_ = r.ParseForm()
	a.mu.Lock()
	a.calls++
	a.mu.Unlock()
	if strings.HasSuffix(r.URL.Path, "/payment_cft") {
		// A payout by reference to payment 111: accepted as 555.
		fmt.Fprint(w, "status=0&errormessage=&transactionid=555&amount=10.00&currency=EUR&orderid="+r.PostForm.Get("orderid"))
		return
	}
	w.Header().Set("Content-Type", "application/xml")
	switch r.PostForm.Get("transactionid") {
	case "555":
		// The payout's own row: payabl does not document whether a bank
		// return changes it; here it keeps the cft's original code 0.
		fmt.Fprint(w, `<?xml version="1.0" encoding="ISO-8859-1"?><response><process><status>0</status></process>`+
			`<transaction><transaction_id>555</transaction_id><amount>10.00</amount><currency>EUR</currency>`+
			`<error_code>0</error_code><type>cft</type><order_id>PO-555</order_id></transaction></response>`)
	case "111":
		fmt.Fprint(w, `<?xml version="1.0" encoding="ISO-8859-1"?><response><process><status>0</status></process>`+
			`<transaction><transaction_id>111</transaction_id><amount>25.00</amount><currency>EUR</currency>`+
			`<error_code>0</error_code><type>capture</type><order_id>ORD-111</order_id></transaction></response>`)
	case "444":
		// A payment whose row carries no <type> (GetRefund/GetPayout only
		// check the kind when the type is present).
		fmt.Fprint(w, `<?xml version="1.0" encoding="ISO-8859-1"?><response><process><status>0</status></process>`+
			`<transaction><transaction_id>444</transaction_id><amount>25.00</amount><currency>EUR</currency>`+
			`<error_code>0</error_code><order_id>ORD-444</order_id></transaction></response>`)
	case "222":
		fmt.Fprint(w, `<?xml version="1.0" encoding="ISO-8859-1"?><response><process><status>-1</status>`+
			`<error_message>Access denied: merchant gateway_test, source IP 10.9.8.7 not whitelisted (ticket #4711)</error_message></process></response>`)
	default:
		fmt.Fprint(w, `<?xml version="1.0" encoding="ISO-8859-1"?><response><process><status>-6000</status>`+
			`<error_message>No transaction found</error_message></process></response>`)
	}
}

func (a *reviewPayablAPI) count() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.calls
}

func reviewPayablGateway(t *testing.T) (*shop, *reviewPayablAPI) {
	api := &reviewPayablAPI{}
	return payablGatewayOn(t, api), api
}

// payablGatewayOn starts the gateway with one payabl account whose API is
// api (a stand-in on loopback); the notification URL it gives payabl
// leads nowhere, so the test alone speaks for payabl.
func payablGatewayOn(t *testing.T, api http.Handler) *shop {
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)
	sh := newShop(t)
	t.Setenv("PAYABL_TEST_SECRET", payablSecret)
	t.Setenv("PAYMENTS_TEST_TOKEN", testToken)
	t.Setenv("PAYMENTS_TEST_WHSEC", testWhsec)
	loadCaddy(t, fmt.Sprintf(`
http://localhost:9080 {
	payments {
		provider payabl {
			merchant_id gateway_test
			secret {env.PAYABL_TEST_SECRET}
			endpoint %s/pay/backoffice
		}
		api_token {env.PAYMENTS_TEST_TOKEN}
		forward_secret {env.PAYMENTS_TEST_WHSEC}
		public_url http://127.0.0.1:9
		timeout 2s
		storage_path %s
	}
	reverse_proxy %s
}
`, srv.URL, filepath.Join(t.TempDir(), "state.db"), sh.srv.URL))
	return sh
}

// Replays of a captured signed notification whose claim needs a fetch
// cost no provider call once its event was delivered, and repeats before
// that are rate limited per transaction.
func TestReviewReplayedSignedNotificationsCostNoFetch(t *testing.T) {
	_, api := reviewPayablGateway(t)
	note := payablNote("111", "capture", "0", fmt.Sprint(time.Now().Unix()), url.Values{"orderid": {"ORD-111"}})
	const replays = 30
	for i := 0; i < replays; i++ {
		if code, _ := postNote(t, note); code != 200 && code != http.StatusTooManyRequests {
			t.Fatalf("replay %d: %d", i, code)
		}
	}
	if n := api.count(); n > fetchRefBurst*2 {
		t.Fatalf("%d replays of one captured notification cost %d provider calls", replays, n)
	}
}

// An anonymous caller never sees a provider's error: a notification that
// cannot be processed gets one generic 503.
func TestReviewNotificationRouteEchoesNoProviderError(t *testing.T) {
	reviewPayablGateway(t)
	forged := url.Values{"transactionid": {"222"}, "type": {"capture"}, "errorcode": {"0"},
		"timestamp": {fmt.Sprint(time.Now().Unix())}, "security": {strings.Repeat("cd", 20)}}
	code, body := postNote(t, forged)
	if strings.Contains(body, "not whitelisted") || strings.Contains(body, "provider_code\":\"-1") || code != http.StatusServiceUnavailable {
		t.Fatalf("anonymous caller got %d %s", code, body)
	}
}

// One attacker flooding forged unverifiable notifications about some
// transactions cannot starve a genuine one about another.
func TestReviewForgedFloodDoesNotStarveOtherTransactions(t *testing.T) {
	reviewPayablGateway(t)
	unverifiable := func(tx, typ, code string) url.Values {
		return url.Values{"transactionid": {tx}, "type": {typ}, "errorcode": {code},
			"timestamp": {fmt.Sprint(time.Now().Unix())}, "security": {strings.Repeat("ef", 20)}}
	}
	limited := false
	for i := 0; i < 3*fetchRefBurst; i++ {
		if code, _ := postNote(t, unverifiable("999999", "chb", "0")); code == http.StatusTooManyRequests {
			limited = true
		}
	}
	if !limited {
		t.Fatal("a flood about one transaction was never limited")
	}
	if code, _ := postNote(t, unverifiable("111", "cft", "-1")); code == http.StatusTooManyRequests {
		t.Fatal("a notification about another transaction was starved by the flood")
	}
}

// An unverifiable refund or cft notification naming a payment's
// transaction id never becomes a refund or payout event.
func TestReviewPaymentIDIsNoRefundOrPayout(t *testing.T) {
	sh, _ := reviewPayablGateway(t)
	for _, c := range []struct{ typ, kind string }{{"refund", providers.KindRefund}, {"cft", providers.KindPayout}} {
		forged := url.Values{"transactionid": {"444"}, "type": {c.typ}, "errorcode": {"0"},
			"timestamp": {fmt.Sprint(time.Now().Unix())}, "security": {strings.Repeat("01", 20)}}
		if code, body := postNote(t, forged); code != 200 {
			t.Fatalf("%s: %d %s", c.typ, code, body)
		}
		settle()
		if evs := eventsOf(t, sh, providers.EncodeID(c.kind, "payabl", "444")); len(evs) != 0 {
			t.Fatalf("%s: a payment's id became %v", c.typ, types(evs))
		}
	}
}

// A signed payout failure after success is a reversal even when payabl's
// tx_diagnose of the payout still reads paid (a bank return need not
// change the original transaction).
func TestReviewSignedPayoutReversalForwarded(t *testing.T) {
	sh, _ := reviewPayablGateway(t)
	code, po := api(t, "POST", "/payouts", testToken, map[string]any{"provider": "payabl", "reference": "PO-555",
		"amount": 1000, "currency": "EUR", "payment_id": providers.EncodeID(providers.KindPayment, "payabl", "111")})
	if code != 201 {
		t.Fatalf("payout: %d %v", code, po)
	}
	id := po["id"].(string)
	ok := payablNote("555", "cft", "0", fmt.Sprint(time.Now().Add(-time.Minute).Unix()), url.Values{"orderid": {"PO-555"}})
	if code, body := postNote(t, ok); code != 200 || body != "OK" {
		t.Fatalf("success notification: %d %s", code, body)
	}
	waitFor(t, "payout.succeeded", func() bool { return len(eventsOf(t, sh, id)) == 1 })
	note := payablNote("555", "cft", "-6209", fmt.Sprint(time.Now().Unix()), url.Values{"orderid": {"PO-555"}})
	if code, body := postNote(t, note); code != 200 || body != "OK" {
		t.Fatalf("reversal notification: %d %s", code, body)
	}
	waitFor(t, "payout.reversed", func() bool {
		for _, e := range eventsOf(t, sh, id) {
			if e["type"] == "payout.reversed" {
				return true
			}
		}
		return false
	})
}
