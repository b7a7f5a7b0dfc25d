package sandbox

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

// Issue 10, item 7: payabl's documents do not say what tx_diagnose reports
// between accepted (not_credited_yet) and credited. The sandbox offers
// both readings; 0 (the literal one) is the default.
func TestPayablDiagnoseAcceptedReadings(t *testing.T) {
	for reading, want := range map[string]string{"": "0", "0": "0", "2000": "2000"} {
		t.Run("reading_"+reading, func(t *testing.T) {
			rc := newReceiver(t)
			srv, _ := sandboxServer(t, &Handler{
				NotifyDelay: caddy.Duration(time.Hour), // credited never comes during the test
				Payabl:      &PayablConfig{Secret: testSecret, DiagnoseAccepted: reading},
			})
			id := createPayment(t, srv, "19.99", rc.srv.URL+"/notifications/n").Get("transactionid")
			if got := diagCode(t, srv, id); got != "2000" {
				t.Fatalf("before the customer finished: %s", got)
			}
			if status, body := postRaw(t, srv.URL+"/sandbox/payabl/_sandbox/payments/"+id+"/approve", ""); status != http.StatusOK {
				t.Fatalf("approve: %d %s", status, body)
			}
			n := rc.next(t)
			if n.form.Get("errorcode") != "0" || n.form.Get("payment_state") != "not_credited_yet" {
				t.Fatalf("notification %s", n.raw)
			}
			if got := diagCode(t, srv, id); got != want {
				t.Fatalf("accepted, not credited: error_code %s, want %s", got, want)
			}
			// Deciding again is still refused under either reading.
			if status, _ := postRaw(t, srv.URL+"/sandbox/payabl/_sandbox/payments/"+id+"/approve", ""); status != http.StatusConflict {
				t.Fatalf("second approve: %d", status)
			}
		})
	}
	if _, err := newPayabl(&env{}, &PayablConfig{DiagnoseAccepted: "1"}); err == nil {
		t.Fatal("diagnose_accepted 1 accepted")
	}
	var h Handler
	d := caddyfile.NewTestDispenser("payments_sandbox {\n payabl {\n  diagnose_accepted 2000\n }\n}")
	if err := h.UnmarshalCaddyfile(d); err != nil || h.Payabl.DiagnoseAccepted != "2000" {
		t.Fatalf("caddyfile: %v %+v", err, h.Payabl)
	}
	for _, bad := range []string{"diagnose_accepted 1", "diagnose_accepted", "diagnose_accepted 0 2000"} {
		var h Handler
		if err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser("payments_sandbox {\n payabl {\n  " + bad + "\n }\n}")); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// resendCall posts a signed send_notification and returns the raw reply.
func resendCall(t *testing.T, srvURL, ids string) string {
	t.Helper()
	params := signed(map[string]string{"merchantid": "gateway_test", "transactionid": ids}, testSecret)
	v := url.Values{}
	for k, x := range params {
		v.Set(k, x)
	}
	status, raw := postRaw(t, srvURL+"/sandbox/payabl/pay/backoffice/send_notification", v.Encode())
	if status != http.StatusOK {
		t.Fatalf("send_notification: HTTP %d", status)
	}
	return string(raw)
}

// send_notification re-sends the latest notification, signed, with a
// fresh timestamp; the reply is payabl's documented XML.
func TestPayablSendNotification(t *testing.T) {
	rc := newReceiver(t)
	srv, _ := defaultSandbox(t)
	id := createPayment(t, srv, "19.99", rc.srv.URL+"/notifications/n").Get("transactionid")

	// Nothing notified yet.
	if raw := resendCall(t, srv.URL, id); !strings.Contains(raw, "<notification_sent>FAILED</notification_sent>") || !strings.Contains(raw, "<transaction_id>"+id+"</transaction_id>") {
		t.Fatalf("before any notification: %s", raw)
	}
	rc.none(t, 100*time.Millisecond)

	approveAndWait(t, srv.URL, rc, id)
	raw := resendCall(t, srv.URL, id)
	want := "<status>0</status></process><transaction><notification_status><transaction_id_1><error_code>0</error_code><error_message/><notification_sent>SUCCESSFULL</notification_sent><transaction_id>" + id + "</transaction_id></transaction_id_1></notification_status></transaction></response>"
	if !strings.Contains(raw, want) {
		t.Fatalf("reply %s", raw)
	}
	n := rc.next(t)
	verifySecurity(t, n, testSecret)
	if n.form.Get("transactionid") != id || n.form.Get("payment_state") != "credited" || n.form.Get("errorcode") != "0" || n.form.Get("type") != "capture" {
		t.Fatalf("resent %s", n.raw)
	}
	v := findView(inspectPayments(t, srv.URL), id)
	eventually(t, "three deliveries", func() bool {
		v = findView(inspectPayments(t, srv.URL), id)
		return len(v.Notifications) == 3
	})
	// Deliveries are recorded as they complete, so the listing's order is
	// not the sending order: find the resend by its timestamp.
	resent, err := strconv.ParseInt(n.form.Get("timestamp"), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	recorded := false
	for _, d := range v.Notifications {
		switch {
		case d.Timestamp == resent:
			recorded = true
		case d.Timestamp > resent:
			t.Fatalf("resend timestamp %d not after %d", resent, d.Timestamp)
		}
	}
	if !recorded {
		t.Fatal("the resend's timestamp is not recorded")
	}

	// Unknown transaction; bad signature.
	if raw := resendCall(t, srv.URL, "999999999"); !strings.Contains(raw, "<status>-6000</status>") || !strings.Contains(raw, "no transaction matches") {
		t.Fatalf("unknown: %s", raw)
	}
	status, body := postRaw(t, srv.URL+"/sandbox/payabl/pay/backoffice/send_notification", "merchantid=gateway_test&transactionid="+id+"&signature=0000000000000000000000000000000000000000")
	if status != http.StatusOK || strings.Contains(string(body), "<status>0</status>") {
		t.Fatalf("bad signature: %d %s", status, body)
	}
	rc.none(t, 100*time.Millisecond)
}

// Magic 15.15: after credited, the payment is charged back: a signed
// type=chb notification, and tx_diagnose type=chb lists it in payabl's
// report shape.
func TestPayablChargeback(t *testing.T) {
	rc := newReceiver(t)
	srv, _ := defaultSandbox(t)
	id := createPayment(t, srv, "15.15", rc.srv.URL+"/notifications/n").Get("transactionid")
	approveAndWait(t, srv.URL, rc, id)
	n := rc.next(t)
	verifySecurity(t, n, testSecret)
	if n.form.Get("type") != "chb" || n.form.Get("errorcode") != "0" || n.form.Get("transactionid") != id || n.form.Has("payment_state") {
		t.Fatalf("chargeback notification %s", n.raw)
	}
	today := time.Now().UTC().Format(payablDate)
	params := signed(map[string]string{"merchantid": "gateway_test", "type": "chb", "start_date": today, "end_date": today}, testSecret)
	v := url.Values{}
	for k, x := range params {
		v.Set(k, x)
	}
	d, raw := diagnoseRaw(t, srv, v.Encode())
	if d.Process.Status != "0" || len(d.Transactions) != 1 || d.Transactions[0].TransactionID != id || d.Transactions[0].Amount != "15.15" ||
		!strings.Contains(string(raw), "<booking_date>"+today+"</booking_date>") {
		t.Fatalf("chb report %s", raw)
	}
	// The deposit itself still reads approved.
	if got := diagCode(t, srv, id); got != "0" {
		t.Fatalf("deposit error_code %s", got)
	}
	// An ordinary payment has no chargeback.
	id2 := createPayment(t, srv, "19.99", rc.srv.URL+"/notifications/n").Get("transactionid")
	approveAndWait(t, srv.URL, rc, id2)
	d, _ = diagnoseRaw(t, srv, v.Encode())
	if len(d.Transactions) != 1 {
		t.Fatalf("chb report lists %d", len(d.Transactions))
	}
	rc.none(t, 100*time.Millisecond)
}
