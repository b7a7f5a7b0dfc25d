package caddymodule

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"

	_ "github.com/caddy-payments/caddy-payments/providers/fake"
)

// provisionJSON provisions and validates a handler from JSON the way Caddy
// does, returning the first error.
func provisionJSON(t *testing.T, cfg string) error {
	t.Helper()
	h := new(Handler)
	if err := json.Unmarshal([]byte(cfg), h); err != nil {
		t.Fatal(err)
	}
	if h.StoragePath == "" {
		h.StoragePath = filepath.Join(t.TempDir(), "state.db")
	}
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	defer cancel()
	defer h.Cleanup()
	if err := h.Provision(ctx); err != nil {
		return err
	}
	return h.Validate()
}

func TestValidateRefusesBrokenConfigs(t *testing.T) {
	t.Setenv("PAYMENTS_T_WHSEC", specSecret)
	t.Setenv("PAYMENTS_T_EMPTY", "")
	prov := `"providers":{"fake":{"provider":"fake","endpoint":"http://127.0.0.1:1","secret":"s"}}`
	ok := `{` + prov + `,"api_tokens":["0123456789abcdef0"],"forward_secrets":["{env.PAYMENTS_T_WHSEC}"],"public_url":"https://shop.example/pay"}`
	if err := provisionJSON(t, ok); err != nil {
		t.Fatalf("a good config was refused: %v", err)
	}
	cases := map[string]struct{ cfg, want string }{
		"no provider":        {`{"api_tokens":["0123456789abcdef0"],"forward_secrets":["` + specSecret + `"],"public_url":"https://s.example"}`, "provider"},
		"unknown default":    {strings.Replace(ok, `"api_tokens"`, `"default_provider":"nope","api_tokens"`, 1), "default_provider"},
		"no token":           {strings.Replace(ok, `"api_tokens":["0123456789abcdef0"],`, ``, 1), "api_token"},
		"short token":        {strings.Replace(ok, `0123456789abcdef0`, `short`, 1), "api_token"},
		"token and off":      {strings.Replace(ok, `"api_tokens"`, `"disable_api_token":true,"api_tokens"`, 1), "api_token"},
		"no forward secret":  {strings.Replace(ok, `"forward_secrets":["{env.PAYMENTS_T_WHSEC}"],`, ``, 1), "forward_secret"},
		"not whsec":          {strings.Replace(ok, `{env.PAYMENTS_T_WHSEC}`, `plainsecret`, 1), "forward_secret"},
		"empty env secret":   {strings.Replace(ok, `{env.PAYMENTS_T_WHSEC}`, `{env.PAYMENTS_T_EMPTY}`, 1), "forward_secret"},
		"no public_url":      {strings.Replace(ok, `,"public_url":"https://shop.example/pay"`, ``, 1), "public_url"},
		"relative public":    {strings.Replace(ok, `https://shop.example/pay`, `/pay`, 1), "public_url"},
		"provider bad creds": {strings.Replace(ok, `"secret":"s"`, `"secret":"{env.PAYMENTS_T_EMPTY}"`, 1), "secret"},
		// As the Caddyfile's event_retention: at least 1m (1 ns would
		// prune every event on the next outbox tick).
		"event_retention 1ns":      {strings.Replace(ok, `"api_tokens"`, `"event_retention":1,"api_tokens"`, 1), "event_retention"},
		"event_retention negative": {strings.Replace(ok, `"api_tokens"`, `"event_retention":-60000000000,"api_tokens"`, 1), "event_retention"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			err := provisionJSON(t, c.cfg)
			if err == nil {
				t.Fatal("accepted")
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %q does not name %q", err, c.want)
			}
			if strings.Contains(err.Error(), "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw") {
				t.Fatal("error shows the secret")
			}
		})
	}
}
