package payabl

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/caddy-payments/caddy-payments/providers"
)

// A valid account for every country of the seed's payout table.
var validIBANs = map[string]string{
	"AT": "AT611904300234573201", "BE": "BE68539007547034", "BG": "BG80BNBG96611020345678",
	"HR": "HR1210010051863000160", "CY": "CY17002001280000001200527600", "FI": "FI2112345600000785",
	"FR": "FR1420041010050500013M02606", "DE": "DE89370400440532013000", "GR": "GR1601101250000000012300695",
	"IE": "IE29AIBK93115212345678", "IT": "IT60X0542811101000000123456", "LV": "LV80BANK0000435195001",
	"LT": "LT121000011101001000", "LU": "LU280019400644750000", "MT": "MT84MALT011000012345MTLCAST001S",
	"NL": "NL91ABNA0417164300", "PL": "PL61109010140000071219812874", "RO": "RO49AAAA1B31007593840000",
	"SK": "SK3112000000198742637541", "SI": "SI56263300012039086", "ES": "ES9121000418450200051332",
}

var validDomestic = map[string][2]string{
	"CZ": {"0800", "0000192000145399"}, "DK": {"1234", "3179681"}, "EE": {"22", "221020145685"},
	"HU": {"11773016", "111111180000000000000000"}, "NO": {"8601", "1117947"}, "PT": {"00020123", "1234567890154"},
	"SE": {"8327", "9123456789"}, "GB": {"601613", "31926819"},
}

func payoutTo(b *providers.BankAccount) *providers.CreatePayout {
	return &providers.CreatePayout{Reference: "PO-1", Amount: 999, Currency: "EUR", BankAccount: b,
		Customer: &providers.Customer{Email: "jane@example.com", BirthDate: "1990-02-08"}}
}

func TestPayoutTableCoversSeed(t *testing.T) {
	if len(payoutRules) != 29 || len(validIBANs)+len(validDomestic) != 29 {
		t.Fatalf("rules %d, fixtures %d", len(payoutRules), len(validIBANs)+len(validDomestic))
	}
}

func TestPayoutAccountsPerCountry(t *testing.T) {
	p := testProvider(t, "https://sandbox.payabl.com/pay/backoffice")
	for country, iban := range validIBANs {
		t.Run(country, func(t *testing.T) {
			v, err := buildPayout(payoutTo(&providers.BankAccount{Country: country, IBAN: iban}), "116")
			if err != nil {
				t.Fatalf("valid IBAN rejected: %v", err)
			}
			if v.Get("bankcountry") != country || v.Get("accountnumber") != iban || v.Has("banknumber") {
				t.Fatalf("params = %v", v)
			}
			// Grouped and lower case is the same IBAN.
			grouped := strings.ToLower(iban[:4]) + " " + iban[4:]
			if _, err := buildPayout(payoutTo(&providers.BankAccount{Country: country, IBAN: grouped}), "116"); err != nil {
				t.Fatalf("grouped IBAN rejected: %v", err)
			}
			// Wrong check digits: matches the table's regex, fails ValidIBAN.
			b := []byte(iban)
			for i := len(b) - 1; i > 4; i-- {
				if b[i] >= '0' && b[i] <= '9' {
					b[i] = '0' + (b[i]-'0'+1)%10
					break
				}
			}
			swapped := string(b)
			e := canonical(t, p.ValidatePayout(payoutTo(&providers.BankAccount{Country: country, IBAN: swapped})), providers.TypeInvalidRequest, "bank_account.iban")
			if !strings.Contains(e.Message, "valid IBAN") {
				t.Errorf("bad checksum message: %s", e.Message)
			}
			// Wrong shape: one character short breaks the table's rule, and
			// the message quotes the rule.
			rule, _ := payoutRuleFor(country)
			e = canonical(t, p.ValidatePayout(payoutTo(&providers.BankAccount{Country: country, IBAN: iban[:len(iban)-1]})), providers.TypeInvalidRequest, "bank_account.iban")
			if !strings.Contains(e.Message, rule.iban.String()) {
				t.Errorf("message %q does not quote %s", e.Message, rule.iban)
			}
			// Domestic numbers are not accepted for IBAN countries.
			canonical(t, p.ValidatePayout(payoutTo(&providers.BankAccount{Country: country, BankNumber: "1234", AccountNumber: "12345678"})), providers.TypeInvalidRequest, "bank_account.iban")
		})
	}
	for country, acc := range validDomestic {
		t.Run(country, func(t *testing.T) {
			rule, _ := payoutRuleFor(country)
			v, err := buildPayout(payoutTo(&providers.BankAccount{Country: country, BankNumber: acc[0], AccountNumber: acc[1]}), "116")
			if err != nil {
				t.Fatalf("valid account rejected: %v", err)
			}
			if v.Get("banknumber") != acc[0] || v.Get("accountnumber") != acc[1] || v.Get("bankcountry") != country {
				t.Fatalf("params = %v", v)
			}
			e := canonical(t, p.ValidatePayout(payoutTo(&providers.BankAccount{Country: country, BankNumber: acc[0] + "9999999999", AccountNumber: acc[1]})), providers.TypeInvalidRequest, "bank_account.bank_number")
			if !strings.Contains(e.Message, rule.bank.String()) {
				t.Errorf("message %q does not quote %s", e.Message, rule.bank)
			}
			e = canonical(t, p.ValidatePayout(payoutTo(&providers.BankAccount{Country: country, BankNumber: acc[0], AccountNumber: acc[1] + "X"})), providers.TypeInvalidRequest, "bank_account.account_number")
			if !strings.Contains(e.Message, rule.account.String()) {
				t.Errorf("message %q does not quote %s", e.Message, rule.account)
			}
			canonical(t, p.ValidatePayout(payoutTo(&providers.BankAccount{Country: country, BankNumber: acc[0]})), providers.TypeInvalidRequest, "bank_account.account_number")
			canonical(t, p.ValidatePayout(payoutTo(&providers.BankAccount{Country: country, IBAN: "DE89370400440532013000"})), providers.TypeInvalidRequest, "bank_account.iban")
		})
	}
	for _, c := range []string{"US", "CH", "se", ""} {
		canonical(t, p.ValidatePayout(payoutTo(&providers.BankAccount{Country: c, IBAN: "CH9300762011623852957"})), providers.TypeInvalidRequest, "bank_account.country")
	}
}

func TestPayoutOtherRules(t *testing.T) {
	p := testProvider(t, "https://sandbox.payabl.com/pay/backoffice")
	// By earlier payment.
	r := &providers.CreatePayout{Reference: "PO-1", Amount: 999, Currency: "EUR", PaymentID: "pay_x", PaymentProviderRef: "104579097"}
	v, err := buildPayout(r, "116")
	if err != nil || v.Get("transactionid") != "104579097" || v.Has("bankcountry") {
		t.Fatalf("by payment: %v %v", v, err)
	}
	both := *r
	both.BankAccount = &providers.BankAccount{Country: "FI", IBAN: validIBANs["FI"]}
	canonical(t, p.ValidatePayout(&both), providers.TypeInvalidRequest, "bank_account")
	canonical(t, p.ValidatePayout(&providers.CreatePayout{Reference: "PO-1", Amount: 999, Currency: "EUR"}), providers.TypeInvalidRequest, "bank_account")
	bad := *r
	bad.PaymentProviderRef = "x1"
	canonical(t, p.ValidatePayout(&bad), providers.TypeInvalidRequest, "payment_id")
	// Customer fields.
	x := payoutTo(&providers.BankAccount{Country: "FI", IBAN: validIBANs["FI"]})
	x.Customer.BirthDate = "1990/02/08"
	canonical(t, p.ValidatePayout(x), providers.TypeInvalidRequest, "customer.birth_date")
	x = payoutTo(&providers.BankAccount{Country: "FI", IBAN: validIBANs["FI"]})
	x.Reference = strings.Repeat("r", 31)
	canonical(t, p.ValidatePayout(x), providers.TypeInvalidRequest, "reference")
	x = payoutTo(&providers.BankAccount{Country: "FI", IBAN: validIBANs["FI"]})
	x.Amount = 0
	canonical(t, p.ValidatePayout(x), providers.TypeInvalidRequest, "amount")
}

// The seed's "new account details" request: the same fields and signature.
func TestPayoutSeedRequest(t *testing.T) {
	var got url.Values
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got, _ = url.ParseQuery(string(b))
		_, _ = w.Write([]byte("transactionid=105159149&transid=105159149&status=0&errormessage=&errmsg=&amount=9.99&price=9.99&currency=EUR&orderid=Payabl-Test&payment_method=116"))
	}))
	defer srv.Close()
	p := testProvider(t, srv.URL+"/pay/backoffice")
	req := &providers.CreatePayout{Reference: "Payabl-Test", Amount: 999, Currency: "EUR",
		BankAccount: &providers.BankAccount{Country: "FI", IBAN: "FI2618203060000015"},
		Customer:    &providers.Customer{BirthDate: "1990-02-08"}}
	po, err := p.CreatePayout(context.Background(), &providers.HTTPDoer{}, req)
	if err != nil {
		t.Fatal(err)
	}
	if po.ProviderReference != "105159149" || po.Status != providers.PayoutProcessing || po.Amount != 999 || !po.Test {
		t.Fatalf("payout = %+v", po)
	}
	// The seed's signed example plus our orderid: drop orderid and the
	// signature must be the seed's.
	got.Del("orderid")
	if signature(got, "b185") != "c9e4259d5b640210f21e248b7dfdc7894afa2b80" {
		t.Fatalf("fields sent differ from the seed example: %v", got)
	}
}

func TestPayoutReplyFailure(t *testing.T) {
	p := testProvider(t, "https://sandbox.payabl.com/pay/backoffice")
	req := payoutTo(&providers.BankAccount{Country: "FI", IBAN: validIBANs["FI"]})
	_, err := p.payoutFromReply(req, []byte("status=-5008&errormessage=CFT+aborted"))
	canonical(t, err, providers.TypeProviderDeclined, "")
	_, err = p.payoutFromReply(req, []byte("status=-6209&errormessage=MID+is+near+to+negative+balance"))
	canonical(t, err, providers.TypeProviderError, "")
}
