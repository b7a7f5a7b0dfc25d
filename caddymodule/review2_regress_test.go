package caddymodule

// Regression tests for the second adversarial review of issue 10: each was
// a proof that a hole was open; each now checks the fix.

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/caddy-payments/caddy-payments/providers"
)

// forged40 is an unverifiable payabl notification (40-hex security): no
// secret needed, anyone can send it.
func forged40(tx string) url.Values {
	return url.Values{"transactionid": {tx}, "type": {"capture"}, "errorcode": {"0"},
		"timestamp": {fmt.Sprint(time.Now().Unix())}, "security": {strings.Repeat("ab", 20)}}
}

// Forged unverifiable notifications about a transaction never take the
// budget of its genuine, signed notifications.
func TestReview2ForgedFloodDoesNotStarveGenuineNotification(t *testing.T) {
	reviewPayablGateway(t)
	for i := 0; i < 3*fetchRefBurst; i++ {
		postNote(t, forged40("111"))
	}
	genuine := payablNote("111", "capture", "0", fmt.Sprint(time.Now().Unix()),
		url.Values{"payment_state": {"credited"}, "orderid": {"ORD-111"}, "amount": {"25.00"}, "currency": {"EUR"}})
	if code, body := postNote(t, genuine); code != 200 || body != "OK" {
		t.Fatalf("the genuine signed notification got %d %s", code, body)
	}
}

// chbPayablAPI is payabl's tx_diagnose on loopback: transaction 111 is an
// approved payment of 25.00 EUR, and the chb report lists one chargeback
// on it of 10.00 EUR (a partial chargeback).
func chbPayablAPI(w http.ResponseWriter, r *http.Request) {
	_ = r.ParseForm()
	w.Header().Set("Content-Type", "application/xml")
	if r.PostForm.Get("type") == "chb" {
		fmt.Fprint(w, `<?xml version="1.0" encoding="ISO-8859-1"?><response><process><status>0</status></process>`+
			`<transaction><transaction_id>111</transaction_id><amount>10.00</amount><currency>EUR</currency>`+
			`<booking_date>`+time.Now().UTC().Format("02.01.2006")+`</booking_date><order_id>ORD-111</order_id></transaction></response>`)
		return
	}
	fmt.Fprint(w, `<?xml version="1.0" encoding="ISO-8859-1"?><response><process><status>0</status></process>`+
		`<transaction><transaction_id>111</transaction_id><amount>25.00</amount><currency>EUR</currency>`+
		`<error_code>0</error_code><type>capture</type><order_id>ORD-111</order_id></transaction></response>`)
}

func disputedIn(evs []map[string]any) bool {
	for _, typ := range types(evs) {
		if typ == "payment.disputed" {
			return true
		}
	}
	return false
}

// A partial chargeback (the notification's amount is the dispute's, not
// the payment's) is forwarded, once.
func TestReview2PartialChargebackForwarded(t *testing.T) {
	sh := payablGatewayOn(t, http.HandlerFunc(chbPayablAPI))
	id := providers.EncodeID(providers.KindPayment, "payabl", "111")
	now := time.Now().Unix()
	if code, _ := postNote(t, payablNote("111", "capture", "2000", fmt.Sprint(now-20),
		url.Values{"orderid": {"ORD-111"}, "amount": {"25.00"}, "currency": {"EUR"}})); code != 200 {
		t.Fatalf("processing: %d", code)
	}
	waitFor(t, "the payment's first event", func() bool { return len(eventsOf(t, sh, id)) == 1 })
	partial := payablNote("111", "chb", "0", fmt.Sprint(now-10), url.Values{"orderid": {"ORD-111"}, "amount": {"10.00"}, "currency": {"EUR"}})
	if code, body := postNote(t, partial); code != 200 || body != "OK" {
		t.Fatalf("partial chargeback: %d %s", code, body)
	}
	waitFor(t, "payment.disputed", func() bool { return disputedIn(eventsOf(t, sh, id)) })
	// The same chargeback told again (another signed notification) is the
	// same dispute: not announced twice.
	again := payablNote("111", "chb", "0", fmt.Sprint(now), url.Values{"orderid": {"ORD-111"}, "amount": {"10.00"}, "currency": {"EUR"}})
	if code, _ := postNote(t, again); code != 200 {
		t.Fatalf("again: %d", code)
	}
	settle()
	n := 0
	for _, typ := range types(eventsOf(t, sh, id)) {
		if typ == "payment.disputed" {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("one chargeback announced %d times", n)
	}
}

// A correctly signed chb notification that the chargeback report does not
// (yet) list is forwarded on its signature, not dropped with a 200.
func TestReview2SignedChargebackNotLost(t *testing.T) {
	sh, _ := reviewPayablGateway(t) // its chb report lists nothing
	id := providers.EncodeID(providers.KindPayment, "payabl", "111")
	if code, _ := postNote(t, payablNote("111", "capture", "2000", fmt.Sprint(time.Now().Unix()-10),
		url.Values{"orderid": {"ORD-111"}, "amount": {"25.00"}, "currency": {"EUR"}})); code != 200 {
		t.Fatalf("processing: %d", code)
	}
	waitFor(t, "a payment event", func() bool { return len(eventsOf(t, sh, id)) >= 1 })
	chb := payablNote("111", "chb", "0", fmt.Sprint(time.Now().Unix()), url.Values{"orderid": {"ORD-111"}})
	if code, body := postNote(t, chb); code != 200 || body != "OK" {
		t.Fatalf("chb: %d %s", code, body)
	}
	waitFor(t, "payment.disputed", func() bool { return disputedIn(eventsOf(t, sh, id)) })
}

// A genuine credited notification older than the delivery window (a late
// resend with its original timestamp) still confirms the payment when the
// fetch is consistent with it.
func TestReview2StaleGenuineCreditedSucceeds(t *testing.T) {
	sh := payablTrustGateway(t)
	id, tx := createPayabl(t, "ORD-R2S", 2500)
	sandboxAction(t, tx, "approve") // tx_diagnose now says 0; the sandbox's own notifications are lost
	old := fmt.Sprint(time.Now().Add(-73 * time.Hour).Unix())
	credited := payablNote(tx, "capture", "0", old, url.Values{"payment_state": {"credited"},
		"orderid": {"ORD-R2S"}, "amount": {"25.00"}, "currency": {"EUR"}})
	if code, body := postNote(t, credited); code != 200 {
		t.Fatalf("resent credited: %d %s", code, body)
	}
	waitFor(t, "payment.succeeded", func() bool {
		for _, typ := range types(eventsOf(t, sh, id)) {
			if typ == "payment.succeeded" {
				return true
			}
		}
		return false
	})
}

// payabl's documented payout failure notice cannot be verified; when the
// fetch of the payout still reads paid, the gateway announces nothing
// (least of all payout.succeeded) and flags it for review.
func TestReview2UnverifiablePayoutFailureNeverAnnouncedAsSuccess(t *testing.T) {
	sh, _ := reviewPayablGateway(t) // the cft 555's row keeps error_code 0
	code, po := api(t, "POST", "/payouts", testToken, map[string]any{"provider": "payabl", "reference": "PO-555",
		"amount": 1000, "currency": "EUR", "payment_id": providers.EncodeID(providers.KindPayment, "payabl", "111")})
	if code != 201 || po["status"] != "processing" {
		t.Fatalf("payout: %d %v", code, po)
	}
	id := po["id"].(string)
	failure := url.Values{"type": {"cft"}, "security": {"48b2a585ef95beb5d07b0f752d61cb09ec8e1985"},
		"errormessage": {"MID is near to negative balance"}, "orderid": {"PO-555"}, "errorcode": {"-6209"},
		"captured_amount": {"0"}, "transactionid": {"555"}}
	if code, body := postNote(t, failure); code != 200 {
		t.Fatalf("failure notification: %d %s", code, body)
	}
	settle()
	if got := types(eventsOf(t, sh, id)); len(got) != 0 {
		t.Fatalf("payabl said the payout failed; the shop got %v", got)
	}
}
