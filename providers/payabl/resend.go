package payabl

import (
	"bytes"
	"context"
	"encoding/xml"
	"net/url"
	"strings"

	"github.com/caddy-payments/caddy-payments/providers"
)

// opResend is payabl's documented call that re-sends a transaction's last
// notification (reference §3.8, D-resend).
const opResend = "send_notification"

// resendResponse is the send_notification reply (XML, like tx_diagnose):
//
//	<response><process><error_message/><process_time/><status>0</status></process>
//	<transaction><notification_status><transaction_id_1><error_code>0</error_code>
//	<error_message/><notification_sent>SUCCESSFULL</notification_sent>
//	<transaction_id>104837645</transaction_id></transaction_id_1>
//	</notification_status></transaction></response>
//
// One <transaction_id_N> element per transaction asked for; the element
// name carries the position, so they are read generically.
type resendResponse struct {
	XMLName      xml.Name     `xml:"response"`
	Status       string       `xml:"process>status"`
	ErrorMessage string       `xml:"process>error_message"`
	Items        []resendItem `xml:"transaction>notification_status"`
}

// resendItem is one <notification_status>; its <transaction_id_N>
// children are read whatever their N.
type resendItem struct {
	Entries []struct {
		ErrorCode        string `xml:"error_code"`
		ErrorMessage     string `xml:"error_message"`
		NotificationSent string `xml:"notification_sent"`
		TransactionID    string `xml:"transaction_id"`
	} `xml:",any"`
}

// ResendNotification asks payabl to send the latest notification of the
// transaction ref again, signed as usual, to the notification URL it was
// created with (payabl's send_notification, reference §3.8). The host
// calls it for a payment stuck in processing instead of guessing its
// outcome; the notification itself arrives on the notification route and
// is verified like any other. It returns nil when payabl reports the
// notification sent; NotFound for an id that names no payabl transaction;
// otherwise a provider error.
func (p *Provider) ResendNotification(ctx context.Context, do providers.Doer, ref string) error {
	if !validTxID(ref) {
		return providers.NotFound("no payabl transaction with this id")
	}
	body, err := p.call(ctx, do, opResend, url.Values{"transactionid": {ref}})
	if err != nil {
		return err
	}
	return parseResend(body, ref)
}

// parseResend checks a send_notification reply for transaction ref.
func parseResend(body []byte, ref string) error {
	dec := xml.NewDecoder(bytes.NewReader(body))
	dec.CharsetReader = latin1Reader
	var r resendResponse
	if err := dec.Decode(&r); err != nil {
		return providers.Garbage("payabl send_notification reply is not the expected XML")
	}
	status := strings.TrimSpace(r.Status)
	code, ok := parseCode(status)
	if !ok {
		return providers.Garbage("payabl send_notification reply has no numeric process status")
	}
	msg := strings.TrimSpace(r.ErrorMessage)
	if code != codeOK {
		if noMatch(msg) {
			return providers.NotFound("no payabl transaction with this id")
		}
		_, retry := isFault(code)
		return providers.ProviderFault(status, msg, providers.SentYes, retry)
	}
	for _, group := range r.Items {
		for _, it := range group.Entries {
			if strings.TrimSpace(it.TransactionID) != ref {
				continue
			}
			itemCode := strings.TrimSpace(it.ErrorCode)
			sent := strings.ToUpper(strings.TrimSpace(it.NotificationSent))
			// payabl spells it "SUCCESSFULL"; the correct spelling is
			// accepted too.
			if (itemCode == "0" || itemCode == "") && strings.HasPrefix(sent, "SUCCESSFUL") {
				return nil
			}
			c, ok := parseCode(itemCode)
			retry := true
			if ok {
				_, retry = isFault(c)
			}
			return providers.ProviderFault(itemCode, strings.TrimSpace(it.ErrorMessage), providers.SentYes, retry || itemCode == "0")
		}
	}
	return providers.Garbage("payabl send_notification reply does not mention the transaction")
}
