package providers

import (
	"reflect"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

func TestOverridesParseValidateApply(t *testing.T) {
	d := caddyfile.NewTestDispenser("currencies sek eur\ncountries SE FI\nendpoint x")
	var o Overrides
	for d.Next() {
		ok, err := o.ParseOverride(d)
		if err != nil {
			t.Fatal(err)
		}
		if d.Val() == "x" || (d.Val() == "endpoint" && ok) {
			t.Fatal("endpoint taken as an override")
		}
		if !ok {
			d.RemainingArgs()
		}
	}
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	c := Capabilities{Currencies: []string{"USD"}, Countries: []string{"US"}}
	o.Apply(&c)
	if !reflect.DeepEqual(c.Currencies, []string{"SEK", "EUR"}) || !reflect.DeepEqual(c.Countries, []string{"SE", "FI"}) {
		t.Fatalf("%+v", c)
	}
	for _, bad := range []Overrides{{Currencies: []string{"EURO"}}, {Countries: []string{"SWE"}}, {Countries: []string{"SE", "SE"}}} {
		if bad.Validate() == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
	d = caddyfile.NewTestDispenser("currencies EUR\ncurrencies SEK")
	o = Overrides{}
	d.Next()
	if _, err := o.ParseOverride(d); err != nil {
		t.Fatal(err)
	}
	d.Next()
	if _, err := o.ParseOverride(d); err == nil {
		t.Fatal("a repeated currencies line was accepted")
	}
}
