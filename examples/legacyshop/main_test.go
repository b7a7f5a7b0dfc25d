package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/caddy-payments/caddy-payments/examples/legacyshop/payablnotify"
)

const whsec = "whsec_ZGVtby1mb3J3YXJkLXNlY3JldC1jaGFuZ2UtbWU="

func serve(h http.Handler, body string, header map[string]string) int {
	r := httptest.NewRequest("POST", "/notifications/payabl_legacy", strings.NewReader(body))
	for k, v := range header {
		r.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w.Code
}

func TestLegacyShop(t *testing.T) {
	h := handler("b185", whsec)
	sec := payablnotify.Security("104579097", "capture", "0", "1796328849", "b185")
	native := "transactionid=104579097&type=capture&errorcode=0&amount=19.99&currency=EUR&orderid=ORD-1&payment_state=credited&timestamp=1796328849&security=" + sec
	if code := serve(h, native, map[string]string{"Content-Type": "application/x-www-form-urlencoded", "Payments-Format": "native"}); code != 200 {
		t.Fatalf("native notification: %d", code)
	}
	if code := serve(h, strings.Replace(native, "19.99", "0.01", 1)+"x", nil); code != 400 {
		t.Fatalf("forged notification: %d", code)
	}
	event := `{"id":"evt_1","type":"payment.processing","data":{"id":"pay_1","reference":"ORD-2","status":"processing","amount":3000,"currency":"EUR"}}`
	ts := fmt.Sprint(time.Now().Unix())
	key, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(whsec, "whsec_"))
	m := hmac.New(sha256.New, key)
	m.Write([]byte("evt_1." + ts + "." + event))
	sig := "v1," + base64.StdEncoding.EncodeToString(m.Sum(nil))
	hdr := map[string]string{"Payments-Format": "canonical", "webhook-id": "evt_1", "webhook-timestamp": ts, "webhook-signature": sig}
	if code := serve(h, event, hdr); code != 204 {
		t.Fatalf("canonical event: %d", code)
	}
	if code := serve(h, strings.Replace(event, "3000", "1", 1), hdr); code != 401 {
		t.Fatalf("altered canonical event: %d", code)
	}
}
