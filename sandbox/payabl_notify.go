package sandbox

import (
	"bytes"
	"context"
	"net/http"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"
)

// payablNotice is one notification to send; the timestamp and security are
// computed at send time, as a real gateway would.
type payablNotice struct {
	txnID        string
	typ          string
	errorcode    string
	errormessage string
	amount       string
	currency     string
	orderid      string
	paymentState string
	url          string
	duplicate    bool
	// cftFailed selects the failed-payout shape of the seed's example:
	// type, errormessage, orderid, errorcode, captured_amount, transactionid
	// and a 40-hex SHA-1 security.
	cftFailed bool
}

// noticeFor builds the ordinary notice of t. Caller holds p.mu.
func noticeFor(t *payablTxn, typ string) payablNotice {
	return payablNotice{
		txnID:        t.ID,
		typ:          typ,
		errorcode:    codeString(t.Code),
		errormessage: t.notifyMessage(),
		amount:       formatPayablAmount(t.Amount),
		currency:     t.Currency,
		orderid:      t.OrderID,
		paymentState: t.PaymentState,
		url:          t.NotificationURL,
		duplicate:    t.Duplicate,
	}
}

// notifyMessage is the errormessage a notification carries: empty on
// success, as in payabl.'s examples.
func (t *payablTxn) notifyMessage() string {
	if t.Code == 0 || t.Code == 2000 {
		return ""
	}
	return t.Message
}

// body renders the form-encoded notification for timestamp ts.
func (n payablNotice) body(secret string, ts int64) []byte {
	stamp := strconv.FormatInt(ts, 10)
	if n.cftFailed {
		sec := payablSecurity(securitySHA1, n.txnID, n.typ, n.errorcode, stamp, secret)
		return encodePayablForm([]kv{
			{"type", n.typ},
			{"security", sec},
			{"errormessage", n.errormessage},
			{"orderid", n.orderid},
			{"errorcode", n.errorcode},
			{"captured_amount", "0"},
			{"transactionid", n.txnID},
			{"timestamp", stamp},
		})
	}
	pairs := []kv{
		{"transactionid", n.txnID},
		{"type", n.typ},
		{"errorcode", n.errorcode},
		{"errormessage", n.errormessage},
		{"amount", n.amount},
		{"currency", n.currency},
		{"orderid", n.orderid},
	}
	if n.paymentState != "" {
		pairs = append(pairs, kv{"payment_state", n.paymentState})
	}
	pairs = append(pairs,
		kv{"timestamp", stamp},
		kv{"security", payablSecurity(securitySHA256, n.txnID, n.typ, n.errorcode, stamp, secret)},
	)
	return encodePayablForm(pairs)
}

// send delivers n (twice when n.duplicate) and records each attempt on t.
// It runs in a goroutine started through env.goAsync.
func (p *payabl) send(ctx context.Context, t *payablTxn, n payablNotice) {
	times := 1
	if n.duplicate {
		times = 2
	}
	// Every notification of a transaction gets a strictly later timestamp
	// (payabl's own examples are a second apart), and a duplicate repeats
	// the first delivery byte for byte, as a retry of the same notification.
	p.mu.Lock()
	stamp := time.Now().Unix()
	if stamp <= t.lastStamp {
		stamp = t.lastStamp + 1
	}
	t.lastStamp = stamp
	p.mu.Unlock()
	for range times {
		now := time.Now()
		d := payablDelivery{
			Type:         n.typ,
			ErrorCode:    n.errorcode,
			PaymentState: n.paymentState,
			Timestamp:    stamp,
			URL:          n.url,
			SentAt:       now.UTC(),
		}
		if n.url == "" {
			d.Error = "no notification_url was given; nothing sent"
		} else {
			var answer []byte
			d.HTTPStatus, answer, d.Error = p.post(ctx, n.url, n.body(p.secret, d.Timestamp))
			d.Acknowledged = d.HTTPStatus == http.StatusOK && strings.TrimSpace(string(answer)) == "OK"
		}
		p.mu.Lock()
		t.Notifications = append(t.Notifications, d)
		p.mu.Unlock()
		p.env.logger.Debug("payments sandbox: payabl notification",
			zap.String("transactionid", n.txnID),
			zap.String("type", n.typ),
			zap.String("errorcode", n.errorcode),
			zap.Int("http_status", d.HTTPStatus),
			zap.Bool("acknowledged", d.Acknowledged),
			zap.String("error", d.Error))
	}
}

// post sends one notification and returns the receiver's status and the
// start of its answer, which only decides the acknowledgement (payabl.
// expects "OK") and is never recorded.
func (p *payabl) post(ctx context.Context, url string, body []byte) (int, []byte, string) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, nil, "building request: " + err.Error()
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("User-Agent", "caddy-payments-sandbox (payabl emulator)")
	return p.env.deliver(req)
}
