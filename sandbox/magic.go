package sandbox

import "slices"

// MagicValue documents one input that makes the sandbox misbehave on
// purpose, so tests (and people) can provoke the failure paths a real
// provider only shows rarely.
type MagicValue struct {
	// Provider is the emulated provider ("payabl").
	Provider string `json:"provider"`
	// Operation is the provider operation the value applies to.
	Operation string `json:"operation"`
	// Field is the request field carrying the value.
	Field string `json:"field"`
	// Value is the exact wire value.
	Value string `json:"value"`
	// Effect says what the sandbox does.
	Effect string `json:"effect"`
}

// MagicValues lists every magic value of every emulated provider, in a
// stable order, for docs/sandbox.md and for tests.
func MagicValues() []MagicValue {
	return slices.Concat(payablMagicValues, razorpayMagicValues, paysageMagicValues)
}
