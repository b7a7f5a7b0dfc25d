// Package razorpay is the Razorpay provider for Trustly payments
// (method "app", provider "trustly") over Razorpay's server-to-server API:
// JSON both ways, HTTP Basic key_id:key_secret on every call, integer
// subunit amounts, and webhooks signed with hex HMAC-SHA256 of the raw body.
// Wire facts and their sources: shared/reference/razorpay.md.
//
// # Flow
//
// CreatePayment creates an order (POST /v1/orders, receipt = the merchant
// reference, auto-capture per order) and then a payment on it
// (POST /v1/payments/create/json). The only documented Trustly reply of
// the JSON endpoint carries a "poll" next action and nothing to send the
// customer to (reference §3.4, §3.6: unconfirmed). So:
//
//   - when a reply does carry a "redirect" next action, the merchant gets
//     it as next_action;
//   - otherwise the payment carries LaunchData (the create body, no
//     secret) and the host gives the merchant a one-time launch URL under
//     its public_url. When the customer's browser opens it, Launch calls
//     the documented variant POST /v1/payments/create/redirect on the same
//     order, with the browser's user agent and referer, and the host serves
//     Razorpay's HTML page ("Processing, Please Wait…") to the browser.
//
// Consequence: an order can hold two payment attempts (the JSON one, which
// never reaches the bank, and the redirect one). The canonical provider
// reference is therefore the ORDER id ("order_…"), and the payment status
// is derived from all attempts of the order (GET /v1/orders/{id}/payments):
// a captured (or refunded) attempt makes the order succeeded, else an
// authorized attempt makes it authorized, else the newest attempt decides
// (created → requires_action, failed → failed); an order without attempts
// is requires_action.
//
// Which of the two is right for a live account (a redirect action in the
// JSON reply, or the redirect endpoint) is not confirmed by Razorpay's
// documents; the package handles both.
//
// # Statuses
//
// Razorpay payment statuses map as created → requires_action,
// authorized → authorized, captured → succeeded, refunded → succeeded
// (amount_refunded tells how much), failed → failed. A failed payment may
// later be authorized (late authorisation, up to 3–5 days): GetPayment
// reports what Razorpay says, and the host moves failed → authorized or
// succeeded only when such a fetch confirms it. Orders ask Razorpay to
// auto-capture anything authorised within 7200 minutes (5 days, the
// documented maximum), so a late authorisation is captured too, not
// refunded.
//
// # Webhooks and returns
//
// Webhooks are verified against every configured webhook secret (current
// and previous, so events signed before a rotation still verify), in
// constant time. The customer's return to callback_url is verified with
// the payment signature hex HMAC-SHA256(order_id|payment_id, key_secret),
// using the order id the gateway put in the callback URL.
package razorpay
