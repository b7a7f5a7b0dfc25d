package payabl

import (
	"context"
	"errors"
	"math"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/caddy-payments/caddy-payments/providers"
)

// Fuzz targets for payabl's reply parsers (the notification verifier has
// its own in fuzz_test.go). Every parser gets a body as payabl's server
// would send it, already capped by providers.HTTPDoer (MaxReply, 4 MiB):
// none of them reads an io.Reader of its own.
//
//   - FuzzParseFormReply: parseFormReply, the form-encoded synchronous
//     reply, with failure() and checkEcho().
//   - FuzzFormReplyMapping: paymentFromPreauth, refundFromReply and
//     payoutFromReply, the canonical objects built from that reply.
//   - FuzzParseDiagnose: parseDiagnose, the ISO-8859-1 XML tx_diagnose
//     reply, its per-transaction accessors, pickPayment, and GetPayment,
//     GetRefund, GetPayout and FindPayment answered with the body.

// fuzzCurrencies covers the exponents 2, 0 and 3.
var fuzzCurrencies = []string{"EUR", "SEK", "JPY", "KWD"}

// fuzzNow is the fixed clock of fuzzProvider.
var fuzzNow = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)

// fuzzProvider is a provisioned-looking provider built without Provision
// (which needs a Caddy context per call).
func fuzzProvider() *Provider {
	return &Provider{
		PaymentMethod: "116",
		merchantID:    "gateway_test",
		secret:        "b185",
		base:          "https://sandbox.payabl.com/pay/backoffice",
		test:          true,
		now:           func() time.Time { return fuzzNow },
	}
}

// replyDoer answers every call with a 200 carrying body.
type replyDoer struct{ body []byte }

func (d replyDoer) Do(_ context.Context, req *http.Request) (*providers.Reply, error) {
	if req.Method != http.MethodPost || !strings.HasPrefix(req.URL.String(), "https://sandbox.payabl.com/pay/backoffice/") {
		return nil, errors.New("unexpected request " + req.Method + " " + req.URL.String())
	}
	return &providers.Reply{StatusCode: http.StatusOK, Body: d.body}, nil
}

// addSeedFiles adds the contents of every file matching pattern.
func addSeedFiles(f *testing.F, pattern string) {
	f.Helper()
	files, err := filepath.Glob(pattern)
	if err != nil {
		f.Fatal(err)
	}
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
}

// formReplySeeds are the form replies of the package's tests (the seed's
// examples and the classification table) plus hostile ones.
var formReplySeeds = []string{
	// create_test.go, payout_test.go, refund_test.go
	"transactionid=104579097&transid=104579097&status=2000&errormessage=pending&errmsg=pending&amount=19.99&price=19.99&" +
		"currency=EUR&orderid=Payabl-Test&payment_method=116&redirect_url=https%3A%2F%2Fsandbox.payabl.com%2Fpay%2F73b4" +
		"08a26b3a06968cf3234140da43b6e803e574%2Fpayment%2Fredirect_to_bank&user_id=504459",
	"transactionid=5&status=0&errormessage=&amount=9.99&currency=EUR",
	"transactionid=5&status=2000&errormessage=pending",
	"transactionid=5&status=2000&amount=1.00&currency=EUR&redirect_url=https%3A%2F%2Fx.example%2F",
	"transactionid=105159149&transid=105159149&status=0&errormessage=&errmsg=&amount=9.99&price=9.99&currency=EUR&orderid=Payabl-Test&payment_method=116",
	"transactionid=6905399&transid=6905399&status=0&errormessage=&errmsg=&amount=5.00&price=5.00&currency=EUR&orderid=ORD-1001",
	"transactionid=2&status=2000&errormessage=pending",
	"status=-5002&errormessage=Payment+failed",
	"status=-2407&errormessage=Blocked",
	"status=-1318&errormessage=IBAN+wrong",
	"status=-999&errormessage=Unknown+error",
	"status=-6000&errormessage=Found+wrong+or+missing+fields",
	"status=-6113&errormessage=Wrong+firstname",
	"status=-5000&errormessage=Internal+error",
	"status=-5007&errormessage=Refund+aborted",
	"status=-5008&errormessage=CFT+aborted",
	"status=-6209&errormessage=MID+is+near+to+negative+balance",
	"status=0&errormessage=",
	"<html>oops",
	"",
	"status=abc",
	"status=2000&errormessage=pending&redirect_url=https%3A%2F%2Fx",
	"%zz",
	"status=2000&transactionid=7&redirect_url=javascript:alert(1)",
	// Nasty: invalid Latin-1/UTF-8, signs, overflowing codes and
	// amounts. More hostile replies are in testdata/fuzz/FuzzParseFormReply
	// and testdata/fuzz/FuzzFormReplyMapping.
	"transactionid=9&status=-5002&errormessage=Zahlung+f%FCr+J%F6rg+abgelehnt",
	"transactionid=9&status=2000&errormessage=%FF%FE%C3&redirect_url=https%3A%2F%2Fx.example%2F%E9",
	"transactionid=9&status=-0&amount=-0&currency=EUR",
	"transactionid=9&status=99999999999&amount=19.99",
	"transactionid=9&status=0&amount=1e400&currency=EUR",
	"transactionid=9&status=0&amount=92233720368547758.08&currency=EUR",
	"status=0\x00&transactionid=1",
}

// diagnoseSeeds are the XML replies of the package's tests plus hostile
// ones; the testdata/diagnose_*.xml fixtures are added from disk.
var diagnoseSeeds = []string{
	"",
	"<html>",
	"transactionid=1&status=0",
	"<response><process><status>x</status></process></response>",
	`<?xml version="1.0" encoding="KOI8-R"?><response/>`,
	`<response><process><error_message>Unknown error</error_message><status>-999</status></process></response>`,
	`<response><process><error_message>Found wrong or missing fields: no transaction matches</error_message><status>-6000</status></process></response>`,
	`<?xml version="1.0" encoding="ISO-8859-1"?><response><process><error_message/><status>0</status></process>` +
		`<transaction><amount>5.00</amount><creation_date>22.11.2026 09:00:00</creation_date><currency>EUR</currency>` +
		`<error_code>-5007</error_code><order_id>O</order_id><type>refund</type><transaction_id>77</transaction_id></transaction></response>`,
	// Nasty: amounts, codes, invalid UTF-8 without a declaration, Latin-1
	// with one, deep nesting, a DTD. More hostile replies are in
	// testdata/fuzz/FuzzParseDiagnose.
	`<response><process><status>0</status></process><transaction><transaction_id>1</transaction_id><amount>1e400</amount><currency>EUR</currency><error_code>0</error_code></transaction></response>`,
	`<response><process><status>0</status></process><transaction><transaction_id>1</transaction_id><amount>-0</amount><currency>EUR</currency><error_code>-0</error_code></transaction></response>`,
	"<response><process><status>0</status></process><transaction><transaction_id>1</transaction_id><order_id>\xff\xfe</order_id></transaction></response>",
	"<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><response><process><status>0</status></process><transaction><transaction_id>1</transaction_id><order_id>ORD-\xc5</order_id><amount>1</amount><currency>SEK</currency></transaction></response>",
	`<response><process><status>0</status></process>` + strings.Repeat("<transaction>", 200) + strings.Repeat("</transaction>", 200) + `</response>`,
	`<!DOCTYPE response [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]><response><process><status>&b;</status></process></response>`,
}

// replyError asserts err is the canonical error of a reply that was
// received: a *providers.Error whose request_sent is not "no" when the
// provider answered with an error or garbage (the request did reach it).
// types lists the error types the caller allows.
func replyError(t *testing.T, err error, types ...string) *providers.Error {
	t.Helper()
	var e *providers.Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T) is not a *providers.Error", err, err)
	}
	if e.Type == "" || e.Code == "" || e.Message == "" {
		t.Fatalf("incomplete error %+v", e)
	}
	allowed := false
	for _, typ := range types {
		allowed = allowed || e.Type == typ
	}
	if !allowed {
		t.Fatalf("error type %q not in %v (%v)", e.Type, types, e)
	}
	if e.Field != "" {
		t.Fatalf("reply error names request field %q", e.Field)
	}
	if a := providers.AsError(err); a != e {
		t.Fatalf("AsError does not return the error itself")
	}
	switch e.Type {
	case providers.TypeProviderDeclined:
		if e.RequestSent != providers.SentYes || e.Retryable || e.ProviderCode == nil || e.ProviderMessage == nil {
			t.Fatalf("decline %+v", e)
		}
		code, ok := parseCode(*e.ProviderCode)
		if fault, _ := isFault(code); !ok || fault || code == codeOK || code == codePending {
			t.Fatalf("decline with provider code %q", *e.ProviderCode)
		}
	case providers.TypeProviderError:
		if e.Code == "invalid_provider_reply" {
			// Garbage: sent, outcome unknown; never a provider code.
			if e.RequestSent != providers.SentUnknown || e.Retryable || e.ProviderCode != nil || e.ProviderMessage != nil {
				t.Fatalf("garbage %+v", e)
			}
			break
		}
		if e.Code != "provider_error" || e.RequestSent != providers.SentYes || e.ProviderCode == nil {
			t.Fatalf("provider error %+v", e)
		}
		code, ok := parseCode(*e.ProviderCode)
		if !ok || code == codeOK {
			t.Fatalf("provider error with provider code %q", *e.ProviderCode)
		}
		if _, retry := isFault(code); e.Retryable != retry {
			t.Fatalf("provider code %d: retryable %v, want %v", code, e.Retryable, retry)
		}
		if e.ProviderMessage != nil && *e.ProviderMessage == "" {
			t.Fatal("empty provider message kept")
		}
	case providers.TypeNotFound, providers.TypeNotSupported:
		// Reads only: nothing is created, so a retry cannot double-charge.
		if e.RequestSent != providers.SentNo || e.Retryable {
			t.Fatalf("%s %+v", e.Type, e)
		}
	default:
		t.Fatalf("unexpected error type %q", e.Type)
	}
	for _, s := range []*string{e.ProviderCode, e.ProviderMessage} {
		if s != nil && !utf8.ValidString(*s) {
			t.Fatalf("error holds invalid UTF-8 %q", *s)
		}
	}
	return e
}

// isGarbage reports whether err is the "reply not understood" error.
func isGarbage(err error) bool {
	var e *providers.Error
	return errors.As(err, &e) && e.Type == providers.TypeProviderError && e.Code == "invalid_provider_reply"
}

// checkAmountText asserts that a successfully parsed decimal amount is a
// non-negative integer that formats back to the same value.
func checkAmountText(t *testing.T, text, currency string, got int64) {
	t.Helper()
	if got < 0 {
		t.Fatalf("amount %q %s parsed to negative %d", text, currency, got)
	}
	s, err := providers.FormatMinor(got, currency)
	if err != nil {
		t.Fatalf("FormatMinor(%d, %s): %v", got, currency, err)
	}
	back, err := providers.ParseMinor(s, currency)
	if err != nil || back != got {
		t.Fatalf("amount %q %s: %d → %q → %d, %v", text, currency, got, s, back, err)
	}
}

// FuzzParseFormReply feeds arbitrary bodies to parseFormReply. It must
// return a reply or a garbage error, never both; a reply has an integer
// status that its raw text parses to and UTF-8 fields, and parses the same
// twice. failure() classifies every non-0/2000 status as a decline or a
// provider fault keeping the code, and checkEcho accepts exactly the
// echoed amount and currency.
func FuzzParseFormReply(f *testing.F) {
	for _, s := range formReplySeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := parseFormReply(body)
		if err != nil {
			if r != nil {
				t.Fatal("reply returned with an error")
			}
			replyError(t, err, providers.TypeProviderError)
			if !isGarbage(err) {
				t.Fatalf("parse error is not garbage: %v", err)
			}
			return
		}
		if r == nil {
			t.Fatal("nil reply without error")
		}
		if code, ok := parseCode(r.StatusRaw); !ok || code != r.Status {
			t.Fatalf("status %d from raw %q", r.Status, r.StatusRaw)
		}
		for _, s := range []string{r.StatusRaw, r.Message, r.TransactionID, r.Amount, r.Currency, r.OrderID, r.RedirectURL} {
			if !utf8.ValidString(s) {
				t.Fatalf("field %q is not UTF-8", s)
			}
		}
		again, err := parseFormReply(body)
		if err != nil || !reflect.DeepEqual(r, again) {
			t.Fatalf("not deterministic: %+v then %+v, %v", r, again, err)
		}

		if r.Status != codeOK && r.Status != codePending {
			ferr := r.failure()
			e := replyError(t, ferr, providers.TypeProviderDeclined, providers.TypeProviderError)
			if isGarbage(ferr) || *e.ProviderCode != strconv.Itoa(r.Status) {
				t.Fatalf("status %d: %+v", r.Status, e)
			}
			if fault, _ := isFault(r.Status); fault != (e.Type == providers.TypeProviderError) {
				t.Fatalf("status %d classified %s", r.Status, e.Type)
			}
			if msg := e.ProviderMessage; (msg == nil && r.Message != "") || (msg != nil && *msg != r.Message) {
				t.Fatalf("provider message %v, reply says %q", msg, r.Message)
			}
		}

		for _, cur := range fuzzCurrencies {
			switch {
			case r.Currency != "" && r.Currency != cur:
				if err := r.checkEcho(1999, cur); !isGarbage(err) {
					t.Fatalf("echo of currency %q accepted for %s: %v", r.Currency, cur, err)
				}
			case r.Amount == "":
				for _, a := range []int64{0, 1999, math.MaxInt64} {
					if err := r.checkEcho(a, cur); err != nil {
						t.Fatalf("no amount echoed, yet %d %s refused: %v", a, cur, err)
					}
				}
			default:
				got, perr := providers.ParseMinor(r.Amount, cur)
				if perr != nil {
					if err := r.checkEcho(1999, cur); !isGarbage(err) {
						t.Fatalf("unparseable amount %q %s accepted: %v", r.Amount, cur, err)
					}
					break
				}
				checkAmountText(t, r.Amount, cur, got)
				if err := r.checkEcho(got, cur); err != nil {
					t.Fatalf("echo %q %s refused for %d: %v", r.Amount, cur, got, err)
				}
				other := got + 1
				if got == math.MaxInt64 {
					other = got - 1
				}
				if err := r.checkEcho(other, cur); !isGarbage(err) {
					t.Fatalf("echo %q %s accepted for %d: %v", r.Amount, cur, other, err)
				}
			}
		}
	})
}

// FuzzFormReplyMapping feeds arbitrary bodies to paymentFromPreauth,
// refundFromReply and payoutFromReply, for requests in several currencies
// whose amount is the echoed one when it parses. Each returns an object or
// a canonical error (never both, deterministically); an error is the
// parser's garbage or failure() for a non-0/2000 status; an object has a
// canonical status matching the code, a numeric transaction id, the
// request's non-negative amount and currency, and a redirect only to an
// absolute http(s) URL. Asking for another amount than the echoed one
// fails.
func FuzzFormReplyMapping(f *testing.F) {
	for _, s := range formReplySeeds {
		f.Add([]byte(s))
	}
	p := fuzzProvider()
	f.Fuzz(func(t *testing.T, body []byte) {
		r, perr := parseFormReply(body)
		for _, cur := range fuzzCurrencies {
			amount := int64(1999)
			if perr == nil && r.Amount != "" {
				if a, err := providers.ParseMinor(r.Amount, cur); err == nil {
					amount = a
				}
			}
			mismatch := amount + 1
			if amount == math.MaxInt64 {
				mismatch = amount - 1
			}
			// wantErr checks an error against the parse: garbage when the
			// body is not a reply, the reply's own failure for a status
			// other than 0/2000, else garbage (id, echo or redirect).
			wantErr := func(what string, err error) {
				t.Helper()
				replyError(t, err, providers.TypeProviderDeclined, providers.TypeProviderError)
				switch {
				case perr != nil:
					if !reflect.DeepEqual(err, perr) {
						t.Fatalf("%s: %v, parse said %v", what, err, perr)
					}
				case r.Status != codeOK && r.Status != codePending:
					if !reflect.DeepEqual(err, r.failure()) {
						t.Fatalf("%s: %v, failure() says %v", what, err, r.failure())
					}
				default:
					if !isGarbage(err) {
						t.Fatalf("%s: status %d reply refused with %v", what, r.Status, err)
					}
				}
			}
			// wantOK checks what every object shares.
			wantOK := func(what, ref string, gotAmount int64, gotCur, provStatus, provMsg string) {
				t.Helper()
				if perr != nil || (r.Status != codeOK && r.Status != codePending) {
					t.Fatalf("%s accepted: parse %v", what, perr)
				}
				if ref != r.TransactionID || !validTxID(ref) {
					t.Fatalf("%s: provider reference %q", what, ref)
				}
				if gotAmount != amount || gotAmount < 0 || gotCur != cur {
					t.Fatalf("%s: %d %s, asked %d %s", what, gotAmount, gotCur, amount, cur)
				}
				if r.Currency != "" && r.Currency != cur {
					t.Fatalf("%s: reply currency %q accepted for %s", what, r.Currency, cur)
				}
				if provStatus != strconv.Itoa(r.Status) || provMsg != r.Message {
					t.Fatalf("%s: provider status %q message %q", what, provStatus, provMsg)
				}
			}

			preq := &providers.CreatePayment{Reference: "R", Amount: amount, Currency: cur}
			pay, err := p.paymentFromPreauth(preq, body)
			if err != nil {
				if pay != nil {
					t.Fatal("payment returned with an error")
				}
				wantErr("payment", err)
			} else {
				if pay == nil {
					t.Fatal("nil payment without error")
				}
				wantOK("payment", pay.ProviderReference, pay.Amount, pay.Currency, pay.ProviderStatus, pay.ProviderMessage)
				if !pay.Status.Valid() || pay.Object != "payment" || pay.Reference != "R" || !pay.Test || !pay.CreatedAt.Equal(fuzzNow) {
					t.Fatalf("payment %+v", pay)
				}
				na := pay.NextAction
				switch pay.Status {
				case providers.StatusAuthorized:
					if r.Status != codeOK || na != nil {
						t.Fatalf("authorized on %d, next action %+v", r.Status, na)
					}
				case providers.StatusRequiresAction:
					if r.Status != codePending || na == nil || na.Type != "redirect" || na.Method != "GET" || na.URL != r.RedirectURL {
						t.Fatalf("requires_action on %d, next action %+v", r.Status, na)
					}
					u, err := url.Parse(na.URL)
					if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
						t.Fatalf("redirect to %q", na.URL)
					}
				case providers.StatusProcessing:
					if r.Status != codePending || r.RedirectURL != "" || na == nil || na.Type != "poll" {
						t.Fatalf("processing on %d, next action %+v", r.Status, na)
					}
				default:
					t.Fatalf("payment status %q", pay.Status)
				}
				if r.Amount != "" {
					if _, err := p.paymentFromPreauth(&providers.CreatePayment{Reference: "R", Amount: mismatch, Currency: cur}, body); !isGarbage(err) {
						t.Fatalf("echo %q accepted for %d %s: %v", r.Amount, mismatch, cur, err)
					}
				}
			}
			pay2, err2 := p.paymentFromPreauth(preq, body)
			if !reflect.DeepEqual(pay, pay2) || !reflect.DeepEqual(err, err2) {
				t.Fatalf("payment not deterministic: %+v %v then %+v %v", pay, err, pay2, err2)
			}

			rreq := &providers.RefundRequest{Reference: "RF", Amount: amount, Currency: cur, PaymentProviderRef: "1"}
			rf, err := p.refundFromReply(rreq, body)
			if err != nil {
				if rf != nil {
					t.Fatal("refund returned with an error")
				}
				wantErr("refund", err)
			} else {
				if rf == nil {
					t.Fatal("nil refund without error")
				}
				wantOK("refund", rf.ProviderReference, rf.Amount, rf.Currency, rf.ProviderStatus, rf.ProviderMessage)
				want := providers.RefundSucceeded
				if r.Status == codePending {
					want = providers.RefundPending
				}
				if rf.Status != want || rf.Object != "refund" || rf.Reference != "RF" || !rf.Test || !rf.CreatedAt.Equal(fuzzNow) {
					t.Fatalf("refund %+v on %d", rf, r.Status)
				}
				if r.Amount != "" {
					if _, err := p.refundFromReply(&providers.RefundRequest{Amount: mismatch, Currency: cur, PaymentProviderRef: "1"}, body); !isGarbage(err) {
						t.Fatalf("refund echo %q accepted for %d %s: %v", r.Amount, mismatch, cur, err)
					}
				}
			}
			rf2, err2 := p.refundFromReply(rreq, body)
			if !reflect.DeepEqual(rf, rf2) || !reflect.DeepEqual(err, err2) {
				t.Fatal("refund not deterministic")
			}

			oreq := &providers.CreatePayout{Reference: "PO", Amount: amount, Currency: cur}
			po, err := p.payoutFromReply(oreq, body)
			if err != nil {
				if po != nil {
					t.Fatal("payout returned with an error")
				}
				wantErr("payout", err)
			} else {
				if po == nil {
					t.Fatal("nil payout without error")
				}
				wantOK("payout", po.ProviderReference, po.Amount, po.Currency, po.ProviderStatus, po.ProviderMessage)
				if po.Status != providers.PayoutProcessing || po.Object != "payout" || po.Reference != "PO" || !po.Test || !po.CreatedAt.Equal(fuzzNow) {
					t.Fatalf("payout %+v on %d", po, r.Status)
				}
				if r.Amount != "" {
					if _, err := p.payoutFromReply(&providers.CreatePayout{Amount: mismatch, Currency: cur}, body); !isGarbage(err) {
						t.Fatalf("payout echo %q accepted for %d %s: %v", r.Amount, mismatch, cur, err)
					}
				}
			}
			po2, err2 := p.payoutFromReply(oreq, body)
			if !reflect.DeepEqual(po, po2) || !reflect.DeepEqual(err, err2) {
				t.Fatal("payout not deterministic")
			}
		}
	})
}

// FuzzParseDiagnose feeds arbitrary bodies to parseDiagnose and, through a
// Doer that answers with the body, to GetPayment, GetRefund, GetPayout and
// FindPayment. parseDiagnose returns a reply or an error, never both,
// deterministically; an error is garbage or a failed query keeping
// payabl's non-zero code; a reply has process status 0 (or is an empty
// "nothing matched" reply) and trimmed UTF-8 fields. Per transaction,
// amounts are non-negative minor units of a valid currency, statuses are
// canonical and follow error_code, and pickPayment picks the most recent
// matching payment. The Get*/Find calls return canonical objects or
// canonical errors of a received reply.
func FuzzParseDiagnose(f *testing.F) {
	addSeedFiles(f, filepath.Join("testdata", "diagnose_*.xml"))
	for _, s := range diagnoseSeeds {
		f.Add([]byte(s))
	}
	p := fuzzProvider()
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := parseDiagnose(body)
		if err != nil {
			if r != nil {
				t.Fatal("reply returned with an error")
			}
			e := replyError(t, err, providers.TypeProviderError)
			if !isGarbage(err) {
				// A failed query: its code is the process status.
				if code, _ := parseCode(*e.ProviderCode); code == codeOK {
					t.Fatalf("failed query with status 0: %+v", e)
				}
			}
		} else {
			checkDiagnose(t, p, body, r)
		}

		ctx := context.Background()
		doer := replyDoer{body}
		ref := "104579002"
		reference := "ORD-Å"
		if err == nil {
			for _, tx := range r.Transactions {
				if validTxID(tx.TransactionID) {
					ref = tx.TransactionID
					if o := fromLatin1(tx.OrderID); o != "" {
						if _, werr := wireReference("reference", o); werr == nil {
							reference = o
						}
					}
					break
				}
			}
		}
		// gotErr checks a Get*/Find error: the parse's own error, or one
		// of the kinds the method documents.
		gotErr := func(what string, gerr error, types ...string) {
			t.Helper()
			replyError(t, gerr, types...)
			if err != nil && !reflect.DeepEqual(gerr, err) {
				t.Fatalf("%s: %v, parse said %v", what, gerr, err)
			}
		}

		pay, gerr := p.GetPayment(ctx, doer, ref)
		if gerr != nil {
			if pay != nil {
				t.Fatal("payment returned with an error")
			}
			gotErr("GetPayment", gerr, providers.TypeProviderError, providers.TypeNotFound)
		} else {
			checkDiagPayment(t, pay, err)
			if pay.ProviderReference != ref {
				t.Fatalf("GetPayment(%s) answered %s", ref, pay.ProviderReference)
			}
		}

		pay, gerr = p.FindPayment(ctx, doer, reference)
		if gerr != nil {
			if pay != nil {
				t.Fatal("payment returned with an error")
			}
			gotErr("FindPayment", gerr, providers.TypeProviderError, providers.TypeNotFound)
		} else {
			checkDiagPayment(t, pay, err)
			if pay.Reference != "" && pay.Reference != reference {
				t.Fatalf("FindPayment(%q) answered %q", reference, pay.Reference)
			}
		}

		rf, gerr := p.GetRefund(ctx, doer, ref)
		if gerr != nil {
			if rf != nil {
				t.Fatal("refund returned with an error")
			}
			gotErr("GetRefund", gerr, providers.TypeProviderError, providers.TypeNotFound, providers.TypeNotSupported)
		} else {
			if err != nil || rf.ProviderReference != ref || rf.Object != "refund" || rf.Amount < 0 || !providers.ValidCurrency(rf.Currency) {
				t.Fatalf("refund %+v (parse %v)", rf, err)
			}
			switch rf.Status {
			case providers.RefundPending, providers.RefundSucceeded, providers.RefundFailed:
			default:
				t.Fatalf("refund status %q", rf.Status)
			}
		}

		po, gerr := p.GetPayout(ctx, doer, ref)
		if gerr != nil {
			if po != nil {
				t.Fatal("payout returned with an error")
			}
			gotErr("GetPayout", gerr, providers.TypeProviderError, providers.TypeNotFound)
		} else {
			if err != nil || po.ProviderReference != ref || po.Object != "payout" || po.Amount < 0 || !providers.ValidCurrency(po.Currency) || !utf8.ValidString(po.Reference) {
				t.Fatalf("payout %+v (parse %v)", po, err)
			}
			switch po.Status {
			case providers.PayoutProcessing, providers.PayoutSucceeded, providers.PayoutFailed:
			default:
				t.Fatalf("payout status %q", po.Status)
			}
		}
	})
}

// checkDiagnose asserts the properties of a parsed tx_diagnose reply.
func checkDiagnose(t *testing.T, p *Provider, body []byte, r *diagResponse) {
	t.Helper()
	if r == nil {
		t.Fatal("nil reply without error")
	}
	code, ok := parseCode(r.Status)
	if !ok {
		t.Fatalf("accepted process status %q", r.Status)
	}
	if code != codeOK && (len(r.Transactions) != 0 || !noMatch(r.ErrorMessage)) {
		t.Fatalf("failed query %d accepted: %+v", code, r)
	}
	trimmed := func(s string) {
		t.Helper()
		if s != strings.TrimSpace(s) || !utf8.ValidString(s) {
			t.Fatalf("field %q is not trimmed UTF-8", s)
		}
	}
	trimmed(r.Status)
	trimmed(r.ErrorMessage)
	again, err := parseDiagnose(body)
	if err != nil || !reflect.DeepEqual(r, again) {
		t.Fatalf("not deterministic: %+v then %+v, %v", r, again, err)
	}

	for i := range r.Transactions {
		tx := &r.Transactions[i]
		for _, s := range []string{tx.TransactionID, tx.Amount, tx.Currency, tx.CreationDate, tx.ErrorCode, tx.ErrorMessage, tx.OrderID, tx.Type, tx.Custom1} {
			trimmed(s)
		}
		switch k := txKind(tx.Type); k {
		case "payment", "refund", "payout", "other":
		default:
			t.Fatalf("kind %q", k)
		}
		a, cur, aerr := tx.amount()
		if aerr != nil {
			if !isGarbage(aerr) || a != 0 || cur != "" {
				t.Fatalf("amount error %v (%d %s)", aerr, a, cur)
			}
		} else {
			if cur != tx.Currency || !providers.ValidCurrency(cur) {
				t.Fatalf("currency %q", cur)
			}
			checkAmountText(t, tx.Amount, cur, a)
		}
		c, present, cerr := tx.code()
		if cerr != nil {
			if !isGarbage(cerr) || present || tx.ErrorCode == "" {
				t.Fatalf("code error %v for %q", cerr, tx.ErrorCode)
			}
		} else if present != (tx.ErrorCode != "") || (present && c != mustAtoi(t, tx.ErrorCode)) || (!present && c != 0) {
			t.Fatalf("code %d %v from %q", c, present, tx.ErrorCode)
		}
		if ts := tx.created(); !ts.IsZero() && ts.Location() != time.UTC {
			t.Fatalf("created %v not UTC", ts)
		}
		if !tx.created().Equal(tx.created()) {
			t.Fatal("created not deterministic")
		}

		pay, perr := p.paymentFromTx(tx)
		switch {
		case aerr != nil:
			if pay != nil || !reflect.DeepEqual(perr, aerr) {
				t.Fatalf("payment %+v %v with amount error %v", pay, perr, aerr)
			}
		case cerr != nil:
			if pay != nil || !reflect.DeepEqual(perr, cerr) {
				t.Fatalf("payment %+v %v with code error %v", pay, perr, cerr)
			}
		default:
			if perr != nil || pay == nil {
				t.Fatalf("payment %+v %v", pay, perr)
			}
			checkDiagPayment(t, pay, nil)
			want := providers.StatusFailed
			switch {
			case !present:
				want = providers.StatusUnknown
			case c == codeOK:
				want = providers.StatusProcessing
			case c == codePending:
				want = providers.StatusRequiresAction
			}
			if wantConfirms := map[bool]providers.Status{true: providers.StatusSucceeded}[present && c == codeOK]; pay.Confirms != wantConfirms {
				t.Fatalf("payment %+v from %+v: confirms", pay, tx)
			}
			if pay.Status != want || pay.Amount != a || pay.Currency != cur || pay.ProviderReference != tx.TransactionID ||
				pay.ProviderStatus != tx.ErrorCode || pay.Reference != fromLatin1(tx.OrderID) {
				t.Fatalf("payment %+v from %+v", pay, tx)
			}
		}
	}

	refs := []string{"ORD-Å", ""}
	for _, tx := range r.Transactions {
		refs = append(refs, fromLatin1(tx.OrderID))
		if len(refs) > 8 {
			break
		}
	}
	for _, ref := range refs {
		checkPick(t, r.Transactions, ref)
	}
}

// mustAtoi parses a code already accepted by parseCode.
func mustAtoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatalf("code %q: %v", s, err)
	}
	return n
}

// checkDiagPayment asserts a payment built from a diagnose reply.
func checkDiagPayment(t *testing.T, pay *providers.Payment, parseErr error) {
	t.Helper()
	if parseErr != nil {
		t.Fatalf("payment %+v from a reply that did not parse: %v", pay, parseErr)
	}
	switch pay.Status {
	case providers.StatusUnknown, providers.StatusRequiresAction, providers.StatusFailed:
	case providers.StatusProcessing:
		if pay.Confirms != providers.StatusSucceeded {
			t.Fatalf("processing from a diagnose reply without confirms: %+v", pay)
		}
	default:
		t.Fatalf("payment status %q", pay.Status)
	}
	if !pay.Status.Valid() || pay.Object != "payment" || pay.Amount < 0 || !providers.ValidCurrency(pay.Currency) ||
		!utf8.ValidString(pay.Reference) || pay.NextAction != nil || !pay.Test {
		t.Fatalf("payment %+v", pay)
	}
	if !pay.CreatedAt.IsZero() && pay.CreatedAt.Location() != time.UTC {
		t.Fatalf("created_at %v", pay.CreatedAt)
	}
}

// checkPick asserts pickPayment returns a payment transaction of ref out
// of txs (or nil only when there is none), and the most recent one.
func checkPick(t *testing.T, txs []diagTx, ref string) {
	t.Helper()
	eligible := func(tx *diagTx) bool {
		return txKind(tx.Type) == "payment" && validTxID(tx.TransactionID) && (tx.OrderID == "" || fromLatin1(tx.OrderID) == ref)
	}
	got := pickPayment(txs, ref)
	var cands []*diagTx
	for i := range txs {
		if eligible(&txs[i]) {
			cands = append(cands, &txs[i])
		}
	}
	if got == nil {
		if len(cands) != 0 {
			t.Fatalf("no pick for %q among %d candidates", ref, len(cands))
		}
		return
	}
	inside := false
	for i := range txs {
		inside = inside || got == &txs[i]
	}
	if !inside || !eligible(got) {
		t.Fatalf("picked %+v for %q", got, ref)
	}
	for _, c := range cands {
		if c.created().After(got.created()) || (c.created().Equal(got.created()) && txIDLess(got.TransactionID, c.TransactionID)) {
			t.Fatalf("picked %+v for %q over the more recent %+v", got, ref, c)
		}
	}
	if again := pickPayment(txs, ref); again != got {
		t.Fatal("pick not deterministic")
	}
}

// Hangs and unbounded allocation: the fuzz targets run on small inputs,
// so the reply-sized worst cases are checked here. Replies reach the
// parsers as byte slices capped by providers.HTTPDoer at DefaultMaxReply
// (4 MiB); none of the parsers reads an io.Reader of its own (the XML
// charset reader only re-reads the body it is given). At that size each
// parser must finish, allocate at most a fixed multiple of the body, and
// allocate about four times what a quarter-sized body of the same shape
// does (linear, not quadratic, growth).
func TestReplyParsersBoundedOnMaxReply(t *testing.T) {
	if testing.Short() {
		t.Skip("large replies")
	}
	fill := func(size int, prefix, unit, suffix string) []byte {
		n := (size - len(prefix) - len(suffix)) / len(unit)
		return []byte(prefix + strings.Repeat(unit, n) + suffix)
	}
	p := fuzzProvider()
	ctx := context.Background()
	cases := []struct {
		name                 string
		prefix, unit, suffix string
		parse                func(b []byte)
	}{
		{"form many pairs", "status=0&transactionid=1", "&a=b", "", func(b []byte) { _, _ = parseFormReply(b) }},
		{"form one huge Latin-1 value", "status=-5002&errormessage=", "%FF", "", func(b []byte) { _, _ = parseFormReply(b) }},
		{"form huge raw invalid UTF-8", "status=2000&transactionid=1&redirect_url=", "\xe9", "", func(b []byte) {
			_, _ = p.paymentFromPreauth(&providers.CreatePayment{Amount: 1, Currency: "EUR"}, b)
		}},
		{"xml deep nesting", "<response><process><status>0</status></process>", "<transaction>", "", func(b []byte) { _, _ = parseDiagnose(b) }},
		{"xml many transactions", `<?xml version="1.0" encoding="ISO-8859-1"?><response><process><status>0</status></process>`,
			"<transaction><transaction_id>1</transaction_id><creation_date>01.01.2020</creation_date></transaction>", "</response>", func(b []byte) {
				_, _ = p.FindPayment(ctx, replyDoer{b}, "R")
			}},
		{"xml many empty transactions", "<response><process><status>0</status></process>", "<transaction/>", "</response>", func(b []byte) {
			_, _ = p.FindPayment(ctx, replyDoer{b}, "R")
		}},
		{"xml huge Latin-1 text", `<?xml version="1.0" encoding="ISO-8859-1"?><response><process><status>0</status><error_message>`, "\xe9",
			"</error_message></process></response>", func(b []byte) { _, _ = parseDiagnose(b) }},
		{"xml many attributes", "<response a0=\"\"", " a=\"x\"", "></response>", func(b []byte) { _, _ = parseDiagnose(b) }},
	}
	measure := func(parse func([]byte), body []byte) (uint64, time.Duration) {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		start := time.Now()
		parse(body)
		took := time.Since(start)
		runtime.ReadMemStats(&after)
		return after.TotalAlloc - before.TotalAlloc, took
	}
	const size = providers.DefaultMaxReply
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			small := fill(size/4, c.prefix, c.unit, c.suffix)
			body := fill(size, c.prefix, c.unit, c.suffix)
			if len(body) > size || len(body) < size-len(c.unit)-len(c.prefix)-len(c.suffix) {
				t.Fatalf("body of %d bytes", len(body))
			}
			allocSmall, _ := measure(c.parse, small)
			alloc, took := measure(c.parse, body)
			t.Logf("%d bytes: %v, %d bytes allocated (%.1f× the body; %.1f× a quarter-sized body)",
				len(body), took, alloc, float64(alloc)/float64(len(body)), float64(alloc)/float64(allocSmall+1))
			if took > 20*time.Second {
				t.Errorf("took %v", took)
			}
			if alloc > 128*uint64(len(body)) {
				t.Errorf("allocated %d bytes for a %d-byte reply", alloc, len(body))
			}
			if alloc > 6*allocSmall+1<<20 {
				t.Errorf("allocation grows faster than the body: %d bytes for %d, %d for %d", alloc, len(body), allocSmall, len(small))
			}
		})
	}
}
