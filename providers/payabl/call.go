package payabl

import (
	"context"
	"errors"
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

// callMoney sends a call that moves money (payment_preauthorize,
// payment_refund, payment_cft). payabl has no idempotency key, so when it
// is not known whether payabl acted — a 5xx reply, or (in the caller) a
// reply that cannot be read — trying again could pay twice: the error says
// request_sent "unknown", is not retryable, and tells the merchant to look
// the object up by its reference first. A 4xx (the request did not reach
// the API as intended) and transport errors from the Doer keep their own
// outcome.
func (p *Provider) callMoney(ctx context.Context, do providers.Doer, op string, params url.Values, what string) ([]byte, error) {
	body, err := p.call(ctx, do, op, params)
	var e *providers.Error
	if err != nil && errors.As(err, &e) && e.ProviderCode != nil && strings.HasPrefix(*e.ProviderCode, "http_5") {
		return nil, unknownOutcome(*e.ProviderCode, what)
	}
	if err != nil && errors.As(err, &e) && e.RequestSent == providers.SentUnknown {
		// A timeout or a connection lost after sending: the same unknown
		// outcome, never retryable (payabl has no idempotency key).
		out := *e
		out.Retryable = false
		out.Message = e.Message + "; whether the " + what + " was made is unknown; do not retry: look the " + what +
			" up by its reference first (" + lookupHint(what) + ")"
		return nil, &out
	}
	if err != nil {
		// A reply the Doer could not read (e.g. over its size limit).
		return nil, lookUp(err, what)
	}
	return body, nil
}

// unknownOutcome is the error of a money-moving call whose outcome cannot
// be known.
func unknownOutcome(code, what string) *providers.Error {
	e := providers.ProviderFault(code, "", providers.SentUnknown, false)
	e.Message = "payabl's reply did not say whether the " + what + " was made; do not retry: look the " + what +
		" up by its reference first (" + lookupHint(what) + ")"
	return e
}

// lookUp turns an unreadable reply to a money-moving call (Garbage) into
// the unknown-outcome error; other errors pass unchanged.
func lookUp(err error, what string) error {
	var e *providers.Error
	if errors.As(err, &e) && e.Code == "invalid_provider_reply" {
		out := unknownOutcome("", what)
		out.Message = "payabl's reply could not be understood (" + strings.TrimPrefix(e.Message, "the provider's reply could not be understood: ") +
			"), so whether the " + what + " was made is unknown; do not retry: look the " + what + " up by its reference first (" + lookupHint(what) + ")"
		out.Code = e.Code
		return out
	}
	return err
}

// lookupHint names the gateway route that finds the object.
func lookupHint(what string) string {
	switch what {
	case "payment":
		return "GET /payments?provider=<name>&reference=<reference>"
	case "refund":
		return "payabl knows it as external_id=<reference> on the payment's transaction, in its dashboard or tx_diagnose"
	}
	return "payabl knows it as orderid=<reference>: tx_diagnose type=orderid or its dashboard"
}
