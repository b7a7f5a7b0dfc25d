package fake

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/url"

	"github.com/caddy-payments/caddy-payments/providers"
)

// call sends one API request through the host's Doer and decodes a 2xx
// JSON reply into out. Non-2xx replies become canonical errors.
func (p *Provider) call(ctx context.Context, do providers.Doer, method, path string, in, out any) error {
	var body *bytes.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return providers.Internal("could not encode the provider request")
		}
		body = bytes.NewReader(b)
	} else {
		body = bytes.NewReader(nil)
	}
	req, err := http.NewRequestWithContext(ctx, method, p.base+path, body)
	if err != nil {
		return providers.Internal("could not build the provider request")
	}
	req.Header.Set("Authorization", "Bearer "+p.secret)
	req.Header.Set("Accept", "application/json")
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	reply, err := do.Do(ctx, req)
	if err != nil {
		return err // already a *providers.Error from the Doer
	}
	if reply.StatusCode/100 == 2 {
		if err := json.Unmarshal(reply.Body, out); err != nil {
			return providers.Garbage("the reply is not the expected JSON")
		}
		return nil
	}
	return replyError(reply)
}

// replyError maps a fake error reply to the canonical error.
func replyError(reply *providers.Reply) error {
	var e wireError
	if json.Unmarshal(reply.Body, &e) != nil || e.Error.Code == "" {
		if reply.StatusCode >= 500 {
			return providers.ProviderFault("", "", providers.SentUnknown, true)
		}
		return providers.Garbage("an error reply that is not the expected JSON")
	}
	code, msg := e.Error.Code, e.Error.Message
	switch {
	case reply.StatusCode == http.StatusNotFound:
		err := providers.NotFound("the provider has no such object")
		err.ProviderCode, err.ProviderMessage = &code, &msg
		return err
	case reply.StatusCode == http.StatusPaymentRequired || reply.StatusCode == http.StatusUnprocessableEntity:
		return providers.Declined(code, msg)
	case reply.StatusCode == http.StatusTooManyRequests:
		return providers.ProviderFault(code, msg, providers.SentYes, true)
	case reply.StatusCode >= 500:
		return providers.ProviderFault(code, msg, providers.SentUnknown, true)
	default: // 400, 401, 403, 409: our request or our credentials are wrong
		return providers.ProviderFault(code, msg, providers.SentYes, false)
	}
}

// CreatePayment implements providers.Provider.
func (p *Provider) CreatePayment(ctx context.Context, do providers.Doer, req *providers.CreatePayment) (*providers.Payment, error) {
	returnURL := req.GatewayReturnURL
	if returnURL == "" {
		returnURL = req.ReturnURL
	}
	in := wireCreatePayment{
		Reference: req.Reference, Amount: req.Amount, Currency: req.Currency,
		Description: req.Description, CustomerEmail: req.Customer.Email,
		NotificationURL: req.NotificationURL, ReturnURL: returnURL,
	}
	var out wirePayment
	if err := p.call(ctx, do, http.MethodPost, "/payments", in, &out); err != nil {
		return nil, err
	}
	return toPayment(&out)
}

// GetPayment implements providers.Provider.
func (p *Provider) GetPayment(ctx context.Context, do providers.Doer, ref string) (*providers.Payment, error) {
	if ref == "" {
		return nil, providers.NotFound("the payment was not found")
	}
	var out wirePayment
	if err := p.call(ctx, do, http.MethodGet, "/payments/"+url.PathEscape(ref), nil, &out); err != nil {
		return nil, err
	}
	return toPayment(&out)
}

// FindPayment implements providers.Provider.
func (p *Provider) FindPayment(ctx context.Context, do providers.Doer, reference string) (*providers.Payment, error) {
	if reference == "" {
		return nil, providers.Missing("reference")
	}
	var out wirePayment
	if err := p.call(ctx, do, http.MethodGet, "/payments?reference="+url.QueryEscape(reference), nil, &out); err != nil {
		return nil, err
	}
	return toPayment(&out)
}

// Refund implements providers.Refunder.
func (p *Provider) Refund(ctx context.Context, do providers.Doer, req *providers.RefundRequest) (*providers.Refund, error) {
	if req.PaymentProviderRef == "" {
		return nil, providers.NotFound("the payment was not found")
	}
	in := wireCreateRefund{Amount: req.Amount, Reference: req.Reference, Reason: req.Reason}
	var out wireRefund
	path := "/payments/" + url.PathEscape(req.PaymentProviderRef) + "/refunds"
	if err := p.call(ctx, do, http.MethodPost, path, in, &out); err != nil {
		return nil, err
	}
	return toRefund(&out)
}

// GetRefund implements providers.Refunder.
func (p *Provider) GetRefund(ctx context.Context, do providers.Doer, ref string) (*providers.Refund, error) {
	if ref == "" {
		return nil, providers.NotFound("the refund was not found")
	}
	var out wireRefund
	if err := p.call(ctx, do, http.MethodGet, "/refunds/"+url.PathEscape(ref), nil, &out); err != nil {
		return nil, err
	}
	return toRefund(&out)
}

// CreatePayout implements providers.PayoutSender.
func (p *Provider) CreatePayout(ctx context.Context, do providers.Doer, req *providers.CreatePayout) (*providers.Payout, error) {
	if req.BankAccount == nil {
		return nil, providers.Missing("bank_account")
	}
	in := wireCreatePayout{
		Reference: req.Reference, Amount: req.Amount, Currency: req.Currency,
		Country: req.BankAccount.Country, IBAN: req.BankAccount.IBAN,
		HolderName: req.BankAccount.HolderName, PaymentID: req.PaymentProviderRef,
	}
	var out wirePayout
	if err := p.call(ctx, do, http.MethodPost, "/payouts", in, &out); err != nil {
		return nil, err
	}
	return toPayout(&out)
}

// GetPayout implements providers.PayoutSender.
func (p *Provider) GetPayout(ctx context.Context, do providers.Doer, ref string) (*providers.Payout, error) {
	if ref == "" {
		return nil, providers.NotFound("the payout was not found")
	}
	var out wirePayout
	if err := p.call(ctx, do, http.MethodGet, "/payouts/"+url.PathEscape(ref), nil, &out); err != nil {
		return nil, err
	}
	return toPayout(&out)
}
