package payabl

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/caddy-payments/caddy-payments/providers"
)

// Backoffice operations (reference §3), appended to the endpoint.
const (
	opPreauthorize = "payment_preauthorize"
	opRefund       = "payment_refund"
	opCFT          = "payment_cft"
	opDiagnose     = "tx_diagnose"
)

// newRequest builds the signed POST for op. params must already be
// validated (single Latin-1 values); merchantid is added here so no
// builder can forget it.
func (p *Provider) newRequest(ctx context.Context, op string, params url.Values) (*http.Request, error) {
	params.Set("merchantid", p.merchantID)
	body := encodeBody(compact(params), p.secret)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.base+"/"+op, strings.NewReader(body))
	if err != nil {
		return nil, providers.Internal("could not build the payabl request")
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=ISO-8859-1")
	req.Header.Set("Accept", "text/plain, application/xml")
	return req, nil
}

// call sends op and returns the reply body of a 200 reply. Any other HTTP
// status is a provider_error: payabl reports business errors in the body,
// so a non-200 means the request did not reach the API as intended (a
// wrong path gives 404, an overloaded diagnose 504). 5xx may pass on a
// retry; 4xx will not.
func (p *Provider) call(ctx context.Context, do providers.Doer, op string, params url.Values) ([]byte, error) {
	req, err := p.newRequest(ctx, op, params)
	if err != nil {
		return nil, err
	}
	reply, err := do.Do(ctx, req)
	if err != nil {
		return nil, err
	}
	if reply.StatusCode != http.StatusOK {
		return nil, providers.ProviderFault("http_"+strconv.Itoa(reply.StatusCode), http.StatusText(reply.StatusCode),
			providers.SentYes, reply.StatusCode >= 500)
	}
	return reply.Body, nil
}
