package caddymodule

import (
	"crypto/subtle"
	"fmt"
	"strings"

	"github.com/caddy-payments/caddy-payments/providers"
)

// checkDemoSecrets refuses Caddyfile.example's published demo api_token
// and forward_secret (providers.DemoAPIToken, providers.DemoForwardSecret)
// unless every provider account of this handler points at a loopback
// endpoint, i.e. at the embedded sandbox. So the example's {$VAR:default}
// fallbacks cannot reach a production start silently: the moment one
// account points at a real provider (or at a provider's public default
// endpoint), the demo values are refused. A provider module that does not
// report its endpoint (providers.Endpointer) counts as not loopback.
// Errors name the option and the rule, never the value. Called from
// Provision once tokens, forward secrets and providers are loaded.
func (h *Handler) checkDemoSecrets() error {
	var demo []string
	for _, t := range h.tokens {
		if subtle.ConstantTimeCompare(t, []byte(providers.DemoAPIToken)) == 1 {
			demo = append(demo, "api_token")
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
		ep, ok := h.providers[name].(providers.Endpointer)
		if ok && providers.IsLoopbackEndpoint(ep.APIEndpoint()) {
			continue
		}
		return fmt.Errorf("%s: Caddyfile.example's published demo value is accepted only while every provider account "+
			"points at a loopback endpoint (the embedded sandbox), and provider %q does not: set a value of your own "+
			"(PAYMENTS_API_TOKEN, PAYMENTS_FORWARD_SECRET in the example)", strings.Join(demo, ", "), name)
	}
	return nil
}
