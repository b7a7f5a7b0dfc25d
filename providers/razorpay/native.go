package razorpay

import (
	"net/http"

	"github.com/caddy-payments/caddy-payments/providers"
)

var _ providers.OriginalAuthenticator = (*Provider)(nil)

// OriginalAuth implements providers.OriginalAuthenticator: a Razorpay
// webhook is signed as a whole (X-Razorpay-Signature, HMAC-SHA256 of the
// raw body with the webhook secret), so its original authenticates every
// claim in it, and the header goes with it for the shop's own check.
func (p *Provider) OriginalAuth(in *providers.IncomingNotification, n *providers.Notification) (http.Header, bool) {
	sigs := in.Header.Values(headerSignature)
	if len(sigs) != 1 || n.Trust.Object != providers.SignedBody {
		return nil, false
	}
	return http.Header{headerSignature: {sigs[0]}}, true
}
