package razorpay

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"

	"github.com/caddy-payments/caddy-payments/providers"
)

// request is one Razorpay API call.
type request struct {
	method string
	path   string     // after the base URL, starting with /v1/
	query  url.Values // optional
	body   any        // marshalled as JSON when not nil
	header http.Header
	// fields maps Razorpay field names in error envelopes to canonical
	// field names for this call (see errors.go).
	fields map[string]string
}

// newRequest builds the authenticated request. Every call carries HTTP
// Basic key_id:key_secret (reference §1); the body is JSON.
func (p *Provider) newRequest(ctx context.Context, r request) (*http.Request, error) {
	var body io.Reader
	if r.body != nil {
		b, err := json.Marshal(r.body)
		if err != nil {
			return nil, providers.Internal("could not encode the Razorpay request")
		}
		body = bytes.NewReader(b)
	}
	u := p.base + r.path
	if len(r.query) > 0 {
		u += "?" + r.query.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, r.method, u, body)
	if err != nil {
		return nil, providers.Internal("could not build the Razorpay request")
	}
	for k, v := range r.header {
		req.Header[k] = v
	}
	req.SetBasicAuth(p.keyID, p.keySecret)
	req.Header.Set("Accept", "application/json")
	if r.body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	return req, nil
}

// call sends r through the host's Doer and decodes a 2xx JSON reply into
// out, an entity of wire.go (nil: any 2xx body is accepted unread; see
// decodeEntity). Any other status becomes a
// canonical error (errors.go); a 2xx body that is not the JSON expected is
// Garbage (the call reached Razorpay, its outcome is unknown).
func (p *Provider) call(ctx context.Context, do providers.Doer, r request, out any) (*providers.Reply, error) {
	req, err := p.newRequest(ctx, r)
	if err != nil {
		return nil, err
	}
	reply, err := do.Do(ctx, req)
	if err != nil {
		return nil, err
	}
	if reply.StatusCode < 200 || reply.StatusCode > 299 {
		return nil, replyError(reply, r.fields)
	}
	if !decodeEntity(reply.Body, out) {
		return nil, providers.Garbage("the Razorpay reply is not the JSON expected")
	}
	return reply, nil
}
