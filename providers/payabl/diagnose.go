package payabl

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/caddy-payments/caddy-payments/providers"
)

// diagResponse is the tx_diagnose reply (reference §3.7): ISO-8859-1 XML
// with a <process> block and zero or more <transaction> elements.
type diagResponse struct {
	XMLName      xml.Name `xml:"response"`
	Status       string   `xml:"process>status"`
	ErrorMessage string   `xml:"process>error_message"`
	Transactions []diagTx `xml:"transaction"`
}

// diagTx is one transaction of a tx_diagnose reply. Values are trimmed
// when parsed (the documented example has "<transaction_id> 6905370").
type diagTx struct {
	TransactionID string `xml:"transaction_id"`
	Amount        string `xml:"amount"`
	Currency      string `xml:"currency"`
	CreationDate  string `xml:"creation_date"`
	ErrorCode     string `xml:"error_code"`
	ErrorMessage  string `xml:"error_message"`
	OrderID       string `xml:"order_id"`
	Type          string `xml:"type"`
	Custom1       string `xml:"custom1"`
	// BookingDate and IssueDate come with the date-range reports (the
	// documented example, e.g. type=chb).
	BookingDate string `xml:"booking_date"`
	IssueDate   string `xml:"issue_date"`
}

// latin1Reader is the encoding/xml CharsetReader: it accepts the
// ISO-8859-1 declaration payabl uses (and its aliases) and decodes to
// UTF-8; any other declared charset is refused rather than misread.
func latin1Reader(charset string, input io.Reader) (io.Reader, error) {
	switch strings.ToLower(charset) {
	case "iso-8859-1", "iso8859-1", "latin1", "latin-1", "l1", "iso_8859-1", "us-ascii", "ascii":
		b, err := io.ReadAll(input)
		if err != nil {
			return nil, err
		}
		var sb strings.Builder
		for _, c := range b {
			sb.WriteRune(rune(c))
		}
		return strings.NewReader(sb.String()), nil
	}
	return nil, fmt.Errorf("unsupported charset")
}

// parseDiagnose decodes a tx_diagnose reply. A non-zero process status is
// a provider error (the query itself failed: signature, permissions, a
// too-large range); the caller decides what no transaction means.
func parseDiagnose(body []byte) (*diagResponse, error) {
	dec := xml.NewDecoder(bytes.NewReader(body))
	dec.CharsetReader = latin1Reader
	var r diagResponse
	if err := dec.Decode(&r); err != nil {
		return nil, providers.Garbage("payabl tx_diagnose reply is not the expected XML")
	}
	r.Status = strings.TrimSpace(r.Status)
	r.ErrorMessage = strings.TrimSpace(r.ErrorMessage)
	for i := range r.Transactions {
		t := &r.Transactions[i]
		for _, f := range []*string{&t.TransactionID, &t.Amount, &t.Currency, &t.CreationDate, &t.ErrorCode, &t.ErrorMessage, &t.OrderID, &t.Type, &t.Custom1, &t.BookingDate, &t.IssueDate} {
			*f = strings.TrimSpace(*f)
		}
	}
	code, ok := parseCode(r.Status)
	if !ok {
		return nil, providers.Garbage("payabl tx_diagnose reply has no numeric process status")
	}
	if code != codeOK {
		if len(r.Transactions) == 0 && noMatch(r.ErrorMessage) {
			// Nothing matched: callers turn an empty result into NotFound.
			return &diagResponse{Status: r.Status, ErrorMessage: r.ErrorMessage}, nil
		}
		// A failed query is never a decline: only the retry hint of the
		// code table matters here.
		_, retry := isFault(code)
		return nil, providers.ProviderFault(r.Status, r.ErrorMessage, providers.SentYes, retry)
	}
	return &r, nil
}

// noMatch recognises a diagnose error that only says nothing matched.
// payabl does not document how tx_diagnose answers an unknown transaction;
// the most plausible reading (and the embedded sandbox's) is a non-zero
// process status (-6000) whose message says no transaction matches. The
// same code also reports a wrong signature, so the message decides: only
// a "no transaction / not found / no match" text means NotFound, anything
// else stays a provider error.
func noMatch(msg string) bool {
	m := strings.ToLower(msg)
	for _, s := range []string{"no transaction", "not found", "no match", "unknown transaction", "no data"} {
		if strings.Contains(m, s) {
			return true
		}
	}
	return false
}

// diagnose runs tx_diagnose with the given parameters.
func (p *Provider) diagnose(ctx context.Context, do providers.Doer, params url.Values) (*diagResponse, error) {
	body, err := p.call(ctx, do, opDiagnose, params)
	if err != nil {
		return nil, err
	}
	return parseDiagnose(body)
}

// diagnoseTx fetches one transaction by payabl transaction id; NotFound
// when payabl does not know it. what names the object for the message.
func (p *Provider) diagnoseTx(ctx context.Context, do providers.Doer, ref, what string) (*diagTx, error) {
	if !validTxID(ref) {
		return nil, providers.NotFound("no payabl %s with this id", what)
	}
	r, err := p.diagnose(ctx, do, url.Values{"type": {"tx"}, "transactionid": {ref}})
	if err != nil {
		return nil, err
	}
	for i := range r.Transactions {
		if r.Transactions[i].TransactionID == ref {
			return &r.Transactions[i], nil
		}
	}
	return nil, providers.NotFound("no payabl %s with this id", what)
}

// validTxID is the canonical grammar of a payabl transaction id:
// `[1-9][0-9]{0,49}` (numeric, at most 50 digits, reference §5; no leading
// zero, so one transaction has one spelling — the notification security
// covers it concatenated with other fields).
func validTxID(s string) bool { return allDigits(s) && len(s) <= 50 && s[0] != '0' }

// txKind classifies a diagnose transaction type. payabl documents the
// report types capture, chb, refund, retrieval_request and cft; what the
// per-transaction type of a Trustly pre-auth says is not documented, so
// anything that is not a refund, payout, chargeback or retrieval is taken
// to be the payment itself.
func txKind(t string) string {
	switch t = strings.ToLower(t); {
	case strings.Contains(t, "refund"):
		return "refund"
	case t == "cft" || strings.Contains(t, "credit_fund"):
		return "payout"
	case t == "chb" || strings.Contains(t, "chargeback") || strings.Contains(t, "retrieval") || strings.Contains(t, "reversal"):
		return "other"
	}
	return "payment"
}

// amount parses a diagnose amount into minor units of its currency.
func (t *diagTx) amount() (int64, string, error) {
	if !providers.ValidCurrency(t.Currency) {
		return 0, "", providers.Garbage("payabl tx_diagnose transaction has no valid currency")
	}
	a, err := providers.ParseMinor(t.Amount, t.Currency)
	if err != nil {
		return 0, "", providers.Garbage("payabl tx_diagnose amount is not a decimal amount")
	}
	return a, t.Currency, nil
}

// code parses error_code; ok is false when it is absent.
func (t *diagTx) code() (int, bool, error) {
	if t.ErrorCode == "" {
		return 0, false, nil
	}
	c, ok := parseCode(t.ErrorCode)
	if !ok {
		return 0, false, providers.Garbage("payabl tx_diagnose error_code is not a number")
	}
	return c, true, nil
}

// created parses creation_date; payabl's format is not documented beyond
// process_time ("13.02.2012 16:41:19"), so a few layouts are tried and an
// unknown one leaves the time zero (the host keeps its own).
func (t *diagTx) created() time.Time {
	for _, layout := range []string{"02.01.2006 15:04:05", "2006-01-02 15:04:05", time.RFC3339, "02.01.2006", "2006-01-02"} {
		if ts, err := time.Parse(layout, t.CreationDate); err == nil {
			return ts.UTC()
		}
	}
	return time.Time{}
}

// paymentFromTx maps a diagnose transaction to the canonical payment.
//
//	error_code 0    → processing, Confirms succeeded. payabl documents
//	                  error_code as "0-successful, 2000-pending" and the
//	                  Trustly notification "accepted, not yet credited" as
//	                  errorcode 0 with payment_state not_credited_yet;
//	                  nothing says what tx_diagnose reports between accepted
//	                  and credited, and the literal reading is 0. So a
//	                  fetched 0 alone never establishes success: the host
//	                  moves the payment to succeeded only with a verified
//	                  credited notification (issue 10, item 7).
//	error_code 2000 → requires_action. payabl's "pending" covers both
//	                  "the customer has not finished at Trustly yet" and
//	                  (under the other reading) "finished, funds not
//	                  credited"; the diagnose reply cannot tell them apart
//	                  (it has no payment_state), so the lowest-ranked
//	                  pending status is claimed: it never moves a payment
//	                  backwards, and a notification with payment_state
//	                  not_credited_yet moves it to processing.
//	negative/other  → failed
//	absent          → unknown
func (p *Provider) paymentFromTx(t *diagTx) (*providers.Payment, error) {
	amount, currency, err := t.amount()
	if err != nil {
		return nil, err
	}
	code, present, err := t.code()
	if err != nil {
		return nil, err
	}
	pay := &providers.Payment{
		Object:            "payment",
		ProviderReference: t.TransactionID,
		Reference:         fromLatin1(t.OrderID),
		Amount:            amount,
		Currency:          currency,
		ProviderStatus:    t.ErrorCode,
		ProviderMessage:   t.ErrorMessage,
		Test:              p.test,
		CreatedAt:         t.created(),
	}
	switch {
	case !present:
		pay.Status = providers.StatusUnknown
	case code == codeOK:
		pay.Status, pay.Confirms = providers.StatusProcessing, providers.StatusSucceeded
	case code == codePending:
		pay.Status = providers.StatusRequiresAction
	default:
		pay.Status = providers.StatusFailed
	}
	return pay, nil
}

// GetPayment implements providers.Provider via tx_diagnose type=tx. When
// payabl reports the payment approved (error_code 0, the only state a
// chargeback can follow), it also asks for chargebacks: tx_diagnose
// type=chb lists them by date range (reference §3.7), and one booked on
// this transaction sets Payment.Dispute.
func (p *Provider) GetPayment(ctx context.Context, do providers.Doer, ref string) (*providers.Payment, error) {
	t, err := p.diagnoseTx(ctx, do, ref, "payment")
	if err != nil {
		return nil, err
	}
	if txKind(t.Type) != "payment" {
		return nil, providers.NotFound("no payabl payment with this id")
	}
	pay, err := p.paymentFromTx(t)
	if err != nil {
		return nil, err
	}
	if pay.Confirms == providers.StatusSucceeded {
		// The chargeback report is an extra: when it fails (payabl
		// documents 504s on large ranges), the dispute stays unknown and
		// the payment's own status is still what the fetch established.
		if d, err := p.chargeback(ctx, do, ref, pay.CreatedAt); err == nil {
			pay.Dispute = d
		}
	}
	return pay, nil
}

// chbWindow is how far back the chargeback report looks: payabl asks to
// keep report ranges to about a month (large ranges time out with 504).
// The host fetches when a chb notification arrives, right after payabl
// booked the chargeback, so a month back from today covers it.
const chbWindow = 31 * 24 * time.Hour

// chargebackParams builds the tx_diagnose type=chb query: from the
// payment's creation (or a month back, whichever is later) to today.
func chargebackParams(created, now time.Time) url.Values {
	now = now.UTC()
	from := now.Add(-chbWindow)
	if created.After(from) && !created.After(now) {
		from = created.UTC()
	}
	return url.Values{
		"type":       {"chb"},
		"start_date": {from.Format("02.01.2006")},
		"end_date":   {now.Format("02.01.2006")},
	}
}

// chargeback returns the id of the latest chargeback booked on
// transaction ref, or "". payabl documents the chb report's rows with
// amount, booking_date, currency, issue_date, order_id and transaction_id,
// not which transaction_id a chargeback row carries; the most plausible
// reading (and the embedded sandbox's) is the charged-back payment's own,
// so rows are matched on it. The id is "chb_<transactionid>_<booking
// date digits>" (issue_date when booking_date is empty): stable across
// fetches, distinct per chargeback booked on another day. A report payabl
// refuses for lack of permission (a non-retryable fault) cannot tell, so
// it gives ""; any other failure is an error, which GetPayment turns into
// "no dispute known" (the payment itself stays readable).
func (p *Provider) chargeback(ctx context.Context, do providers.Doer, ref string, created time.Time) (string, error) {
	r, err := p.diagnose(ctx, do, chargebackParams(created, p.clock()))
	if err != nil {
		var e *providers.Error
		if errors.As(err, &e) && e.Type == providers.TypeProviderError && !e.Retryable &&
			e.Code == "provider_error" && e.RequestSent == providers.SentYes && e.ProviderCode != nil && !strings.HasPrefix(*e.ProviderCode, "http_") {
			return "", nil
		}
		return "", err
	}
	latest := ""
	for _, row := range r.Transactions {
		if row.TransactionID != ref || (row.Type != "" && row.Type != "chb") {
			continue
		}
		day := row.BookingDate
		if day == "" {
			day = row.IssueDate
		}
		id := "chb_" + ref
		if d := digitsOf(day); d != "" {
			id += "_" + d
		}
		if id > latest {
			latest = id
		}
	}
	return latest, nil
}

// digitsOf keeps the digits of s, reordered to sort by date when s is
// dd.mm.yyyy[ hh:mm:ss].
func digitsOf(s string) string {
	if t, err := time.Parse("02.01.2006 15:04:05", s); err == nil {
		return t.Format("20060102150405")
	}
	if t, err := time.Parse("02.01.2006", s); err == nil {
		return t.Format("20060102")
	}
	var b strings.Builder
	for i := 0; i < len(s) && b.Len() < 20; i++ {
		if s[i] >= '0' && s[i] <= '9' {
			b.WriteByte(s[i])
		}
	}
	return b.String()
}

// findWindow is how far back FindPayment looks: tx_diagnose by orderid
// needs a date range, payabl asks to keep ranges to about a month (large
// ranges time out with 504), and FindPayment exists to recover from a
// timeout moments ago. So the window is the last 31 days up to and
// including today (UTC); older payments are not found by reference.
const findWindow = 31 * 24 * time.Hour

// findParams builds the tx_diagnose type=orderid query for now.
func findParams(reference string, now time.Time) url.Values {
	now = now.UTC()
	return url.Values{
		"type":       {"orderid"},
		"orderid":    {reference},
		"start_date": {now.Add(-findWindow).Format("02.01.2006")},
		"end_date":   {now.Format("02.01.2006")},
	}
}

// FindPayment implements providers.Provider: tx_diagnose type=orderid over
// the last 31 days. orderid is not unique at payabl (a merchant may retry
// with the same reference), so of several payment transactions the most
// recent one (latest creation_date, then highest transaction id) wins.
func (p *Provider) FindPayment(ctx context.Context, do providers.Doer, reference string) (*providers.Payment, error) {
	if reference == "" {
		return nil, providers.Missing("reference")
	}
	if _, err := wireReference("reference", reference); err != nil {
		return nil, err
	}
	r, err := p.diagnose(ctx, do, findParams(reference, p.clock()))
	if err != nil {
		return nil, err
	}
	t := pickPayment(r.Transactions, reference)
	if t == nil {
		return nil, providers.NotFound("no payabl payment with this reference in the last 31 days")
	}
	return p.paymentFromTx(t)
}

// pickPayment chooses the payment transaction for reference among the
// diagnose results, or nil.
func pickPayment(txs []diagTx, reference string) *diagTx {
	var cands []*diagTx
	for i := range txs {
		t := &txs[i]
		if txKind(t.Type) != "payment" || !validTxID(t.TransactionID) {
			continue
		}
		if t.OrderID != "" && fromLatin1(t.OrderID) != reference {
			continue
		}
		cands = append(cands, t)
	}
	if len(cands) == 0 {
		return nil
	}
	sort.SliceStable(cands, func(i, j int) bool {
		ci, cj := cands[i].created(), cands[j].created()
		if !ci.Equal(cj) {
			return ci.After(cj)
		}
		return txIDLess(cands[j].TransactionID, cands[i].TransactionID)
	})
	return cands[0]
}

// txIDLess compares numeric transaction ids of any length.
func txIDLess(a, b string) bool {
	a, b = strings.TrimLeft(a, "0"), strings.TrimLeft(b, "0")
	if len(a) != len(b) {
		return len(a) < len(b)
	}
	return a < b
}
