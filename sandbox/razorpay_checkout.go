package sandbox

import (
	"bytes"
	"crypto/subtle"
	"errors"
	"html/template"
	"net/http"
)

// The browser side: the "Processing, Please Wait…" reply of
// create/redirect, the hosted checkout page, and the auto-submitting form
// that brings the customer back to callback_url (reference §3.7).

// rzpField is one field of the callback form, in wire order.
type rzpField struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// rzpCallback is what the browser POSTs to callback_url after the
// decision, as application/x-www-form-urlencoded. URL is empty when the
// payment was created without callback_url.
type rzpCallback struct {
	URL    string
	Fields []rzpField
}

// rzpCallbackJSON is the inspection endpoint's form of a callback, so a
// scripted test can replay exactly what the browser would post.
type rzpCallbackJSON struct {
	URL     string            `json:"url"`
	Method  string            `json:"method"`
	Enctype string            `json:"enctype"`
	Fields  map[string]string `json:"fields"`
}

// json renders c for the inspection endpoint.
func (c rzpCallback) json() rzpCallbackJSON {
	out := rzpCallbackJSON{URL: c.URL, Method: http.MethodPost, Enctype: "application/x-www-form-urlencoded", Fields: map[string]string{}}
	for _, f := range c.Fields {
		out.Fields[f.Name] = f.Value
	}
	return out
}

// callbackLocked builds the callback form for p's current state: success
// fields with razorpay_signature = hex(HMAC-SHA256(order_id|payment_id,
// key_secret)) (reference §8.2), or the error[...] fields of a failure.
// Caller holds rz.mu.
func (rz *razorpay) callbackLocked(p *rzpPayment) rzpCallback {
	cb := rzpCallback{URL: p.CallbackURL}
	if p.Failure == nil {
		cb.Fields = []rzpField{
			{"razorpay_payment_id", p.ID},
			{"razorpay_order_id", p.Order.ID},
			{"razorpay_signature", rzpSign(rz.keySecret, []byte(p.Order.ID+"|"+p.ID))},
		}
		return cb
	}
	f := p.Failure
	meta := rzpMarshal(map[string]string{"payment_id": p.ID, "order_id": p.Order.ID})
	cb.Fields = []rzpField{
		{"error[code]", f.Code},
		{"error[description]", f.Description},
		{"error[source]", f.Source},
		{"error[step]", f.Step},
		{"error[reason]", f.Reason},
		{"error[metadata]", string(meta)},
	}
	return cb
}

// checkoutURL is the absolute URL of p's checkout page.
func (rz *razorpay) checkoutURL(r *http.Request, p *rzpPayment) string {
	return rz.env.baseURL(r) + "/razorpay/checkout/" + p.Token
}

var rzpProcessingTemplate = template.Must(template.New("processing").Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="robots" content="noindex">
<meta http-equiv="refresh" content="0;url={{.}}">
<title>Processing, Please Wait…</title>
</head>
<body>
<p>Processing, Please Wait…</p>
<p><a href="{{.}}">Continue to the sandbox Trustly checkout</a></p>
</body>
</html>
`))

// rzpProcessingPage is the HTML reply of /v1/payments/create/redirect: it
// sends the browser to the checkout page with a meta refresh and a link
// (no script, so it works under any CSP the host serves it with).
func rzpProcessingPage(w http.ResponseWriter, target string) error {
	var buf bytes.Buffer
	if err := rzpProcessingTemplate.Execute(&buf, target); err != nil {
		return err
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	_, err := w.Write(buf.Bytes())
	return err
}

var rzpCallbackTemplate = template.Must(template.New("callback").Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="robots" content="noindex">
<title>Returning to the shop…</title>
</head>
<body>
<form id="rzp-callback" method="post" action="{{.URL}}" enctype="application/x-www-form-urlencoded">
{{range .Fields}}<input type="hidden" name="{{.Name}}" value="{{.Value}}">
{{end}}<p>Returning to the shop… <button type="submit">Continue</button></p>
</form>
<script nonce="{{.Nonce}}">document.getElementById("rzp-callback").submit();</script>
</body>
</html>
`))

// rzpCallbackPage writes the auto-submitting callback form.
func rzpCallbackPage(w http.ResponseWriter, cb rzpCallback) error {
	nonce := randomHex(16)
	var buf bytes.Buffer
	err := rzpCallbackTemplate.Execute(&buf, struct {
		URL    string
		Fields []rzpField
		Nonce  string
	}{cb.URL, cb.Fields, nonce})
	if err != nil {
		return err
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'nonce-"+nonce+"'; frame-ancestors 'none'")
	w.WriteHeader(http.StatusOK)
	_, err = w.Write(buf.Bytes())
	return err
}

// checkout serves the hosted page: GET shows the payment with Approve and
// Decline; POST applies the button and returns the browser to
// callback_url with the auto-submitting form.
func (rz *razorpay) checkout(w http.ResponseWriter, r *http.Request, token string) error {
	rz.mu.Lock()
	p := rz.byToken[token]
	var page checkoutPage
	var id, formToken string
	if p != nil {
		id, formToken = p.ID, p.FormToken
		page = checkoutPage{
			Provider:  "Razorpay",
			Method:    "Trustly",
			Merchant:  razorpayAccountID,
			OrderID:   p.Order.ID,
			Amount:    rzpFormatAmount(p.Amount, p.Currency),
			Currency:  p.Currency,
			Action:    r.URL.EscapedPath(),
			FormToken: p.FormToken,
			Done:      rzpDoneText(p),
		}
	}
	rz.mu.Unlock()
	if p == nil {
		http.Error(w, "payments sandbox: unknown or expired payment link", http.StatusNotFound)
		return nil
	}

	switch r.Method {
	case http.MethodGet, http.MethodHead:
		return renderCheckout(w, http.StatusOK, page)
	case http.MethodPost:
	default:
		w.Header().Set("Allow", "GET, HEAD, POST")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return nil
	}

	r.Body = http.MaxBytesReader(w, r.Body, 4096)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "payments sandbox: malformed form", http.StatusBadRequest)
		return nil
	}
	if subtle.ConstantTimeCompare([]byte(r.PostForm.Get("token")), []byte(formToken)) != 1 {
		http.Error(w, "payments sandbox: form token mismatch; reload the checkout page", http.StatusForbidden)
		return nil
	}
	var cb rzpCallback
	var err error
	switch r.PostForm.Get("action") {
	case "approve":
		_, cb, err = rz.approve(id)
	case "decline":
		_, cb, err = rz.decline(id)
	default:
		http.Error(w, "payments sandbox: action must be approve or decline", http.StatusBadRequest)
		return nil
	}
	switch {
	case errors.Is(err, errNotPending):
		page.Done = "This payment was already decided."
		return renderCheckout(w, http.StatusConflict, page)
	case errors.Is(err, errRzpOrderSettled):
		page.Done = "Another payment of this order was already authorized."
		return renderCheckout(w, http.StatusConflict, page)
	case err != nil:
		http.Error(w, "payments sandbox: "+err.Error(), http.StatusServiceUnavailable)
		return nil
	}
	if cb.URL == "" {
		rz.mu.Lock()
		page.Done = rzpDoneText(p)
		rz.mu.Unlock()
		return renderCheckout(w, http.StatusOK, page)
	}
	return rzpCallbackPage(w, cb)
}

// rzpDoneText describes a decided payment, or "" while it is pending.
// Caller holds rz.mu.
func rzpDoneText(p *rzpPayment) string {
	switch p.Status {
	case rzpPayCreated:
		return ""
	case rzpPayFailed:
		return "Failed (" + p.Failure.Description + "). You can close this window."
	default:
		return "Approved. The shop is being notified; you can close this window."
	}
}
