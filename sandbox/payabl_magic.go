package sandbox

// payabl. magic amounts. Any other amount behaves normally.
//
//	operation             amount  effect
//	payment_preauthorize  13.13   synchronous decline: status=-5002&errormessage=Payment failed, no redirect_url
//	payment_preauthorize  12.34   the reply is delayed by slow_delay (default 35s, past a 30s client timeout);
//	                              the payment is created before the wait, so tx_diagnose by orderid finds it
//	payment_preauthorize  11.11   garbage reply: HTTP 200 with body "<html>oops" (not form data); nothing created
//	payment_preauthorize  14.14   every notification for this payment (and its refunds) is sent twice
//	payment_preauthorize  15.15   after the credited notification, the payment is charged back: a type=chb
//	                              notification (errorcode=0, signed) and a row in tx_diagnose type=chb
//	payment_cft           66.66   payout accepted (status=0), then a failed-payout notification type=cft,
//	                              errorcode=-6209 "MID is near to negative balance", with a 40-hex SHA-1
//	                              security, as in payabl.'s own (undocumented) example
const (
	payablMagicDecline    int64 = 1313
	payablMagicSlow       int64 = 1234
	payablMagicGarbage    int64 = 1111
	payablMagicDuplicate  int64 = 1414
	payablMagicCFTFail    int64 = 6666
	payablMagicChargeback int64 = 1515
)

// payablMagicValues is the table above as data, returned by MagicValues.
var payablMagicValues = []MagicValue{
	{"payabl", "payment_preauthorize", "amount", "13.13", "synchronous decline: status=-5002&errormessage=Payment failed, no transactionid and no redirect_url"},
	{"payabl", "payment_preauthorize", "amount", "12.34", "reply delayed by slow_delay (default 35s) so the client times out; the payment exists and tx_diagnose type=orderid finds it"},
	{"payabl", "payment_preauthorize", "amount", "11.11", "garbage reply: HTTP 200, body \"<html>oops\" (not form data); nothing is created"},
	{"payabl", "payment_preauthorize", "amount", "14.14", "every notification of this payment and of its refunds is delivered twice (duplicate)"},
	{"payabl", "payment_preauthorize", "amount", "15.15", "after the credited notification the payment is charged back: a signed type=chb notification, and tx_diagnose type=chb lists the chargeback"},
	{"payabl", "payment_cft", "amount", "66.66", "payout accepted (status=0), then a failed-payout notification type=cft errorcode=-6209 \"MID is near to negative balance\" signed with 40-hex SHA-1"},
}
