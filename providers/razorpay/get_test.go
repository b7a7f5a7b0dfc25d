package razorpay

import (
	"context"
	"strconv"
	"testing"

	"github.com/caddy-payments/caddy-payments/providers"
)

const orderBody = `{"id":"order_RB58MiP5SPFYyM","entity":"order","amount":1999,"amount_paid":0,"amount_due":1999,"currency":"EUR","receipt":"ORD-1001","offer_id":null,"status":"attempted","attempts":2,"notes":[],"created_at":1756455561}`

func attempt(id, status string, created int64, refunded int64) string {
	return `{"id":"` + id + `","entity":"payment","amount":1999,"currency":"EUR","status":"` + status +
		`","order_id":"order_RB58MiP5SPFYyM","amount_refunded":` + itoa(refunded) + `,"refund_status":null,"captured":false,` +
		`"error_code":null,"error_description":` + map[bool]string{true: `"Payment failed"`, false: "null"}[status == "failed"] +
		`,"notes":[],"created_at":` + itoa(created) + `}`
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func payments(items ...string) string {
	out := `{"entity":"collection","count":` + itoa(int64(len(items))) + `,"items":[`
	for i, it := range items {
		if i > 0 {
			out += ","
		}
		out += it
	}
	return out + "]}"
}

// The order's status comes from its attempts (see decisive).
func TestGetPaymentStatusFromAttempts(t *testing.T) {
	cases := map[string]struct {
		items    []string
		want     providers.Status
		pstatus  string
		refunded int64
	}{
		"no attempt":                  {nil, providers.StatusRequiresAction, "order:attempted", 0},
		"json attempt only":           {[]string{attempt("pay_A1", "created", 100, 0)}, providers.StatusRequiresAction, "created", 0},
		"redirect attempt failed":     {[]string{attempt("pay_B2", "failed", 101, 0), attempt("pay_A1", "created", 100, 0)}, providers.StatusFailed, "failed", 0},
		"same second, newest first":   {[]string{attempt("pay_B2", "failed", 100, 0), attempt("pay_A1", "created", 100, 0)}, providers.StatusFailed, "failed", 0},
		"json attempt timed out":      {[]string{attempt("pay_B2", "created", 101, 0), attempt("pay_A1", "failed", 100, 0)}, providers.StatusRequiresAction, "created", 0},
		"authorized beats newer":      {[]string{attempt("pay_C3", "failed", 102, 0), attempt("pay_B2", "authorized", 101, 0)}, providers.StatusAuthorized, "authorized", 0},
		"captured":                    {[]string{attempt("pay_A1", "created", 100, 0), attempt("pay_B2", "captured", 101, 0)}, providers.StatusSucceeded, "captured", 0},
		"partially refunded":          {[]string{attempt("pay_B2", "captured", 101, 500)}, providers.StatusSucceeded, "captured", 500},
		"fully refunded":              {[]string{attempt("pay_B2", "refunded", 101, 1999)}, providers.StatusSucceeded, "refunded", 1999},
		"late authorisation captured": {[]string{attempt("pay_B2", "captured", 101, 0), attempt("pay_C3", "failed", 105, 0)}, providers.StatusSucceeded, "captured", 0},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			s := newScripted(t, map[string]canned{
				"GET /v1/orders/order_RB58MiP5SPFYyM":          {200, orderBody, ""},
				"GET /v1/orders/order_RB58MiP5SPFYyM/payments": {200, payments(c.items...), ""},
			})
			pay, err := testProvider(t, s.srv.URL).GetPayment(context.Background(), doer(), "order_RB58MiP5SPFYyM")
			if err != nil {
				t.Fatal(err)
			}
			if pay.Status != c.want || pay.ProviderStatus != c.pstatus || pay.AmountRefunded != c.refunded ||
				pay.ProviderReference != "order_RB58MiP5SPFYyM" || pay.Reference != "ORD-1001" || pay.Amount != 1999 || !pay.Test {
				t.Fatalf("payment = %+v", pay)
			}
			if c.want == providers.StatusFailed && pay.ProviderMessage != "Payment failed" {
				t.Errorf("provider message = %q", pay.ProviderMessage)
			}
		})
	}
}

func TestGetPaymentErrors(t *testing.T) {
	s := newScripted(t, map[string]canned{
		"GET /v1/orders/order_Missing1": {400, `{"error":{"code":"BAD_REQUEST_ERROR","description":"The id provided does not exist","source":"NA","step":"NA","reason":"input_validation_failed","metadata":{}}}`, ""},
		"GET /v1/orders/order_Other1":   {200, orderBody, ""},
	})
	p := testProvider(t, s.srv.URL)
	_, err := p.GetPayment(context.Background(), doer(), "order_Missing1")
	canonical(t, err, providers.TypeNotFound, "", providers.SentYes)
	_, err = p.GetPayment(context.Background(), doer(), "order_Other1")
	canonical(t, err, providers.TypeProviderError, "", providers.SentUnknown)
	for _, bad := range []string{"", "pay_X", "order_../x", "order_a/b"} {
		_, err = p.GetPayment(context.Background(), doer(), bad)
		canonical(t, err, providers.TypeNotFound, "", providers.SentNo)
	}
	if n := len(s.requests()); n != 2 {
		t.Fatalf("%d calls; malformed references must not be sent", n)
	}
}

// FindPayment looks orders up by receipt and takes the newest.
func TestFindPayment(t *testing.T) {
	older := `{"id":"order_Older1","entity":"order","amount":1999,"currency":"EUR","receipt":"ORD-1001","status":"created","notes":[],"created_at":1756455000}`
	s := newScripted(t, map[string]canned{
		"GET /v1/orders":                               {200, `{"entity":"collection","count":2,"items":[` + older + `,` + orderBody + `]}`, ""},
		"GET /v1/orders/order_RB58MiP5SPFYyM":          {200, orderBody, ""},
		"GET /v1/orders/order_RB58MiP5SPFYyM/payments": {200, payments(), ""},
	})
	p := testProvider(t, s.srv.URL)
	pay, err := p.FindPayment(context.Background(), doer(), "ORD-1001")
	if err != nil {
		t.Fatal(err)
	}
	if pay.ProviderReference != "order_RB58MiP5SPFYyM" {
		t.Fatalf("found %s", pay.ProviderReference)
	}
	if q := s.requests()[0].query; q != "receipt=ORD-1001" {
		t.Fatalf("query = %q", q)
	}
	s.mu.Lock()
	s.replies["GET /v1/orders"] = canned{200, `{"entity":"collection","count":0,"items":[]}`, ""}
	s.mu.Unlock()
	_, err = p.FindPayment(context.Background(), doer(), "ORD-404")
	canonical(t, err, providers.TypeNotFound, "", "")
}
