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
