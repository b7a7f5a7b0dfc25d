package razorpay

import (
	"context"
	"errors"
	"net/url"
	"testing"

	"github.com/caddy-payments/caddy-payments/providers"
)

// The published payment-signature test vector (reference §8.3).
func TestPaymentSignatureVector(t *testing.T) {
	const want = "0d4e745a1838664ad6c9c9902212a32d627d68e917290b0ad5f08ff4561bc50f"
	if got := sign([]byte("order_IEIaMR65cu6nz3|pay_IH4NVgf4Dreq1l"), "EnLs21M47BllR3X8PSFtjtbd"); got != want {
		t.Fatalf("sign = %s", got)
	}
	p := &Provider{keySecret: "EnLs21M47BllR3X8PSFtjtbd"}
	ret := &providers.IncomingNotification{Method: "POST",
		Query: url.Values{"order_id": {"order_IEIaMR65cu6nz3"}},
		Body:  []byte("razorpay_payment_id=pay_IH4NVgf4Dreq1l&razorpay_order_id=order_IEIaMR65cu6nz3&razorpay_signature=" + want)}
	ref, ok, err := p.VerifyReturn(context.Background(), nil, ret)
	if err != nil || !ok || ref != "order_IEIaMR65cu6nz3" {
		t.Fatalf("VerifyReturn = %q, %v, %v", ref, ok, err)
	}
}

func TestVerifyReturn(t *testing.T) {
	p := testProvider(t, "http://127.0.0.1:1")
	const order = "order_9A33XWu170gUtm"
	sig := sign([]byte(order+"|pay_29QQoUBi66xm2f"), testKeySecret)
	q := url.Values{"order_id": {order}}
	in := func(body string) *providers.IncomingNotification {
		return &providers.IncomingNotification{Method: "POST", Query: q, Body: []byte(body)}
	}
	// §3.7 success example as JSON and as a form.
	for name, r := range map[string]*providers.IncomingNotification{
		"json": in(`{"razorpay_payment_id":"pay_29QQoUBi66xm2f","razorpay_order_id":"` + order + `","razorpay_signature":"` + sig + `"}`),
		"form": in("razorpay_payment_id=pay_29QQoUBi66xm2f&razorpay_order_id=" + order + "&razorpay_signature=" + sig),
		"get":  {Method: "GET", Query: url.Values{"order_id": {order}, "razorpay_payment_id": {"pay_29QQoUBi66xm2f"}, "razorpay_signature": {sig}}},
	} {
		ref, ok, err := p.VerifyReturn(context.Background(), nil, r)
		if err != nil || !ok || ref != order {
			t.Errorf("%s: %q %v %v", name, ref, ok, err)
		}
	}
	// §3.7 failure: form-encoded error[...] fields, not signed.
	ref, ok, err := p.VerifyReturn(context.Background(), nil, in(url.Values{
		"error[code]": {"BAD_REQUEST_ERROR"}, "error[description]": {"Payment failed"},
		"error[metadata]": {`{"payment_id":"pay_29QQoUBi66xm2f","order_id":"` + order + `"}`},
	}.Encode()))
	if err != nil || ok || ref != order {
		t.Fatalf("failure return: %q %v %v", ref, ok, err)
	}
	bad := map[string]*providers.IncomingNotification{
		"wrong signature":     in("razorpay_payment_id=pay_29QQoUBi66xm2f&razorpay_signature=" + sign([]byte(order+"|pay_Other"), testKeySecret)),
		"signed by webhook":   in("razorpay_payment_id=pay_29QQoUBi66xm2f&razorpay_signature=" + sign([]byte(order+"|pay_29QQoUBi66xm2f"), testWebhook)),
		"no signature":        in("razorpay_payment_id=pay_29QQoUBi66xm2f"),
		"other order in body": in("razorpay_payment_id=pay_29QQoUBi66xm2f&razorpay_order_id=order_Other1&razorpay_signature=" + sig),
		"failure other order": in(url.Values{"error[code]": {"X"}, "error[metadata]": {`{"order_id":"order_Other1"}`}}.Encode()),
		"no order in query":   {Method: "POST", Body: []byte("razorpay_payment_id=pay_29QQoUBi66xm2f&razorpay_signature=" + sig)},
		"bad order in query":  {Method: "POST", Query: url.Values{"order_id": {"../x"}}},
		"two orders in query": {Method: "POST", Query: url.Values{"order_id": {order, order}}},
		"repeated field":      in("razorpay_payment_id=pay_29QQoUBi66xm2f&razorpay_signature=" + sig + "&razorpay_signature=" + sig),
	}
	for name, r := range bad {
		if _, _, err := p.VerifyReturn(context.Background(), nil, r); !errors.Is(err, providers.ErrUnauthenticated) {
			t.Errorf("%s: err = %v", name, err)
		}
	}
}

// The payment signature covers order_id + "|" + payment_id (issue 10,
// item 2: signatures over concatenated fields can be re-cut). Both ids
// must match their strict patterns, so neither holds a "|" and a genuine
// signature for one (order, payment) pair verifies no other split of the
// same message; other messages Razorpay signs with the key secret
// (subscriptions: payment_id|subscription_id) do not verify as returns.
func TestReturnSignatureCannotBeRecut(t *testing.T) {
	p := testProvider(t, "http://127.0.0.1:1")
	ret := func(order, payID, sig string) *providers.IncomingNotification {
		return &providers.IncomingNotification{Method: "POST", Query: url.Values{"order_id": {order}},
			Body: []byte(url.Values{"razorpay_payment_id": {payID}, "razorpay_signature": {sig}}.Encode())}
	}
	// A genuine signature over "order_A|pay_B|pay_C" (were the ids free
	// text) could be split as (order_A, pay_B|pay_C) or (order_A|pay_B,
	// pay_C): both splits are refused.
	msg := "order_A1|pay_B1|pay_C1"
	sig := sign([]byte(msg), testKeySecret)
	for name, r := range map[string]*providers.IncomingNotification{
		"separator in the payment id": ret("order_A1", "pay_B1|pay_C1", sig),
		"separator in the order id":   ret("order_A1|pay_B1", "pay_C1", sig),
		"subscription signature":      ret("order_A1", "pay_B1", sign([]byte("pay_B1|sub_A1"), testKeySecret)),
		"empty ids":                   ret("order_", "pay_", sign([]byte("order_|pay_"), testKeySecret)),
	} {
		if _, _, err := p.VerifyReturn(context.Background(), nil, r); !errors.Is(err, providers.ErrUnauthenticated) {
			t.Errorf("%s: err = %v", name, err)
		}
	}
	// The ids the patterns accept carry no separator.
	for _, id := range []string{"order_A|B", "order_A B", "order_A%7C"} {
		if orderIDRe.MatchString(id) {
			t.Errorf("order id pattern accepts %q", id)
		}
	}
	for _, id := range []string{"pay_A|B", "pay_A\n", "pay_"} {
		if paymentIDRe.MatchString(id) {
			t.Errorf("payment id pattern accepts %q", id)
		}
	}
}
