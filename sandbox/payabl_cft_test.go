package sandbox

import (
	"testing"
	"time"
)

// payoutSamples has one valid account per country of the seed's payout
// table (public example IBANs and bank numbers shaped by the table's regexes).
var payoutSamples = map[string]struct{ bank, account string }{
	"AT": {"", "AT611904300234573201"},
	"BE": {"", "BE68539007547034"},
	"BG": {"", "BG80BNBG96611020345678"},
	"HR": {"", "HR1210010051863000160"},
	"CY": {"", "CY17002001280000001200527600"},
	"CZ": {"0800", "0000192000145399"},
	"DK": {"0040", "0440116243"},
	"EE": {"22", "221020145685"},
	"FI": {"", "FI2112345600000785"},
	"FR": {"", "FR1420041010050500013M02606"},
	"DE": {"", "DE89370400440532013000"},
	"GR": {"", "GR1601101250000000012300695"},
	"HU": {"11773016", "117730161111101800000000"},
	"IE": {"", "IE29AIBK93115212345678"},
	"IT": {"", "IT60X0542811101000000123456"},
	"LV": {"", "LV80BANK0000435195001"},
	"LT": {"", "LT121000011101001000"},
	"LU": {"", "LU280019400644750000"},
	"MT": {"", "MT84MALT011000012345MTLCAST001S"},
	"NL": {"", "NL91ABNA0417164300"},
	"NO": {"8601", "1117947"},
	"PL": {"", "PL61109010140000071219812874"},
	"PT": {"00020123", "1234567890154"},
	"RO": {"", "RO49AAAA1B31007593840000"},
	"SK": {"", "SK3112000000198742637541"},
	"SI": {"", "SI56263300012039086"},
	"ES": {"", "ES9121000418450200051332"},
	"SE": {"8327", "9394351810"},
	"GB": {"601613", "31926819"},
}

func TestPayablCFTCountryTable(t *testing.T) {
	srv, _ := defaultSandbox(t)
	payout := func(country, bank, account string) string {
		p := map[string]string{"merchantid": "gateway_test", "amount": "9.99", "currency": "EUR", "payment_method": "116",
			"bankcountry": country, "accountnumber": account}
		if bank != "" {
			p["banknumber"] = bank
		}
		return call(t, srv, "payment_cft", signed(p, testSecret)).Get("status")
	}
	if len(payoutSamples) != len(payablPayoutRules) || len(payablPayoutRules) != 29 {
		t.Fatalf("%d samples for %d rules; the seed lists 29 countries", len(payoutSamples), len(payablPayoutRules))
	}
	for country, rule := range payablPayoutRules {
		s, ok := payoutSamples[country]
		if !ok {
			t.Errorf("no sample for %s", country)
			continue
		}
		t.Run(country, func(t *testing.T) {
			if got := payout(country, s.bank, s.account); got != "0" {
				t.Fatalf("valid %s payout: status %s", country, got)
			}
			if rule.iban {
				if s.bank != "" {
					t.Fatal("IBAN country sample has a bank number")
				}
				if got := payout(country, "", s.account[:len(s.account)-1]); got != "-1318" {
					t.Fatalf("short IBAN: status %s, want -1318", got)
				}
				if got := payout(country, "", ""); got != "-1318" {
					t.Fatalf("missing IBAN: status %s, want -1318", got)
				}
				return
			}
			if got := payout(country, "x", s.account); got != "-1313" {
				t.Fatalf("bad banknumber: status %s, want -1313", got)
			}
			if got := payout(country, "", s.account); got != "-1313" {
				t.Fatalf("missing banknumber: status %s, want -1313", got)
			}
			if got := payout(country, s.bank, "x"); got != "-1311" {
				t.Fatalf("bad accountnumber: status %s, want -1311", got)
			}
		})
	}

	for _, country := range []string{"", "US", "fi", "FIN", "CH"} {
		if got := payout(country, "", "FI2112345600000785"); got != "-1314" {
			t.Errorf("bankcountry %q: status %s, want -1314", country, got)
		}
	}
	// An IBAN of another country does not pass for FI.
	if got := payout("FI", "", "DE89370400440532013000"); got != "-1318" {
		t.Errorf("foreign IBAN: status %s", got)
	}
}

func TestPayablCFTFields(t *testing.T) {
	srv, _ := defaultSandbox(t)
	base := func() map[string]string {
		return map[string]string{"merchantid": "gateway_test", "amount": "9.99", "currency": "EUR", "payment_method": "116",
			"bankcountry": "FI", "accountnumber": "FI2112345600000785", "birthday": "08021990"}
	}
	tests := []struct {
		name   string
		change map[string]string
		status string
	}{
		{"valid", nil, "0"},
		{"method", map[string]string{"payment_method": "1"}, "-1316"},
		{"amount", map[string]string{"amount": "9.9"}, "-6102"},
		{"currency", map[string]string{"currency": "USD"}, "-6103"},
		{"birthday", map[string]string{"birthday": "1990-02-08"}, "-6115"},
		{"email", map[string]string{"email": "nope"}, "-6119"},
		{"unknown reference", map[string]string{"transactionid": "123456789"}, "-5008"},
		{"malformed reference", map[string]string{"transactionid": "abc"}, "-6000"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := base()
			for k, v := range tc.change {
				p[k] = v
			}
			reply := call(t, srv, "payment_cft", signed(p, testSecret))
			wantStatus(t, reply, tc.status)
		})
	}
	p := base()
	p["signature"] = testSign(p, "b185")
	wantStatus(t, call(t, srv, "payment_cft", p), "-999")
}

// TestPayablCFTByReference pays out against a credited deposit, then
// against that payout; a pending deposit is refused.
func TestPayablCFTByReference(t *testing.T) {
	rc := newReceiver(t)
	srv, _ := defaultSandbox(t)
	id := createPayment(t, srv, "19.99", rc.srv.URL+"/notifications/test").Get("transactionid")
	byRef := func(ref string) map[string]string {
		return signed(map[string]string{"merchantid": "gateway_test", "amount": "50.00", "currency": "EUR",
			"payment_method": "116", "transactionid": ref}, testSecret)
	}
	wantStatus(t, call(t, srv, "payment_cft", byRef(id)), "-5008")
	approveAndWait(t, srv.URL, rc, id)
	reply := call(t, srv, "payment_cft", byRef(id))
	wantStatus(t, reply, "0")
	if reply.Get("orderid") != "ORD-1001" {
		t.Fatalf("orderid %q, want the deposit's", reply.Get("orderid"))
	}
	wantStatus(t, call(t, srv, "payment_cft", byRef(reply.Get("transactionid"))), "0")
	// A successful payout sends no notification (server-to-server only).
	rc.none(t, 150*time.Millisecond)
	d := diagnose(t, srv, map[string]string{"type": "tx", "transactionid": reply.Get("transactionid")})
	if d.Transactions[0].Type != "cft" || d.Transactions[0].ErrorCode != "0" {
		t.Fatalf("cft diagnose %+v", d.Transactions[0])
	}
}
