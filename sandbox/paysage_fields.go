package sandbox

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Request decoding and validation. Messages are Rails-style, as beGateway
// (a Rails application) words them: "is missing", "can't be blank",
// "is invalid", "must be greater than 0", "is not included in the list".
// Unlike the real API, the sandbox also rejects keys it does not know
// ("is not allowed"): a misspelt or misplaced field (customer.ip instead of
// the top-level ip) would otherwise be dropped silently by both sides.

// psCurrencies are the only currencies of PaySage's Trustly ("DC") option.
var psCurrencies = []string{"DKK", "EUR", "GBP", "NOK", "SEK"}

// psMaxString is the documented string(255) limit.
const psMaxString = 255

var (
	psCountryRE  = regexp.MustCompile(`^[A-Z]{2}$`)
	psEmailRE    = regexp.MustCompile(`^[^@\s]+@[^@\s]+\.[^@\s]+$`)
	psLanguageRE = regexp.MustCompile(`^[a-z]{2}([-_][A-Za-z]{2})?$`)
	psIntegerRE  = regexp.MustCompile(`^-?[0-9]+$`)
)

// psBadRequest is a reply decided while reading the body.
type psBadRequest struct {
	status  int
	message string
	errs    psErrs
}

// readEnvelope reads a JSON body of the form {"request":{…}} and returns
// the request object and the errors found so far (other top-level keys),
// to which the caller adds the request's own. A missing or non-object
// "request", a non-JSON body or a wrong Content-Type is refused at once.
func readEnvelope(w http.ResponseWriter, r *http.Request) (map[string]json.RawMessage, psErrs, *psBadRequest) {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		return nil, nil, &psBadRequest{http.StatusUnsupportedMediaType, "Unsupported media type",
			psErrs{"base": []string{"Content-Type must be application/json"}}}
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, nil, &psBadRequest{http.StatusRequestEntityTooLarge, "Request entity too large",
				psErrs{"base": []string{"request body is too large"}}}
		}
		return nil, nil, &psBadRequest{http.StatusBadRequest, "Bad request", psErrs{"base": []string{"reading the request body failed"}}}
	}
	if !json.Valid(body) {
		return nil, nil, &psBadRequest{http.StatusBadRequest, "Bad request", psErrs{"base": []string{"request body is not valid JSON"}}}
	}
	errs := psErrs{}
	var top map[string]json.RawMessage
	if json.Unmarshal(body, &top) != nil {
		errs.add("is missing", "request")
		return nil, nil, &psBadRequest{http.StatusUnprocessableEntity, psUnprocessable, errs}
	}
	for _, k := range sortedKeys(top) {
		if k != "request" {
			errs.add("is not allowed", k)
		}
	}
	raw, ok := top["request"]
	var req map[string]json.RawMessage
	switch {
	case !ok || isNull(raw):
		errs.add("is missing", "request")
	case json.Unmarshal(raw, &req) != nil:
		errs.add("must be an object", "request")
	}
	if req == nil {
		return nil, nil, &psBadRequest{http.StatusUnprocessableEntity, psUnprocessable, errs}
	}
	return req, errs, nil
}

func (b *psBadRequest) write(w http.ResponseWriter) error {
	return writePaysageError(w, b.status, b.message, b.errs)
}

func isNull(raw json.RawMessage) bool { return string(bytes.TrimSpace(raw)) == "null" }

func sortedKeys(m map[string]json.RawMessage) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// psObject reads typed fields of one JSON object, recording errors at
// path in errs.
type psObject struct {
	m    map[string]json.RawMessage
	path []string
	errs psErrs
}

func (o *psObject) fail(name, msg string) {
	o.errs.add(msg, append(slices.Clone(o.path), name)...)
}

// only refuses every key not in allowed.
func (o *psObject) only(allowed ...string) {
	for _, k := range sortedKeys(o.m) {
		if !slices.Contains(allowed, k) {
			o.fail(k, "is not allowed")
		}
	}
}

// raw returns a present, non-null value.
func (o *psObject) raw(name string, required bool) (json.RawMessage, bool) {
	v, ok := o.m[name]
	if !ok || isNull(v) {
		if required {
			o.fail(name, "is missing")
		}
		return nil, false
	}
	return v, true
}

// str reads a string of at most max characters; a required one must not
// be blank.
func (o *psObject) str(name string, required bool, max int) string {
	v, ok := o.raw(name, required)
	if !ok {
		return ""
	}
	var s string
	if json.Unmarshal(v, &s) != nil {
		o.fail(name, "must be a string")
		return ""
	}
	if required && strings.TrimSpace(s) == "" {
		o.fail(name, "can't be blank")
		return ""
	}
	if !maxLen(s, max) {
		o.fail(name, "is too long (maximum is "+strconv.Itoa(max)+" characters)")
		return ""
	}
	return s
}

// object reads a nested object.
func (o *psObject) object(name string, required bool) *psObject {
	v, ok := o.raw(name, required)
	if !ok {
		return nil
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(v, &m) != nil {
		o.fail(name, "must be an object")
		return nil
	}
	return &psObject{m: m, path: append(slices.Clone(o.path), name), errs: o.errs}
}

// positiveInt reads a JSON integer (minor units) greater than 0. "500",
// 5.0 and 5e2 are refused: PaySage's amount is an integer.
func (o *psObject) positiveInt(name string, required bool) (int64, bool) {
	v, ok := o.raw(name, required)
	if !ok {
		return 0, false
	}
	s := string(bytes.TrimSpace(v))
	if !psIntegerRE.MatchString(s) {
		o.fail(name, "must be an integer")
		return 0, false
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		o.fail(name, "is too large")
		return 0, false
	}
	if n <= 0 {
		o.fail(name, "must be greater than 0")
		return 0, false
	}
	return n, true
}

// boolean reads an optional JSON boolean.
func (o *psObject) boolean(name string) bool {
	v, ok := o.raw(name, false)
	if !ok {
		return false
	}
	var b bool
	if json.Unmarshal(v, &b) != nil {
		o.fail(name, "must be a boolean")
	}
	return b
}

// absURL reads an absolute http(s) URL.
func (o *psObject) absURL(name string, required bool) string {
	s := o.str(name, required, 2048)
	if s == "" {
		return ""
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		o.fail(name, "is invalid")
		return ""
	}
	return s
}

// psPaymentReq is a validated payment request.
type psPaymentReq struct {
	Amount          int64
	Currency        string
	Description     string
	TrackingID      string
	Language        string
	IP              string
	ReturnURL       string
	NotificationURL string
	ExpiredAt       time.Time
	Cust            psCustomer
}

// checkPaymentRequest validates a Trustly payment request: the generic
// APM fields plus PaySage's Trustly page (return_url, method.type and
// customer first_name, last_name, country, external_id required).
func checkPaymentRequest(m map[string]json.RawMessage, errs psErrs, now time.Time) psPaymentReq {
	o := &psObject{m: m, path: []string{"request"}, errs: errs}
	o.only("amount", "currency", "description", "test", "expired_at", "tracking_id", "order_id", "ip", "language",
		"notification_url", "verification_url", "return_url", "customer", "method")
	var q psPaymentReq
	q.Amount, _ = o.positiveInt("amount", true)
	if q.Currency = o.str("currency", true, 3); q.Currency != "" && !slices.Contains(psCurrencies, q.Currency) {
		o.fail("currency", "is not included in the list")
	}
	q.Description = o.str("description", true, psMaxString)
	o.boolean("test")
	q.TrackingID = o.str("tracking_id", false, psMaxString)
	o.str("order_id", false, psMaxString)
	if q.Language = o.str("language", false, 10); q.Language != "" && !psLanguageRE.MatchString(q.Language) {
		o.fail("language", "is invalid")
	}
	if q.Language == "" {
		q.Language = "en"
	}
	if q.IP = o.str("ip", false, 64); q.IP != "" && net.ParseIP(q.IP) == nil {
		o.fail("ip", "is invalid")
	}
	q.ReturnURL = o.absURL("return_url", true)
	q.NotificationURL = o.absURL("notification_url", false)
	o.absURL("verification_url", false)
	if s := o.str("expired_at", false, 64); s != "" {
		at, err := time.Parse(time.RFC3339, s)
		switch {
		case err != nil:
			o.fail("expired_at", "is invalid")
		case !at.After(now):
			o.fail("expired_at", "must be in the future")
		default:
			q.ExpiredAt = at
		}
	}
	if meth := o.object("method", true); meth != nil {
		meth.only("type")
		if typ := meth.str("type", true, psMaxString); typ != "" && typ != "trustly" {
			meth.fail("type", "is not included in the list")
		}
	}
	if c := o.object("customer", true); c != nil {
		c.only("first_name", "last_name", "country", "external_id", "email", "phone", "city", "address", "zip", "birth_date")
		q.Cust.FirstName = c.str("first_name", true, psMaxString)
		q.Cust.LastName = c.str("last_name", true, psMaxString)
		if q.Cust.Country = c.str("country", true, 2); q.Cust.Country != "" && !psCountryRE.MatchString(q.Cust.Country) {
			c.fail("country", "is invalid")
		}
		q.Cust.ExternalID = c.str("external_id", true, psMaxString)
		if q.Cust.Email = c.str("email", false, psMaxString); q.Cust.Email != "" && !psEmailRE.MatchString(q.Cust.Email) {
			c.fail("email", "is invalid")
		}
		q.Cust.Phone = c.str("phone", false, 100)
		q.Cust.City = c.str("city", false, psMaxString)
		q.Cust.Address = c.str("address", false, psMaxString)
		q.Cust.Zip = c.str("zip", false, 32)
		if q.Cust.Birth = c.str("birth_date", false, 10); q.Cust.Birth != "" {
			if d, err := time.Parse(time.DateOnly, q.Cust.Birth); err != nil || d.After(now) {
				c.fail("birth_date", "is invalid")
			}
		}
	}
	return q
}

// psRefundReq is a validated refund request. Amount 0 means "the whole
// remaining amount" (amount is optional in the APM refund table).
type psRefundReq struct {
	ParentUID  string
	Amount     int64
	Reason     string
	TrackingID string
}

// checkRefundRequest validates {parent_uid, amount, reason, tracking_id}.
func checkRefundRequest(m map[string]json.RawMessage, errs psErrs) psRefundReq {
	o := &psObject{m: m, path: []string{"request"}, errs: errs}
	o.only("parent_uid", "amount", "reason", "tracking_id")
	var q psRefundReq
	q.ParentUID = o.str("parent_uid", true, psMaxString)
	q.Amount, _ = o.positiveInt("amount", false)
	q.Reason = o.str("reason", true, psMaxString)
	q.TrackingID = o.str("tracking_id", false, psMaxString)
	return q
}
