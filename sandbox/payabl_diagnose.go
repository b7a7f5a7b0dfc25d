package sandbox

import (
	"bytes"
	"encoding/xml"
	"net/http"
	"time"
)

// payabl.'s date formats: request dates dd.mm.yyyy; times in replies
// dd.mm.yyyy hh:mm:ss (the docs' process_time "13.02.2012 16:41:19").
// The sandbox keeps all times in UTC.
const (
	payablDate     = "02.01.2006"
	payablDateTime = "02.01.2006 15:04:05"
)

// diagnose emulates POST /pay/backoffice/tx_diagnose. Variants by type:
//
//	tx                          transactionid
//	orderid                     orderid [start_date end_date]   (dd.mm.yyyy, end inclusive)
//	capture | refund | cft      start_date end_date
//	chb                         start_date end_date: the chargebacks booked in the range, one row
//	                            each in the report shape of payabl.'s example (amount, booking_date,
//	                            currency, issue_date, order_id, transaction_id = the charged-back
//	                            deposit's id)
//
// The reply is ISO-8859-1 XML, one <transaction> per match with amount,
// creation_date, currency, custom1, error_code (0 successful, 2000 pending,
// negative failed), order_id, type and transaction_id. No match, a bad
// request or a bad signature answer a non-zero process status with an
// error_message.
func (p *payabl) diagnose(w http.ResponseWriter, r *http.Request) error {
	f, ok, err := p.readSigned(w, r, func(e *payablErr) error { return writeDiagnose(w, e, nil) })
	if !ok {
		return err
	}

	var match func(t *payablTxn) bool
	var from, to time.Time
	hasRange := f["start_date"] != "" || f["end_date"] != ""
	if hasRange {
		var okFrom, okTo bool
		from, okFrom = parsePayablDate(f["start_date"])
		to, okTo = parsePayablDate(f["end_date"])
		if !okFrom || !okTo || to.Before(from) {
			return writeDiagnose(w, errMissingFields("start_date/end_date (dd.mm.yyyy, start not after end)"), nil)
		}
		to = to.AddDate(0, 0, 1) // end date is inclusive
	}
	inRange := func(t *payablTxn) bool {
		return !hasRange || (!t.Created.Before(from) && t.Created.Before(to))
	}

	switch typ := f["type"]; typ {
	case "tx":
		id := f["transactionid"]
		if !transactionIDRE.MatchString(id) {
			return writeDiagnose(w, errMissingFields("transactionid"), nil)
		}
		match = func(t *payablTxn) bool { return t.ID == id }
	case "orderid":
		oid := f["orderid"]
		if oid == "" || !maxLen(oid, 40) {
			return writeDiagnose(w, errMissingFields("orderid"), nil)
		}
		match = func(t *payablTxn) bool { return t.OrderID == oid && inRange(t) }
	case "chb":
		if !hasRange {
			return writeDiagnose(w, errMissingFields("start_date and end_date"), nil)
		}
		var rows []diagTxn
		p.mu.Lock()
		for _, t := range p.ordered {
			for _, at := range t.Chargebacks {
				if !at.Before(from) && at.Before(to) {
					rows = append(rows, diagTxn{chb: true, Amount: formatPayablAmount(t.Amount), BookingDate: at.Format(payablDate),
						Currency: t.Currency, IssueDate: at.Format(payablDate), OrderID: t.OrderID, TransactionID: t.ID})
				}
			}
		}
		p.mu.Unlock()
		if len(rows) == 0 {
			return writeDiagnose(w, perr(-6000, "Found wrong or missing fields: no transaction matches"), nil)
		}
		return writeDiagnose(w, nil, rows)
	case kindCapture, kindRefund, kindCFT:
		if !hasRange {
			return writeDiagnose(w, errMissingFields("start_date and end_date"), nil)
		}
		match = func(t *payablTxn) bool { return t.Kind == typ && inRange(t) }
	default:
		return writeDiagnose(w, errMissingFields("type (tx, orderid, capture, chb, refund or cft)"), nil)
	}

	var rows []diagTxn
	p.mu.Lock()
	for _, t := range p.ordered {
		if match(t) {
			rows = append(rows, diagTxn{
				Amount:        formatPayablAmount(t.Amount),
				CreationDate:  t.Created.Format(payablDateTime),
				Currency:      t.Currency,
				Custom1:       t.Custom1,
				ErrorCode:     codeString(t.Code),
				OrderID:       t.OrderID,
				Type:          t.Kind,
				TransactionID: t.ID,
			})
		}
	}
	p.mu.Unlock()
	if len(rows) == 0 {
		return writeDiagnose(w, perr(-6000, "Found wrong or missing fields: no transaction matches"), nil)
	}
	return writeDiagnose(w, nil, rows)
}

// parsePayablDate reads dd.mm.yyyy as a UTC day.
func parsePayablDate(s string) (time.Time, bool) {
	t, err := time.ParseInLocation(payablDate, s, time.UTC)
	return t, err == nil
}

// diagTxn is one <transaction> of a diagnose reply.
type diagTxn struct {
	Amount        string `xml:"amount"`
	CreationDate  string `xml:"creation_date"`
	Currency      string `xml:"currency"`
	Custom1       string `xml:"custom1"`
	ErrorCode     string `xml:"error_code"`
	OrderID       string `xml:"order_id"`
	Type          string `xml:"type"`
	TransactionID string `xml:"transaction_id"`
	// A chargeback report row (chb) has booking and issue dates instead
	// of creation_date, custom1, error_code and type.
	chb         bool
	BookingDate string
	IssueDate   string
}

// writeDiagnose renders the XML reply. e nil means process status 0.
// Empty elements are written self-closed (<error_message/>) as in
// payabl.'s example, and the document is sent as ISO-8859-1 bytes.
func writeDiagnose(w http.ResponseWriter, e *payablErr, rows []diagTxn) error {
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
	for _, t := range rows {
		if t.chb {
			b.WriteString("<transaction>")
			xmlElem(&b, "amount", t.Amount)
			xmlElem(&b, "booking_date", t.BookingDate)
			xmlElem(&b, "currency", t.Currency)
			xmlElem(&b, "issue_date", t.IssueDate)
			xmlElem(&b, "order_id", t.OrderID)
			xmlElem(&b, "transaction_id", t.TransactionID)
			b.WriteString("</transaction>")
			continue
		}
		b.WriteString("<transaction>")
		xmlElem(&b, "amount", t.Amount)
		xmlElem(&b, "creation_date", t.CreationDate)
		xmlElem(&b, "currency", t.Currency)
		xmlElem(&b, "custom1", t.Custom1)
		xmlElem(&b, "error_code", t.ErrorCode)
		xmlElem(&b, "order_id", t.OrderID)
		xmlElem(&b, "type", t.Type)
		xmlElem(&b, "transaction_id", t.TransactionID)
		b.WriteString("</transaction>")
	}
	b.WriteString("</response>\n")

	w.Header().Set("Content-Type", "text/xml; charset=ISO-8859-1")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	_, err := w.Write(toLatin1XML(b.String()))
	return err
}

// xmlElem writes <name>escaped value</name>, or <name/> when empty.
func xmlElem(b *bytes.Buffer, name, value string) {
	if value == "" {
		b.WriteString("<" + name + "/>")
		return
	}
	b.WriteString("<" + name + ">")
	_ = xml.EscapeText(b, []byte(value))
	b.WriteString("</" + name + ">")
}

// toLatin1XML encodes an XML document as ISO-8859-1; characters outside
// Latin-1 become numeric character references, which stay exact.
func toLatin1XML(s string) []byte {
	out := make([]byte, 0, len(s))
	for _, r := range s {
		if r > 0xFF {
			out = append(out, "&#"+codeString(int(r))+";"...)
			continue
		}
		out = append(out, byte(r))
	}
	return out
}
