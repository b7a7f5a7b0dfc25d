package sandbox

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"math/big"
	"net/http"
	"slices"
	"strings"
)

// Razorpay speaks JSON both ways, authenticates with HTTP Basic and answers
// errors with one envelope (reference §1, §7):
//
//	{"error":{"code","description","source","step","reason","metadata","field"}}

// rzpError is one Razorpay error reply.
type rzpError struct {
	status      int
	code        string
	description string
	source      string
	step        string
	reason      string
	field       string
	metadata    map[string]string
}

// rzpBad is a 400 input validation error naming field, in the shape of the
// documented orders/create failure sample (source business, step
// payment_initiation, reason input_validation_failed).
func rzpBad(field, description string) *rzpError {
	return &rzpError{
		status:      http.StatusBadRequest,
		code:        "BAD_REQUEST_ERROR",
		description: description,
		source:      "business",
		step:        "payment_initiation",
		reason:      "input_validation_failed",
		field:       field,
	}
}

// rzpErrNA is a non-payment error: source, step and reason are "NA", as in
// Razorpay's authentication and rate-limit samples.
func rzpErrNA(status int, description string) *rzpError {
	return &rzpError{status: status, code: "BAD_REQUEST_ERROR", description: description, source: "NA", step: "NA", reason: "NA"}
}

// rzpNotFound is the documented answer for an unknown id.
func rzpNotFound() *rzpError {
	e := rzpErrNA(http.StatusBadRequest, "The id provided does not exist")
	e.reason = "input_validation_failed"
	return e
}

// rzpErrorBody is the wire form of the envelope. field is null when the
// error names no request field.
type rzpErrorBody struct {
	Error struct {
		Code        string            `json:"code"`
		Description string            `json:"description"`
		Source      string            `json:"source"`
		Step        string            `json:"step"`
		Reason      string            `json:"reason"`
		Metadata    map[string]string `json:"metadata"`
		Field       *string           `json:"field"`
	} `json:"error"`
}

// body renders e as its envelope.
func (e *rzpError) body() rzpErrorBody {
	var b rzpErrorBody
	b.Error.Code, b.Error.Description = e.code, e.description
	b.Error.Source, b.Error.Step, b.Error.Reason = e.source, e.step, e.reason
	b.Error.Metadata = e.metadata
	if b.Error.Metadata == nil {
		b.Error.Metadata = map[string]string{}
	}
	if e.field != "" {
		f := e.field
		b.Error.Field = &f
	}
	return b
}

// rzpWriteError sends e.
func rzpWriteError(w http.ResponseWriter, e *rzpError) error {
	return rzpWriteJSON(w, e.status, e.body())
}

// rzpMarshal is compact JSON without HTML escaping, as Razorpay sends it.
func rzpMarshal(v any) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		// Only our own entity types are marshalled; they always encode.
		panic("sandbox: razorpay: " + err.Error())
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}

// rzpWriteJSON sends v as compact JSON.
func rzpWriteJSON(w http.ResponseWriter, status int, v any) error {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, err := w.Write(rzpMarshal(v))
	return err
}

// authenticate checks "Authorization: Basic base64(key_id:key_secret)".
// The scheme is matched exactly: Razorpay rejects "BASIC" and "basic"
// (reference §1). Both halves are compared in constant time.
func (rz *razorpay) authenticate(r *http.Request) *rzpError {
	hdr := r.Header.Get("Authorization")
	if hdr == "" {
		return rzpErrNA(http.StatusUnauthorized, "Please provide your api key for authentication purposes.")
	}
	invalid := rzpErrNA(http.StatusUnauthorized, "The api key provided is invalid")
	enc, ok := strings.CutPrefix(hdr, "Basic ")
	if !ok {
		return invalid
	}
	raw, err := base64.StdEncoding.DecodeString(enc)
	if err != nil {
		return invalid
	}
	id, secret, _ := strings.Cut(string(raw), ":")
	idOK := subtle.ConstantTimeCompare([]byte(id), []byte(rz.keyID))
	secretOK := subtle.ConstantTimeCompare([]byte(secret), []byte(rz.keySecret))
	if idOK&secretOK != 1 {
		return invalid
	}
	return nil
}

// rzpSign is hex(HMAC-SHA256(key, msg)): the payment signature
// (key_secret, order_id|payment_id) and the webhook signature
// (webhook secret, raw body) of reference §8.
func rzpSign(key string, msg []byte) string {
	m := hmac.New(sha256.New, []byte(key))
	m.Write(msg)
	return hex.EncodeToString(m.Sum(nil))
}

// rzpBody is a decoded JSON request object; values stay raw so types can
// be checked exactly (an amount must be a JSON integer, not "100").
type rzpBody map[string]json.RawMessage

// rzpReadBody reads a JSON object. A malformed body, or an empty one
// unless allowEmpty, gets the documented 400 "EOF." (reference §7.2).
func rzpReadBody(w http.ResponseWriter, r *http.Request, allowEmpty bool) (rzpBody, *rzpError) {
	ct := r.Header.Get("Content-Type")
	if ct != "" && !strings.HasPrefix(strings.ToLower(ct), "application/json") {
		return nil, rzpBad("", "The request body must be JSON (Content-Type: application/json).")
	}
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		return nil, rzpBad("", "The request body is too large.")
	}
	if allowEmpty && len(bytes.TrimSpace(b)) == 0 {
		return rzpBody{}, nil
	}
	var body rzpBody
	if len(bytes.TrimSpace(b)) == 0 || json.Unmarshal(b, &body) != nil || body == nil {
		return nil, rzpBad("", "EOF.")
	}
	return body, nil
}

// extra rejects names outside allowed, like Razorpay's extra_field_sent.
func (b rzpBody) extra(allowed ...string) *rzpError {
	var names []string
	for k := range b {
		if !slices.Contains(allowed, k) {
			names = append(names, k)
		}
	}
	if len(names) == 0 {
		return nil
	}
	slices.Sort(names)
	list := strings.Join(names, ", ")
	e := rzpBad(list, list+" is/are not required and should not be sent")
	e.reason = "extra_field_sent"
	return e
}

// has reports whether name is present and not null.
func (b rzpBody) has(name string) bool {
	v, ok := b[name]
	return ok && string(v) != "null"
}

// str reads an optional string; present reports whether it was given.
func (b rzpBody) str(name string) (s string, present bool, e *rzpError) {
	if !b.has(name) {
		return "", false, nil
	}
	if json.Unmarshal(b[name], &s) != nil {
		return "", true, rzpBad(name, "The "+name+" must be a string.")
	}
	return s, true, nil
}

// integer reads an optional JSON integer literal. Strings ("100") and
// fractions (100.0) are refused, as Razorpay refuses them for amounts.
func (b rzpBody) integer(name string) (n int64, present bool, e *rzpError) {
	if !b.has(name) {
		return 0, false, nil
	}
	raw := strings.TrimSpace(string(b[name]))
	digits := strings.TrimPrefix(raw, "-")
	if digits == "" || strings.Trim(digits, "0123456789") != "" {
		return 0, true, rzpBad(name, "The "+name+" must be an integer.")
	}
	v, ok := new(big.Int).SetString(raw, 10)
	if !ok || !v.IsInt64() {
		return 0, true, rzpBad(name, "The "+name+" exceeds the maximum allowed.")
	}
	return v.Int64(), true, nil
}

// notes reads an optional notes object: at most 15 pairs, each value a
// string or number of at most 256 characters (reference §1).
func (b rzpBody) notes() (map[string]any, *rzpError) {
	if !b.has("notes") {
		return nil, nil
	}
	raw := bytes.TrimSpace(b["notes"])
	if string(raw) == "[]" { // Razorpay's own rendering of empty notes
		return nil, nil
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(raw, &m) != nil {
		return nil, rzpBad("notes", "The notes must be an object of key-value pairs.")
	}
	if len(m) > 15 {
		return nil, rzpBad("notes", "The notes may not have more than 15 items.")
	}
	out := make(map[string]any, len(m))
	for k, v := range m {
		var s string
		if json.Unmarshal(v, &s) != nil {
			var n json.Number
			dec := json.NewDecoder(bytes.NewReader(v))
			dec.UseNumber()
			if dec.Decode(&n) != nil {
				return nil, rzpBad("notes", "notes."+k+": the value must be a string or a number.")
			}
			s = n.String()
		}
		if len([]rune(s)) > 256 || len([]rune(k)) > 256 {
			return nil, rzpBad("notes", "notes."+k+" may not be greater than 256 characters.")
		}
		out[k] = s
	}
	return out, nil
}

// rzpNotes renders notes: an empty set is the array [] in Razorpay's
// samples, not {}.
func rzpNotes(m map[string]any) any {
	if len(m) == 0 {
		return []any{}
	}
	return m
}

// rzpID returns prefix + "_" + 14 random alphanumerics (reference §1).
func rzpID(prefix string) string {
	return prefix + "_" + rzpAlnum(14)
}

// rzpAlnum returns n random characters from [0-9A-Za-z].
func rzpAlnum(n int) string {
	const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	b := make([]byte, n)
	for i := range b {
		v, err := rand.Int(rand.Reader, big.NewInt(int64(len(alphabet))))
		if err != nil {
			panic("sandbox: crypto/rand failed: " + err.Error())
		}
		b[i] = alphabet[v.Int64()]
	}
	return string(b)
}

// isASCII reports whether s is printable 7-bit ASCII.
func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}
