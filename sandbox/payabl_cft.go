package sandbox

import (
	"context"
	"net/http"
	"regexp"
)

// birthdayRE is payabl.'s birthday format, ddmmyyyy.
var birthdayRE = regexp.MustCompile(`^(0[1-9]|[12][0-9]|3[01])(0[1-9]|1[0-2])(19|20)[0-9]{2}$`)

// cft emulates POST /pay/backoffice/payment_cft, a Trustly payout, either
// to the account of an earlier successful deposit or payout (transactionid)
// or to new bank details (bankcountry + accountnumber [+ banknumber],
// checked against the seed's per-country table). Payouts are answered
// synchronously with status=0 and send no notification, except when they
// fail later (magic amount 66.66).
func (p *payabl) cft(w http.ResponseWriter, r *http.Request) error {
	f, ok, err := p.readSigned(w, r, func(e *payablErr) error { return writePayablError(w, e) })
	if !ok {
		return err
	}
	if e := checkMethod(f); e != nil {
		return writePayablError(w, e)
	}
	minor, e := checkAmountCurrency(f)
	if e != nil {
		return writePayablError(w, e)
	}
	if v := f["email"]; v != "" && (!maxLen(v, 50) || !validEmail(v)) {
		return writePayablError(w, errWrongEmail)
	}
	if v := f["birthday"]; v != "" && !birthdayRE.MatchString(v) {
		return writePayablError(w, errWrongBirthday)
	}
	if !maxLen(f["orderid"], 40) {
		return writePayablError(w, errMissingFields("orderid (max 40 characters)"))
	}
	if v := f["notification_url"]; v != "" && !validCallbackURL(v) {
		return writePayablError(w, errMissingFields("notification_url (absolute http(s) URL, max 255 characters)"))
	}

	po := &payablTxn{
		Kind:            kindCFT,
		MerchantID:      f["merchantid"],
		OrderID:         f["orderid"],
		Custom1:         f["custom1"],
		Amount:          minor,
		Currency:        f["currency"],
		NotificationURL: f["notification_url"],
	}
	ref := f["transactionid"]
	if ref == "" {
		if e := checkPayoutAccount(f); e != nil {
			return writePayablError(w, e)
		}
	} else if !transactionIDRE.MatchString(ref) {
		return writePayablError(w, errMissingFields("transactionid (numeric, max 50 digits)"))
	}

	p.mu.Lock()
	if ref != "" {
		src := p.txns[ref]
		if src == nil || !payoutSource(src) {
			p.mu.Unlock()
			return writePayablError(w, perr(-5008, "CFT aborted: transactionid must be a successful Trustly deposit or payout"))
		}
		po.ParentID = src.ID
		if po.OrderID == "" {
			po.OrderID = src.OrderID
		}
		if po.NotificationURL == "" {
			po.NotificationURL = src.NotificationURL
		}
	}
	p.insertLocked(po)
	p.mu.Unlock()

	amount := formatPayablAmount(minor)
	err = writePayablForm(w, []kv{
		{"transactionid", po.ID},
		{"transid", po.ID},
		{"status", "0"},
		{"errormessage", ""},
		{"errmsg", ""},
		{"amount", amount},
		{"price", amount},
		{"currency", po.Currency},
		{"orderid", po.OrderID},
		{"payment_method", "116"},
	})
	// payabl.: "the notification will be sent AFTER the synchronous response".
	if minor == payablMagicCFTFail {
		flush(w)
		p.env.goAsync(func(ctx context.Context) {
			p.mu.Lock()
			po.Code, po.Message = -6209, "MID is near to negative balance"
			n := noticeFor(po, kindCFT)
			n.cftFailed = true
			p.mu.Unlock()
			p.sendLatest(ctx, po, n)
		})
	}
	return err
}

// payoutSource reports whether t can be the reference of a payout: a
// credited deposit or a payout that has not failed. Caller holds p.mu.
func payoutSource(t *payablTxn) bool {
	switch t.Kind {
	case kindCapture:
		return t.PaymentState == stateCredited
	case kindCFT:
		return t.Code == 0
	}
	return false
}
