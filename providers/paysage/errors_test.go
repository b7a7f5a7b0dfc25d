package paysage

import (
	"context"
	"strings"
	"testing"

	"github.com/caddy-payments/caddy-payments/providers"
)

// Every documented error shape (reference §4.3), sent by a stub as PaySage
// would, becomes this canonical error.
func TestErrorShapes(t *testing.T) {
	cases := []struct {
		file                string
		status              int
		typ, field, code    string
		providerMsg, msgHas string
		retryable           bool
	}{
		{"error_422_missing_amount.json", 422, providers.TypeInvalidRequest, "amount", "request.amount",
			"Unprocessable entity", "PaySage rejected request.amount: is missing", false},
		{"error_422_customer_fields.json", 422, providers.TypeInvalidRequest, "customer.email", "request.customer.email",
			"Email is invalid. External id can't be blank", "(and 1 more: request.customer.external_id)", false},
		{"error_card_validation.json", 422, providers.TypeInvalidRequest, "amount", "amount",
			"First name can't be blank. Currency can't be blank. Amount must be greater than 0", "and 2 more: billing_address.first_name, currency", false},
		{"error_legacy_response.json", 422, providers.TypeInvalidRequest, "reference", "request.tracking_id",
			"Tracking id is too long", "is too long (maximum is 255 characters)", false},
		{"error_legacy_response.json", 200, providers.TypeInvalidRequest, "reference", "request.tracking_id",
			"Tracking id is too long", "tracking_id", false},
		{"error_base.json", 422, providers.TypeProviderDeclined, "", "base",
			"transaction can't be refunded", "declined", false},
		{"error_401_credentials.json", 401, providers.TypeProviderError, "", "http_401",
			"Invalid shop_id/secret_key.", "answered with an error", false},
		{"error_401_credentials.json", 503, providers.TypeProviderError, "", "http_503",
			"Invalid shop_id/secret_key.", "look the payment up by its reference", false},
		{"error_401_credentials.json", 422, providers.TypeProviderError, "", "system",
			"Invalid shop_id/secret_key.", "answered with an error", false},
	}
	for _, c := range cases {
		s := newStub(t, c.status, readFile(t, "replies/"+c.file))
		p := newProvider(t, s.srv.URL)
		_, err := p.CreatePayment(context.Background(), doer, seedPayment())
		e := canonical(t, err, c.typ, c.field)
		name := c.file + "/" + itoa(c.status)
		if e.ProviderCode == nil || *e.ProviderCode != c.code {
			t.Errorf("%s: provider_code %v, want %q", name, e.ProviderCode, c.code)
		}
		if e.ProviderMessage == nil || *e.ProviderMessage != c.providerMsg {
			t.Errorf("%s: provider_message %v, want %q", name, e.ProviderMessage, c.providerMsg)
		}
		if !strings.Contains(e.Message, c.msgHas) {
			t.Errorf("%s: message %q lacks %q", name, e.Message, c.msgHas)
		}
		sent := providers.SentYes
		if c.status >= 500 { // a 5xx to a create: PaySage may have acted
			sent = providers.SentUnknown
		}
		if e.RequestSent != sent || e.Retryable != c.retryable {
			t.Errorf("%s: request_sent %q retryable %v", name, e.RequestSent, e.Retryable)
		}
		if strings.Contains(e.Error(), testSecret) {
			t.Errorf("%s: the secret is in the error", name)
		}
	}
}

func TestCanonicalFieldNames(t *testing.T) {
	for in, want := range map[string]string{
		"request.customer.email":       "customer.email",
		"request.customer.external_id": "customer.id",
		"request.customer.zip":         "customer.address.postal_code",
		"request.customer.address":     "customer.address.line1",
		"request.ip":                   "customer.ip",
		"request.tracking_id":          "reference",
		"request.parent_uid":           "payment_id",
		"billing_address.first_name":   "customer.first_name",
		"request.method.type":          "method.type", // no canonical name: path kept
		"request.something.new":        "something.new",
	} {
		if got := canonicalField(in); got != want {
			t.Errorf("%s → %q, want %q", in, got, want)
		}
	}
}

func TestFlattenErrorsIsBounded(t *testing.T) {
	deep := strings.Repeat(`{"a":`, 50) + `["x"]` + strings.Repeat(`}`, 50)
	if got := flattenErrors([]byte(deep)); len(got) != 0 {
		t.Fatalf("a 50-deep error map was walked: %v", got)
	}
	got := flattenErrors([]byte(`{"b":["two","three"],"a":"one","c":[],"d":null}`))
	if len(got) != 2 || got[0].Path != "a" || got[1].Path != "b" || len(got[1].Messages) != 2 {
		t.Fatalf("%+v", got)
	}
}
