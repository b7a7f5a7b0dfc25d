// Command legacyshop is a shop written against payabl.'s own notification
// format, for the walk-through in docs/native-forwarding.md: it reads
// payabl.'s form notifications and checks their security as payabl.
// documents, and answers "OK". Behind caddy-payments with forward_format
// native it keeps working unchanged; the one addition is the branch for
// events the gateway marks Payments-Format: canonical (events with no
// authenticated payabl. original), which it verifies as Standard Webhooks.
//
//	go run ./examples/legacyshop   # listens on localhost:8082
//
// Environment: LEGACY_SHOP_ADDR (default localhost:8082), PAYABL_SECRET
// (default the sandbox's b185), PAYMENTS_FORWARD_SECRET (default
// Caddyfile.example's demo whsec_).
package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/caddy-payments/caddy-payments/examples/legacyshop/payablnotify"
)

func main() {
	addr := env("LEGACY_SHOP_ADDR", "localhost:8082")
	payablSecret := env("PAYABL_SECRET", "b185")
	whsec := env("PAYMENTS_FORWARD_SECRET", "whsec_ZGVtby1mb3J3YXJkLXNlY3JldC1jaGFuZ2UtbWU=")
	log.Printf("legacy shop on http://%s", addr)
	log.Fatal(http.ListenAndServe(addr, handler(payablSecret, whsec)))
}

func env(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// handler serves every path: the shop's payabl. notification URL.
func handler(payablSecret, whsec string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Payments-Format") == "canonical" {
			canonical(w, r, whsec)
			return
		}
		// The shop's code from before the gateway, unchanged.
		n, err := payablnotify.ParseRequest(r, payablSecret)
		if err != nil {
			log.Printf("refused a notification: %v", err)
			http.Error(w, "bad notification", http.StatusBadRequest)
			return
		}
		log.Printf("payabl: order %s transaction %s is %s (%s %s)", n.OrderID, n.TransactionID, n.Status(), n.Amount, n.Currency)
		io.WriteString(w, "OK")
	})
}

// canonical handles an event the gateway could not send in payabl.'s
// format (payabl.'s unverifiable notifications, changes the gateway's
// reconciler found): a canonical event, signed per Standard Webhooks.
func canonical(w http.ResponseWriter, r *http.Request, whsec string) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil || verifyWebhook(whsec, r.Header, body, time.Now()) != nil {
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	var ev struct {
		Type string `json:"type"`
		Data struct {
			ID        string `json:"id"`
			Reference string `json:"reference"`
			Status    string `json:"status"`
			Amount    int64  `json:"amount"`
			Currency  string `json:"currency"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &ev); err != nil {
		http.Error(w, "bad event", http.StatusBadRequest)
		return
	}
	log.Printf("gateway: %s order %s (%s) is %s (%d %s, event %s)", ev.Type, ev.Data.Reference, ev.Data.ID,
		ev.Data.Status, ev.Data.Amount, ev.Data.Currency, r.Header.Get("webhook-id"))
	w.WriteHeader(http.StatusNoContent)
}

// verifyWebhook checks the Standard Webhooks signature: base64
// HMAC-SHA256 of "id.timestamp.body" keyed with the decoded whsec_
// secret, any v1 entry, timestamp within five minutes.
func verifyWebhook(whsec string, h http.Header, body []byte, now time.Time) error {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(whsec, "whsec_"))
	if err != nil {
		return err
	}
	id, ts := h.Get("webhook-id"), h.Get("webhook-timestamp")
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || id == "" {
		return errors.New("missing webhook-id or webhook-timestamp")
	}
	if d := now.Sub(time.Unix(sec, 0)); d > 5*time.Minute || d < -5*time.Minute {
		return errors.New("webhook-timestamp too far from now")
	}
	m := hmac.New(sha256.New, key)
	io.WriteString(m, id+"."+ts+".")
	m.Write(body)
	want := base64.StdEncoding.EncodeToString(m.Sum(nil))
	for _, sig := range strings.Fields(h.Get("webhook-signature")) {
		if v, ok := strings.CutPrefix(sig, "v1,"); ok && hmac.Equal([]byte(v), []byte(want)) {
			return nil
		}
	}
	return errors.New("no matching webhook-signature")
}
