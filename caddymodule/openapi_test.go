package caddymodule

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"
)

// The OpenAPI document (docs/openapi.yaml) is checked against every
// response the real-Caddy tests of this package receive from the gateway's
// routes: TestMain wraps http.DefaultTransport (which http.DefaultClient and
// every client here without a transport of its own use) so that a response
// to a path and method the document describes is validated against it —
// status, content type and body schema — and a mismatch fails the run. A
// request the document does not describe (a sandbox or shop path, a method
// a route does not serve) is left alone.
const openAPIPath = "../docs/openapi.yaml"

var openAPI struct {
	once sync.Once
	v    validator.Validator
	err  error

	mu       sync.Mutex
	checked  map[string]int // "METHOD /path/template status" → responses validated
	failures []string
}

// apiValidator loads the document once.
func apiValidator() (validator.Validator, error) {
	openAPI.once.Do(func() {
		spec, err := os.ReadFile(openAPIPath)
		if err != nil {
			openAPI.err = err
			return
		}
		doc, err := libopenapi.NewDocument(spec)
		if err != nil {
			openAPI.err = fmt.Errorf("parsing %s: %w", openAPIPath, err)
			return
		}
		v, errs := validator.NewValidator(doc)
		if len(errs) > 0 {
			openAPI.err = fmt.Errorf("building a validator for %s: %v", openAPIPath, errs)
			return
		}
		openAPI.v = v
		openAPI.checked = map[string]int{}
	})
	return openAPI.v, openAPI.err
}

// openAPICheck validates the responses it carries against the document.
// v and fail, when set, stand for the document's validator and the run's
// failure list (the check's own tests).
type openAPICheck struct {
	next http.RoundTripper
	v    validator.Validator
	fail func(string)
}

func (c openAPICheck) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := c.next.RoundTrip(req)
	rt := (*Handler)(nil).match(req.URL.Path)
	if err != nil || req.Context().Value(notGatewayKey{}) != nil || rt == nil {
		// A path the gateway passes on (//payments, say) is the next
		// handler's, whatever the document's path matching makes of it.
		return resp, err
	}
	v, verr := c.v, error(nil)
	if v == nil {
		v, verr = apiValidator()
	}
	if verr != nil {
		return resp, err
	}
	fail := c.fail
	if fail == nil {
		fail = func(f string) {
			openAPI.mu.Lock()
			defer openAPI.mu.Unlock()
			openAPI.failures = append(openAPI.failures, f)
		}
	}
	body, rerr := io.ReadAll(resp.Body)
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(body))
	if rerr != nil {
		return resp, nil // the caller sees the short body and its own error handling
	}
	check := *resp
	check.Body = io.NopCloser(bytes.NewReader(body))
	ok, errs := v.ValidateHttpResponse(req, &check)
	key := fmt.Sprintf("%s %s %d", req.Method, req.URL.Path, resp.StatusCode)
	for _, e := range errs {
		if e.IsPathMissingError() || e.IsOperationMissingError() {
			// Not a route of the document. That is drift when the
			// gateway serves this method on this path spelled the
			// canonical way: the document lacks a route the code has.
			for _, o := range rt.ops {
				if o.method == req.Method && req.URL.Path == rt.canon {
					fail(fmt.Sprintf("%s: the gateway serves %s %s, which the document does not describe", key, req.Method, rt.pattern))
				}
			}
			return resp, nil
		}
	}
	if !ok {
		var msgs []string
		for _, e := range errs {
			m := e.Message
			if e.Reason != "" {
				m += ": " + e.Reason
			}
			for _, s := range e.SchemaValidationErrors {
				m += fmt.Sprintf(" [%s: %s]", s.FieldPath, s.Reason)
			}
			msgs = append(msgs, m)
		}
		fail(fmt.Sprintf("%s: %s\n    body: %.600s", key, strings.Join(msgs, "; "), body))
		return resp, nil
	}
	if c.v != nil {
		return resp, nil
	}
	openAPI.mu.Lock()
	defer openAPI.mu.Unlock()
	openAPI.checked[req.Method+" "+templatePath(req.URL.Path)+" "+fmt.Sprint(resp.StatusCode)]++
	return resp, nil
}

// notGatewayKey marks a request whose answer is known not to come from the
// gateway (a config without it): see notGateway.
type notGatewayKey struct{}

// notGateway marks req as one the OpenAPI check leaves alone.
func notGateway(req *http.Request) *http.Request {
	return req.WithContext(context.WithValue(req.Context(), notGatewayKey{}, true))
}

// CloseIdleConnections passes on to the wrapped transport, so that
// http.DefaultClient.CloseIdleConnections (which loadCaddy calls after a
// reload closed the previous config's connections) still reaches it.
func (c openAPICheck) CloseIdleConnections() {
	if ci, ok := c.next.(interface{ CloseIdleConnections() }); ok {
		ci.CloseIdleConnections()
	}
}

// templatePath names a request path by its route for the coverage summary.
func templatePath(p string) string {
	seg := strings.Split(strings.Trim(p, "/"), "/")
	switch {
	case len(seg) >= 2 && (seg[0] == "payments" || seg[0] == "refunds" || seg[0] == "payouts" || seg[0] == "events"):
		seg[1] = "{id}"
	case len(seg) >= 2 && (seg[0] == "notifications" || seg[0] == "returns"):
		seg[1] = "{name}"
		if len(seg) == 4 {
			seg[3] = "{token}"
		}
	}
	return "/" + strings.Join(seg, "/")
}

// installOpenAPICheck wraps http.DefaultTransport; the returned function
// reports: a non-zero exit code when a response did not match the document
// (or, with required set, when the real-Caddy tests ran but not a single
// response was validated: the check was bypassed).
func installOpenAPICheck() func(required bool, integrationRan int32) int {
	http.DefaultTransport = openAPICheck{next: http.DefaultTransport}
	return func(required bool, integrationRan int32) int {
		if _, err := apiValidator(); err != nil {
			fmt.Fprintf(os.Stderr, "FAIL: the OpenAPI document could not be loaded: %v\n", err)
			return 1
		}
		openAPI.mu.Lock()
		defer openAPI.mu.Unlock()
		if len(openAPI.failures) > 0 {
			fmt.Fprintf(os.Stderr, "FAIL: %d gateway responses do not match %s:\n", len(openAPI.failures), openAPIPath)
			for _, f := range openAPI.failures {
				fmt.Fprintln(os.Stderr, "  "+f)
			}
			return 1
		}
		total := 0
		for _, n := range openAPI.checked {
			total += n
		}
		if required && integrationRan > 0 && total == 0 {
			fmt.Fprintf(os.Stderr, "FAIL: real-Caddy tests ran but no response was validated against %s\n", openAPIPath)
			return 1
		}
		if testing.Verbose() {
			keys := make([]string, 0, len(openAPI.checked))
			for k := range openAPI.checked {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			fmt.Fprintf(os.Stderr, "openapi: %d responses validated against %s:\n", total, openAPIPath)
			for _, k := range keys {
				fmt.Fprintf(os.Stderr, "  %5d  %s\n", openAPI.checked[k], k)
			}
		}
		return 0
	}
}

// The document itself is a valid OpenAPI 3.1 document.
func TestOpenAPIDocumentIsValid(t *testing.T) {
	v, err := apiValidator()
	if err != nil {
		t.Fatal(err)
	}
	if ok, errs := v.ValidateDocument(); !ok {
		for _, e := range errs {
			t.Errorf("%s: %s", e.Message, e.Reason)
			for _, s := range e.SchemaValidationErrors {
				t.Errorf("  %s: %s", s.FieldPath, s.Reason)
			}
		}
	}
}

// The check is not vacuous: a response that breaks the document (a payment
// with a float amount and an unknown status) is reported, and one that
// matches it is not.
func TestOpenAPICheckCatchesDrift(t *testing.T) {
	v, err := apiValidator()
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodGet, "http://localhost:9080/payments/pay_x", nil)
	good := `{"id":"pay_x","object":"payment","provider":"payabl","provider_reference":"1","amount":1999,"currency":"EUR",` +
		`"status":"processing","amount_refunded":0,"test":true,"created_at":"2026-12-03T10:00:00Z"}`
	for _, tc := range []struct {
		name, body string
		status     int
		ok         bool
	}{
		{"valid payment", good, 200, true},
		{"float amount", strings.Replace(good, "1999", "19.99", 1), 200, false},
		{"unknown status", strings.Replace(good, `"processing"`, `"settled"`, 1), 200, false},
		{"undocumented field", strings.Replace(good, `"test":true`, `"test":true,"secret":"x"`, 1), 200, false},
		{"canonical error", `{"error":{"type":"not_found","code":"not_found","message":"no such payment","provider_code":null,"provider_message":null,"request_sent":"no","retryable":false}}`, 404, true},
		{"error without request_sent", `{"error":{"type":"not_found","code":"not_found","message":"x","provider_code":null,"provider_message":null,"retryable":false}}`, 404, false},
	} {
		resp := &http.Response{StatusCode: tc.status, Header: http.Header{"Content-Type": {"application/json"}},
			Body: io.NopCloser(strings.NewReader(tc.body)), Request: req}
		ok, errs := v.ValidateHttpResponse(req, resp)
		if ok != tc.ok {
			t.Errorf("%s: valid = %v, want %v (%v)", tc.name, ok, tc.ok, errs)
		}
	}
}

// The check cannot be passed by leaving a route out of the document: a
// response of a method a gateway route serves, on its canonical path,
// that the document does not describe is a failure; a method the route
// does not serve (405) or another spelling of the path is not.
func TestOpenAPICheckCatchesUndocumentedRoute(t *testing.T) {
	doc, err := libopenapi.NewDocument([]byte(`openapi: 3.1.0
info: {title: t, version: "1"}
paths:
  /providers:
    get:
      responses:
        "202":
          description: ok
`))
	if err != nil {
		t.Fatal(err)
	}
	v, errs := validator.NewValidator(doc)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	var failures []string
	check := openAPICheck{v: v, fail: func(f string) { failures = append(failures, f) },
		next: roundTripFunc(func(r *http.Request) (*http.Response, error) {
			return &http.Response{StatusCode: 202, Header: http.Header{"Content-Type": {"application/json"}},
				Body: io.NopCloser(strings.NewReader(`{"id":"evt_1"}`)), Request: r}, nil
		})}
	for _, tc := range []struct {
		method, path string
		reported     bool
	}{
		{http.MethodPost, "/events/evt_1/redeliver", true},
		{http.MethodGet, "/events", true},
		{http.MethodGet, "/providers", false},
		{http.MethodDelete, "/events/evt_1", false}, // 405: not a method of the route
		{http.MethodPost, "/events/evt_1/redeliver/", false},
		{http.MethodGet, "/shop/orders", false}, // not the gateway's
	} {
		failures = nil
		req, _ := http.NewRequest(tc.method, "http://localhost:9080"+tc.path, nil)
		resp, err := check.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if got := len(failures) > 0; got != tc.reported {
			t.Errorf("%s %s: reported = %v (%q), want %v", tc.method, tc.path, got, failures, tc.reported)
		}
	}
}
