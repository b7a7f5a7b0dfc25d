// Package payablnotify reads payabl.'s notifications the way a shop that
// integrates payabl. directly does: a form POST, checked with payabl.'s
// documented security (lowercase hex SHA-256 of transactionid + type +
// errorcode + timestamp + secret), answered "OK". It knows nothing of the
// gateway: behind caddy-payments in forward_format native it receives
// payabl.'s original notifications unchanged.
package payablnotify

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// Notification is what the shop uses of a payabl. notification.
type Notification struct {
	TransactionID string
	Type          string // capture, refund, cft, chb, …
	ErrorCode     string // "0" accepted, "2000" pending, anything else failed
	Timestamp     string
	PaymentState  string // Trustly: not_credited_yet, credited, not_credited
	OrderID       string
	Amount        string // major units, as payabl writes it ("19.99")
	Currency      string
	ErrorMessage  string
}

// ErrSecurity is a notification whose security does not match.
var ErrSecurity = errors.New("payabl notification: security does not match")

// Security is payabl.'s notification security over the signed fields.
func Security(transactionID, typ, errorCode, timestamp, secret string) string {
	sum := sha256.Sum256([]byte(transactionID + typ + errorCode + timestamp + secret))
	return hex.EncodeToString(sum[:])
}

// Parse reads a notification from a form body and checks its security
// with secret.
func Parse(body []byte, secret string) (*Notification, error) {
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, fmt.Errorf("payabl notification: %w", err)
	}
	n := &Notification{
		TransactionID: form.Get("transactionid"), Type: form.Get("type"), ErrorCode: form.Get("errorcode"),
		Timestamp: form.Get("timestamp"), PaymentState: form.Get("payment_state"), OrderID: form.Get("orderid"),
		Amount: form.Get("amount"), Currency: form.Get("currency"), ErrorMessage: form.Get("errormessage"),
	}
	want := Security(n.TransactionID, n.Type, n.ErrorCode, n.Timestamp, secret)
	got := strings.ToLower(form.Get("security"))
	if n.TransactionID == "" || subtle.ConstantTimeCompare([]byte(want), []byte(got)) != 1 {
		return nil, ErrSecurity
	}
	return n, nil
}

// ParseRequest reads a notification from r (at most 64 KiB).
func ParseRequest(r *http.Request, secret string) (*Notification, error) {
	if r.Method != http.MethodPost {
		return nil, fmt.Errorf("payabl notification: method %s", r.Method)
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 64<<10))
	if err != nil {
		return nil, err
	}
	return Parse(body, secret)
}

// Status is the shop's reading of a notification: "paid", "pending",
// "failed", "refunded", "chargeback" or "" for a type it ignores.
func (n *Notification) Status() string {
	switch n.Type {
	case "capture":
		switch {
		case n.ErrorCode == "2000", n.ErrorCode == "0" && n.PaymentState == "not_credited_yet":
			return "pending"
		case n.ErrorCode == "0" && n.PaymentState == "not_credited":
			return "failed"
		case n.ErrorCode == "0":
			return "paid"
		}
		return "failed"
	case "refund":
		if n.ErrorCode == "0" {
			return "refunded"
		}
	case "chb":
		return "chargeback"
	}
	return ""
}
