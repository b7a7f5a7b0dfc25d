package payabl

import (
	"net/url"
	"strconv"

	"github.com/caddy-payments/caddy-payments/providers"
)

// formReply is a synchronous backoffice reply (payment_preauthorize,
// payment_refund, payment_cft): form-encoded key=value pairs (reference
// §3, §6). Legacy duplicates (transid, errmsg, price) fill gaps only.
type formReply struct {
	Status        int
	StatusRaw     string
	Message       string
	TransactionID string
	Amount        string
	Currency      string
	OrderID       string
	RedirectURL   string
}

// parseFormReply decodes a synchronous reply once (redirect_url arrives
// percent-encoded and must not be decoded twice, reference §3.2). A body
// that is not a form, or has no integer status, is garbage: the request
// was sent but its outcome is unknown.
func parseFormReply(body []byte) (*formReply, error) {
	v, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, providers.Garbage("payabl reply is not form-encoded")
	}
	get := func(names ...string) string {
		for _, n := range names {
			if s := v.Get(n); s != "" {
				return fromLatin1(s)
			}
		}
		return ""
	}
	r := &formReply{
		StatusRaw:     get("status"),
		Message:       get("errormessage", "errmsg"),
		TransactionID: get("transactionid", "transid"),
		Amount:        get("amount", "price"),
		Currency:      get("currency"),
		OrderID:       get("orderid"),
		RedirectURL:   get("redirect_url"),
	}
	code, ok := parseCode(r.StatusRaw)
	if !ok {
		return nil, providers.Garbage("payabl reply has no numeric status")
	}
	r.Status = code
	return r, nil
}

// failure returns the canonical error for a reply that is neither approved
// nor pending.
func (r *formReply) failure() error {
	return codeError(r.Status, r.Message)
}

// checkEcho verifies that the amount and currency payabl echoes (when it
// does) are the ones sent: a mismatch means the reply is about something
// else and must not be trusted.
func (r *formReply) checkEcho(amount int64, currency string) error {
	if r.Currency != "" && r.Currency != currency {
		return providers.Garbage("payabl reply names another currency")
	}
	if r.Amount != "" {
		got, err := providers.ParseMinor(r.Amount, currency)
		if err != nil {
			return providers.Garbage("payabl reply amount is not a decimal amount")
		}
		if got != amount {
			return providers.Garbage("payabl reply names another amount (" + strconv.FormatInt(got, 10) + " minor units)")
		}
	}
	return nil
}
