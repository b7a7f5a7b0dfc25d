package caddymodule

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/caddy-payments/caddy-payments/providers"
)

func TestPlanTrust(t *testing.T) {
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	field := providers.Claims{Object: providers.SignedFields, Status: providers.SignedFields, Time: providers.SignedFields}
	body := providers.Claims{Object: providers.SignedBody, Status: providers.SignedBody, Amount: providers.SignedBody,
		Reference: providers.SignedBody, Time: providers.SignedBody}
	cases := []struct {
		name  string
		n     providers.Notification
		fetch bool
		why   string
	}{
		{"unverifiable", providers.Notification{Status: "succeeded", EventType: "payment.succeeded"}, true, fetchUnverifiable},
		{"field-signed processing", providers.Notification{Trust: field, Status: "processing", EventType: "payment.processing"}, false, ""},
		{"field-signed failure", providers.Notification{Trust: field, Status: "failed", EventType: "payment.failed"}, true, fetchFieldSigned},
		{"field-signed dispute", providers.Notification{Trust: field, EventType: "payment.disputed"}, true, fetchFieldSigned},
		{"field-signed payout reversal", providers.Notification{Trust: field, Object: "payout", Status: "failed", EventType: "payout.failed"}, true, fetchFieldSigned},
		{"field-signed refund pending", providers.Notification{Trust: field, Object: "refund", Status: "pending", EventType: "refund.pending"}, false, ""},
		{"unsigned status", providers.Notification{Trust: providers.Claims{Object: providers.SignedFields}, Status: "processing"}, true, fetchUnsigned},
		{"body-signed success", providers.Notification{Trust: body, Status: "succeeded", EventType: "payment.succeeded"}, false, ""},
		{"body-signed but stale", providers.Notification{Trust: body, Status: "succeeded", At: now.Add(-49 * time.Hour), MaxAge: 48 * time.Hour}, true, fetchStale},
		{"body-signed, fresh", providers.Notification{Trust: body, Status: "succeeded", At: now.Add(-47 * time.Hour), MaxAge: 48 * time.Hour}, false, ""},
		{"unsigned time is no staleness", providers.Notification{Trust: providers.Claims{Object: providers.SignedBody, Status: providers.SignedBody},
			Status: "succeeded", At: now.Add(-1000 * time.Hour), MaxAge: time.Hour}, false, ""},
	}
	for _, c := range cases {
		p := planTrust(&c.n, now)
		if p.fetch != c.fetch || p.reason != c.why {
			t.Errorf("%s: fetch=%v reason=%q, want %v %q", c.name, p.fetch, p.reason, c.fetch, c.why)
		}
	}
	if p := planTrust(&providers.Notification{}, now); !p.keyFromFetch || p.allowConfirms {
		t.Errorf("an unverifiable notification must take its key from the fetch and confirm nothing weakly: %+v", p)
	}
	if p := planTrust(&cases[8].n, now); !p.fetch || !p.allowConfirms {
		t.Error("a stale notification is confirmed by a fetch, one consistent with its bound claims included")
	}
}

func TestUnsignedDigestAndTampering(t *testing.T) {
	base := providers.Notification{Trust: providers.Claims{Object: providers.SignedFields, Status: providers.SignedFields},
		Status: "processing", EventType: "payment.processing", Amount: 1999, Currency: "EUR", Reference: "ORD-1"}
	credited := base
	credited.Trust.Status = providers.Unsigned
	credited.Status, credited.EventType = "succeeded", "payment.succeeded"
	other := base
	other.Amount = 999999
	if unsignedDigest(&base) == unsignedDigest(&credited) || unsignedDigest(&base) == unsignedDigest(&other) {
		t.Fatal("different unsigned claims give the same digest")
	}
	again := base
	if unsignedDigest(&base) != unsignedDigest(&again) {
		t.Fatal("the digest is not deterministic")
	}
	all := providers.Notification{Trust: providers.Claims{Object: providers.SignedBody, Status: providers.SignedBody,
		Amount: providers.SignedBody, Reference: providers.SignedBody}}
	if unsignedDigest(&all) != "" {
		t.Fatal("a notification that signs every claim has unsigned claims")
	}

	f := facts{amount: 1999, currency: "EUR", reference: "ORD-1"}
	if c := tampered(&base, f, true); c != "" {
		t.Fatalf("matching claims called tampering: %s", c)
	}
	if c := tampered(&other, f, true); c != "amount" {
		t.Fatalf("amount: %q", c)
	}
	ref := base
	ref.Reference = "ORD-EVIL"
	if c := tampered(&ref, f, true); c != "reference" {
		t.Fatalf("reference: %q", c)
	}
	if c := tampered(&ref, f, false); c != "" {
		t.Fatalf("reference compared where it is not the object's: %q", c)
	}
	signed := other
	signed.Trust.Amount = providers.SignedBody
	if c := tampered(&signed, f, true); c != "" {
		t.Fatalf("a signed claim is no tampering: %q", c)
	}
	if c := tampered(&other, facts{}, true); c != "" {
		t.Fatalf("nothing known, nothing contradicted: %q", c)
	}
}

func TestNotifyLimiter(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	l := newNotifyLimiter([]string{"a", "b"}, bucketRule{5, time.Second}, bucketRule{2, 10 * time.Second}, 3)
	for i := 0; i < 2; i++ {
		if ok, _ := l.allow("a", "tx1", now); !ok {
			t.Fatalf("call %d refused within the object's burst", i)
		}
	}
	ok, wait := l.allow("a", "tx1", now)
	if ok || wait <= 0 || wait > 10*time.Second {
		t.Fatalf("past the object's burst: ok=%v wait=%v", ok, wait)
	}
	// Other objects of the account are not starved by tx1's flood.
	if ok, _ := l.allow("a", "tx2", now); !ok {
		t.Fatal("one object's flood starved another")
	}
	if ok, _ := l.allow("b", "tx1", now); !ok {
		t.Fatal("accounts share a bucket")
	}
	// The account's own ceiling: 5 at once (3 taken above for a).
	l.allow("a", "tx3", now)
	l.allow("a", "tx3", now)
	if ok, _ := l.allow("a", "tx4", now); ok {
		t.Fatal("the account's ceiling was not applied")
	}
	if ok, _ := l.allow("a", "tx1", now.Add(10*time.Second)); !ok {
		t.Fatal("no token after a refill period")
	}
	if ok, _ := l.allow("unknown", "tx1", now); ok {
		t.Fatal("an account that is not configured got a bucket")
	}
	if len(l.refs) > 3 || l.lru.Len() > 3 || len(l.accounts) != 2 {
		t.Fatalf("the limiter grew: %d objects, %d accounts", len(l.refs), len(l.accounts))
	}
}

// payablTrustGateway is the payabl gateway on the sandbox, except that the
// notification URL it gives payabl (from public_url) leads nowhere: the
// sandbox's own notifications are lost, and the test alone speaks for
// payabl (it knows the sandbox secret), as an attacker who captured
// genuine notifications would.
func payablTrustGateway(t *testing.T) *shop {
	sh := newShop(t)
	loadCaddy(t, payablSite(t, sh, "", "", "public_url http://127.0.0.1:9\ntimeout 2s\nretry_schedule 300ms 300ms"))
	return sh
}

// payablNote is a notification as payabl signs it: SHA-256 over
// transactionid+type+errorcode+timestamp+secret; extra fields unsigned.
func payablNote(tx, typ, code, ts string, extra url.Values) url.Values {
	sum := sha256.Sum256([]byte(tx + typ + code + ts + payablSecret))
	f := url.Values{"transactionid": {tx}, "type": {typ}, "errorcode": {code}, "timestamp": {ts},
		"security": {hex.EncodeToString(sum[:])}}
	for k, v := range extra {
		f[k] = v
	}
	return f
}

// postNote posts a form to the payabl notification route and returns the
// status and body.
func postNote(t *testing.T, f url.Values) (int, string) {
	t.Helper()
	resp, err := http.PostForm(gwBase+"/notifications/payabl", f)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// settle waits for the gateway to finish what a notification started.
func settle() { time.Sleep(150 * time.Millisecond) }

func TestTrustPolicyPayabl(t *testing.T) {
	sh := payablTrustGateway(t)
	ts := func(d time.Duration) string { return fmt.Sprint(time.Now().Add(d).Unix()) }

	// Issue 10 item 4: a signed tuple binds its unsigned claims.
	t.Run("a signed tuple seen again with another payment_state is suspect, not a fact", func(t *testing.T) {
		id, tx := createPayabl(t, "ORD-T4", 2500)
		sandboxAction(t, tx, "approve") // tx_diagnose now says 0; the sandbox's own notifications are lost
		t1 := ts(-2 * time.Second)
		accepted := url.Values{"payment_state": {"not_credited_yet"}, "amount": {"25.00"}, "currency": {"EUR"}, "orderid": {"ORD-T4"}}
		if code, body := postNote(t, payablNote(tx, "capture", "0", t1, accepted)); code != 200 || body != "OK" {
			t.Fatalf("genuine not_credited_yet: %d %s", code, body)
		}
		waitFor(t, "payment.processing", func() bool { return len(eventsOf(t, sh, id)) == 1 })
		recut := url.Values{"payment_state": {"credited"}, "amount": {"25.00"}, "currency": {"EUR"}, "orderid": {"ORD-T4"}}
		if code, body := postNote(t, payablNote(tx, "capture", "0", t1, recut)); code != 200 || body != "OK" {
			t.Fatalf("the suspect notification must be answered like any other: %d %s", code, body)
		}
		settle()
		if got := types(eventsOf(t, sh, id)); len(got) != 1 || got[0] != "payment.processing" {
			t.Fatalf("the same signed tuple with payment_state=credited became an event: %v", got)
		}
		// A credited notification with a signed tuple of its own confirms
		// the payment as usual.
		if code, _ := postNote(t, payablNote(tx, "capture", "0", ts(0), recut)); code != 200 {
			t.Fatalf("genuine credited: %d", code)
		}
		waitFor(t, "payment.succeeded", func() bool { return len(eventsOf(t, sh, id)) == 2 })
		if got := types(eventsOf(t, sh, id)); got[1] != "payment.succeeded" {
			t.Fatalf("events: %v", got)
		}
	})

	// Issue 10 item 3: unsigned fields never reach the shop as facts.
	t.Run("an unsigned orderid or amount that contradicts the record is tampering", func(t *testing.T) {
		id, tx := createPayabl(t, "ORD-T3", 3100)
		for i, extra := range []url.Values{
			{"orderid": {"ORD-EVIL"}, "amount": {"31.00"}, "currency": {"EUR"}},
			{"orderid": {"ORD-T3"}, "amount": {"9999.99"}, "currency": {"EUR"}},
			{"orderid": {"ORD-T3"}, "amount": {"31.00"}, "currency": {"SEK"}},
		} {
			// Each with a signed tuple of its own: tampering, not a re-cut.
			if code, body := postNote(t, payablNote(tx, "capture", "2000", ts(time.Duration(i-5)*time.Second), extra)); code != 200 || body != "OK" {
				t.Fatalf("%v: %d %s", extra, code, body)
			}
			settle()
			if evs := eventsOf(t, sh, id); len(evs) != 0 {
				t.Fatalf("%v: a tampered notification was forwarded: %v", extra, evs)
			}
		}
		// The same notification with the true claims is forwarded, and
		// the reference is the record's.
		if code, _ := postNote(t, payablNote(tx, "capture", "2000", ts(0), url.Values{"orderid": {"ORD-T3"}, "amount": {"31.00"}, "currency": {"EUR"}})); code != 200 {
			t.Fatal(code)
		}
		waitFor(t, "payment.processing", func() bool { return len(eventsOf(t, sh, id)) == 1 })
		data := eventsOf(t, sh, id)[0]["data"].(map[string]any)
		if data["reference"] != "ORD-T3" || data["amount"] != float64(3100) {
			t.Fatalf("event data: %v", data)
		}
	})

	t.Run("a refund notification edited to another amount is not forwarded", func(t *testing.T) {
		id, tx := createPayabl(t, "ORD-T3R", 2000)
		sandboxAction(t, tx, "approve")
		if code, _ := postNote(t, payablNote(tx, "capture", "0", ts(-time.Second), url.Values{"payment_state": {"credited"}})); code != 200 {
			t.Fatal(code)
		}
		waitFor(t, "payment.succeeded", func() bool { return len(eventsOf(t, sh, id)) == 1 })
		code, rf := api(t, "POST", "/payments/"+id+"/refunds", testToken, map[string]any{"amount": 700})
		if code != 201 {
			t.Fatalf("refund: %d %v", code, rf)
		}
		rtx := rf["provider_reference"].(string)
		before := len(eventsOf(t, sh, id))
		edited := url.Values{"amount": {"9999.99"}, "currency": {"EUR"}}
		if code, body := postNote(t, payablNote(rtx, "refund", "0", ts(0), edited)); code != 200 || body != "OK" {
			t.Fatalf("edited refund notification: %d %s", code, body)
		}
		settle()
		for _, e := range eventsOf(t, sh, id)[before:] {
			t.Fatalf("an edited refund notification was forwarded: %v", e)
		}
	})

	// Issue 10 item 1: an unverifiable notification proves nothing.
	t.Run("unverifiable chargebacks are never forwarded; the route answers the same for unknown transactions; then 429", func(t *testing.T) {
		id, tx := createPayabl(t, "ORD-T1", 4200)
		sandboxAction(t, tx, "approve")
		unverifiable := func(tx, stamp string) url.Values {
			return url.Values{"transactionid": {tx}, "type": {"chb"}, "errorcode": {"0"}, "timestamp": {stamp},
				"security": {strings.Repeat("ab", 20)}}
		}
		knownCode, knownBody := postNote(t, unverifiable(tx, ts(0)))
		unknownCode, unknownBody := postNote(t, unverifiable("987654321", ts(0)))
		if knownCode != unknownCode || knownBody != unknownBody || knownCode != 200 {
			t.Fatalf("known %d %q, unknown %d %q: the route tells them apart", knownCode, knownBody, unknownCode, unknownBody)
		}
		limited := false
		for i := 2; i < 3*fetchRefBurst && !limited; i++ {
			resp, err := http.PostForm(gwBase+"/notifications/payabl", unverifiable(tx, ts(time.Duration(i)*time.Second)))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			switch resp.StatusCode {
			case 200:
			case http.StatusTooManyRequests:
				limited = resp.Header.Get("Retry-After") != ""
			default:
				t.Fatalf("unverifiable notification %d: %d", i, resp.StatusCode)
			}
		}
		if !limited {
			t.Fatal("unverifiable notifications were never rate limited with 429 and Retry-After")
		}
		settle()
		for _, e := range eventsOf(t, sh, id) {
			if e["type"] == "payment.disputed" {
				t.Fatalf("a dispute no fetch confirmed reached the shop: %v", e)
			}
		}
	})
}
