package sandbox

import (
	"encoding/json"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"
)

// psMutate returns the default payment body with f applied to its
// request object.
func psMutate(f func(req, cust, method map[string]any)) string {
	var env map[string]map[string]any
	_ = json.Unmarshal([]byte(psPaymentBody(500, "ord-1", "https://shop.example/hook")), &env)
	req := env["request"]
	f(req, req["customer"].(map[string]any), req["method"].(map[string]any))
	b, _ := json.Marshal(env)
	return string(b)
}

func TestPaysagePaymentValidation(t *testing.T) {
	srv := psSandbox(t)
	cases := []struct {
		name string
		body string
		// want is the exact "errors" object.
		want string
	}{
		{"amount zero", psMutate(func(r, c, m map[string]any) { r["amount"] = 0 }),
			`{"request":{"amount":["must be greater than 0"]}}`},
		{"amount negative", psMutate(func(r, c, m map[string]any) { r["amount"] = -5 }),
			`{"request":{"amount":["must be greater than 0"]}}`},
		{"amount decimal", psMutate(func(r, c, m map[string]any) { r["amount"] = 5.5 }),
			`{"request":{"amount":["must be an integer"]}}`},
		{"amount string", psMutate(func(r, c, m map[string]any) { r["amount"] = "500" }),
			`{"request":{"amount":["must be an integer"]}}`},
		{"amount exponent", strings.Replace(psPaymentBody(500, "o", ""), `"amount":500`, `"amount":5e2`, 1),
			`{"request":{"amount":["must be an integer"]}}`},
		{"currency USD", psMutate(func(r, c, m map[string]any) { r["currency"] = "USD" }),
			`{"request":{"currency":["is not included in the list"]}}`},
		{"currency lower case", psMutate(func(r, c, m map[string]any) { r["currency"] = "eur" }),
			`{"request":{"currency":["is not included in the list"]}}`},
		{"currency missing", psMutate(func(r, c, m map[string]any) { delete(r, "currency") }),
			`{"request":{"currency":["is missing"]}}`},
		{"description missing", psMutate(func(r, c, m map[string]any) { delete(r, "description") }),
			`{"request":{"description":["is missing"]}}`},
		{"tracking_id number", psMutate(func(r, c, m map[string]any) { r["tracking_id"] = 42 }),
			`{"request":{"tracking_id":["must be a string"]}}`},
		{"tracking_id too long", psMutate(func(r, c, m map[string]any) { r["tracking_id"] = strings.Repeat("x", 256) }),
			`{"request":{"tracking_id":["is too long (maximum is 255 characters)"]}}`},
		{"return_url missing", psMutate(func(r, c, m map[string]any) { delete(r, "return_url") }),
			`{"request":{"return_url":["is missing"]}}`},
		{"return_url relative", psMutate(func(r, c, m map[string]any) { r["return_url"] = "/return" }),
			`{"request":{"return_url":["is invalid"]}}`},
		{"notification_url ftp", psMutate(func(r, c, m map[string]any) { r["notification_url"] = "ftp://shop.example/x" }),
			`{"request":{"notification_url":["is invalid"]}}`},
		{"ip invalid", psMutate(func(r, c, m map[string]any) { r["ip"] = "999.1.1.1" }),
			`{"request":{"ip":["is invalid"]}}`},
		{"test not bool", psMutate(func(r, c, m map[string]any) { r["test"] = "yes" }),
			`{"request":{"test":["must be a boolean"]}}`},
		{"expired_at past", psMutate(func(r, c, m map[string]any) { r["expired_at"] = "2020-01-01T00:00:00+00:00" }),
			`{"request":{"expired_at":["must be in the future"]}}`},
		{"expired_at not ISO", psMutate(func(r, c, m map[string]any) { r["expired_at"] = "tomorrow" }),
			`{"request":{"expired_at":["is invalid"]}}`},
		{"method sofort", psMutate(func(r, c, m map[string]any) { m["type"] = "sofort" }),
			`{"request":{"method":{"type":["is not included in the list"]}}}`},
		{"method missing", psMutate(func(r, c, m map[string]any) { delete(r, "method") }),
			`{"request":{"method":["is missing"]}}`},
		{"customer missing", psMutate(func(r, c, m map[string]any) { delete(r, "customer") }),
			`{"request":{"customer":["is missing"]}}`},
		{"customer names blank", psMutate(func(r, c, m map[string]any) { c["first_name"] = " "; delete(c, "last_name") }),
			`{"request":{"customer":{"first_name":["can't be blank"],"last_name":["is missing"]}}}`},
		{"country alpha-3", psMutate(func(r, c, m map[string]any) { c["country"] = "SWE" }),
			`{"request":{"customer":{"country":["is too long (maximum is 2 characters)"]}}}`},
		{"country lower case", psMutate(func(r, c, m map[string]any) { c["country"] = "se" }),
			`{"request":{"customer":{"country":["is invalid"]}}}`},
		{"external_id missing", psMutate(func(r, c, m map[string]any) { delete(c, "external_id") }),
			`{"request":{"customer":{"external_id":["is missing"]}}}`},
		{"email invalid", psMutate(func(r, c, m map[string]any) { c["email"] = "jane" }),
			`{"request":{"customer":{"email":["is invalid"]}}}`},
		{"birth_date invalid", psMutate(func(r, c, m map[string]any) { c["birth_date"] = "1990-13-01" }),
			`{"request":{"customer":{"birth_date":["is invalid"]}}}`},
		{"ip inside customer", psMutate(func(r, c, m map[string]any) { c["ip"] = "203.0.113.7" }),
			`{"request":{"customer":{"ip":["is not allowed"]}}}`},
		{"unknown keys", psMutate(func(r, c, m map[string]any) { r["billing_address"] = map[string]any{}; m["party_type"] = "PERSON" }),
			`{"request":{"billing_address":["is not allowed"],"method":{"party_type":["is not allowed"]}}}`},
		{"no envelope", `{"amount":500}`,
			`{"amount":["is not allowed"],"request":["is missing"]}`},
		{"request not object", `{"request":[1]}`,
			`{"request":["must be an object"]}`},
		{"top-level array", `[{"request":{}}]`,
			`{"request":["is missing"]}`},
		{"extra top-level key", strings.Replace(psPaymentBody(500, "o", ""), `{"request"`, `{"shop_id":361,"request"`, 1),
			`{"shop_id":["is not allowed"]}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := psDo(t, http.MethodPost, psAPI(srv)+"/payments", tc.body, nil)
			if r.status != http.StatusUnprocessableEntity {
				t.Fatalf("HTTP %d %s, want 422", r.status, r.raw)
			}
			v := r.json(t)
			if v["message"] != "Unprocessable entity" {
				t.Errorf("message %v", v["message"])
			}
			var want any
			if err := json.Unmarshal([]byte(tc.want), &want); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(v["errors"], want) {
				got, _ := json.Marshal(v["errors"])
				t.Fatalf("errors = %s, want %s", got, tc.want)
			}
		})
	}
	// Nothing invalid was created.
	if n := len(psListing(t, srv)); n != 0 {
		t.Fatalf("%d transactions created by invalid requests", n)
	}

	// Every accepted currency and the optional fields pass.
	for _, cur := range psCurrencies {
		body := psMutate(func(r, c, m map[string]any) {
			r["currency"] = cur
			r["expired_at"] = time.Now().Add(time.Hour).Format(time.RFC3339)
			r["verification_url"] = "https://shop.example/verify"
			r["language"] = "sv"
			c["phone"], c["city"], c["address"], c["zip"], c["birth_date"] = "+46700000000", "Stockholm", "Gatan 1", "11122", "1990-02-08"
		})
		tx := psDo(t, http.MethodPost, psAPI(srv)+"/payments", body, nil).txn(t)
		if tx["currency"] != cur || tx["language"] != "sv" || tx["expired_at"] == nil {
			t.Errorf("%s: %v", cur, tx)
		}
		cust := tx["customer"].(map[string]any)
		bill := tx["billing_address"].(map[string]any)
		if cust["ip"] != "203.0.113.7" || cust["email"] != "jane@example.com" || cust["birth_date"] != "1990-02-08" ||
			bill["city"] != "Stockholm" || bill["zip"] != "11122" || bill["address"] != "Gatan 1" || tx["tracking_id"] != "ord-1" {
			t.Errorf("%s: customer %v billing %v", cur, cust, bill)
		}
	}
}

func TestPaysageTransportErrors(t *testing.T) {
	srv := psSandbox(t)
	// Wrong Content-Type.
	r := psDo(t, http.MethodPost, psAPI(srv)+"/payments", psPaymentBody(500, "o", ""), map[string]string{"Content-Type": "application/x-www-form-urlencoded"})
	if r.status != http.StatusUnsupportedMediaType || r.json(t)["errors"].(map[string]any)["base"] == nil {
		t.Fatalf("form content type: HTTP %d %s", r.status, r.raw)
	}
	// Not JSON.
	r = psDo(t, http.MethodPost, psAPI(srv)+"/payments", `{"request":`, nil)
	if r.status != http.StatusBadRequest || r.json(t)["errors"].(map[string]any)["base"] == nil {
		t.Fatalf("truncated JSON: HTTP %d %s", r.status, r.raw)
	}
	// Wrong methods and unknown paths keep PaySage's error shape.
	for _, c := range []struct {
		method, path string
		status       int
	}{
		{http.MethodGet, "/payments", http.StatusMethodNotAllowed},
		{http.MethodPut, "/refunds", http.StatusMethodNotAllowed},
		{http.MethodPost, "/some-uid", http.StatusMethodNotAllowed},
		{http.MethodGet, "/no-such-uid", http.StatusNotFound},
		{http.MethodGet, "/a/b", http.StatusNotFound},
	} {
		r := psDo(t, c.method, psAPI(srv)+c.path, "", nil)
		if r.status != c.status {
			t.Errorf("%s %s: HTTP %d, want %d", c.method, c.path, r.status, c.status)
			continue
		}
		v := r.json(t)
		if _, ok := v["message"].(string); !ok || v["errors"] == nil {
			t.Errorf("%s %s: body %s lacks message/errors", c.method, c.path, r.raw)
		}
	}
}
