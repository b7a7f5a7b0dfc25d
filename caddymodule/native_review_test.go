package caddymodule

import (
	"fmt"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caddy-payments/caddy-payments/examples/legacyshop/payablnotify"
)

// Adversarial review of native forwarding (issue 13 item 4): a payabl.
// original may reach a native-mode shop only when every claim in it the
// shop could act on was verified by the security or established by the
// gateway. These subtests post payabl. notifications with a genuine
// (fresh) signed tuple, as TestNativeForwardingPayabl does, whose
// unsigned fields a shop reads otherwise than the gateway did.
func TestNativeReviewPayablUnsignedClaims(t *testing.T) {
	sh := newShop(t)
	t.Setenv("PAYABL_TEST_SECRET", payablSecret)
	t.Setenv("PAYMENTS_TEST_TOKEN", testToken)
	t.Setenv("PAYMENTS_TEST_WHSEC", testWhsec)
	loadCaddy(t, fmt.Sprintf(`
http://localhost:9080 {
	payments_sandbox {
		payabl {
			merchant_id gateway_test
			secret {env.PAYABL_TEST_SECRET}
		}
		notify_delay 1h
	}
	payments {
		provider payabl {
			merchant_id gateway_test
			secret {env.PAYABL_TEST_SECRET}
			endpoint http://localhost:9080/sandbox/payabl/pay/backoffice
			forward_format native
		}
		api_token {env.PAYMENTS_TEST_TOKEN}
		forward_secret {env.PAYMENTS_TEST_WHSEC}
		public_url http://127.0.0.1:9
		timeout 2s
		retry_schedule 300ms 300ms
		storage_path %s
	}
	reverse_proxy %s
}
`, filepath.Join(t.TempDir(), "state.db"), sh.srv.URL))
	t0 := time.Now()
	ts := func(d time.Duration) string { return fmt.Sprint(t0.Add(d).Unix()) }
	// note renders a notification with a valid security over its signed
	// fields; rest are its unsigned fields, in order, as given.
	note := func(tx, code, stamp string, rest ...string) []byte {
		s := "transactionid=" + tx + "&type=capture&errorcode=" + code
		for i := 0; i+1 < len(rest); i += 2 {
			s += "&" + rest[i] + "=" + url.QueryEscape(rest[i+1])
		}
		return []byte(s + "&timestamp=" + stamp + "&security=" + payablnotify.Security(tx, "capture", code, stamp, payablSecret))
	}
	post := func(t *testing.T, body []byte) {
		t.Helper()
		if code := postRaw(t, "/notifications/payabl", body, "Content-Type", "application/x-www-form-urlencoded"); code != 200 {
			t.Fatalf("notification: HTTP %d", code)
		}
	}
	// delivery waits for the shop's first delivery about payment id.
	delivery := func(t *testing.T, id string) shopEvent {
		t.Helper()
		var e shopEvent
		waitFor(t, "a delivery about "+id, func() bool {
			for _, x := range sh.Events() {
				if x.Header.Get("Payments-Payment-Id") == id {
					e = x
					return true
				}
			}
			return false
		})
		return e
	}

	// payabl.'s payment_state vocabulary is open (reference §4.3: "anything
	// else ❓ not documented"); the gateway maps an unknown state with
	// errorcode 0 to processing and confirms processing with tx_diagnose
	// (error_code 0 between accepted and credited, which the gateway reads as processing). The original then goes
	// native, and the walk-through's own legacy shop (examples/legacyshop)
	// reads errorcode 0 with that state as PAID.
	for i, state := range []string{"pending_credit", "CREDITED"} {
		t.Run("errorcode 0 with payment_state "+state+": a native original the shop reads as paid, the gateway as processing", func(t *testing.T) {
			ref := fmt.Sprintf("ORD-RV%d", i)
			id, tx := createPayabl(t, ref, 1999)
			sandboxAction(t, tx, "approve") // tx_diagnose says 0 (read: processing) until credited, an hour later (notify_delay)
			post(t, note(tx, "0", ts(time.Duration(-i)*time.Second), "amount", "19.99", "currency", "EUR", "orderid", ref, "payment_state", state))
			e := delivery(t, id)
			if e.Header.Get("Payments-Format") != "native" {
				return // canonical: the shop reads the gateway's word
			}
			n, err := payablnotify.Parse(e.Body, payablSecret)
			if err != nil {
				t.Fatal(err)
			}
			if got, typ := n.Status(), e.Header.Get("Payments-Event-Type"); got == "paid" && typ != "payment.succeeded" {
				t.Errorf("MONEY: the gateway established %s, yet forwarded the original natively, and the legacy shop reads it as %q: %s", typ, got, e.Body)
			}
		})
	}

	// errorcode 2000 signs "pending"; payment_state is not signed and not
	// confirmed (no fetch for a processing claim). A shop that reads
	// payment_state (the Trustly field payabl. documents as final success)
	// before errorcode sees credited.
	t.Run("errorcode 2000 with payment_state credited goes native unconfirmed", func(t *testing.T) {
		id, tx := createPayabl(t, "ORD-RV2000", 1999)
		sandboxAction(t, tx, "approve")
		post(t, note(tx, "2000", ts(-3*time.Second), "amount", "19.99", "currency", "EUR", "orderid", "ORD-RV2000", "payment_state", "credited"))
		e := delivery(t, id)
		if e.Header.Get("Payments-Format") == "native" && e.Header.Get("Payments-Event-Type") != "payment.succeeded" {
			form, _ := url.ParseQuery(string(e.Body))
			if form.Get("payment_state") == "credited" {
				t.Errorf("an original claiming payment_state=credited reached the shop natively for a %s event (claim neither signed nor confirmed): %s",
					e.Header.Get("Payments-Event-Type"), e.Body)
			}
		}
	})

	// OriginalAuth refuses names that repeat ignoring case, but a lone
	// upper-case ORDERID is never read by the gateway (url.Values.Get is
	// case-sensitive), so the reference check is skipped, while a shop
	// whose form reader is case-insensitive (ASP.NET's Request.Form,
	// many frameworks' helpers) reads it as the order.
	t.Run("a lone ORDERID (case variant) the gateway never compared reaches the shop natively", func(t *testing.T) {
		id, tx := createPayabl(t, "ORD-RVCASE", 1999)
		sandboxAction(t, tx, "approve")
		post(t, note(tx, "0", ts(-4*time.Second), "amount", "19.99", "currency", "EUR", "ORDERID", "ORD-VICTIM", "payment_state", "not_credited_yet"))
		e := delivery(t, id)
		if e.Header.Get("Payments-Format") != "native" {
			return
		}
		form, _ := url.ParseQuery(string(e.Body))
		for k, vs := range form {
			if strings.EqualFold(k, "orderid") && vs[0] != "ORD-RVCASE" {
				t.Errorf("the original names order %q (field %q) the gateway never checked against ORD-RVCASE: %s", vs[0], k, e.Body)
			}
		}
	})
}
