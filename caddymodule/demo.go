package caddymodule

import (
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"strings"

	"github.com/caddy-payments/caddy-payments/providers"
)

// checkDemoSecrets refuses Caddyfile.example's published demo api_token
// and forward_secret (providers.DemoAPIToken, providers.DemoForwardSecret)
// unless every provider account of this handler is a demo account
// (providers.DemoAccounter): its endpoint is a loopback address AND every
// secret and key it holds is a published demo value, i.e. it is the
// embedded sandbox with the sandbox's own credentials. A loopback endpoint
// alone is not enough: a real account may be reached through a local
// egress proxy or sidecar on 127.0.0.1. So the example's {$VAR:default}
// fallbacks cannot reach a production start silently: the moment one
// account points at a real provider or holds a real secret, the demo values
// are refused. A provider module that does not implement
// providers.DemoAccounter counts as not a demo account. Errors name the
// option, the rule and the provider, never a value. Called from Provision
// once tokens, forward secrets and providers are loaded.
func (h *Handler) checkDemoSecrets() error {
	var demo []string
	demoHash := sha256.Sum256([]byte(providers.DemoAPIToken))
	for _, k := range h.keys {
		// api_token and every api_key.
		if subtle.ConstantTimeCompare(k.hash[:], demoHash[:]) == 1 {
			if k.name == apiTokenName {
				demo = append(demo, "api_token")
			} else {
				demo = append(demo, "api_key "+k.name)
			}
			break
		}
	}
	if demoKey, err := decodeWhsec(providers.DemoForwardSecret); err == nil {
		for _, k := range h.fwdKeys {
			if subtle.ConstantTimeCompare(k, demoKey) == 1 {
				demo = append(demo, "forward_secret")
				break
			}
		}
	}
	if len(demo) == 0 {
		return nil
	}
	for _, name := range h.names {
		if d, ok := h.providers[name].(providers.DemoAccounter); ok && d.DemoAccount() {
			continue
		}
		return fmt.Errorf("%s: Caddyfile.example's published demo value is accepted only while every provider account "+
			"is a demo account (a loopback endpoint, i.e. the embedded sandbox, and only the sandbox's published demo "+
			"secrets and keys), and provider %q is not: set a value of your own "+
			"(PAYMENTS_API_TOKEN, PAYMENTS_FORWARD_SECRET in the example)", strings.Join(demo, ", "), name)
	}
	return nil
}
