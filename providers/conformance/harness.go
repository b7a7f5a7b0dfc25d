// Package conformance is the test suite every provider package must pass.
// A provider's own test builds a Harness around its fake provider server
// (or a sandbox) and calls Run; the suite then drives the provider through
// the providers.Provider contract over real HTTP and checks what the host
// relies on: canonical objects, canonical errors with the right
// request_sent, notification authentication and event keys.
//
// Subtests are skipped only when the provider's Capabilities say the
// operation is unsupported; a missing harness piece the suite needs is a
// failure, so no check passes vacuously.
package conformance

import (
	"testing"
	"time"

	"github.com/caddy-payments/caddy-payments/providers"
)

// Harness is what a provider package gives the suite.
type Harness struct {
	// Name is the account (block) name, used to check that provider
	// references survive providers.EncodeID/DecodeID. Required.
	Name string
	// Provider is a provisioned provider pointed at the provider's fake
	// server (or sandbox), in test mode. Required.
	Provider providers.Provider
	// Doer does real HTTP (loopback for a fake server). Required. The suite
	// uses copies with other timeouts for the slow and unreachable checks,
	// and caps Timeout at 10s for the rest.
	Doer *providers.HTTPDoer
	// Secrets are the account's credentials: none may appear in any error,
	// canonical object or ProviderEvent the provider returns. Required.
	Secrets []string

	// NewPayment returns a valid canonical request with a reference never
	// used before and an amount of at least 2 (so a partial refund exists),
	// with NotificationURL (and whatever Capabilities.RequiredFields names)
	// set. Required.
	NewPayment func() *providers.CreatePayment
	// NewPayout returns a valid canonical payout request with a fresh
	// reference. Required when Capabilities lists "payout".
	NewPayout func() *providers.CreatePayout

	// Decline, Garbage and Slow mutate a valid request so the fake server
	// declines it, answers 200 with a body that is not a valid reply, or
	// answers only after SlowTimeout. The mutated request must still pass
	// ValidatePayment. Required.
	Decline, Garbage, Slow func(*providers.CreatePayment)
	// SlowTimeout is the Doer timeout used for the Slow check (500ms when
	// zero); the server's delay must be well above it.
	SlowTimeout time.Duration

	// Complete drives the provider's hosted checkout for a payment the
	// suite created (approve or decline) and returns, in order, the
	// notifications the provider sent about it, captured raw. Required.
	Complete func(t *testing.T, p *providers.Payment, approve bool) []*providers.IncomingNotification
	// Tamper returns a copy of a valid notification with a signed field or
	// the signature changed. Unsigned returns a copy with the signature or
	// credentials removed. Both must leave the input untouched. Required
	// unless every notification the provider returns is unverifiable.
	Tamper, Unsigned func(n *providers.IncomingNotification) *providers.IncomingNotification
}

// harnessErrors lists what is missing from h.
func harnessErrors(h Harness) []string {
	var errs []string
	need := func(ok bool, what string) {
		if !ok {
			errs = append(errs, what)
		}
	}
	need(h.Name != "", "Name is empty")
	need(h.Provider != nil, "Provider is nil")
	need(h.Doer != nil, "Doer is nil")
	need(len(h.Secrets) > 0, "Secrets is empty")
	for _, s := range h.Secrets {
		need(len(s) >= 4, "a Secrets entry is shorter than 4 characters (too short to search for)")
	}
	need(h.NewPayment != nil, "NewPayment is nil")
	need(h.Complete != nil, "Complete is nil")
	need(h.Decline != nil, "Decline is nil")
	need(h.Garbage != nil, "Garbage is nil")
	need(h.Slow != nil, "Slow is nil")
	return errs
}
