package payabl

import (
	"context"
	"net/url"
	"strconv"
	"strings"
	"unicode"

	"github.com/caddy-payments/caddy-payments/providers"
)

// ValidatePayout implements providers.PayoutSender.
func (p *Provider) ValidatePayout(req *providers.CreatePayout) error {
	_, err := buildPayout(req, p.PaymentMethod)
	return err
}

// buildPayout maps a canonical payout to payment_cft (seed "Payouts"):
// either by an earlier transaction (transactionid = the payment's payabl
// id; payabl takes the bank account from it), or to new account details
// (bankcountry alpha-2, accountnumber = IBAN or account number,
// banknumber, email, birthday ddmmyyyy), checked against the seed's
// per-country table before anything is sent. The reference goes out as
// orderid (payabl echoes it), the gateway's notification URL as
// notification_url (payabl posts payout failures there). holder_name has
// no payabl field and is not sent.
func buildPayout(req *providers.CreatePayout, paymentMethod string) (url.Values, error) {
	if req.Reference == "" {
		return nil, providers.Missing("reference")
	}
	orderid, err := wireReference("reference", req.Reference)
	if err != nil {
		return nil, err
	}
	amount, err := wireAmount("amount", req.Amount, req.Currency)
	if err != nil {
		return nil, err
	}
	if err := wireURL("notification_url", req.NotificationURL); err != nil {
		return nil, err
	}
	v := url.Values{
		"orderid":        {orderid},
		"amount":         {amount},
		"currency":       {req.Currency},
		"payment_method": {paymentMethod},
	}
	if req.NotificationURL != "" {
		v.Set("notification_url", req.NotificationURL)
	}
	byPayment := req.PaymentID != "" || req.PaymentProviderRef != ""
	switch {
	case byPayment && req.BankAccount != nil:
		return nil, providers.Invalid("bank_account", "give either payment_id or bank_account, not both")
	case byPayment:
		if !validTxID(req.PaymentProviderRef) {
			return nil, providers.Invalid("payment_id", "payment_id does not name a payabl transaction")
		}
		v.Set("transactionid", req.PaymentProviderRef)
		return v, nil
	case req.BankAccount == nil:
		return nil, providers.Missing("bank_account")
	}
	bank, account, err := payoutAccount(req.BankAccount)
	if err != nil {
		return nil, err
	}
	v.Set("bankcountry", req.BankAccount.Country)
	v.Set("accountnumber", account)
	if bank != "" {
		v.Set("banknumber", bank)
	}
	if c := req.Customer; c != nil {
		email, err := wireEmail("customer.email", c.Email)
		if err != nil {
			return nil, err
		}
		birthday, err := wireBirthday("customer.birth_date", c.BirthDate)
		if err != nil {
			return nil, err
		}
		if email != "" {
			v.Set("email", email)
		}
		if birthday != "" {
			v.Set("birthday", birthday)
		}
	}
	return v, nil
}

// stripSpace removes whitespace (IBANs and account numbers are often
// written in groups).
func stripSpace(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) {
			return -1
		}
		return r
	}, s)
}

// payoutAccount validates a bank account against the seed's table and
// returns the banknumber and accountnumber to send. Errors name the
// canonical field and quote the table's rule.
func payoutAccount(b *providers.BankAccount) (bank, account string, err error) {
	if b.Country == "" {
		return "", "", providers.Missing("bank_account.country")
	}
	rule, ok := payoutRuleFor(b.Country)
	if !ok {
		return "", "", providers.Invalid("bank_account.country", "bank_account.country %q is not a payabl Trustly payout country (supported: %s)", b.Country, strings.Join(payoutCountries, ", "))
	}
	iban := strings.ToUpper(stripSpace(b.IBAN))
	bankNo := stripSpace(b.BankNumber)
	accNo := stripSpace(b.AccountNumber)
	if rule.iban != nil {
		if iban == "" {
			return "", "", providers.Invalid("bank_account.iban", "bank_account.iban is required for payouts to %s (payabl rule %s)", rule.country, rule.iban)
		}
		if bankNo != "" || accNo != "" {
			return "", "", providers.Invalid("bank_account.account_number", "payouts to %s take bank_account.iban only, not bank_number/account_number", rule.country)
		}
		if !rule.iban.MatchString(iban) {
			return "", "", providers.Invalid("bank_account.iban", "bank_account.iban does not match payabl's rule for %s: %s", rule.country, rule.iban)
		}
		if err := providers.ValidIBAN(iban); err != nil {
			return "", "", providers.Invalid("bank_account.iban", "bank_account.iban is not a valid IBAN: %v", err)
		}
		return "", iban, nil
	}
	if iban != "" {
		return "", "", providers.Invalid("bank_account.iban", "payouts to %s take bank_account.bank_number and bank_account.account_number, not an IBAN (payabl rules %s and %s)", rule.country, rule.bank, rule.account)
	}
	if bankNo == "" {
		return "", "", providers.Invalid("bank_account.bank_number", "bank_account.bank_number is required for payouts to %s (payabl rule %s)", rule.country, rule.bank)
	}
	if !rule.bank.MatchString(bankNo) {
		return "", "", providers.Invalid("bank_account.bank_number", "bank_account.bank_number does not match payabl's rule for %s: %s", rule.country, rule.bank)
	}
	if accNo == "" {
		return "", "", providers.Invalid("bank_account.account_number", "bank_account.account_number is required for payouts to %s (payabl rule %s)", rule.country, rule.account)
	}
	if !rule.account.MatchString(accNo) {
		return "", "", providers.Invalid("bank_account.account_number", "bank_account.account_number does not match payabl's rule for %s: %s", rule.country, rule.account)
	}
	return bankNo, accNo, nil
}

// CreatePayout implements providers.PayoutSender.
func (p *Provider) CreatePayout(ctx context.Context, do providers.Doer, req *providers.CreatePayout) (*providers.Payout, error) {
	params, err := buildPayout(req, p.PaymentMethod)
	if err != nil {
		return nil, err
	}
	body, err := p.callMoney(ctx, do, opCFT, params, "payout")
	if err != nil {
		return nil, err
	}
	out, err := p.payoutFromReply(req, body)
	if err != nil {
		return nil, lookUp(err, "payout")
	}
	return out, nil
}

// payoutFromReply maps the payment_cft reply. status 0 means payabl
// accepted the payout and passed it to Trustly; it is "processing", not
// succeeded, because payabl documents that a failure notification can
// follow right after the synchronous reply (insufficient balance). A
// later tx_diagnose with error_code 0 reports it succeeded.
func (p *Provider) payoutFromReply(req *providers.CreatePayout, body []byte) (*providers.Payout, error) {
	r, err := parseFormReply(body)
	if err != nil {
		return nil, err
	}
	if r.Status != codeOK && r.Status != codePending {
		return nil, r.failure()
	}
	if !validTxID(r.TransactionID) {
		return nil, providers.Garbage("payabl payout reply has no numeric transactionid")
	}
	if err := r.checkEcho(req.Amount, req.Currency); err != nil {
		return nil, err
	}
	return &providers.Payout{
		Object:            "payout",
		ProviderReference: r.TransactionID,
		Reference:         req.Reference,
		Amount:            req.Amount,
		Currency:          req.Currency,
		Status:            providers.PayoutProcessing,
		ProviderStatus:    strconv.Itoa(r.Status),
		ProviderMessage:   r.Message,
		Test:              p.test,
		CreatedAt:         p.clock().UTC(),
	}, nil
}

// GetPayout implements providers.PayoutSender via tx_diagnose type=tx:
// error_code 0 → succeeded, 2000 → processing, anything else → failed.
func (p *Provider) GetPayout(ctx context.Context, do providers.Doer, ref string) (*providers.Payout, error) {
	t, err := p.diagnoseTx(ctx, do, ref, "payout")
	if err != nil {
		return nil, err
	}
	// A row that does not say it is a payout (no type, or another kind)
	// is not taken for one.
	if txKind(t.Type) != "payout" {
		return nil, providers.NotFound("no payabl payout with this id")
	}
	amount, currency, err := t.amount()
	if err != nil {
		return nil, err
	}
	code, present, err := t.code()
	if err != nil {
		return nil, err
	}
	status := providers.PayoutFailed
	switch {
	case !present || code == codePending:
		status = providers.PayoutProcessing
	case code == codeOK:
		status = providers.PayoutSucceeded
	}
	return &providers.Payout{
		Object:            "payout",
		ProviderReference: t.TransactionID,
		Reference:         fromLatin1(t.OrderID),
		Amount:            amount,
		Currency:          currency,
		Status:            status,
		ProviderStatus:    t.ErrorCode,
		ProviderMessage:   t.ErrorMessage,
		Test:              p.test,
		CreatedAt:         t.created(),
	}, nil
}
