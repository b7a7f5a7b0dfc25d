package razorpay

import (
	"bytes"
	"context"
	"encoding/json"
	"net/url"

	"github.com/caddy-payments/caddy-payments/providers"
)

// VerifyReturn implements providers.Returner: the customer's browser
// posting to callback_url (reference §3.7).
//
// The order is the one the gateway put in callback_url (query order_id),
// never one the browser names: a success return must carry
// razorpay_payment_id and razorpay_signature = hex HMAC-SHA256(order_id +
// "|" + payment_id, key_secret), and a razorpay_order_id that differs from
// the query's is refused. A failure return (error[…] fields) is not
// signed by Razorpay; it only picks the merchant's failure URL, so it is
// accepted with success=false unless it names another order. The fields
// are read from the form body (documented for failures; assumed for
// success), a JSON body, or, for a GET, the query.
func (p *Provider) VerifyReturn(ctx context.Context, do providers.Doer, r *providers.IncomingNotification) (string, bool, error) {
	if r == nil {
		return "", false, unauthenticated("empty return")
	}
	orderID := r.Query.Get("order_id")
	if len(r.Query["order_id"]) != 1 || !orderIDRe.MatchString(orderID) {
		return "", false, unauthenticated("the return URL carries no valid order_id")
	}
	f := returnFields(r)
	if len(f["razorpay_signature"]) > 1 || len(f["razorpay_payment_id"]) > 1 || len(f["razorpay_order_id"]) > 1 {
		return "", false, unauthenticated("a signed return field is repeated")
	}
	if o := f.Get("razorpay_order_id"); o != "" && o != orderID {
		return "", false, unauthenticated("the return names another order")
	}
	payID, sig := f.Get("razorpay_payment_id"), f.Get("razorpay_signature")
	if payID != "" || sig != "" {
		if !paymentIDRe.MatchString(payID) || !verifyHex(sig, []byte(orderID+"|"+payID), []string{p.keySecret}) {
			return "", false, unauthenticated("razorpay_signature does not match")
		}
		return orderID, true, nil
	}
	if meta := f.Get("error[metadata]"); meta != "" {
		var m struct {
			OrderID string `json:"order_id"`
		}
		if json.Unmarshal([]byte(meta), &m) == nil && m.OrderID != "" && m.OrderID != orderID {
			return "", false, unauthenticated("the failure return names another order")
		}
	}
	return orderID, false, nil
}

// returnFields reads the return's fields: a JSON object body, else a
// form body, else (no body) the query.
func returnFields(r *providers.IncomingNotification) url.Values {
	body := bytes.TrimSpace(r.Body)
	if len(body) > 0 && body[0] == '{' {
		var m map[string]any
		out := url.Values{}
		if json.Unmarshal(body, &m) == nil {
			for k, v := range m {
				if s, ok := v.(string); ok {
					out.Set(k, s)
				}
			}
		}
		return out
	}
	if len(body) > 0 {
		f, err := url.ParseQuery(string(body))
		if err != nil {
			return url.Values{}
		}
		return f
	}
	out := url.Values{}
	for k, v := range r.Query {
		if k != "order_id" {
			out[k] = v
		}
	}
	return out
}
