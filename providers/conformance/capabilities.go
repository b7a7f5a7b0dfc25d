package conformance

import (
	"encoding/json"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/caddy-payments/caddy-payments/providers"
)

// iso4217 lists the active ISO 4217 currency codes.
var iso4217 = strings.Fields(`
AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BRL
BSD BTN BWP BYN BZD CAD CDF CHF CLP CNY COP CRC CUP CVE CZK DJF DKK DOP DZD EGP
ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR
IQD IRR ISK JMD JOD JPY KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL
LYD MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MYR MZN NAD NGN NIO NOK NPR
NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD
SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT TND TOP TRY TTD TWD TZS UAH UGX
USD UYU UZS VED VES VND VUV WST XAF XCD XCG XOF XPF YER ZAR ZMW ZWG`)

var (
	countryRE = regexp.MustCompile(`^[A-Z]{2}$`)
	typeRE    = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)
	knownOps  = []string{
		providers.OpCreatePayment, providers.OpGetPayment, providers.OpFindPayment,
		providers.OpRefund, providers.OpGetRefund, providers.OpPayout, providers.OpGetPayout,
		providers.OpNotifications, providers.OpReturns,
	}
)

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

// checkList checks a list is non-empty (when required), duplicate-free
// and each entry valid.
func checkList(t *testing.T, name string, list []string, required bool, valid func(string) bool) {
	t.Helper()
	if required && len(list) == 0 {
		t.Errorf("%s is empty", name)
	}
	seen := map[string]bool{}
	for _, v := range list {
		if !valid(v) {
			t.Errorf("%s has invalid entry %q", name, v)
		}
		if seen[v] {
			t.Errorf("%s lists %q twice", name, v)
		}
		seen[v] = true
	}
}

func (s *suite) checkCapabilities(t *testing.T) {
	c := s.caps
	if !typeRE.MatchString(c.Type) {
		t.Errorf("Type %q is not a lowercase module name", c.Type)
	}
	if !c.Test {
		t.Errorf("Test = false; the conformance suite runs against test accounts only")
	}
	checkList(t, "Currencies", c.Currencies, true, func(v string) bool { return contains(iso4217, v) })
	checkList(t, "Countries", c.Countries, true, countryRE.MatchString)
	checkList(t, "PayoutCountries", c.PayoutCountries, c.Supports(providers.OpPayout), countryRE.MatchString)
	checkList(t, "Operations", c.Operations, true, func(v string) bool { return contains(knownOps, v) })
	checkList(t, "RequiredFields", c.RequiredFields, false, func(v string) bool { return v != "" })
	if !c.Supports(providers.OpCreatePayment) {
		t.Errorf("Operations lacks %q: every provider creates payments", providers.OpCreatePayment)
	}
	for k, v := range c.Limits {
		if k == "" || v <= 0 {
			t.Errorf("Limits[%q] = %d; keys must be field names and limits positive", k, v)
		}
	}
	if !reflect.DeepEqual(c, s.p.Capabilities()) {
		t.Errorf("Capabilities() differs between two calls")
	}

	// Operations must be backed by the interfaces the host type-asserts.
	_, refunder := s.p.(providers.Refunder)
	_, payer := s.p.(providers.PayoutSender)
	_, returner := s.p.(providers.Returner)
	for op, ok := range map[string]bool{
		providers.OpRefund: refunder, providers.OpGetRefund: refunder,
		providers.OpPayout: payer, providers.OpGetPayout: payer,
		providers.OpReturns: returner,
	} {
		if c.Supports(op) && !ok {
			t.Errorf("Operations lists %q but the provider does not implement the interface for it", op)
		}
	}

	// RequiredFields must name canonical JSON fields NewPayment fills.
	raw, _ := json.Marshal(s.h.NewPayment())
	var doc map[string]any
	_ = json.Unmarshal(raw, &doc)
	for _, f := range c.RequiredFields {
		if v := lookup(doc, f); v == nil || v == "" {
			t.Errorf("RequiredFields names %q, which is not a canonical create-payment field or which Harness.NewPayment leaves empty", f)
		}
	}
}

// lookup resolves a dotted JSON path ("customer.email").
func lookup(doc map[string]any, path string) any {
	var cur any = doc
	for _, part := range strings.Split(path, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = m[part]
	}
	return cur
}

func (s *suite) checkValidatePayment(t *testing.T) {
	req := s.newPayment(t)
	if err := s.p.ValidatePayment(req); err != nil {
		t.Fatalf("ValidatePayment rejected the harness's valid request: %v", err)
	}
	limit, ok := s.caps.Limits["reference"]
	if !ok {
		t.Skip(`Capabilities.Limits has no "reference" limit`)
	}
	// At the limit: accepted (pad the valid reference with digits).
	atLimit := *req
	atLimit.Reference = pad(req.Reference, limit)
	if err := s.p.ValidatePayment(&atLimit); err != nil {
		t.Errorf("ValidatePayment rejected a %d-character reference (the limit): %v", limit, err)
	}
	over := *req
	over.Reference = pad(req.Reference, limit+1)
	e := asError(t, s.p.ValidatePayment(&over), providers.TypeInvalidRequest, providers.SentNo)
	if e.Field != "reference" {
		t.Errorf("the over-long reference error names field %q, want \"reference\"", e.Field)
	}
	if e.Message == "" {
		t.Errorf("the over-long reference error has no message")
	}
	s.keep(e)
}

// pad cuts or extends ref with digits to exactly n characters.
func pad(ref string, n int) string {
	for len(ref) < n {
		ref += "0123456789"
	}
	return ref[:n]
}
