package paysage

import (
	"net/http"

	"github.com/caddy-payments/caddy-payments/providers"
)

var _ providers.OriginalAuthenticator = (*Provider)(nil)

// OriginalAuth implements providers.OriginalAuthenticator: a webhook with
// a Content-Signature the gateway verified (RSA over the raw body) is
// authenticated as a whole, and the header goes with it. A webhook
// authenticated by HTTP Basic only has no authenticated original: the
// credentials are the shop's own secret and are never forwarded, and
// nothing else in the request proves where it came from.
func (p *Provider) OriginalAuth(in *providers.IncomingNotification, n *providers.Notification) (http.Header, bool) {
	sigs := in.Header.Values(signatureHeader)
	if len(sigs) != 1 || len(p.pubs) == 0 || n.Trust.Status != providers.SignedBody {
		return nil, false
	}
	return http.Header{signatureHeader: {sigs[0]}}, true
}
