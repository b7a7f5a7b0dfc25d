package razorpay

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/caddy-payments/caddy-payments/providers"
)

// Fuzz targets for the parsers of Razorpay's replies: replyError (every
// non-2xx reply) and the 2xx entity replies as GetPayment, FindPayment,
// CreatePayment, GetRefund and Refund read them (call decodes, the
// mapping functions build the canonical object). The replies come from an
// in-memory Doer, so nothing touches a socket. Seeds: the reply fixtures
// under testdata/replies, the entity shapes of the unit tests, and
// testdata/fuzz/<Target>.
//
// What every target checks besides "no panic": an error is a
// *providers.Error with a type, code, message and a request_sent that fits
// a reply that was received; a result never comes with an error; a result
// has canonical statuses, non-negative amounts equal to the JSON integer
// literal of the reply (never a truncated 19.99, a quoted "100" or a
// 1e3), and encodes as JSON (the gateway answers with it); the same input
// gives the same result.

const (
	fuzzOrderID  = "order_RB58MiP5SPFYyM"
	fuzzRefundID = "rfnd_FP8QHiV938haTz"
	// maxJSONTime is 9999-12-31T23:59:59Z, the last second time.Time
	// encodes as JSON.
	maxJSONTime = 253402300799
)

// memDoer answers the provider's calls from memory with answer and
// records them ("METHOD /path").
type memDoer struct {
	answer func(method, path string) (int, []byte)
	calls  []string
}

func (d *memDoer) Do(_ context.Context, req *http.Request) (*providers.Reply, error) {
	d.calls = append(d.calls, req.Method+" "+req.URL.Path)
	status, body := d.answer(req.Method, req.URL.Path)
	return &providers.Reply{StatusCode: status, Header: http.Header{"Content-Type": {"application/json"}}, Body: body}, nil
}

// unscripted is the answer to a call a target does not expect.
func unscripted() (int, []byte) { return http.StatusTeapot, []byte("unscripted") }

func fuzzProvider() *Provider {
	return &Provider{keyID: testKeyID, keySecret: testKeySecret, webhookSecrets: []string{testWebhook},
		base: "https://api.razorpay.invalid", test: true}
}

// replyFixture reads testdata/replies/name for a seed.
func replyFixture(f *testing.F, name string) []byte {
	f.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "replies", name))
	if err != nil {
		f.Fatal(err)
	}
	return b
}

// Wire views of the entities: the integer fields as json.Number, so a
// test sees the literal Razorpay sent, not what an int64 made of it. The
// field names and the decoder are those of wire.go, so the same keys
// match (case-insensitively, the last one winning).
type (
	wireOrder struct {
		ID        string      `json:"id"`
		Amount    json.Number `json:"amount"`
		Currency  string      `json:"currency"`
		Receipt   string      `json:"receipt"`
		Status    string      `json:"status"`
		CreatedAt json.Number `json:"created_at"`
	}
	wirePayment struct {
		ID               string      `json:"id"`
		Status           string      `json:"status"`
		Currency         string      `json:"currency"`
		AmountRefunded   json.Number `json:"amount_refunded"`
		ErrorDescription string      `json:"error_description"`
		CreatedAt        json.Number `json:"created_at"`
	}
	wireRefund struct {
		ID        string      `json:"id"`
		Amount    json.Number `json:"amount"`
		Currency  string      `json:"currency"`
		Receipt   string      `json:"receipt"`
		Status    string      `json:"status"`
		CreatedAt json.Number `json:"created_at"`
	}
	wireList[T any] struct {
		Items []T `json:"items"`
	}
)

// wire decodes an accepted reply into its wire view; an accepted reply
// that does not decode is a parser bug.
func wire(t *testing.T, what string, body []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(body, v); err != nil {
		t.Fatalf("accepted a %s reply that is not the JSON entity: %v", what, err)
	}
}

// exactInt is the value of an accepted integer field: absent or null is
// 0; anything but a plain integer literal that fits int64 was accepted
// wrongly (a float truncated, an exponent, a string).
func exactInt(t *testing.T, what string, n json.Number) int64 {
	t.Helper()
	if n == "" {
		return 0
	}
	if strings.ContainsAny(string(n), ".eE") {
		t.Fatalf("accepted %s %s, which is not an integer literal", what, n)
	}
	v, err := strconv.ParseInt(string(n), 10, 64)
	if err != nil {
		t.Fatalf("accepted %s %s: %v", what, n, err)
	}
	return v
}

// checkCreated: a reply's created_at becomes CreatedAt (UTC, the same
// second) when positive and encodable, else stays zero.
func checkCreated(t *testing.T, got time.Time, created int64) {
	t.Helper()
	if got.IsZero() {
		if created > 0 && created <= maxJSONTime {
			t.Fatalf("created_at %d was dropped", created)
		}
		return
	}
	if got.Unix() != created || got.Location() != time.UTC || created <= 0 || created > maxJSONTime {
		t.Fatalf("created_at %d became %v", created, got)
	}
}

// checkJSON: the gateway answers with the object, so it must encode.
func checkJSON(t *testing.T, v any) {
	t.Helper()
	if _, err := json.Marshal(v); err != nil {
		t.Fatalf("result does not encode as JSON: %v (%+v)", err, v)
	}
}

// canonicalErr asserts err is a well-formed canonical error and returns it.
func canonicalErr(t *testing.T, err error) *providers.Error {
	t.Helper()
	var e *providers.Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T) is not a *providers.Error", err, err)
	}
	if providers.AsError(err) != e {
		t.Fatalf("AsError does not give back the provider's error")
	}
	if e.Type == "" || e.Code == "" || e.Message == "" || e.Error() == "" {
		t.Fatalf("incomplete error %+v", e)
	}
	switch e.RequestSent {
	case providers.SentNo, providers.SentYes, providers.SentUnknown:
	default:
		t.Fatalf("request_sent = %q", e.RequestSent)
	}
	if s := e.Status(); s < 400 || s > 599 {
		t.Fatalf("error status %d: %+v", s, e)
	}
	checkJSON(t, e)
	return e
}

// garbageErr asserts err is what an unreadable 2xx reply gives: the call
// reached Razorpay and its outcome is unknown.
func garbageErr(t *testing.T, err error) {
	t.Helper()
	e := canonicalErr(t, err)
	if e.Type != providers.TypeProviderError || e.Code != "invalid_provider_reply" || e.RequestSent != providers.SentUnknown || e.Retryable {
		t.Fatalf("an unreadable 2xx reply gave %+v, want invalid_provider_reply with request_sent unknown", e)
	}
}

// same asserts a second run gave the same result, error and calls.
func same(t *testing.T, a, b any) {
	t.Helper()
	if !reflect.DeepEqual(a, b) {
		t.Fatalf("not deterministic:\n%+v\n%+v", a, b)
	}
}

// paymentStatusOf is the reference §4.3 table, written out again.
var paymentStatusOf = map[string]providers.Status{
	"created": providers.StatusRequiresAction, "authorized": providers.StatusAuthorized,
	"captured": providers.StatusSucceeded, "refunded": providers.StatusSucceeded, "failed": providers.StatusFailed,
}

// FuzzReplyError feeds any non-2xx status and body to replyError: the
// error is canonical; request_sent is never "no" (Razorpay answered) and
// is "unknown" exactly where the outcome is (409, 5xx, a 404 from the
// routing layer); retryable exactly for 409, 429 and 5xx; 401/409/429/5xx
// are provider errors; a field is named only by invalid_request, and is a
// canonical field of the call or razorpay.<field>; provider_code is the
// envelope's code or http_<status>.
func FuzzReplyError(f *testing.F) {
	env := func(code, desc, field, reason string) []byte {
		return []byte(`{"error":{"code":"` + code + `","description":"` + desc + `","field":"` + field +
			`","source":"business","step":"NA","reason":"` + reason + `","metadata":{}}}`)
	}
	for _, status := range []int{400, 401, 404, 409, 429, 500, 502, 503} {
		f.Add(status, env("BAD_REQUEST_ERROR", "The contact must be at most 15 characters", "contact", "input_validation_failed"), false)
		f.Add(status, env("BAD_REQUEST_ERROR", "Payment failed", "", "payment_failed"), false)
		f.Add(status, []byte(`{"message":"no Route matched with those values"}`), false)
	}
	f.Add(400, env("BAD_REQUEST_ERROR", "The id provided does not exist", "", "input_validation_failed"), true)
	f.Add(400, env("BAD_REQUEST_ERROR", "The amount must be atleast INR 1.00", "amount", "input_validation_failed"), true)
	f.Add(400, env("BAD_REQUEST_ERROR", "foo is/are not required and should not be sent", "", "extra_field_sent"), false)
	f.Add(400, []byte(`{"error":{"description":"The requested URL was not found on the server."}}`), false)
	f.Add(418, []byte(""), false)
	f.Fuzz(func(t *testing.T, status int, body []byte, refund bool) {
		if status < 100 || status > 999 || (status >= 200 && status <= 299) {
			return // call only hands replyError a non-2xx HTTP status
		}
		fields := createFields
		if refund {
			fields = refundFields
		}
		e := replyError(&providers.Reply{StatusCode: status, Body: body}, fields)
		if e == nil {
			t.Fatal("no error for a non-2xx reply")
		}
		canonicalErr(t, e)
		same(t, e, replyError(&providers.Reply{StatusCode: status, Body: body}, fields))

		var env envelope
		hasEnv := json.Unmarshal(body, &env) == nil && env.Error != nil && (env.Error.Code != "" || env.Error.Description != "")
		unknown := status == http.StatusConflict || status >= 500 || (status == http.StatusNotFound && !hasEnv)
		switch {
		case e.RequestSent == providers.SentNo:
			t.Fatalf("request_sent no for a reply Razorpay sent: %+v", e)
		case unknown != (e.RequestSent == providers.SentUnknown):
			t.Fatalf("status %d: request_sent %q: %+v", status, e.RequestSent, e)
		}
		if retry := status == http.StatusConflict || status == http.StatusTooManyRequests || status >= 500; e.Retryable != retry {
			t.Fatalf("status %d: retryable %v", status, e.Retryable)
		}
		if (status == 401 || status == 409 || status == 429 || status >= 500) && e.Type != providers.TypeProviderError {
			t.Fatalf("status %d gave type %q", status, e.Type)
		}
		switch e.Type {
		case providers.TypeInvalidRequest, providers.TypeNotFound, providers.TypeProviderDeclined, providers.TypeProviderError:
		default:
			t.Fatalf("type %q for a provider reply", e.Type)
		}
		if e.Field != "" {
			canon := false
			for _, v := range fields {
				canon = canon || v == e.Field
			}
			if e.Type != providers.TypeInvalidRequest || (!canon && !strings.HasPrefix(e.Field, "razorpay.")) || e.Field == "razorpay." {
				t.Fatalf("field %q on %+v", e.Field, e)
			}
		}
		want := "http_" + strconv.Itoa(status)
		if hasEnv && env.Error.Code != "" {
			want = env.Error.Code
		}
		if e.ProviderCode == nil || *e.ProviderCode != want {
			t.Fatalf("provider_code = %v, want %q", e.ProviderCode, want)
		}
	})
}

// FuzzGetPayment feeds any order reply and payments reply (both 200) to
// GetPayment: an error is invalid_provider_reply; a payment is the asked
// order with the reply's exact amount (an integer ≥ 0), a valid status
// that follows from the attempts (a captured attempt is never hidden by
// a later one), poll exactly when requires_action, and an amount_refunded
// from the decisive attempt within [0, amount].
func FuzzGetPayment(f *testing.F) {
	order := replyFixture(f, "order_created.json")
	f.Add(order, []byte(payments()))
	f.Add(order, []byte(payments(attempt("pay_B2", "failed", 101, 0), attempt("pay_A1", "created", 100, 0))))
	f.Add([]byte(orderBody), []byte(payments(attempt("pay_C3", "failed", 102, 0), attempt("pay_B2", "authorized", 101, 0))))
	f.Add([]byte(orderBody), []byte(payments(attempt("pay_B2", "refunded", 101, 1999))))
	f.Add([]byte(strings.Replace(orderBody, `"attempted"`, `"paid"`, 1)), []byte(payments()))
	f.Fuzz(func(t *testing.T, orderReply, paymentsReply []byte) {
		run := func() (*providers.Payment, error, []string) {
			d := &memDoer{answer: func(method, path string) (int, []byte) {
				switch method + " " + path {
				case "GET /v1/orders/" + fuzzOrderID:
					return http.StatusOK, orderReply
				case "GET /v1/orders/" + fuzzOrderID + "/payments":
					return http.StatusOK, paymentsReply
				}
				return unscripted()
			}}
			pay, err := fuzzProvider().GetPayment(context.Background(), d, fuzzOrderID)
			return pay, err, d.calls
		}
		pay, err, calls := run()
		pay2, err2, calls2 := run()
		same(t, []any{pay, err, calls}, []any{pay2, err2, calls2})
		if err != nil {
			if pay != nil {
				t.Fatal("payment returned with an error")
			}
			garbageErr(t, err)
			return
		}
		if len(calls) != 2 {
			t.Fatalf("calls = %v", calls)
		}
		var o wireOrder
		var list wireList[wirePayment]
		wire(t, "order", orderReply, &o)
		wire(t, "payments", paymentsReply, &list)
		checkPayment(t, pay, &o, list.Items)
	})
}

// checkPayment asserts pay is what GetPayment must make of order o and
// its attempts.
func checkPayment(t *testing.T, pay *providers.Payment, o *wireOrder, items []wirePayment) {
	t.Helper()
	amount := exactInt(t, "order amount", o.Amount)
	if pay == nil || pay.Object != "payment" || pay.ProviderReference != o.ID || pay.Reference != o.Receipt ||
		pay.Currency != o.Currency || !pay.Test || pay.ID != "" || pay.LaunchData != "" {
		t.Fatalf("payment = %+v for order %+v", pay, o)
	}
	if pay.Amount != amount || pay.Amount < 0 {
		t.Fatalf("amount %d for the reply's %s", pay.Amount, o.Amount)
	}
	checkCreated(t, pay.CreatedAt, exactInt(t, "order created_at", o.CreatedAt))
	if !pay.Status.Valid() {
		t.Fatalf("status %q is not canonical", pay.Status)
	}
	if (pay.Status == providers.StatusRequiresAction) != (pay.NextAction != nil) ||
		(pay.NextAction != nil && !reflect.DeepEqual(*pay.NextAction, providers.NextAction{Type: "poll"})) {
		t.Fatalf("status %q with next action %+v", pay.Status, pay.NextAction)
	}
	if pay.AmountRefunded < 0 || pay.AmountRefunded > pay.Amount || (pay.AmountRefunded > 0 && pay.Status != providers.StatusSucceeded) {
		t.Fatalf("amount_refunded %d of %d with status %q", pay.AmountRefunded, pay.Amount, pay.Status)
	}
	if pay.ProviderMessage != "" && pay.Status != providers.StatusFailed {
		t.Fatalf("provider message %q with status %q", pay.ProviderMessage, pay.Status)
	}
	checkJSON(t, pay)
	if len(items) == 0 {
		want := providers.StatusRequiresAction
		if o.Status == "paid" {
			want = providers.StatusSucceeded
		}
		if pay.Status != want || pay.ProviderStatus != "order:"+o.Status || pay.AmountRefunded != 0 {
			t.Fatalf("order %q without attempts gave %+v", o.Status, pay)
		}
		return
	}
	moved, authorized := false, false
	for _, q := range items {
		exactInt(t, "amount_refunded", q.AmountRefunded)
		exactInt(t, "payment created_at", q.CreatedAt)
		moved = moved || q.Status == "captured" || q.Status == "refunded"
		authorized = authorized || q.Status == "authorized"
	}
	want, ok := paymentStatusOf[pay.ProviderStatus]
	if !ok {
		want = providers.StatusUnknown
	}
	if pay.Status != want {
		t.Fatalf("provider status %q gave %q", pay.ProviderStatus, pay.Status)
	}
	switch {
	case moved && pay.Status != providers.StatusSucceeded:
		t.Fatalf("a captured attempt is hidden behind %q", pay.ProviderStatus)
	case !moved && authorized && pay.Status != providers.StatusAuthorized:
		t.Fatalf("an authorized attempt is hidden behind %q", pay.ProviderStatus)
	}
	found := false
	for _, q := range items {
		if q.Status != pay.ProviderStatus {
			continue
		}
		r := exactInt(t, "amount_refunded", q.AmountRefunded)
		if pay.Status == providers.StatusSucceeded {
			r = min(max(r, 0), pay.Amount)
		} else {
			r = 0
		}
		msg := ""
		if q.Status == "failed" {
			msg = q.ErrorDescription
		}
		found = found || (r == pay.AmountRefunded && msg == pay.ProviderMessage)
	}
	if !found {
		t.Fatalf("no attempt gives %+v", pay)
	}
}

// FuzzFindPayment feeds any orders list (200) to FindPayment: the order it
// follows is the newest one whose receipt is the reference and whose id
// is a valid order id (never an id that would change the call's path);
// nothing found is not_found, an unreadable list invalid_provider_reply.
func FuzzFindPayment(f *testing.F) {
	order := replyFixture(f, "order_created.json")
	f.Add([]byte(`{"entity":"collection","count":1,"items":[` + string(order) + `]}`))
	f.Add([]byte(`{"entity":"collection","count":2,"items":[` + strings.Replace(orderBody, "order_RB58MiP5SPFYyM", "order_Older1", 1) + `,` + orderBody + `]}`))
	f.Add([]byte(`{"entity":"collection","count":0,"items":[]}`))
	const reference = "ORD-1001"
	f.Fuzz(func(t *testing.T, listReply []byte) {
		run := func() (*providers.Payment, error, []string) {
			d := &memDoer{answer: func(method, path string) (int, []byte) {
				id, ok := strings.CutPrefix(path, "/v1/orders/")
				switch {
				case method != http.MethodGet:
				case path == "/v1/orders":
					return http.StatusOK, listReply
				case ok && strings.HasSuffix(id, "/payments"):
					return http.StatusOK, []byte(payments())
				case ok:
					b, _ := json.Marshal(map[string]any{"id": id, "entity": "order", "amount": 1999, "currency": "EUR",
						"receipt": reference, "status": "attempted", "created_at": 1756455561})
					return http.StatusOK, b
				}
				return unscripted()
			}}
			pay, err := fuzzProvider().FindPayment(context.Background(), d, reference)
			return pay, err, d.calls
		}
		pay, err, calls := run()
		pay2, err2, calls2 := run()
		same(t, []any{pay, err, calls}, []any{pay2, err2, calls2})
		for _, c := range calls[1:] {
			id := strings.TrimSuffix(strings.TrimPrefix(c, "GET /v1/orders/"), "/payments")
			if !orderIDRe.MatchString(id) {
				t.Fatalf("call %q names no valid order", c)
			}
		}
		if err != nil {
			if pay != nil {
				t.Fatal("payment returned with an error")
			}
			if e := canonicalErr(t, err); e.Type == providers.TypeNotFound {
				if e.RequestSent != providers.SentNo || len(calls) != 1 {
					t.Fatalf("not found: %+v after %v", e, calls)
				}
				return
			}
			garbageErr(t, err)
			return
		}
		var list wireList[wireOrder]
		wire(t, "orders", listReply, &list)
		var newest int64
		found := false
		for _, o := range list.Items {
			c := exactInt(t, "order created_at", o.CreatedAt)
			if o.Receipt == reference && orderIDRe.MatchString(o.ID) && (!found || c > newest) {
				newest, found = c, true
			}
		}
		ok := false
		for _, o := range list.Items {
			ok = ok || (o.ID == pay.ProviderReference && o.Receipt == reference && exactInt(t, "order created_at", o.CreatedAt) == newest)
		}
		if !found || !ok || len(calls) != 3 || calls[1] != "GET /v1/orders/"+pay.ProviderReference {
			t.Fatalf("found %+v after %v", pay, calls)
		}
	})
}

// FuzzCreatePayment feeds any order reply (200) to CreatePayment of the
// product example: an error is invalid_provider_reply; a payment is the
// replied order with exactly the requested amount and currency,
// requires_action, poll with the launch data, after exactly one call (the
// order: the single payment attempt is Launch's).
func FuzzCreatePayment(f *testing.F) {
	f.Add(replyFixture(f, "order_created.json"))
	f.Fuzz(func(t *testing.T, orderReply []byte) {
		run := func() (*providers.Payment, error, []string) {
			d := &memDoer{answer: func(method, path string) (int, []byte) {
				if method+" "+path == "POST /v1/orders" {
					return http.StatusOK, orderReply
				}
				return unscripted()
			}}
			pay, err := fuzzProvider().CreatePayment(context.Background(), d, productExample())
			return pay, err, d.calls
		}
		pay, err, calls := run()
		pay2, err2, calls2 := run()
		same(t, []any{pay, err, calls}, []any{pay2, err2, calls2})
		if len(calls) != 1 {
			t.Fatalf("calls = %v, want only the order", calls)
		}
		if err != nil {
			if pay != nil {
				t.Fatal("payment returned with an error")
			}
			garbageErr(t, err)
			return
		}
		req := productExample()
		var o wireOrder
		wire(t, "order", orderReply, &o)
		if !orderIDRe.MatchString(o.ID) {
			t.Fatalf("accepted order %q", o.ID)
		}
		if exactInt(t, "order amount", o.Amount) != req.Amount || o.Currency != req.Currency {
			t.Fatalf("accepted an order of %s %s for %d %s", o.Amount, o.Currency, req.Amount, req.Currency)
		}
		if pay.Object != "payment" || pay.ProviderReference != o.ID || pay.Reference != req.Reference || pay.Amount != req.Amount ||
			pay.Currency != req.Currency || pay.Status != providers.StatusRequiresAction || pay.ProviderStatus != "order:created" || !pay.Test {
			t.Fatalf("payment = %+v", pay)
		}
		checkCreated(t, pay.CreatedAt, exactInt(t, "order created_at", o.CreatedAt))
		checkJSON(t, pay)
		var launch paymentRequest
		if pay.NextAction == nil || !reflect.DeepEqual(*pay.NextAction, providers.NextAction{Type: "poll"}) ||
			json.Unmarshal([]byte(pay.LaunchData), &launch) != nil || launch.OrderID != o.ID || strings.Contains(pay.LaunchData, testKeySecret) {
			t.Fatalf("next action %+v / launch data %q, want poll and the launch data of order %q", pay.NextAction, pay.LaunchData, o.ID)
		}
	})
}

// checkRefund asserts rf is the canonical form of refund reply w.
func checkRefund(t *testing.T, rf *providers.Refund, w *wireRefund, reference string) {
	t.Helper()
	amount := exactInt(t, "refund amount", w.Amount)
	if !refundIDRe.MatchString(w.ID) || rf.ProviderReference != w.ID || rf.Object != "refund" || rf.Reference != reference ||
		rf.Currency != w.Currency || rf.ProviderStatus != w.Status || !rf.Test || rf.ID != "" || rf.PaymentID != "" {
		t.Fatalf("refund = %+v for reply %+v", rf, w)
	}
	if rf.Amount != amount || rf.Amount < 0 {
		t.Fatalf("amount %d for the reply's %s", rf.Amount, w.Amount)
	}
	want := providers.RefundPending
	switch w.Status {
	case "processed":
		want = providers.RefundSucceeded
	case "failed":
		want = providers.RefundFailed
	}
	if rf.Status != want {
		t.Fatalf("refund status %q gave %q", w.Status, rf.Status)
	}
	checkCreated(t, rf.CreatedAt, exactInt(t, "refund created_at", w.CreatedAt))
	checkJSON(t, rf)
}

// FuzzGetRefund feeds any refund reply (200) to GetRefund: an error is
// invalid_provider_reply; a refund is the asked one with the reply's exact
// amount (an integer ≥ 0) and a canonical status.
func FuzzGetRefund(f *testing.F) {
	f.Add(replyFixture(f, "refund_processed.json"))
	f.Add([]byte(`{"id":"rfnd_FP8QHiV938haTz","entity":"refund","amount":500,"currency":"EUR","payment_id":"pay_29QQoUBi66xm2f","receipt":"RF-1","status":"pending","created_at":1597078866}`))
	f.Add([]byte(`{"id":"rfnd_FP8QHiV938haTz","entity":"refund","amount":500,"currency":"EUR","status":"failed"}`))
	f.Fuzz(func(t *testing.T, reply []byte) {
		run := func() (*providers.Refund, error, []string) {
			d := &memDoer{answer: func(method, path string) (int, []byte) {
				if method+" "+path == "GET /v1/refunds/"+fuzzRefundID {
					return http.StatusOK, reply
				}
				return unscripted()
			}}
			rf, err := fuzzProvider().GetRefund(context.Background(), d, fuzzRefundID)
			return rf, err, d.calls
		}
		rf, err, calls := run()
		rf2, err2, calls2 := run()
		same(t, []any{rf, err, calls}, []any{rf2, err2, calls2})
		if err != nil {
			if rf != nil {
				t.Fatal("refund returned with an error")
			}
			garbageErr(t, err)
			return
		}
		var w wireRefund
		wire(t, "refund", reply, &w)
		if w.ID != fuzzRefundID {
			t.Fatalf("accepted the reply about %q", w.ID)
		}
		checkRefund(t, rf, &w, w.Receipt)
	})
}

// FuzzRefund feeds any payments list and refund reply (both 200) to
// Refund: it refunds the first captured (or refunded) attempt with a valid
// payment id of the payment's currency, or answers invalid_request
// without sending a refund; an unreadable reply is invalid_provider_reply;
// a refund has the reply's exact amount and a canonical status.
func FuzzRefund(f *testing.F) {
	refund := replyFixture(f, "refund_processed.json")
	f.Add([]byte(payments(attempt("pay_A1", "created", 100, 0), attempt("pay_29QQoUBi66xm2f", "captured", 101, 0))), refund)
	f.Add([]byte(payments(attempt("pay_29QQoUBi66xm2f", "refunded", 101, 1999))), refund)
	f.Add([]byte(payments(attempt("pay_A1", "failed", 100, 0))), refund)
	f.Add([]byte(payments(strings.Replace(attempt("pay_B2", "captured", 100, 0), "EUR", "INR", 1))), refund)
	f.Fuzz(func(t *testing.T, paymentsReply, refundReply []byte) {
		run := func() (*providers.Refund, error, []string) {
			d := &memDoer{answer: func(method, path string) (int, []byte) {
				switch {
				case method == http.MethodGet && path == "/v1/orders/"+fuzzOrderID+"/payments":
					return http.StatusOK, paymentsReply
				case method == http.MethodPost && strings.HasPrefix(path, "/v1/payments/") && strings.HasSuffix(path, "/refund"):
					return http.StatusOK, refundReply
				}
				return unscripted()
			}}
			req := refundReq()
			req.PaymentProviderRef = fuzzOrderID
			rf, err := fuzzProvider().Refund(context.Background(), d, req)
			return rf, err, d.calls
		}
		rf, err, calls := run()
		rf2, err2, calls2 := run()
		same(t, []any{rf, err, calls}, []any{rf2, err2, calls2})
		if err != nil && rf != nil {
			t.Fatal("refund returned with an error")
		}
		if err != nil && len(calls) == 1 {
			if e := canonicalErr(t, err); e.Type == providers.TypeInvalidRequest {
				if e.RequestSent != providers.SentNo || (e.Field != "payment_id" && e.Field != "currency") {
					t.Fatalf("refusal %+v", e)
				}
				return
			}
		}
		if err != nil {
			garbageErr(t, err)
			return
		}
		// The refunded attempt is the first captured one with a valid id,
		// and it is in the refund's currency.
		var list wireList[wirePayment]
		wire(t, "payments", paymentsReply, &list)
		var captured *wirePayment
		for i, q := range list.Items {
			if (q.Status == "captured" || q.Status == "refunded") && paymentIDRe.MatchString(q.ID) {
				captured = &list.Items[i]
				break
			}
		}
		if captured == nil || captured.Currency != refundReq().Currency || len(calls) != 2 ||
			calls[1] != "POST /v1/payments/"+captured.ID+"/refund" {
			t.Fatalf("refunded after %v (attempt %+v)", calls, captured)
		}
		var w wireRefund
		wire(t, "refund", refundReply, &w)
		checkRefund(t, rf, &w, refundReq().Reference)
	})
}
