package sandbox

import (
	"bytes"
	"context"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// sendLatest records n as t's latest notification (what send_notification
// re-sends), then delivers it.
func (p *payabl) sendLatest(ctx context.Context, t *payablTxn, n payablNotice) {
	p.mu.Lock()
	latest := n
	t.latest = &latest
	p.mu.Unlock()
	p.send(ctx, t, n)
}

// resend emulates POST /pay/backoffice/send_notification: transactionid
// (several may be given, comma-separated) names transactions whose latest
// notification is sent again to its notification URL, signed, with a
// fresh timestamp (each notification of a transaction gets a strictly
// later one). The reply is XML (reference §3.8):
//
//	<response><process><error_message/><process_time/><status>0</status></process>
//	<transaction><notification_status><transaction_id_1><error_code>0</error_code>
//	<error_message/><notification_sent>SUCCESSFULL</notification_sent>
//	<transaction_id>104837645</transaction_id></transaction_id_1></notification_status></transaction></response>
//
// An unknown transaction answers process status -6000 "no transaction
// matches"; one that has had no notification yet is listed with
// error_code -1 and notification_sent FAILED.
func (p *payabl) resend(w http.ResponseWriter, r *http.Request) error {
	f, ok, err := p.readSigned(w, r, func(e *payablErr) error { return writeResend(w, e, nil) })
	if !ok {
		return err
	}
	ids := strings.Split(f["transactionid"], ",")
	type job struct {
		t *payablTxn
		n payablNotice
	}
	var jobs []job
	var rows []resendRow
	p.mu.Lock()
	for _, id := range ids {
		if !transactionIDRE.MatchString(id) {
			p.mu.Unlock()
			return writeResend(w, errMissingFields("transactionid"), nil)
		}
		t := p.txns[id]
		if t == nil {
			p.mu.Unlock()
			return writeResend(w, perr(-6000, "Found wrong or missing fields: no transaction matches"), nil)
		}
		if t.latest == nil || t.latest.url == "" {
			rows = append(rows, resendRow{id: id, code: "-1", message: "no notification to resend", sent: "FAILED"})
			continue
		}
		rows = append(rows, resendRow{id: id, code: "0", sent: "SUCCESSFULL"})
		jobs = append(jobs, job{t, *t.latest})
	}
	p.mu.Unlock()
	if err := writeResend(w, nil, rows); err != nil {
		return err
	}
	flush(w)
	for _, j := range jobs {
		p.env.goAsync(func(ctx context.Context) { p.send(ctx, j.t, j.n) })
	}
	return nil
}

// resendRow is one <transaction_id_N> of a send_notification reply.
type resendRow struct {
	id, code, message, sent string
}

// writeResend renders the send_notification reply. e nil means status 0.
func writeResend(w http.ResponseWriter, e *payablErr, rows []resendRow) error {
	var b bytes.Buffer
	b.WriteString(`<?xml version="1.0" encoding="ISO-8859-1"?>` + "\n<response><process>")
	status, msg := "0", ""
	if e != nil {
		status, msg = codeString(e.code), e.message
	}
	xmlElem(&b, "error_message", msg)
	xmlElem(&b, "process_time", time.Now().UTC().Format(payablDateTime))
	xmlElem(&b, "status", status)
	b.WriteString("</process>")
	if len(rows) > 0 {
		b.WriteString("<transaction><notification_status>")
		for i, r := range rows {
			name := "transaction_id_" + strconv.Itoa(i+1)
			b.WriteString("<" + name + ">")
			xmlElem(&b, "error_code", r.code)
			xmlElem(&b, "error_message", r.message)
			xmlElem(&b, "notification_sent", r.sent)
			xmlElem(&b, "transaction_id", r.id)
			b.WriteString("</" + name + ">")
		}
		b.WriteString("</notification_status></transaction>")
	}
	b.WriteString("</response>\n")
	w.Header().Set("Content-Type", "text/xml; charset=ISO-8859-1")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	_, err := w.Write(toLatin1XML(b.String()))
	return err
}

// chargeback books a chargeback on the credited deposit t (magic 15.15)
// and notifies it: type=chb, errorcode=0, signed like every notification.
func (p *payabl) chargeback(ctx context.Context, t *payablTxn) {
	p.mu.Lock()
	t.Chargebacks = append(t.Chargebacks, time.Now().UTC())
	n := noticeFor(t, "chb")
	n.paymentState = ""
	p.mu.Unlock()
	p.sendLatest(ctx, t, n)
}
