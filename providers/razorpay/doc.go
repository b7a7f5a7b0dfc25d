// Package razorpay is the Razorpay provider for Trustly payments
// (method "app", provider "trustly") over Razorpay's server-to-server API:
// JSON both ways, HTTP Basic key_id:key_secret on every call, integer
// subunit amounts, and webhooks signed with hex HMAC-SHA256 of the raw body.
// Wire facts and their sources: shared/reference/razorpay.md.
//
// # Flow: one payment attempt per order
//
// CreatePayment creates an order (POST /v1/orders, receipt = the merchant
// reference, auto-capture per order) and nothing else. Razorpay's
// documents disagree on whether an order may carry several payment
// attempts (reference §2.5: one page says "create a new order for every
// payment attempt … reusing the previous order ID will cause an error",
// others allow retries on the same order), so the gateway never relies on
// it: it makes exactly one attempt per order.
//
// The only documented Trustly reply of POST /v1/payments/create/json
// carries a "poll" next action and nothing to send the customer to
// (reference §3.4, §3.6), so the single attempt is made with the
// documented redirect variant, from the customer's browser:
//
//   - the create answers requires_action and carries LaunchData (the
//     payment body, no secret); the host gives the merchant a one-time
//     launch URL under its public_url as next_action (redirect);
//   - when the customer's browser opens it, Launch calls
//     POST /v1/payments/create/redirect on the order, with the browser's
//     user agent and referer, and the host serves Razorpay's HTML page
//     ("Processing, Please Wait…") to the browser. The launch URL works
//     once, so the order gets one attempt.
//
// The canonical provider reference is the ORDER id ("order_…"): it exists
// from the create on, before any attempt. The payment status is derived
// from the order's attempts (GET /v1/orders/{id}/payments): a captured (or
// refunded) attempt makes it succeeded, else an authorized attempt makes
// it authorized, else the newest attempt decides (created →
// requires_action, failed → failed); an order without attempts is
// requires_action. (Orders made by earlier versions of the gateway, which
// also made a JSON attempt at create, can hold two attempts; the rule
// covers them.)
//
// # Unknown outcomes
//
// Razorpay documents no idempotency for order create and payment create,
// and X-Refund-Idempotency for refunds (reference §10). A reply that leaves
// the outcome of one of these calls unknown (5xx, an unreadable reply, a
// timeout after the request was sent) is request_sent "unknown" and not
// retryable, and the message says how to find out (the payment by
// reference; the payment's refunds) — except a refund sent with
// X-Refund-Idempotency (the merchant gave an Idempotency-Key or a refund
// reference), which stays retryable with the same key.
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
// constant time. The signature covers the raw body, so every claim in it
// is signed (providers.SignedBody): the event key is a hash of the body
// alone (the X-Razorpay-Event-Id header is not signed and takes no part),
// the time is the body's created_at, and a webhook older than Razorpay's
// 24-hour retry window is acted on only through a fetch. With account_id
// set, a webhook whose signed account_id names another account is
// refused; without it, each account's webhook secret must be unique.
//
// The customer's return to callback_url is verified with the payment
// signature hex HMAC-SHA256(order_id|payment_id, key_secret), using the
// order id the gateway put in the callback URL.
//
// Signatures over concatenated fields can be re-cut when a field can
// contain the separator (issue 10, item 2). The payment signature joins
// two ids with "|": the order id must match ^order_[A-Za-z0-9]{1,40}$ and
// the payment id ^pay_[A-Za-z0-9]{1,40}$ before the signature is checked,
// so neither contains "|" and exactly one (order, payment) pair yields a
// given message. The same key secret signs Razorpay's other concatenated
// messages (subscriptions: payment_id|subscription_id; payment links:
// four fields), but none of them starts with "order_" and has exactly
// one "|" followed by "pay_", so none verifies as a return. The webhook
// signature covers the raw body and has no field boundary to move.
package razorpay
