package providers

import "context"

// Resender is implemented by providers that can be asked to send a payment's notification again
// (payabl's documented send_notification). The reconciler uses it for a payment that stays in
// processing, instead of guessing its outcome from a fetch that cannot establish it.
type Resender interface {
	ResendNotification(ctx context.Context, do Doer, ref string) error
}
