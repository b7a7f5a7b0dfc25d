package payabl

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/caddy-payments/caddy-payments/providers"
	"github.com/caddy-payments/caddy-payments/providers/internal/eventjson"
)

// signedFields are the only notification fields payabl's security covers,
// in signing order (reference §2.1: fixed order, not alphabetical).
var signedFields = []string{"transactionid", "type", "errorcode", "timestamp"}

// notificationSecurity computes the SHA-256 security of a notification:
// lowercase hex of SHA-256(transactionid+type+errorcode+timestamp+secret).
func notificationSecurity(transactionID, typ, errorCode, timestamp, secret string) string {
	sum := securityDigest(transactionID, typ, errorCode, timestamp, secret)
	return hex.EncodeToString(sum[:])
}

// securityDigest is the SHA-256 digest whose hex is notificationSecurity.
func securityDigest(transactionID, typ, errorCode, timestamp, secret string) [sha256.Size]byte {
	h := sha256.New()
	for _, s := range []string{transactionID, typ, errorCode, timestamp, secret} {
		h.Write([]byte(s))
	}
	var sum [sha256.Size]byte
	h.Sum(sum[:0])
	return sum
}

// maskedFields are bank account fields that are masked to the last four
// characters in ProviderEvent.
var maskedFields = map[string]bool{
	"account_number": true, "accountnumber": true, "iban": true,
	"bank_number": true, "banknumber": true, "ccn": true,
}

// secretFields never leave the package: the signature, and anything that
// could carry credentials.
var secretFields = map[string]bool{"security": true, "signature": true, "secret": true, "password": true}

// isHex reports whether s is n lowercase or uppercase hex digits.
func isHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil
}

// unauthenticated wraps ErrUnauthenticated with a reason that names no
// value from the notification.
func unauthenticated(reason string) error {
	return fmt.Errorf("payabl: %s: %w", reason, providers.ErrUnauthenticated)
}

// Grammars of the signed notification fields. payabl's security is a
// SHA-256 over transactionid+type+errorcode+timestamp+secret with no
// separators, so a notification is only accepted when every signed field
// is in its one canonical form; with these grammars a signed string splits
// into the four fields in exactly one way (transactionid is digits, type
// is letters and '_', errorcode starts with a digit or '-', timestamp is
// the last ten digits), and no character can be moved across a boundary:
//
//	transactionid  [1-9][0-9]{0,49}            numeric, at most 50 digits (reference §5), no leading zero
//	type           capture | refund | cft | chb | retrieval_request | pending | failed
//	                                           the documented types (reference §4.2), lowercase, exactly
//	errorcode      0 | -?[1-9][0-9]{0,9}        canonical integer: no leading zero, no '+', no "-0"
//	timestamp      [1-9][0-9]{9}               Unix seconds, exactly ten digits (2001-09-09 … 2286-11-20)
//
// A notification whose signed fields do not match is refused
// (ErrUnauthenticated) before its security is even computed.
var knownTypes = map[string]bool{
	"capture": true, "refund": true, "cft": true, "chb": true, "retrieval_request": true,
	// Constants of payabl's PHP SDK, semantics undocumented: accepted
	// (they are payabl's words), mapped to no event.
	"pending": true, "failed": true,
}

// canonicalTimestamp: exactly ten digits, no leading zero.
func canonicalTimestamp(s string) bool { return len(s) == 10 && s[0] != '0' && allDigits(s) }

// checkSigned checks the grammar of every signed field and names the
// first that is not canonical (never its value).
func checkSigned(txid, typ, code, ts string) error {
	switch {
	case !validTxID(txid):
		return unauthenticated("transactionid is not canonical ([1-9][0-9]{0,49})")
	case !knownTypes[typ]:
		return unauthenticated("type is not one of payabl's documented lowercase types")
	case !canonicalCode(code):
		return unauthenticated("errorcode is not a canonical integer (0 or -?[1-9][0-9]{0,9})")
	case !canonicalTimestamp(ts):
		return unauthenticated("timestamp is not ten digits of Unix seconds")
	}
	return nil
}

// MaxAge is how long payabl may take to deliver a notification: its
// documented Auto-Retry Callback retries every 2 hours and stops after 3
// days (reference §6, D-retry). A notification whose signed timestamp is
// older is never forwarded on its own (the host confirms it by a fetch).
const MaxAge = 72 * time.Hour

// VerifyNotification implements providers.Provider. The form body is
// parsed once. A 64-hex security must equal the SHA-256 over the signed
// fields under one of the account's secrets (each compared with
// subtle.ConstantTimeCompare, all of them always, so the time does not say which one
// matched), and every signed field must be canonical (see knownTypes); a
// 40-hex security (seen on payout failure notifications, algorithm
// undocumented) cannot be checked and gives a notification that trusts
// nothing, so the host asks payabl itself; anything else is
// ErrUnauthenticated.
func (p *Provider) VerifyNotification(n *providers.IncomingNotification) (*providers.Notification, error) {
	if n == nil {
		return nil, unauthenticated("empty notification")
	}
	form, err := url.ParseQuery(string(n.Body))
	if err != nil {
		return nil, unauthenticated("body is not form-encoded")
	}
	// A signed field given twice could be read differently by the
	// verifier and by the code that acts on it: refuse.
	if len(form["security"]) > 1 {
		return nil, unauthenticated("security is repeated")
	}
	for _, k := range signedFields {
		if len(form[k]) > 1 {
			return nil, unauthenticated(k + " is repeated")
		}
	}
	security := strings.ToLower(form.Get("security"))
	txid, typ, code, ts := form.Get("transactionid"), form.Get("type"), form.Get("errorcode"), form.Get("timestamp")
	switch {
	case security == "":
		return nil, unauthenticated("security is missing")
	case isHex(security, 40):
		// Undocumented scheme: nothing is trusted, but the notification
		// names a transaction the host can look up with its own
		// credentials.
		if !validTxID(txid) || !knownTypes[typ] {
			return nil, unauthenticated("unverifiable notification without a canonical transactionid and type")
		}
		out := normalise(form)
		// Nothing is signed: every claim stays Unsigned, no time is
		// stated, and no event key comes from these fields (the host
		// builds it from what its fetch establishes).
		out.Trust = providers.Claims{}
		out.EventKey = ""
		out.At, out.MaxAge = time.Time{}, 0
		return out, nil
	case !isHex(security, 64):
		return nil, unauthenticated("security is not a SHA-256 hex digest")
	}
	if txid == "" || typ == "" || code == "" || ts == "" {
		return nil, unauthenticated("a signed field is missing")
	}
	if err := checkSigned(txid, typ, code, ts); err != nil {
		return nil, err
	}
	// security is 64 hex digits (checked above): its bytes equal a digest
	// exactly when its lowercase hex equals notificationSecurity.
	got, err := hex.DecodeString(security)
	if err != nil || len(got) != sha256.Size {
		return nil, unauthenticated("security is not a SHA-256 hex digest")
	}
	match := 0
	for _, secret := range p.secrets {
		want := securityDigest(txid, typ, code, ts, secret)
		match |= subtle.ConstantTimeCompare(want[:], got)
	}
	if match != 1 {
		return nil, unauthenticated("security does not match")
	}
	return normalise(form), nil
}

// normalise maps a notification's fields to the canonical notification
// (reference §8, PRODUCT "Notifications" 3). Only transactionid, type,
// errorcode and timestamp are signed; payment_state, amount, currency and
// orderid are hints, so a status that rests on payment_state is an
// Unsigned claim (the host confirms it by a fetch).
//
//	capture (the payment):
//	  errorcode 0 + payment_state not_credited_yet → payment.processing (the signed 0 says at least that)
//	  errorcode 0 + payment_state credited         → payment.succeeded (Unsigned)
//	  errorcode 0 + payment_state not_credited     → payment.failed (Unsigned)
//	  errorcode 0 + other payment_state            → payment.processing (Unsigned)
//	  errorcode 0 without payment_state            → payment.succeeded (Unsigned)
//	  errorcode 2000                               → payment.processing
//	  any other errorcode (signed)                 → payment.failed
//	chb                                            → payment.disputed
//	refund: 0 → refund.succeeded, 2000 → refund.pending, else refund.failed
//	cft:    0 → payout.succeeded, 2000 → payout.processing, else payout.failed
//	anything else                                  → no event ("")
func normalise(form url.Values) *providers.Notification {
	txid, typ, codeRaw, ts := form.Get("transactionid"), form.Get("type"), form.Get("errorcode"), form.Get("timestamp")
	out := &providers.Notification{
		ProviderRef:     txid,
		Reference:       fromLatin1(form.Get("orderid")),
		ProviderStatus:  codeRaw,
		ProviderMessage: fromLatin1(form.Get("errormessage")),
		// transactionid, type, errorcode and timestamp are covered by
		// the security; orderid, amount, currency and payment_state are
		// not.
		Trust: providers.Claims{Object: providers.SignedFields, Status: providers.SignedFields,
			Amount: providers.Unsigned, Reference: providers.Unsigned, Time: providers.SignedFields},
		EventKey:      eventKey(txid, typ, codeRaw, ts),
		ProviderEvent: providerEvent(form),
		MaxAge:        MaxAge,
	}
	// The signed timestamp (Unix seconds) is the time the notification
	// states; VerifyNotification has checked its grammar.
	if sec, err := strconv.ParseInt(ts, 10, 64); err == nil && canonicalTimestamp(ts) {
		out.At = time.Unix(sec, 0).UTC()
	}
	if cur := form.Get("currency"); providers.ValidCurrency(cur) {
		if a, err := providers.ParseMinor(form.Get("amount"), cur); err == nil {
			out.Amount, out.Currency = a, cur
		}
	}
	code, ok := parseCode(codeRaw)
	if !ok {
		return out
	}
	switch typ {
	case "capture":
		out.Object = "payment"
		mapPayment(out, code, form)
	case "chb":
		out.Object = "payment"
		out.EventType, out.Status = "payment.disputed", ""
	case "refund":
		out.Object = "refund"
		switch code {
		case codeOK:
			out.EventType, out.Status = "refund.succeeded", providers.RefundSucceeded
		case codePending:
			out.EventType, out.Status = "refund.pending", providers.RefundPending
		default:
			out.EventType, out.Status = "refund.failed", providers.RefundFailed
		}
	case "cft":
		out.Object = "payout"
		switch code {
		case codeOK:
			out.EventType, out.Status = "payout.succeeded", providers.PayoutSucceeded
		case codePending:
			out.EventType, out.Status = "payout.processing", providers.PayoutProcessing
		default:
			out.EventType, out.Status = "payout.failed", providers.PayoutFailed
		}
	}
	return out
}

// eventKey builds the notification's dedupe key from the signed fields
// only: transactionid|type|errorcode|timestamp. payment_state, amount and
// currency are unsigned and never part of it, so an altered replay of a
// genuine notification cannot mint a new key. Two genuine notifications of
// one payment (not_credited_yet, then credited) differ in their signed
// timestamp; the gateway's event id also includes the event type, which
// for credited comes from a tx_diagnose fetch.
func eventKey(txid, typ, code, ts string) string {
	return strings.Join([]string{txid, typ, code, ts}, "|")
}

// mapPayment fills the payment event from errorcode and payment_state.
func mapPayment(out *providers.Notification, code int, form url.Values) {
	// onState marks a status that rests on the unsigned payment_state.
	set := func(ev string, st providers.Status, onState bool) {
		out.EventType, out.Status = ev, string(st)
		if onState {
			out.Trust.Status = providers.Unsigned
		}
	}
	switch code {
	case codeOK:
		_, hasState := form["payment_state"]
		switch state := form.Get("payment_state"); {
		case !hasState || state == "":
			set("payment.succeeded", providers.StatusSucceeded, true)
		case state == "not_credited_yet":
			// The signed errorcode 0 says "accepted": processing is the
			// least it means, so this claim rests on signed fields.
			set("payment.processing", providers.StatusProcessing, false)
		case state == "credited":
			set("payment.succeeded", providers.StatusSucceeded, true)
		case state == "not_credited":
			set("payment.failed", providers.StatusFailed, true)
		default:
			set("payment.processing", providers.StatusProcessing, true)
		}
	case codePending:
		set("payment.processing", providers.StatusProcessing, false)
	default:
		set("payment.failed", providers.StatusFailed, false)
	}
}

// providerEvent is the notification's own fields for the forwarded event,
// as one JSON object: security and anything secret removed, bank account
// numbers masked, values decoded from Latin-1 where they are not UTF-8.
// Only the signed fields (transactionid, type, errorcode, timestamp) stand
// at the top; every other field (payment_state, amount, orderid, …) is
// under "unsigned", so nothing inside the gateway-signed event passes an
// unsigned value off as payabl's word. A field given once is a string, a
// repeated one an array of strings; members are in byte-wise order of
// their names (as encoding/json writes a map). Nil when nothing is left.
func providerEvent(form url.Values) json.RawMessage {
	var stack [32]string
	keys, size := stack[:0], 32
	for k, vs := range form {
		if secretFields[strings.ToLower(k)] {
			continue
		}
		keys = append(keys, k)
		size += len(k) + 8
		for _, v := range vs {
			size += len(v) + 4
		}
	}
	if len(keys) == 0 {
		return nil
	}
	slices.Sort(keys)
	b := make([]byte, 0, size)
	b = append(b, '{')
	unsigned := 0
	for _, k := range keys {
		if !slices.Contains(signedFields, k) {
			unsigned++
			continue
		}
		b = appendField(b, k, form[k])
	}
	if unsigned > 0 {
		if len(b) > 1 {
			b = append(b, ',')
		}
		b = append(b, `"unsigned":{`...)
		for _, k := range keys {
			if !slices.Contains(signedFields, k) {
				b = appendField(b, k, form[k])
			}
		}
		b = append(b, '}')
	}
	return append(b, '}')
}

// appendField appends one member "k":value to the object being built in
// b (with the comma before it when it is not the first): the value is
// decoded from Latin-1 and masked when k names an account number; one
// value is a string, several an array of strings.
func appendField(b []byte, k string, vs []string) []byte {
	if c := b[len(b)-1]; c != '{' {
		b = append(b, ',')
	}
	b = eventjson.AppendString(b, k)
	b = append(b, ':')
	masked := maskedFields[strings.ToLower(k)]
	if len(vs) != 1 {
		b = append(b, '[')
	}
	for i, v := range vs {
		if i > 0 {
			b = append(b, ',')
		}
		v = fromLatin1(v)
		if masked {
			v = providers.MaskAccount(v)
		}
		b = eventjson.AppendString(b, v)
	}
	if len(vs) != 1 {
		b = append(b, ']')
	}
	return b
}

// Acknowledge implements providers.Provider: payabl wants HTTP 200 with
// the body "OK" ("Anything other than OK will be regarded as failed").
func (p *Provider) Acknowledge(w http.ResponseWriter) error {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	_, err := w.Write([]byte("OK"))
	return err
}
