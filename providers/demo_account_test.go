package providers_test

import (
	"testing"

	"github.com/caddy-payments/caddy-payments/providers"
)

// A demo account is loopback AND published demo secrets only: a loopback
// endpoint with one real secret is a real account (a local egress proxy
// or sidecar in front of the provider), and demo secrets on a public
// endpoint are no demo account either.
func TestIsDemoAccount(t *testing.T) {
	const loop, public = "http://127.0.0.1:8080/sandbox/payabl/pay/backoffice", "https://sandbox.payabl.com/pay/backoffice"
	for i, c := range []struct {
		endpoint string
		secrets  []string
		want     bool
	}{
		{loop, []string{"b185"}, true},
		{"http://[::1]:9080/sandbox/paysage", []string{"sandbox_secret_key", providers.DemoPaysagePublicKey}, true},
		{"http://localhost:1/x", []string{"sandbox_key_secret", "sandbox_webhook_secret", ""}, true},
		{loop, []string{"a-real-merchant-secret"}, false},
		{loop, []string{"b185", "a-real-merchant-secret"}, false},
		{loop, []string{"sandbox_secret_key", "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAother"}, false},
		{loop, nil, false},
		{loop, []string{""}, false},
		{public, []string{"b185"}, false},
		{"", []string{"b185"}, false},
	} {
		if got := providers.IsDemoAccount(c.endpoint, c.secrets...); got != c.want {
			t.Errorf("case %d: IsDemoAccount(%q, …) = %v, want %v", i, c.endpoint, got, c.want)
		}
	}
}
