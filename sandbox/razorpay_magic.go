package sandbox

// Razorpay magic amounts (subunits; the payment amount always equals the
// order amount). Any other amount behaves normally.
//
//	operation                            amount  effect
//	orders (create)                      1717    400 BAD_REQUEST_ERROR, no field, source business: the order is
//	                                             refused (a business decline of the create); nothing created
//	orders (create)                      1212    the reply is delayed by slow_delay; the order is created
//	                                             before the wait, so GET /v1/orders?receipt= finds it
//	orders (create)                      1111    garbage reply: HTTP 200, body "<html>oops"; nothing created
//	payments/create/json and /redirect   1313    400 BAD_REQUEST_ERROR "Payment failed" (source bank, reason
//	                                             payment_failed, metadata payment_id/order_id); the failed
//	                                             payment is recorded and payment.failed is sent
//	payment (any webhook)                1414    every webhook is delivered twice, same X-Razorpay-Event-Id, same bytes
//	Approve                              1515    payment.failed first (the customer returns with an error),
//	                                             after notify_delay late authorisation: payment.authorized,
//	                                             payment.captured, order.paid
//	payments/<id>/refund                 1616    refund answered pending (refund.created), then after
//	                                             notify_delay failed (refund.failed); the amount is refundable again
//
// The create-outcome values (1717, 1212, 1111) act on the order create:
// the gateway's create makes only the order, and the order's single
// payment attempt is made when the customer's browser is launched.
const (
	rzpMagicDecline     int64 = 1313
	rzpMagicSlow        int64 = 1212
	rzpMagicGarbage     int64 = 1111
	rzpMagicDuplicate   int64 = 1414
	rzpMagicLateAuth    int64 = 1515
	rzpMagicRefundFail  int64 = 1616
	rzpMagicOrderRefuse int64 = 1717
)

// razorpayMagicValues is the table above as data, returned by MagicValues.
var razorpayMagicValues = []MagicValue{
	{"razorpay", "payments/create/json, payments/create/redirect", "amount", "1313", "400 BAD_REQUEST_ERROR \"Payment failed\" (source bank, step payment_authorization, reason payment_failed, metadata payment_id and order_id); the failed payment is recorded and a payment.failed webhook is sent"},
	{"razorpay", "orders", "amount", "1717", "400 BAD_REQUEST_ERROR with no field (source business, reason NA): the order is refused, nothing is created"},
	{"razorpay", "orders", "amount", "1212", "reply delayed by slow_delay (default 35s) so the client times out; the order exists and GET /v1/orders?receipt= finds it"},
	{"razorpay", "orders", "amount", "1111", "garbage reply: HTTP 200, body \"<html>oops\" (not JSON); nothing is created"},
	{"razorpay", "orders + payments", "amount", "1414", "every webhook of this payment (and of its refunds) is delivered twice with the same X-Razorpay-Event-Id and body"},
	{"razorpay", "Approve", "amount", "1515", "late authorisation: the payment fails (payment.failed, failure callback), then after notify_delay it is authorized and captured (payment.authorized, payment.captured, order.paid)"},
	{"razorpay", "payments/<id>/refund", "amount", "1616", "refund answered with status pending (refund.created), then after notify_delay it fails (refund.failed) and the amount is refundable again"},
}
