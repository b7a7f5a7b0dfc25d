package paysage

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"

	"github.com/caddy-payments/caddy-payments/providers"
)

// APM API paths (reference §1, §7), appended to the endpoint.
const (
	pathPayments     = "/beyag/transactions/payments"
	pathRefunds      = "/beyag/transactions/refunds"
	pathTransaction  = "/beyag/transactions/" // + uid
	pathByTrackingID = "/beyag/transactions/tracking_id/"
)

// newRequest builds one authenticated API request. body, when not nil, is
// sent as JSON inside the {"request": …} envelope. requestID, when not
// empty, goes in the RequestID header (PaySage's idempotency key).
func (p *Provider) newRequest(ctx context.Context, method, path string, body any, requestID string) (*http.Request, error) {
	var rd *bytes.Reader
	if body != nil {
		b, err := json.Marshal(struct {
			Request any `json:"request"`
		}{body})
		if err != nil {
			return nil, providers.Internal("could not encode the PaySage request")
		}
		rd = bytes.NewReader(b)
	}
	var req *http.Request
	var err error
	if rd != nil {
		req, err = http.NewRequestWithContext(ctx, method, p.base+path, rd)
	} else {
		req, err = http.NewRequestWithContext(ctx, method, p.base+path, nil)
	}
	if err != nil {
		return nil, providers.Internal("could not build the PaySage request")
	}
	req.SetBasicAuth(p.shopID, p.secretKey)
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if requestID != "" {
		req.Header.Set("RequestID", requestID)
	}
	return req, nil
}

// requestID derives PaySage's RequestID header from the merchant's
// Idempotency-Key: a UUID-shaped SHA-256 of the shop, the operation and the
// key. The same key for the same operation always gives the same id, so
// PaySage answers a repeat with the first result (it keeps ids 24 h);
// a payment and a refund given the same key do not collide, and the
// merchant's raw key (which may be meaningful to them) is not sent.
func (p *Provider) requestID(op, key string) string {
	if key == "" {
		return ""
	}
	sum := sha256.Sum256([]byte("paysage-request-id\x00" + p.shopID + "\x00" + op + "\x00" + key))
	b := sum[:16]
	b[6] = b[6]&0x0f | 0x80 // version 8: custom, name-based
	b[8] = b[8]&0x3f | 0x80 // RFC 9562 variant
	h := hex.EncodeToString(b)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// call sends a request and returns the reply, whatever its HTTP status;
// the caller interprets it (see parseTransactionReply).
func (p *Provider) call(ctx context.Context, do providers.Doer, method, path string, body any, requestID string) (*providers.Reply, error) {
	req, err := p.newRequest(ctx, method, path, body, requestID)
	if err != nil {
		return nil, err
	}
	return do.Do(ctx, req)
}
