package sandbox

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestPaysageMagicValuesTable(t *testing.T) {
	want := map[string]int64{"1313": psMagicDecline, "1212": psMagicSlow, "1111": psMagicGarbage, "1414": psMagicDuplicate}
	var got int
	for _, m := range MagicValues() {
		if m.Provider != "paysage" {
			continue
		}
		got++
		n, err := strconv.ParseInt(m.Value, 10, 64)
		if err != nil || want[m.Value] != n || m.Field != "request.amount" || m.Operation != "POST /beyag/transactions/payments" || m.Effect == "" {
			t.Errorf("entry %+v does not match the emulator's constants", m)
		}
	}
	if got != len(want) {
		t.Fatalf("%d paysage magic values, want %d", got, len(want))
	}
}

func TestPaysageMagicDecline(t *testing.T) {
	rc := newPsReceiver(t)
	srv := psSandbox(t)
	tx := psDo(t, http.MethodPost, psAPI(srv)+"/payments", psPaymentBody(psMagicDecline, "M-1313", rc.srv.URL+"/notifications/test"), nil).txn(t)
	if tx["status"] != "failed" || tx["message"] != "Payment was declined." || tx["form"] != nil ||
		tx["payment"].(map[string]any)["status"] != "failed" || tx["tracking_id"] != "M-1313" {
		t.Fatalf("1313: %v", tx)
	}
	if g := psDo(t, http.MethodGet, psAPI(srv)+"/"+tx["uid"].(string), "", nil).txn(t); g["status"] != "failed" {
		t.Fatalf("GET 1313: %v", g)
	}
	if s := psAction(t, srv, tx["uid"].(string), "approve"); s != http.StatusConflict {
		t.Fatalf("approve a declined payment: HTTP %d", s)
	}
	rc.none(t, 100*time.Millisecond)
}

func TestPaysageMagicGarbage(t *testing.T) {
	srv := psSandbox(t)
	r := psDo(t, http.MethodPost, psAPI(srv)+"/payments", psPaymentBody(psMagicGarbage, "M-1111", ""), map[string]string{"RequestID": "g"})
	if r.status != 200 || string(r.raw) != "<html>oops" || !strings.HasPrefix(r.header.Get("Content-Type"), "text/html") {
		t.Fatalf("1111: HTTP %d %q", r.status, r.raw)
	}
	if json.Valid(r.raw) || len(psListing(t, srv)) != 0 {
		t.Fatal("garbage reply is JSON or created a transaction")
	}
	// Nothing is remembered for the RequestID either.
	if r := psDo(t, http.MethodPost, psAPI(srv)+"/payments", psPaymentBody(500, "M-ok", ""), map[string]string{"RequestID": "g"}); r.status != 200 {
		t.Fatalf("after garbage: HTTP %d", r.status)
	}
}

func TestPaysageMagicSlow(t *testing.T) {
	srv := psSandbox(t) // slow_delay 300ms
	hdr := map[string]string{"RequestID": "slow-1"}
	client := &http.Client{Timeout: 100 * time.Millisecond}
	req, _ := http.NewRequest(http.MethodPost, psAPI(srv)+"/payments", strings.NewReader(psPaymentBody(psMagicSlow, "M-1212", "")))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("RequestID", hdr["RequestID"])
	req.SetBasicAuth("361", psTestSecret)
	if resp, err := client.Do(req); err == nil {
		resp.Body.Close()
		t.Fatal("1212 answered before the client timeout")
	}
	// The payment exists: found by tracking_id and by repeating the RequestID, at once.
	look := psDo(t, http.MethodGet, psAPI(srv)+"/tracking_id/M-1212", "", nil)
	var lv struct {
		Transactions []map[string]any `json:"transactions"`
	}
	if err := json.Unmarshal(look.raw, &lv); err != nil || len(lv.Transactions) != 1 || lv.Transactions[0]["status"] != "pending" {
		t.Fatalf("lookup after timeout: %s", look.raw)
	}
	start := time.Now()
	again := psDo(t, http.MethodPost, psAPI(srv)+"/payments", psPaymentBody(psMagicSlow, "M-1212", ""), hdr).txn(t)
	if again["uid"] != lv.Transactions[0]["uid"] || time.Since(start) > 250*time.Millisecond {
		t.Fatalf("RequestID replay: %v after %v", again["uid"], time.Since(start))
	}
	// Without a timeout the reply comes after slow_delay.
	start = time.Now()
	psDo(t, http.MethodPost, psAPI(srv)+"/payments", psPaymentBody(psMagicSlow, "M-1212b", ""), nil).txn(t)
	if time.Since(start) < 300*time.Millisecond {
		t.Fatalf("1212 answered after %v, want ≥ slow_delay", time.Since(start))
	}
}

func TestPaysageMagicDuplicate(t *testing.T) {
	rc := newPsReceiver(t)
	srv := psSandbox(t)
	tx := psCreate(t, srv, psMagicDuplicate, "M-1414", rc.srv.URL+"/notifications/test")
	if s := psAction(t, srv, tx["uid"].(string), "approve"); s != 200 {
		t.Fatal("approve failed")
	}
	a, b := rc.next(t), rc.next(t)
	if string(a.raw) != string(b.raw) || a.header.Get("Content-Signature") != b.header.Get("Content-Signature") {
		t.Fatal("the duplicate is not byte for byte the same webhook")
	}
	psVerify(t, b, PaysagePublicKey(), "361", psTestSecret)
	if b.txn(t)["status"] != "successful" {
		t.Fatalf("duplicate %s", b.raw)
	}
	rc.none(t, 100*time.Millisecond)
}
