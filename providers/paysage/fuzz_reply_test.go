package paysage

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"net/url"
	"reflect"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/caddy-payments/caddy-payments/providers"
)

// Fuzz targets for the parsers of PaySage's replies (and of the body kept
// as ProviderEvent). Every target seeds itself with the real fixtures
// (testdata/seed, testdata/replies, the reply bodies of the unit tests)
// and the hostile inputs of fzNasty; testdata/fuzz/<Target> holds a
// handful more. Besides "no panic", each checks what the gateway relies
// on: a result or a canonical *providers.Error, never both; an error whose
// request_sent fits a reply that was received; canonical statuses; amounts
// that are exactly the reply's integer (never a truncated 19.99); bounded
// provider text; and the same answer twice for the same input.

// fzTx is a transaction reply with the given amount literal and extra
// members (each starting with a comma).
func fzTx(status, amount, extra string) string {
	return `{"transaction":{"uid":"` + seedUID + `","type":"payment","status":"` + status +
		`","amount":` + amount + `,"currency":"EUR","tracking_id":"ORD-1001","message":"m"` + extra + `}}`
}

// fzForm is a form.action good enough for paymentFromCreate.
const fzForm = `,"form":{"action":"https://checkout.paysage.io/p","method":"GET","fields":[]}`

// fzNasty are bodies no parser may choke on: not JSON, wrong types, amounts
// that are not integers (19.99, "100", 1e400, -1, beyond int64), nesting
// past every depth cap, invalid UTF-8, duplicate and case-folded keys, an
// error map wider than the leaf cap and keys longer than the path cap.
// They are kept small so that the fuzzer's baseline and minimisation stay
// quick; fzBig holds the large ones, run by TestReplyParsersOnBigInputs.
func fzNasty() []string {
	var wide strings.Builder
	wide.WriteString(`{"message":"m","errors":{"` + strings.Repeat("k", 300) + `":["x"],"request":{"` + strings.Repeat("q", 150) + `":{`)
	for i := 0; i < 70; i++ {
		if i > 0 {
			wide.WriteString(",")
		}
		fmt.Fprintf(&wide, `"%d":["x"]`, i)
	}
	wide.WriteString("}}}}")
	deepArr := strings.Repeat("[", 100) + strings.Repeat("]", 100)
	deepObj := strings.Repeat(`{"a":`, 30) + `["x"]` + strings.Repeat("}", 30)
	return []string{
		"", " ", "not json", "null", "true", "0", `"x"`, "[]", "{}", "{", `{"transaction":`,
		"\xff\xfe\xfd", "<html><body>502 Bad Gateway</body></html>",
		`{"transaction":null}`, `{"transaction":{}}`, `{"transaction":[]}`, `{"transaction":"x"}`,
		`{"transactions":null}`, `{"transactions":{}}`, `{"transactions":[null]}`, `{"transactions":[1,2]}`,
		fzTx("pending", "500", fzForm),
		fzTx("successful", "500", ""),
		fzTx("failed", "500", ""),
		fzTx("incomplete", "500", fzForm),
		fzTx("error", "500", ""),
		fzTx("expired", "500", ""),
		fzTx("successful", "19.99", ""),
		fzTx("successful", "5.00", ""),
		fzTx("successful", `"100"`, ""),
		fzTx("successful", `"19.99"`, ""),
		fzTx("successful", `"\u0035\u0030\u0030"`, ""),
		fzTx("successful", "1e400", ""),
		fzTx("successful", "5e2", ""),
		fzTx("successful", "-1", ""),
		fzTx("successful", "-0", ""),
		fzTx("successful", "0", ""),
		fzTx("successful", "9223372036854775807", ""),
		fzTx("successful", "9223372036854775808", ""),
		fzTx("successful", "-9223372036854775808", ""),
		fzTx("successful", "1"+strings.Repeat("0", 400), ""),
		fzTx("successful", "null", ""),
		fzTx("successful", "true", ""),
		fzTx("successful", "[500]", ""),
		fzTx("successful", "500", `,"amount":19.99`),
		fzTx("successful", "500", `,"AMOUNT":501`),
		fzTx("successful", "500", `,"uid":"../../admin"`),
		fzTx("successful", "500", `,"currency":"eur"`),
		fzTx("successful", "500", `,"status":""`),
		fzTx("successful", "500", `,"created_at":"9999-99-99T99:99:99Z"`),
		fzTx("\xff", "500", ""),
		fzTx("pending", "500", `,"form":{"action":"javascript:alert(1)"}`),
		fzTx("pending", "500", `,"form":{"action":"https://x.example/p?a=%zz","fields":{"b":"c"}}`),
		fzTx("pending", "500", `,"form":{"action":"https://x.example/p","method":"POST","fields":[["a","b"],{"name":"c","value":[1]}]}`),
		fzTx("pending", "500", `,"form":{"action":"http://[::%25`+"\x83"+`]/p"}`),
		`{"transaction":{"uid":"r1","parent_uid":"` + seedUID + `","type":"refund","status":"successful","amount":200,"currency":"EUR","tracking_id":"RF-1"}}`,
		`{"transaction":{"uid":"r1","type":"refund","status":"successful","amount":200.5,"currency":"EUR"}}`,
		`{"message":"m"}`, "{\"message\":{\"a\":\"\xff\"}}", `{"errors":"x"}`, `{"errors":[]}`, `{"errors":{"":[""]}}`,
		`{"errors":{"request":{"":["x"]}}}`, `{"errors":{"base":"x","system":["y"]}}`,
		`{"response":null}`, `{"response":"x"}`, `{"response":{"response":{"message":"deeper"}}}`,
		`{"message":"` + strings.Repeat("é", 400) + `"}`,
		`{"transaction":{"uid":"u1","status":"successful","amount":1,"currency":"EUR"},"errors":{"amount":["x"]}}`,
		deepArr, deepObj, `{"errors":` + deepObj + `}`, `{"transaction":` + deepArr + `}`,
		wide.String(),
	}
}

// fzBig are the large hostile bodies: nesting past encoding/json's own
// limit, an error map whose one long key spans thousands of children (the
// quadratic case fixed in flattenErrors), a 1 MB message, 12 000 form
// fields (more than net/url parses from a query), a list of 12 000
// transactions.
func fzBig() []string {
	var wide, fields, list strings.Builder
	wide.WriteString(`{"errors":{"` + strings.Repeat("k", 20000) + `":{`)
	list.WriteString(`{"transactions":[`)
	for i := 0; i < 12000; i++ {
		if i > 0 {
			wide.WriteString(",")
			fields.WriteString(",")
			list.WriteString(",")
		}
		fmt.Fprintf(&wide, `"%d":["x"]`, i)
		fmt.Fprintf(&fields, `{"name":"f%d","value":%d}`, i, i)
		fmt.Fprintf(&list, `{"uid":"u%d","status":"successful","amount":%d,"currency":"EUR","tracking_id":"ORD-1001","created_at":"2025-01-01T00:00:00Z"}`, i, i)
	}
	wide.WriteString("}}}")
	list.WriteString("]}")
	return []string{
		strings.Repeat("[", 20000) + strings.Repeat("]", 20000),
		`{"transaction":` + strings.Repeat(`{"a":`, 12000) + "1" + strings.Repeat("}", 12000) + "}",
		`{"errors":` + strings.Repeat(`{"a":`, 3000) + `["x"]` + strings.Repeat("}", 3000) + "}",
		wide.String(),
		`{"message":"` + strings.Repeat("\\u00e9", 1<<18) + `","errors":{"base":["` + strings.Repeat("x", 1<<20) + `"]}}`,
		fzTx("pending", "500", `,"form":{"action":"https://x.example/p","fields":[`+fields.String()+`]}`),
		list.String(),
	}
}

// fzFixtures are the real replies: the seed's response example (with and
// without its placeholder form.action) and every file of testdata/replies.
func fzFixtures(f *testing.F) []string {
	seed := string(readFile(f, "seed/response_example.json"))
	out := []string{seed, strings.Replace(seed, `"link-to-payment-page"`, `"https://checkout.paysage.io/link-to-payment-page"`, 1)}
	for _, name := range []string{
		"error_401_credentials.json", "error_422_customer_fields.json", "error_422_missing_amount.json",
		"error_base.json", "error_card_validation.json", "error_legacy_response.json",
		"refund_successful.json", "tracking_id_list.json",
	} {
		out = append(out, string(readFile(f, "replies/"+name)))
	}
	return out
}

// fzBodies is every seed body.
func fzBodies(f *testing.F) []string { return append(fzFixtures(f), fzNasty()...) }

// fzStatuses are the HTTP statuses seeded: the fixtures with each, every
// other body with 200 and one of the rest in turn (fewer seeds keep the
// fuzzer's baseline short).
var fzStatuses = []int{200, 201, 302, 401, 403, 404, 422, 429, 500, 503}

// fzAddStatusBodies seeds a (status, body) target.
func fzAddStatusBodies(f *testing.F) {
	for _, b := range fzFixtures(f) {
		for _, s := range fzStatuses {
			f.Add(s, []byte(b))
		}
	}
	for i, b := range fzNasty() {
		f.Add(200, []byte(b))
		f.Add(fzStatuses[1+i%(len(fzStatuses)-1)], []byte(b))
	}
	f.Add(0, []byte("{}"))
	f.Add(-1, []byte(`{"errors":{"amount":["x"]}}`))
	f.Add(999, []byte(`{"message":"x"}`))
}

// fzAddBodies seeds a body-only target.
func fzAddBodies(f *testing.F) {
	for _, b := range fzBodies(f) {
		f.Add([]byte(b))
	}
}

// fzTransactions lifts the transaction object(s) out of a body, so
// parseTransaction is seeded with what it really receives.
func fzTransactions(body string) []string {
	var env envelope
	if json.Unmarshal([]byte(body), &env) != nil {
		return nil
	}
	var out []string
	if present(env.Transaction) {
		out = append(out, string(env.Transaction))
	}
	var list []json.RawMessage
	if json.Unmarshal(env.Transactions, &list) == nil {
		for _, r := range list {
			out = append(out, string(r))
		}
	}
	return out
}

// fzAmountLiteral is the "amount" member of a transaction object as the
// JSON decoder selects it (case-insensitively, the last one winning),
// unquoted when it is a string.
func fzAmountLiteral(raw []byte) (string, bool) {
	var v struct {
		Amount json.RawMessage `json:"amount"`
	}
	if json.Unmarshal(raw, &v) != nil || !present(v.Amount) {
		return "", false
	}
	lit := strings.TrimSpace(string(v.Amount))
	if strings.HasPrefix(lit, `"`) {
		var s string
		if json.Unmarshal(v.Amount, &s) != nil {
			return "", false
		}
		lit = s
	}
	return lit, true
}

// fzAssertExactAmount checks that got, an amount the parser accepted, is
// non-negative and exactly the value of the reply's amount: computed here
// independently with big.Rat, so 19.99 read as 19 (or 1e400 as anything)
// fails.
func fzAssertExactAmount(t *testing.T, raw []byte, got int64) {
	t.Helper()
	if got < 0 {
		t.Fatalf("negative amount %d accepted", got)
	}
	lit, ok := fzAmountLiteral(raw)
	if !ok {
		t.Fatalf("amount %d accepted from a transaction without an amount: %.300q", got, raw)
	}
	if len(lit) > 1000 {
		t.Fatalf("amount %d accepted from a %d-byte literal", got, len(lit))
	}
	if i := strings.IndexAny(lit, "eE"); i >= 0 {
		if e, err := strconv.Atoi(lit[i+1:]); err != nil || e > 1000 || e < -1000 {
			t.Fatalf("amount %d accepted from %q", got, lit)
		}
	}
	r, ok := new(big.Rat).SetString(lit)
	if !ok {
		t.Fatalf("amount %d accepted from %q, which is no number", got, lit)
	}
	if !r.IsInt() || !r.Num().IsInt64() || r.Num().Int64() != got {
		t.Fatalf("amount %q accepted as %d", lit, got)
	}
}

// fzCanonicalError checks the error of a reply that was received with the
// given HTTP status and returns it: a canonical *providers.Error of a type
// a reply can produce, with request_sent "yes" (PaySage answered) or,
// for a 1xx-3xx reply not understood, "unknown" — never "no"; retryable
// exactly for 429 and 5xx; bounded provider text.
func fzCanonicalError(t *testing.T, status int, err error) *providers.Error {
	t.Helper()
	var e *providers.Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T) is not a *providers.Error", err, err)
	}
	if c := providers.AsError(err); c != e || c.Type == providers.TypeInternal {
		t.Fatalf("AsError(%v) = %+v", err, c)
	}
	if e.Type == "" || e.Code == "" || e.Message == "" {
		t.Fatalf("incomplete error %+v", e)
	}
	switch e.Type {
	case providers.TypeInvalidRequest, providers.TypeProviderDeclined, providers.TypeProviderError:
	default:
		t.Fatalf("a reply gave error type %q: %+v", e.Type, e)
	}
	switch e.RequestSent {
	case providers.SentYes:
	case providers.SentUnknown:
		if status >= 400 || e.Code != "invalid_provider_reply" || e.Type != providers.TypeProviderError {
			t.Fatalf("request_sent unknown on HTTP %d: %+v", status, e)
		}
	default:
		t.Fatalf("request_sent %q for a reply that was received: %+v", e.RequestSent, e)
	}
	retryStatus := status == http.StatusTooManyRequests || status >= 500
	if e.Retryable != retryStatus {
		t.Fatalf("retryable=%v on HTTP %d: %+v", e.Retryable, status, e)
	}
	if retryStatus || status == http.StatusUnauthorized || status == http.StatusForbidden {
		want := "http_" + strconv.Itoa(status)
		if e.Type != providers.TypeProviderError || e.ProviderCode == nil || *e.ProviderCode != want {
			t.Fatalf("HTTP %d gave %+v", status, e)
		}
	}
	switch e.Type {
	case providers.TypeInvalidRequest:
		if e.Code != "provider_rejected_field" || e.ProviderCode == nil || *e.ProviderCode == "" {
			t.Fatalf("field rejection without PaySage's path: %+v", e)
		}
	case providers.TypeProviderDeclined:
		if e.ProviderCode == nil || *e.ProviderCode == "" {
			t.Fatalf("decline without PaySage's code: %+v", e)
		}
	}
	if e.ProviderMessage != nil && utf8.RuneCountInString(*e.ProviderMessage) > 301 {
		t.Fatalf("provider_message of %d runes is not clipped", utf8.RuneCountInString(*e.ProviderMessage))
	}
	if len(e.Message) > 4096 || len(e.Field) > 300 || (e.ProviderCode != nil && len(*e.ProviderCode) > 300) {
		t.Fatalf("unbounded error text: message %d, field %d bytes", len(e.Message), len(e.Field))
	}
	if s := e.Status(); s < 400 || s > 599 {
		t.Fatalf("error answers HTTP %d", s)
	}
	if _, err := json.Marshal(e); err != nil {
		t.Fatalf("error does not encode: %v", err)
	}
	return e
}

// fzReplyError is fzCanonicalError for an error reply read by replyError:
// a decline there is only PaySage's errors.base.
func fzReplyError(t *testing.T, status int, err error) *providers.Error {
	t.Helper()
	e := fzCanonicalError(t, status, err)
	if e.Type == providers.TypeProviderDeclined && *e.ProviderCode != "base" {
		t.Fatalf("decline of an error reply with code %q", *e.ProviderCode)
	}
	return e
}

// fzOutcomeError is fzCanonicalError for the refusal of a transaction the
// reply carried: a "failed" transaction is a decline, an "error" one a
// provider_error, anything else a garbage reply.
func fzOutcomeError(t *testing.T, tx *transaction, err error) {
	t.Helper()
	e := fzCanonicalError(t, 200, err)
	switch st := strings.ToLower(tx.Status); {
	case e.Type == providers.TypeProviderDeclined:
		if st != "failed" || *e.ProviderCode != "failed" {
			t.Fatalf("decline %+v of a %q transaction", e, tx.Status)
		}
	case e.Code == "invalid_provider_reply":
	case e.Type == providers.TypeProviderError:
		if st != "error" || *e.ProviderCode != "error" {
			t.Fatalf("provider_error %+v of a %q transaction", e, tx.Status)
		}
	default:
		t.Fatalf("error %+v for a %q transaction", e, tx.Status)
	}
}

// fzCheckTransaction checks a transaction the parser accepted from raw.
func fzCheckTransaction(t *testing.T, raw []byte, tx *transaction) {
	t.Helper()
	if !validUID(tx.UID) || tx.Status == "" || !providers.ValidCurrency(tx.Currency) {
		t.Fatalf("accepted an unusable transaction %+v", tx)
	}
	fzAssertExactAmount(t, raw, tx.amountMinor)
	if !paymentStatus(tx.Status).Valid() {
		t.Fatalf("status %q → non-canonical %q", tx.Status, paymentStatus(tx.Status))
	}
	switch refundStatus(tx.Status) {
	case "", providers.RefundPending, providers.RefundSucceeded, providers.RefundFailed:
	default:
		t.Fatalf("refund status %q", refundStatus(tx.Status))
	}
	if c := tx.created(); !c.IsZero() && c.Location() != time.UTC {
		t.Fatalf("created_at not UTC: %v", c)
	}
}

// FuzzParseTransaction: parseTransaction returns a checked transaction or
// a garbage error (request_sent unknown), never both; an accepted one has
// a usable uid, a status mapping to canonical statuses, an ISO currency and
// exactly the reply's non-negative integer amount; the same transaction in
// canonical form parses to the same values; the answer is deterministic.
func FuzzParseTransaction(f *testing.F) {
	for _, b := range fzBodies(f) {
		f.Add([]byte(b))
		for _, tx := range fzTransactions(b) {
			f.Add([]byte(tx))
		}
	}
	f.Fuzz(fzCheckParseTransaction)
}

// fzCheckParseTransaction is the property FuzzParseTransaction checks on one input.
func fzCheckParseTransaction(t *testing.T, raw []byte) {
	tx, err := parseTransaction(raw)
	tx2, err2 := parseTransaction(raw)
	if !reflect.DeepEqual(tx, tx2) || !reflect.DeepEqual(err, err2) {
		t.Fatal("parseTransaction is not deterministic")
	}
	if (tx == nil) == (err == nil) {
		t.Fatalf("transaction %v and error %v", tx, err)
	}
	if err != nil {
		e := fzCanonicalError(t, 200, err)
		if e.Code != "invalid_provider_reply" {
			t.Fatalf("parseTransaction error %+v is not garbage", e)
		}
		return
	}
	fzCheckTransaction(t, raw, tx)
	canon, _ := json.Marshal(map[string]any{"uid": tx.UID, "status": tx.Status, "amount": tx.amountMinor, "currency": tx.Currency})
	back, err := parseTransaction(canon)
	if err != nil || back.UID != tx.UID || back.Status != tx.Status || back.amountMinor != tx.amountMinor || back.Currency != tx.Currency {
		t.Fatalf("canonical form %s parses to %+v, %v", canon, back, err)
	}
}

// FuzzTransactionReply: transactionReply (decodeReply, the error rule,
// replyError, parseTransaction) on any status and body gives a
// transaction or a canonical error, never both; no transaction from an
// HTTP error; an accepted transaction is what parseTransaction makes of
// the body's transaction member; deterministic.
func FuzzTransactionReply(f *testing.F) {
	fzAddStatusBodies(f)
	f.Fuzz(fzCheckTransactionReply)
}

// fzCheckTransactionReply is the property FuzzTransactionReply checks on one input.
func fzCheckTransactionReply(t *testing.T, status int, body []byte) {
	tx, err := transactionReply(&providers.Reply{StatusCode: status, Body: body})
	tx2, err2 := transactionReply(&providers.Reply{StatusCode: status, Body: body})
	if !reflect.DeepEqual(tx, tx2) || !reflect.DeepEqual(err, err2) {
		t.Fatal("transactionReply is not deterministic")
	}
	if (tx == nil) == (err == nil) {
		t.Fatalf("transaction %v and error %v", tx, err)
	}
	if err != nil {
		fzReplyError(t, status, err)
		return
	}
	if status >= 400 {
		t.Fatalf("a transaction from HTTP %d", status)
	}
	var env envelope
	if err := json.Unmarshal(body, &env); err != nil || !present(env.Transaction) {
		t.Fatalf("a transaction from a body without one: %v", err)
	}
	fzCheckTransaction(t, env.Transaction, tx)
	if direct, _ := parseTransaction(env.Transaction); !reflect.DeepEqual(direct, tx) {
		t.Fatalf("transactionReply %+v != parseTransaction %+v", tx, direct)
	}
}

// FuzzReplyError: replyError, given any status and any envelope (decoded as
// decodeReply does, empty when the body is not JSON), always gives a
// canonical error (see fzCanonicalError): 401/403 a non-retryable
// provider_error, 429/5xx a retryable one, field errors invalid_request
// with PaySage's path, errors.base a decline, garbage only below HTTP 400;
// bounded provider text; deterministic.
func FuzzReplyError(f *testing.F) {
	fzAddStatusBodies(f)
	f.Fuzz(fzCheckReplyError)
}

// fzCheckReplyError is the property FuzzReplyError checks on one input.
func fzCheckReplyError(t *testing.T, status int, body []byte) {
	var env envelope
	if json.Unmarshal(body, &env) != nil {
		env = envelope{}
	}
	e := replyError(status, &env)
	if e == nil {
		t.Fatal("replyError returned nil")
	}
	if e2 := replyError(status, &env); !reflect.DeepEqual(e, e2) {
		t.Fatalf("replyError is not deterministic: %+v, %+v", e, e2)
	}
	fzReplyError(t, status, e)
}

// FuzzFlattenErrors: flattenErrors on any value gives at most 64 leaves,
// each with a non-empty path of at most 256 bytes and non-empty messages;
// nothing but an object has leaves; the messages together are no bigger
// than the input could make them (invalid UTF-8 triples at most); the
// order is deterministic.
func FuzzFlattenErrors(f *testing.F) {
	for _, b := range fzBodies(f) {
		f.Add([]byte(b))
		var env envelope
		if json.Unmarshal([]byte(b), &env) == nil && present(env.Errors) {
			f.Add([]byte(env.Errors))
		}
	}
	f.Fuzz(fzCheckFlattenErrors)
}

// fzCheckFlattenErrors is the property FuzzFlattenErrors checks on one input.
func fzCheckFlattenErrors(t *testing.T, raw []byte) {
	got := flattenErrors(raw)
	if again := flattenErrors(raw); !reflect.DeepEqual(got, again) {
		t.Fatal("flattenErrors is not deterministic")
	}
	if len(got) > 64 {
		t.Fatalf("%d leaves", len(got))
	}
	var obj map[string]json.RawMessage
	if len(got) > 0 && json.Unmarshal(raw, &obj) != nil {
		t.Fatalf("leaves %+v from a value that is not an object", got)
	}
	total := 0
	for _, fe := range got {
		if fe.Path == "" || len(fe.Path) > 256 || len(fe.Messages) == 0 {
			t.Fatalf("bad leaf %+v", fe)
		}
		for _, m := range fe.Messages {
			if m == "" {
				t.Fatalf("empty message in %+v", fe)
			}
			total += len(m)
		}
	}
	if total > 3*len(raw) {
		t.Fatalf("%d bytes of messages from %d bytes", total, len(raw))
	}
}

// FuzzFormNextAction: form.nextAction (and formFields) on any form object
// gives a next action or a garbage error, never both; the action is a
// redirect by GET or POST to an absolute http(s) URL on form.action's
// host; a POST goes to form.action verbatim with formFields' fields; a GET
// carries its fields in the query, each exactly once with its value.
func FuzzFormNextAction(f *testing.F) {
	for _, s := range []string{
		`{"action":"https://pay.example/p?x=1","method":"GET","fields":[]}`,
		`{"action":"https://pay.example/p"}`,
		`{"action":"https://pay.example/p","method":"get","fields":[{"name":"token","value":"abc"}]}`,
		`{"action":"https://pay.example/p","method":"POST","fields":[{"name":"token","value":"abc"},{"name":"n","value":5},{"name":"e","value":null}]}`,
		`{"action":"https://pay.example/p","method":"POST","fields":[["token","abc"]]}`,
		`{"action":"https://pay.example/p","method":"POST","fields":{"token":"abc","flag":true}}`,
		`{"action":"javascript:alert(1)","method":"GET"}`,
		`{"action":"https://pay.example/p","method":"PUT"}`,
		`{"action":"https://pay.example/p","method":"POST","fields":[1,2]}`,
		`{"action":"https://pay.example/p","method":"POST","fields":"x"}`,
		`{"action":"link-to-payment-page","method":"GET","fields":[]}`,
		`{"action":"https://pay.example/p?a=%zz&b=1#frag","fields":{"b":"2","":"\u0000"}}`,
		`{"action":"https://u:p@pay.example:8443/p","fields":[["a","1"],["a","2"]]}`,
		`{"action":"http://[fe80::1%25en0]/p","fields":{"x":"y"}}`,
		"{\"action\":\"https://pay.example/p\",\"method\":\"POST\",\"fields\":[{\"name\":\"\xff\",\"value\":\"\xfe\"}]}",
		`{"action":"https://pay.example/p","fields":[{"value":"no name"}]}`,
		`{"action":"https://pay.example/p","fields":[[1,2]]}`,
		`{"action":"https://pay.example/p","fields":` + strings.Repeat("[", 100) + strings.Repeat("]", 100) + `}`,
		`{}`, `null`, `{"action":null,"method":null,"fields":null}`,
		"{\"ACtion\":\"http://[::%25\x83]#\"}",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(fzCheckFormNextAction)
}

// fzCheckFormNextAction is the property FuzzFormNextAction checks on one input.
func fzCheckFormNextAction(t *testing.T, raw []byte) {
	var fm form
	if json.Unmarshal(raw, &fm) != nil {
		return
	}
	na, err := fm.nextAction()
	na2, err2 := fm.nextAction()
	if !reflect.DeepEqual(na, na2) || !reflect.DeepEqual(err, err2) {
		t.Fatal("nextAction is not deterministic")
	}
	if (na == nil) == (err == nil) {
		t.Fatalf("next action %v and error %v", na, err)
	}
	if err != nil {
		if e := fzCanonicalError(t, 200, err); e.Code != "invalid_provider_reply" {
			t.Fatalf("nextAction error %+v is not garbage", e)
		}
		return
	}
	action, err := url.Parse(fm.Action)
	if err != nil {
		t.Fatalf("accepted an unparsable action %.300q", fm.Action)
	}
	u, err := url.Parse(na.URL)
	if na.Type != "redirect" || err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.Host != action.Host {
		t.Fatalf("next action %.300q %q from action %.300q", na.URL, na.Method, fm.Action)
	}
	fields, ferr := formFields(fm.Fields)
	if ferr != nil {
		t.Fatalf("accepted fields formFields refuses: %v", ferr)
	}
	switch na.Method {
	case http.MethodPost:
		if na.URL != fm.Action {
			t.Fatalf("POST to %.300q, not form.action %.300q", na.URL, fm.Action)
		}
		if len(fields) == 0 && na.Fields != nil || len(fields) > 0 && !reflect.DeepEqual(na.Fields, fields) {
			t.Fatalf("POST fields %v, want %v", na.Fields, fields)
		}
	case http.MethodGet:
		if na.Fields != nil {
			t.Fatalf("GET with body fields %v", na.Fields)
		}
		q := fzQuery(u.RawQuery)
		for k, v := range fields {
			if got := q[k]; len(got) != 1 || got[0] != v {
				t.Fatalf("field %q=%q is %q in %.300q", k, v, got, na.URL)
			}
		}
	default:
		t.Fatalf("method %q", na.Method)
	}
}

// fzQuery splits a query by hand: url.ParseQuery stops at 10 000
// parameters, which a form may exceed.
func fzQuery(raw string) map[string][]string {
	q := map[string][]string{}
	for _, kv := range strings.Split(raw, "&") {
		k, v, _ := strings.Cut(kv, "=")
		ku, err1 := url.QueryUnescape(k)
		vu, err2 := url.QueryUnescape(v)
		if kv == "" || err1 != nil || err2 != nil {
			continue
		}
		q[ku] = append(q[ku], vu)
	}
	return q
}

// FuzzPaymentFromCreate: a create reply (transactionReply then
// paymentFromCreate, for the seed request of 500 EUR ORD-1001) gives a
// payment or a canonical error, never both; the payment is about this
// request (amount, currency, reference), has a canonical status that is not
// failed (failed and error replies are errors), the reply's uid, and a next
// action exactly when the customer must act, to an absolute http(s) URL.
func FuzzPaymentFromCreate(f *testing.F) {
	fzAddBodies(f)
	f.Fuzz(fzCheckPaymentFromCreate(&Provider{Test: true}))
}

// fzCheckPaymentFromCreate is the property FuzzPaymentFromCreate checks on one input.
func fzCheckPaymentFromCreate(p *Provider) func(*testing.T, []byte) {
	return func(t *testing.T, body []byte) {
		tx, err := transactionReply(&providers.Reply{StatusCode: 200, Body: body})
		if err != nil {
			fzReplyError(t, 200, err)
			return
		}
		req := seedPayment()
		pay, err := p.paymentFromCreate(req, tx)
		pay2, err2 := p.paymentFromCreate(seedPayment(), tx)
		if !reflect.DeepEqual(pay, pay2) || !reflect.DeepEqual(err, err2) {
			t.Fatal("paymentFromCreate is not deterministic")
		}
		if (pay == nil) == (err == nil) {
			t.Fatalf("payment %v and error %v", pay, err)
		}
		if err != nil {
			fzOutcomeError(t, tx, err)
			return
		}
		if pay.Object != "payment" || pay.Amount != req.Amount || pay.Currency != req.Currency || pay.Reference != req.Reference || pay.ProviderReference != tx.UID {
			t.Fatalf("payment %+v is not about request %+v", pay, req)
		}
		if !pay.Status.Valid() || pay.Status == providers.StatusFailed {
			t.Fatalf("status %q from %q", pay.Status, tx.Status)
		}
		if (pay.Status == providers.StatusRequiresAction) != (pay.NextAction != nil) {
			t.Fatalf("status %q with next action %+v", pay.Status, pay.NextAction)
		}
		if na := pay.NextAction; na != nil && !absoluteHTTP(na.URL) {
			t.Fatalf("next action to %.300q", na.URL)
		}
		if utf8.RuneCountInString(pay.ProviderMessage) > 301 {
			t.Fatal("provider_message is not clipped")
		}
	}
}

// FuzzRefundFromCreate: a refund reply (transactionReply then
// refundFromCreate, for a 200 EUR refund of seedUID) gives a refund or a
// canonical error, never both; the refund is about this request, has a
// canonical refund status, the reply's uid and a reference.
func FuzzRefundFromCreate(f *testing.F) {
	fzAddBodies(f)
	f.Fuzz(fzCheckRefundFromCreate(&Provider{Test: true}))
}

// fzRefundRequest is the refund FuzzRefundFromCreate's replies answer.
func fzRefundRequest() *providers.RefundRequest {
	return &providers.RefundRequest{Amount: 200, Currency: "EUR", Reference: "RF-1", PaymentProviderRef: seedUID, PaymentAmount: 500}
}

// fzCheckRefundFromCreate is the property FuzzRefundFromCreate checks on one input.
func fzCheckRefundFromCreate(p *Provider) func(*testing.T, []byte) {
	return func(t *testing.T, body []byte) {
		tx, err := transactionReply(&providers.Reply{StatusCode: 200, Body: body})
		if err != nil {
			fzReplyError(t, 200, err)
			return
		}
		req := fzRefundRequest()
		rf, err := p.refundFromCreate(req, tx)
		rf2, err2 := p.refundFromCreate(fzRefundRequest(), tx)
		if !reflect.DeepEqual(rf, rf2) || !reflect.DeepEqual(err, err2) {
			t.Fatal("refundFromCreate is not deterministic")
		}
		if (rf == nil) == (err == nil) {
			t.Fatalf("refund %v and error %v", rf, err)
		}
		if err != nil {
			fzOutcomeError(t, tx, err)
			return
		}
		if rf.Object != "refund" || rf.Amount != req.Amount || rf.Currency != req.Currency || rf.ProviderReference != tx.UID || rf.Reference == "" {
			t.Fatalf("refund %+v is not about request %+v", rf, req)
		}
		switch rf.Status {
		case providers.RefundPending, providers.RefundSucceeded, providers.RefundFailed:
		default:
			t.Fatalf("refund status %q from %q", rf.Status, tx.Status)
		}
		if utf8.RuneCountInString(rf.ProviderMessage) > 301 {
			t.Fatal("provider_message is not clipped")
		}
	}
}

// fzDoer answers every request with one canned reply, without a network.
type fzDoer struct {
	status int
	body   []byte
}

func (d fzDoer) Do(context.Context, *http.Request) (*providers.Reply, error) {
	return &providers.Reply{StatusCode: d.status, Body: d.body}, nil
}

// fzProvider is a provisioned provider for the canned-reply targets.
func fzProvider(f testing.TB) *Provider {
	p := &Provider{ShopID: testShopID, SecretKey: testSecret, Test: true}
	if err := p.Provision(caddyCtxTB(f)); err != nil {
		f.Fatal(err)
	}
	return p
}

// fzNotFoundOK reports whether a not_found error fits a reply of status.
func fzNotFoundOK(status int, err error) bool {
	var e *providers.Error
	return errors.As(err, &e) && e.Type == providers.TypeNotFound && (status == http.StatusNotFound || status < 400)
}

// FuzzFindPayment: FindPayment's reading of a tracking_id lookup reply
// (the transactions list, or one transaction) gives a payment or an
// error, never both: not_found on a 404 or when no payment has the
// reference, else a canonical reply error; the payment found has the
// asked reference, a canonical status and exactly the amount of a listed
// payment with that uid, and no listed payment with the reference is
// newer.
func FuzzFindPayment(f *testing.F) {
	fzAddStatusBodies(f)
	f.Add(200, []byte(`{"transactions":[{"uid":"a1","status":"successful","amount":1,"currency":"EUR","tracking_id":"ORD-1001","created_at":"2025-01-01T00:00:00Z"},{"uid":"a2","status":"failed","amount":2,"currency":"EUR","tracking_id":"ORD-1001","created_at":"2025-01-01T00:00:00+01:00"}]}`))
	f.Add(200, []byte(`{"transactions":[{"uid":"a1","status":"successful","amount":1,"currency":"EUR","tracking_id":"ORD-1001"},{"uid":"a1","status":"successful","amount":19.99,"currency":"EUR","tracking_id":"ORD-1001"}]}`))
	p := fzProvider(f)
	f.Fuzz(fzCheckFindPayment(p))
}

// fzRef is the reference FuzzFindPayment looks up.
const fzRef = "ORD-1001"

// fzCheckFindPayment is the property FuzzFindPayment checks on one input.
func fzCheckFindPayment(p *Provider) func(*testing.T, int, []byte) {
	return func(t *testing.T, status int, body []byte) {
		d := fzDoer{status, body}
		pay, err := p.FindPayment(context.Background(), d, fzRef)
		pay2, err2 := p.FindPayment(context.Background(), d, fzRef)
		if !reflect.DeepEqual(pay, pay2) || !reflect.DeepEqual(err, err2) {
			t.Fatal("FindPayment is not deterministic")
		}
		if (pay == nil) == (err == nil) {
			t.Fatalf("payment %v and error %v", pay, err)
		}
		if err != nil {
			if !fzNotFoundOK(status, err) {
				fzReplyError(t, status, err)
			}
			return
		}
		if status >= 400 || pay.Object != "payment" || pay.Reference != fzRef || !pay.Status.Valid() || !validUID(pay.ProviderReference) || !providers.ValidCurrency(pay.Currency) {
			t.Fatalf("HTTP %d gave payment %+v", status, pay)
		}
		var env envelope
		if json.Unmarshal(body, &env) != nil {
			t.Fatal("a payment from a body that is not JSON")
		}
		var list []json.RawMessage
		if json.Unmarshal(env.Transactions, &list) != nil || !present(env.Transactions) {
			list = []json.RawMessage{env.Transaction}
		}
		found := false
		for _, raw := range list {
			tx, err := parseTransaction(raw)
			if err != nil {
				t.Fatalf("a payment from a list with an unreadable entry: %v", err)
			}
			if (tx.Type != "" && tx.Type != "payment") || tx.TrackingID != fzRef {
				continue
			}
			if tx.created().After(pay.CreatedAt) {
				t.Fatalf("payment of %v chosen over the newer %s of %v", pay.CreatedAt, tx.UID, tx.created())
			}
			if tx.UID == pay.ProviderReference && tx.amountMinor == pay.Amount && tx.created().Equal(pay.CreatedAt) {
				fzAssertExactAmount(t, raw, pay.Amount)
				found = true
			}
		}
		if !found {
			t.Fatalf("payment %+v is none of the listed payments", pay)
		}
	}
}

// FuzzFetch: GetPayment and GetRefund (fetch by uid, then the type
// filters) on a canned reply give a result or an error, never both:
// not_found on a 404 or for a transaction of the other kind, else a
// canonical reply error; a result is about the asked uid, with a canonical
// status and exactly the reply's amount; a typed transaction is never both
// a payment and a refund.
func FuzzFetch(f *testing.F) {
	fzAddStatusBodies(f)
	f.Add(200, []byte(`{"transaction":{"uid":"`+seedUID+`","parent_uid":"p1","status":"successful","amount":7,"currency":"EUR"}}`))
	f.Add(200, []byte(`{"transaction":{"uid":"`+strings.ToUpper(seedUID)+`","type":"payment","status":"successful","amount":7,"currency":"EUR"}}`))
	p := fzProvider(f)
	f.Fuzz(fzCheckFetch(p))
}

// fzCheckFetch is the property FuzzFetch checks on one input.
func fzCheckFetch(p *Provider) func(*testing.T, int, []byte) {
	return func(t *testing.T, status int, body []byte) {
		d := fzDoer{status, body}
		pay, perr := p.GetPayment(context.Background(), d, seedUID)
		rf, rerr := p.GetRefund(context.Background(), d, seedUID)
		if (pay == nil) == (perr == nil) || (rf == nil) == (rerr == nil) {
			t.Fatalf("payment %v / %v, refund %v / %v", pay, perr, rf, rerr)
		}
		for _, err := range []error{perr, rerr} {
			if err != nil && !fzNotFoundOK(status, err) {
				fzReplyError(t, status, err)
			}
		}
		if pay == nil && rf == nil {
			return
		}
		var env envelope
		if status >= 400 || json.Unmarshal(body, &env) != nil {
			t.Fatalf("a result from HTTP %d: %.300q", status, body)
		}
		tx, err := parseTransaction(env.Transaction)
		if err != nil || tx.UID != seedUID {
			t.Fatalf("a result from transaction %+v, %v", tx, err)
		}
		if pay != nil {
			if pay.ProviderReference != seedUID || !pay.Status.Valid() || (tx.Type != "" && tx.Type != "payment") {
				t.Fatalf("payment %+v from %+v", pay, tx)
			}
			fzAssertExactAmount(t, env.Transaction, pay.Amount)
		}
		if rf != nil {
			if rf.ProviderReference != seedUID || (tx.Type != "refund" && tx.Type != "") {
				t.Fatalf("refund %+v from %+v", rf, tx)
			}
			switch rf.Status {
			case providers.RefundPending, providers.RefundSucceeded, providers.RefundFailed:
			default:
				t.Fatalf("refund status %q", rf.Status)
			}
			fzAssertExactAmount(t, env.Transaction, rf.Amount)
		}
		if pay != nil && rf != nil && tx.Type != "" {
			t.Fatalf("typed transaction %q is both a payment and a refund", tx.Type)
		}
	}
}

// FuzzProviderEvent: providerEvent (the notification body kept as
// ProviderEvent) on any body gives nil or a JSON object — an object for
// every JSON object with a member that is not a secret — in which no
// secret key survives at any depth, account numbers are masked, numbers
// stay exact (json.Number, never float64), and nesting is cut at the cap;
// deterministic.
func FuzzProviderEvent(f *testing.F) {
	fzAddBodies(f)
	for _, name := range []string{"payment_failed.json", "payment_successful.json", "refund_successful.json"} {
		f.Add(readFile(f, "notifications/"+name))
	}
	f.Add([]byte(`{"transaction":{"amount":19.99,"Secret_Key":"s","iban":"SE4550000000058398257466","Number":4111111111111111,"x":[{"cvv":"123","card_number":null}]}}`))
	f.Add([]byte(`{"a":1} trailing`))
	f.Fuzz(fzCheckProviderEvent)
}

// fzCheckProviderEvent is the property FuzzProviderEvent checks on one input.
func fzCheckProviderEvent(t *testing.T, body []byte) {
	raw := providerEvent(body)
	if again := providerEvent(body); !bytes.Equal(raw, again) {
		t.Fatal("providerEvent is not deterministic")
	}
	var obj map[string]json.RawMessage
	if raw == nil {
		if json.Unmarshal(body, &obj) == nil {
			for k := range obj {
				if !secretKeys[strings.ToLower(k)] {
					t.Fatalf("a JSON object with member %q gave no event: %.300q", k, body)
				}
			}
		}
		return
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil || dec.More() || !json.Valid(raw) {
		t.Fatalf("event %.300q is not one JSON object: %v", raw, err)
	}
	var walk func(v any, depth int)
	walk = func(v any, depth int) {
		if depth > 17 {
			t.Fatalf("nesting %d kept", depth)
		}
		switch x := v.(type) {
		case map[string]any:
			for k, val := range x {
				lk := strings.ToLower(k)
				if secretKeys[lk] {
					t.Fatalf("secret key %q kept", k)
				}
				if accountKeys[lk] {
					if s, ok := val.(string); val != nil && (!ok || !strings.HasPrefix(s, "****") || utf8.RuneCountInString(s) > 8) {
						t.Fatalf("account %q not masked: %v", k, val)
					}
					continue
				}
				walk(val, depth+1)
			}
		case []any:
			for _, e := range x {
				walk(e, depth+1)
			}
		case nil, string, bool, json.Number:
		default:
			t.Fatalf("value %v of type %T", v, v)
		}
	}
	walk(m, 0)
}

// TestFlattenErrorsIsLinear is the regression test for an error map whose
// one long key spans many children: every leaf's path repeated the key, so
// a 300 KB reply allocated ~12 GB. Paths are now capped; the work must stay
// proportional to the reply.
func TestFlattenErrorsIsLinear(t *testing.T) {
	var b strings.Builder
	b.WriteString(`{"errors":{"request":{"` + strings.Repeat("k", 100000) + `":{`)
	for i := 0; i < 20000; i++ {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, `"%d":["x"]`, i)
	}
	b.WriteString(`}},"` + strings.Repeat("z", 300) + `":["long"],"amount":["is missing"]}}`)
	body := []byte(b.String())
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	_, err := transactionReply(&providers.Reply{StatusCode: 422, Body: body})
	runtime.ReadMemStats(&after)
	e := canonical(t, err, providers.TypeInvalidRequest, "amount")
	if *e.ProviderCode != "amount" {
		t.Fatalf("provider_code %q", *e.ProviderCode)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 64*uint64(len(body)) {
		t.Fatalf("%d bytes allocated for a %d-byte reply", alloc, len(body))
	}
}

// TestReplyParsersOnBigInputs runs every fuzz target's checks on fzBig,
// the inputs too large to seed the fuzzer with.
func TestReplyParsersOnBigInputs(t *testing.T) {
	p := fzProvider(t)
	for i, body := range fzBig() {
		b := []byte(body)
		t.Run(strconv.Itoa(i), func(t *testing.T) {
			for _, tx := range append(fzTransactions(body), body) {
				fzCheckParseTransaction(t, []byte(tx))
				var m map[string]json.RawMessage
				if json.Unmarshal([]byte(tx), &m) == nil && present(m["form"]) {
					fzCheckFormNextAction(t, m["form"])
				}
			}
			for _, status := range []int{200, 422, 503} {
				fzCheckTransactionReply(t, status, b)
				fzCheckReplyError(t, status, b)
				fzCheckFindPayment(p)(t, status, b)
				fzCheckFetch(p)(t, status, b)
			}
			var env envelope
			if json.Unmarshal(b, &env) == nil && present(env.Errors) {
				fzCheckFlattenErrors(t, env.Errors)
			}
			fzCheckFlattenErrors(t, b)
			fzCheckFormNextAction(t, b)
			fzCheckPaymentFromCreate(&Provider{Test: true})(t, b)
			fzCheckRefundFromCreate(&Provider{Test: true})(t, b)
			fzCheckProviderEvent(t, b)
		})
	}
}
