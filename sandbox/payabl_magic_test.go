package sandbox

import (
	"crypto/sha1"
	"encoding/hex"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestMagicValuesTable(t *testing.T) {
	want := map[string]int64{"13.13": payablMagicDecline, "12.34": payablMagicSlow, "11.11": payablMagicGarbage,
		"14.14": payablMagicDuplicate, "15.15": payablMagicChargeback, "66.66": payablMagicCFTFail}
	var list []MagicValue
	for _, m := range MagicValues() {
		if m.Provider == "payabl" {
			list = append(list, m)
		}
	}
	if len(list) != len(want) {
		t.Fatalf("MagicValues has %d entries, want %d", len(list), len(want))
	}
	for _, m := range list {
		minor, ok := parsePayablAmount(m.Value)
		if m.Provider != "payabl" || m.Field != "amount" || m.Effect == "" || !ok || want[m.Value] != minor {
			t.Errorf("entry %+v does not match the emulator's constants", m)
		}
	}
}

func TestPayablMagicDecline(t *testing.T) {
	srv, _ := defaultSandbox(t)
	reply := call(t, srv, "payment_preauthorize", signed(preauthParams("13.13", ""), testSecret))
	wantStatus(t, reply, "-5002")
	if reply.Get("errormessage") != "Payment failed" || reply.Has("transactionid") || reply.Has("redirect_url") {
		t.Fatalf("decline reply %v", reply)
	}
	// The failed attempt is visible by orderid.
	d := diagnose(t, srv, map[string]string{"type": "orderid", "orderid": "ORD-1001"})
	if len(d.Transactions) != 1 || d.Transactions[0].ErrorCode != "-5002" {
		t.Fatalf("diagnose %+v", d)
	}
}

func TestPayablMagicGarbage(t *testing.T) {
	srv, _ := defaultSandbox(t)
	v := url.Values{}
	for k, x := range signed(preauthParams("11.11", ""), testSecret) {
		v.Set(k, x)
	}
	status, body := postRaw(t, srv.URL+"/sandbox/payabl/pay/backoffice/payment_preauthorize", v.Encode())
	if status != http.StatusOK || string(body) != "<html>oops" {
		t.Fatalf("garbage: HTTP %d %q", status, body)
	}
	if f, _ := url.ParseQuery(string(body)); f.Has("status") {
		t.Fatal("garbage reply parses as a payabl. reply")
	}
}

func TestPayablMagicSlow(t *testing.T) {
	srv, _ := defaultSandbox(t) // slow_delay 300ms
	v := url.Values{}
	for k, x := range signed(preauthParams("12.34", ""), testSecret) {
		v.Set(k, x)
	}
	// A client with a shorter timeout gives up...
	impatient := &http.Client{Timeout: 100 * time.Millisecond}
	if _, err := impatient.PostForm(srv.URL+"/sandbox/payabl/pay/backoffice/payment_preauthorize", v); err == nil {
		t.Fatal("the slow magic value answered within 100ms")
	}
	// ...but the payment exists, and tx_diagnose by orderid finds it.
	d := diagnose(t, srv, map[string]string{"type": "orderid", "orderid": "ORD-1001"})
	if len(d.Transactions) != 1 || d.Transactions[0].ErrorCode != "2000" {
		t.Fatalf("diagnose %+v", d)
	}
	// A patient client gets the normal reply after the delay.
	start := time.Now()
	reply := call(t, srv, "payment_preauthorize", signed(preauthParams("12.34", ""), testSecret))
	if time.Since(start) < 300*time.Millisecond {
		t.Fatalf("answered after %v, before slow_delay", time.Since(start))
	}
	wantStatus(t, reply, "2000")
}

func TestPayablMagicDuplicate(t *testing.T) {
	rc := newReceiver(t)
	srv, _ := defaultSandbox(t)
	id := createPayment(t, srv, "14.14", rc.srv.URL+"/notifications/test").Get("transactionid")
	if status, _ := postRaw(t, srv.URL+"/sandbox/payabl/_sandbox/payments/"+id+"/approve", ""); status != http.StatusOK {
		t.Fatal("approve failed")
	}
	var states []string
	for range 4 {
		n := rc.next(t)
		verifySecurity(t, n, testSecret)
		states = append(states, n.form.Get("payment_state"))
	}
	if strings.Join(states, ",") != "not_credited_yet,not_credited_yet,credited,credited" {
		t.Fatalf("duplicate deliveries %v", states)
	}
	rc.none(t, 100*time.Millisecond)
}

func TestPayablMagicFailedPayout(t *testing.T) {
	rc := newReceiver(t)
	srv, _ := defaultSandbox(t)
	reply := call(t, srv, "payment_cft", signed(map[string]string{
		"merchantid": "gateway_test", "amount": "66.66", "currency": "EUR", "payment_method": "116", "orderid": "PO-1",
		"bankcountry": "SE", "banknumber": "8327", "accountnumber": "9394351810", "notification_url": rc.srv.URL + "/notifications/test",
	}, testSecret))
	wantStatus(t, reply, "0")
	id := reply.Get("transactionid")

	n := rc.next(t)
	f := n.form
	if f.Get("type") != "cft" || f.Get("errorcode") != "-6209" || f.Get("errormessage") != "MID is near to negative balance" ||
		f.Get("transactionid") != id || f.Get("orderid") != "PO-1" || f.Get("captured_amount") != "0" {
		t.Fatalf("failed-payout notification %s", n.raw)
	}
	sum := sha1.Sum([]byte(id + "cft" + "-6209" + f.Get("timestamp") + testSecret))
	if sec := f.Get("security"); !regexp.MustCompile(`^[0-9a-f]{40}$`).MatchString(sec) || sec != hex.EncodeToString(sum[:]) {
		t.Fatalf("security %q is not the 40-hex SHA-1", sec)
	}
	if !strings.HasPrefix(n.raw, "type=cft&security=") {
		t.Fatalf("field order differs from payabl.'s example: %s", n.raw)
	}
	eventually(t, "diagnose -6209", func() bool { return diagCode(t, srv, id) == "-6209" })
}
