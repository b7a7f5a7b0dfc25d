package razorpay

import (
	"testing"

	"github.com/caddy-payments/caddy-payments/providers"
)

// Every error shape of reference §7 → the canonical error.
func TestReplyErrors(t *testing.T) {
	env := func(code, desc, field, source, reason string) string {
		f := "null"
		if field != "" {
			f = `"` + field + `"`
		}
		return `{"error":{"code":"` + code + `","description":"` + desc + `","field":` + f + `,"source":"` + source + `","step":"NA","reason":"` + reason + `","metadata":{}}}`
	}
	cases := []struct {
		name      string
		status    int
		body      string
		typ, sent string
		field     string
		retry     bool
		provCode  string
	}{
		{"field contact", 400, env("BAD_REQUEST_ERROR", "The contact must be at most 15 characters", "contact", "business", "input_validation_failed"), providers.TypeInvalidRequest, providers.SentYes, "customer.phone", false, "BAD_REQUEST_ERROR"},
		{"field receipt", 400, env("BAD_REQUEST_ERROR", "The receipt may not be greater than 40 characters.", "receipt", "business", "input_validation_failed"), providers.TypeInvalidRequest, providers.SentYes, "reference", false, "BAD_REQUEST_ERROR"},
		{"unmapped field", 400, env("BAD_REQUEST_ERROR", "key_id is required", "key_id", "business", "input_validation_failed"), providers.TypeInvalidRequest, providers.SentYes, "razorpay.key_id", false, "BAD_REQUEST_ERROR"},
		{"extra field", 400, env("BAD_REQUEST_ERROR", "foo is/are not required and should not be sent", "", "NA", "extra_field_sent"), providers.TypeInvalidRequest, providers.SentYes, "", false, "BAD_REQUEST_ERROR"},
		{"decline", 400, env("BAD_REQUEST_ERROR", "Payment failed", "", "bank", "payment_failed"), providers.TypeProviderDeclined, providers.SentYes, "", false, "BAD_REQUEST_ERROR"},
		{"unknown id", 400, env("BAD_REQUEST_ERROR", "The id provided does not exist", "", "NA", "input_validation_failed"), providers.TypeNotFound, providers.SentYes, "", false, "BAD_REQUEST_ERROR"},
		{"feature off", 400, `{"error":{"description":"The requested URL was not found on the server."}}`, providers.TypeProviderError, providers.SentYes, "", false, "http_400"},
		{"bad key 401", 401, env("BAD_REQUEST_ERROR", "The api key provided is invalid", "", "NA", "NA"), providers.TypeProviderError, providers.SentYes, "", false, "BAD_REQUEST_ERROR"},
		{"bad key 401 bare", 401, `Unauthorized`, providers.TypeProviderError, providers.SentYes, "", false, "http_401"},
		{"404 no envelope", 404, `{"message":"no Route matched with those values"}`, providers.TypeProviderError, providers.SentUnknown, "", false, "http_404"},
		{"404 empty", 404, ``, providers.TypeProviderError, providers.SentUnknown, "", false, "http_404"},
		{"409", 409, ``, providers.TypeProviderError, providers.SentUnknown, "", true, "http_409"},
		{"429", 429, env("BAD_REQUEST_ERROR", "Too many requests", "", "NA", "NA"), providers.TypeProviderError, providers.SentYes, "", true, "BAD_REQUEST_ERROR"},
		{"500", 500, env("SERVER_ERROR", "We are facing some trouble completing your request at the moment. Please try again shortly.", "", "NA", "server_error"), providers.TypeProviderError, providers.SentUnknown, "", true, "SERVER_ERROR"},
		{"502", 502, env("GATEWAY_ERROR", "Gateway error", "", "gateway", "gateway_error"), providers.TypeProviderError, providers.SentUnknown, "", true, "GATEWAY_ERROR"},
		{"503 html", 503, `<html>down</html>`, providers.TypeProviderError, providers.SentUnknown, "", true, "http_503"},
		{"418 bare", 418, `nope`, providers.TypeProviderError, providers.SentYes, "", false, "http_418"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := replyError(&providers.Reply{StatusCode: c.status, Body: []byte(c.body)}, createFields)
			if e.Type != c.typ || e.RequestSent != c.sent || e.Field != c.field || e.Retryable != c.retry {
				t.Fatalf("error = %+v", e)
			}
			if e.ProviderCode == nil || *e.ProviderCode != c.provCode {
				t.Fatalf("provider code = %v", e.ProviderCode)
			}
			if e.Message == "" || e.Code == "" {
				t.Fatalf("empty message or code: %+v", e)
			}
		})
	}
	e := replyError(&providers.Reply{StatusCode: 400, Body: []byte(env("BAD_REQUEST_ERROR", "Amount cannot be blank", "notes", "business", "input_validation_failed"))}, refundFields)
	if e.Field != "reason" {
		t.Fatalf("refund notes → %q", e.Field)
	}
}
