package sandbox

// PaySage magic amounts (request.amount, minor units) of
// POST /beyag/transactions/payments. Any other amount behaves normally.
//
//	amount  effect
//	1313    declined at create: HTTP 200, status "failed", message "Payment was declined.", no form; no webhook
//	1212    reply delayed by slow_delay (default 35s); the payment exists before the wait, so a lookup by
//	        tracking_id or a repeat with the same RequestID finds it
//	1111    garbage reply: HTTP 200, Content-Type text/html, body "<html>oops"; nothing is created
//	1414    every webhook of this payment is delivered twice, byte for byte
const (
	psMagicDecline   int64 = 1313
	psMagicSlow      int64 = 1212
	psMagicGarbage   int64 = 1111
	psMagicDuplicate int64 = 1414
)

// paysageMagicValues is the table above as data, returned by MagicValues.
var paysageMagicValues = []MagicValue{
	{"paysage", "POST /beyag/transactions/payments", "request.amount", "1313", "declined at create: HTTP 200 with transaction status \"failed\", message \"Payment was declined.\" and no form; no webhook"},
	{"paysage", "POST /beyag/transactions/payments", "request.amount", "1212", "reply delayed by slow_delay (default 35s) so the client times out; the payment exists (pending) and a tracking_id lookup or a repeat with the same RequestID finds it"},
	{"paysage", "POST /beyag/transactions/payments", "request.amount", "1111", "garbage reply: HTTP 200, Content-Type text/html, body \"<html>oops\"; nothing is created"},
	{"paysage", "POST /beyag/transactions/payments", "request.amount", "1414", "every webhook of this payment is delivered twice, byte for byte (duplicate)"},
}
