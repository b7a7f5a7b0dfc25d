package paysage

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/tidwall/gjson"

	"github.com/caddy-payments/caddy-payments/providers"
	"github.com/caddy-payments/caddy-payments/providers/internal/replyjson"
)

// transaction is the part of PaySage's transaction object the gateway
// reads (reference §4.1, §6; seed 003 response example). Everything else
// is ignored here and kept, for webhooks, in ProviderEvent.
type transaction struct {
	UID         string          `json:"uid"`
	ParentUID   string          `json:"parent_uid"`
	Type        string          `json:"type"`
	Status      string          `json:"status"`
	Amount      json.RawMessage `json:"amount"` // a bare JSON integer; "100" in quotes is refused
	Currency    string          `json:"currency"`
	TrackingID  string          `json:"tracking_id"`
	Message     string          `json:"message"`
	CreatedAt   string          `json:"created_at"`
	UpdatedAt   string          `json:"updated_at"`
	Test        bool            `json:"test"`
	Payment     *subStatus      `json:"payment"`
	Refund      *subStatus      `json:"refund"`
	Form        *form           `json:"form"`
	amountMinor int64
}

// subStatus is the provider-level section (payment{…} or refund{…}).
type subStatus struct {
	Status  string `json:"status"`
	Message string `json:"message"`
}

// form is where the customer is sent: form.action with form.method, and
// form.fields when the page wants a POSTed form (reference §4.1).
type form struct {
	Action string          `json:"action"`
	Method string          `json:"method"`
	Fields json.RawMessage `json:"fields"`
}

// message returns the transaction's message, falling back to the
// provider-level one.
func (t *transaction) message() string {
	if t.Message != "" {
		return t.Message
	}
	if t.Payment != nil && t.Payment.Message != "" {
		return t.Payment.Message
	}
	if t.Refund != nil {
		return t.Refund.Message
	}
	return ""
}

// created parses created_at (RFC 3339); zero when absent or malformed (the
// host then uses its own clock).
func (t *transaction) created() time.Time {
	c, err := time.Parse(time.RFC3339, t.CreatedAt)
	if err != nil {
		return time.Time{}
	}
	return c.UTC()
}

// stated is the time the transaction says it last changed: updated_at
// (PaySage sends a webhook on each change of status, so this is when the
// webhook's news happened), else created_at; zero when neither parses.
func (t *transaction) stated() time.Time {
	if u, err := time.Parse(time.RFC3339, t.UpdatedAt); err == nil {
		return u.UTC()
	}
	return t.created()
}

// check validates the fields every use relies on: an opaque uid, a
// status, a non-negative integer amount in minor units and an upper-case
// ISO currency. PaySage sends amounts as JSON integers; anything else
// ("5.00", 5e2, a negative) could silently change an amount and is garbage.
func (t *transaction) check() error {
	if !validUID(t.UID) {
		return providers.Garbage("PaySage transaction has no usable uid")
	}
	if t.Status == "" {
		return providers.Garbage("PaySage transaction has no status")
	}
	a, err := strconv.ParseInt(string(t.Amount), 10, 64)
	if err != nil || a < 0 {
		return providers.Garbage("PaySage transaction amount is not an integer number of minor units")
	}
	t.amountMinor = a
	if !providers.ValidCurrency(t.Currency) {
		return providers.Garbage("PaySage transaction currency is not an ISO 4217 code")
	}
	return nil
}

// validUID accepts PaySage transaction ids: UUIDs on the APM side, older
// "1-310b0da80b" ids on the card side (reference §4.1). It is used before
// a uid goes into a URL path, so only letters, digits, '-' and '_' pass.
func validUID(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// envelope is any PaySage reply: a transaction, a list of transactions
// (lookup by tracking_id), or an error in one of its shapes (reference
// §4.3): {"message","errors"}, the legacy {"response":{"message","errors"}}.
type envelope struct {
	Transaction  json.RawMessage `json:"transaction"`
	Transactions json.RawMessage `json:"transactions"`
	Message      json.RawMessage `json:"message"`
	Errors       json.RawMessage `json:"errors"`
	Response     json.RawMessage `json:"response"`

	// The same members as decodeEnvelope read them (gjson), so that a
	// transaction is not parsed twice; zero when read by encoding/json.
	transaction, transactions, message, errors, response gjson.Result
}

// present reports whether a raw JSON member is there and not null.
func present(raw json.RawMessage) bool {
	s := bytes.TrimSpace(raw)
	return len(s) > 0 && string(s) != "null"
}

// parseTransaction decodes and checks one transaction object.
func parseTransaction(raw json.RawMessage) (*transaction, error) {
	v, ok := replyjson.Parse(raw)
	if !ok {
		return nil, providers.Garbage("PaySage transaction is not the documented object")
	}
	return checkedTransaction(v)
}

// checkedTransaction decodes and checks one transaction object read by
// gjson.
func checkedTransaction(v gjson.Result) (*transaction, error) {
	var t transaction
	if !decodeTransaction(&t, v) {
		return nil, providers.Garbage("PaySage transaction is not the documented object")
	}
	if err := t.check(); err != nil {
		return nil, err
	}
	return &t, nil
}

// transactionOf is the transaction member of env, read by gjson once
// (decodeEnvelope) or, for an envelope encoding/json read, now.
func (e *envelope) transactionOf() (*transaction, error) {
	if e.transaction.Exists() {
		return checkedTransaction(e.transaction)
	}
	return parseTransaction(e.Transaction)
}

// nextAction converts form into the canonical next action: a GET redirect
// to form.action (form fields, if any, added to its query), or a POST
// whose fields are converted to a name → value object. fields may come as
// an array of {"name","value"} objects, an array of [name, value] pairs,
// or an object; values that are not strings keep their JSON text.
func (f *form) nextAction() (*providers.NextAction, error) {
	u, err := url.Parse(f.Action)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, providers.Garbage("PaySage form.action is not an absolute http(s) URL")
	}
	fields, err := formFields(f.Fields)
	if err != nil {
		return nil, err
	}
	switch strings.ToUpper(f.Method) {
	case "", http.MethodGet:
		if len(fields) > 0 {
			q := u.Query()
			for k, v := range fields {
				q.Set(k, v)
			}
			u.RawQuery = q.Encode()
		}
		// net/url can print a URL it will not parse back (an IPv6 zone
		// holding non-ASCII), which is no place to send the customer.
		s := u.String()
		if !absoluteHTTP(s) {
			return nil, providers.Garbage("PaySage form.action is not an absolute http(s) URL")
		}
		return &providers.NextAction{Type: "redirect", URL: s, Method: http.MethodGet}, nil
	case http.MethodPost:
		na := &providers.NextAction{Type: "redirect", URL: f.Action, Method: http.MethodPost}
		if len(fields) > 0 {
			na.Fields = fields
		}
		return na, nil
	}
	return nil, providers.Garbage("PaySage form.method is neither GET nor POST")
}

// formFields reads form.fields in any of its plausible shapes.
func formFields(raw json.RawMessage) (map[string]string, error) {
	if !present(raw) {
		return nil, nil
	}
	bad := providers.Garbage("PaySage form.fields is neither a list of name/value pairs nor an object")
	out := map[string]string{}
	var obj map[string]json.RawMessage
	if json.Unmarshal(raw, &obj) == nil {
		for k, v := range obj {
			out[k] = jsonText(v)
		}
		return out, nil
	}
	var list []json.RawMessage
	if json.Unmarshal(raw, &list) != nil {
		return nil, bad
	}
	for _, item := range list {
		var nv struct {
			Name  *string         `json:"name"`
			Value json.RawMessage `json:"value"`
		}
		var pair []json.RawMessage
		switch {
		case json.Unmarshal(item, &nv) == nil && nv.Name != nil:
			out[*nv.Name] = jsonText(nv.Value)
		case json.Unmarshal(item, &pair) == nil && len(pair) == 2:
			var name string
			if json.Unmarshal(pair[0], &name) != nil {
				return nil, bad
			}
			out[name] = jsonText(pair[1])
		default:
			return nil, bad
		}
	}
	return out, nil
}

// jsonText is a JSON value as form text: strings unquoted, null empty,
// anything else its JSON literal.
func jsonText(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	if !present(raw) {
		return ""
	}
	return strings.TrimSpace(string(raw))
}
