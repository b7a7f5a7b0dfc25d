package sandbox

import (
	"bytes"
	"html/template"
	"net/http"
)

// checkoutPage is what the hosted checkout page shows. It is shared by the
// providers' emulators; it carries no secret, only the per-payment form
// token that the Approve / Decline form posts back.
type checkoutPage struct {
	// Provider is the display name of the emulated provider ("payabl.").
	Provider string
	// Method is the payment method shown to the customer ("Trustly").
	Method   string
	Merchant string
	OrderID  string
	Amount   string
	Currency string
	// Action is the path the form posts to; FormToken is echoed back.
	Action    string
	FormToken string
	// Done, when not empty, replaces the buttons: the payment is decided.
	Done string
}

var checkoutTemplate = template.Must(template.New("checkout").Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>SANDBOX checkout — {{.Provider}}</title>
<style>
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;background:#f4f4f6;margin:0;color:#1d1d1f}
.banner{background:#b00020;color:#fff;text-align:center;padding:.6em;font-weight:700;letter-spacing:.04em}
main{max-width:26rem;margin:2.5rem auto;background:#fff;border-radius:12px;padding:1.5rem 2rem;box-shadow:0 2px 12px rgba(0,0,0,.08)}
h1{font-size:1.2rem;margin:0 0 1rem}
.amount{font-size:2rem;font-weight:700;margin:.2rem 0 1rem}
dl{display:grid;grid-template-columns:auto 1fr;gap:.3rem 1rem;margin:0 0 1.5rem}
dt{color:#666}dd{margin:0;word-break:break-all}
form{display:flex;gap:1rem}
button{flex:1;font-size:1rem;padding:.8rem;border:0;border-radius:8px;cursor:pointer;color:#fff}
.approve{background:#1b7f3b}.decline{background:#8a1c1c}
.done{padding:1rem;background:#eef;border-radius:8px}
small{display:block;margin-top:1.2rem;color:#777}
</style>
</head>
<body>
<div class="banner">SANDBOX — no real money</div>
<main>
<h1>{{.Provider}} · {{.Method}} test payment</h1>
<div class="amount">{{.Amount}} {{.Currency}}</div>
<dl>
<dt>Merchant</dt><dd>{{.Merchant}}</dd>
<dt>Order</dt><dd>{{if .OrderID}}{{.OrderID}}{{else}}—{{end}}</dd>
</dl>
{{if .Done}}<p class="done">{{.Done}}</p>{{else}}<form method="post" action="{{.Action}}">
<input type="hidden" name="token" value="{{.FormToken}}">
<button class="approve" type="submit" name="action" value="approve">Approve</button>
<button class="decline" type="submit" name="action" value="decline">Decline</button>
</form>{{end}}
<small>This page is served by the embedded payments sandbox. No bank is contacted and no money moves.</small>
</main>
</body>
</html>
`))

// renderCheckout writes the page with headers that keep it out of caches
// and frames.
func renderCheckout(w http.ResponseWriter, status int, page checkoutPage) error {
	var buf bytes.Buffer
	if err := checkoutTemplate.Execute(&buf, page); err != nil {
		return err
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'")
	w.WriteHeader(status)
	_, err := w.Write(buf.Bytes())
	return err
}
