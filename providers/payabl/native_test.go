package payabl

import (
	"net/http"
	"testing"

	"github.com/caddy-payments/caddy-payments/providers"
)

// TestOriginalAuthRules: the form rules that keep a payabl. original from
// being read differently by the shop than by the gateway (the end-to-end
// cases are caddymodule's TestNativeForwardingPayabl and
// TestNativeReviewPayablUnsignedClaims).
func TestOriginalAuthRules(t *testing.T) {
	const base = "transactionid=1&type=capture&errorcode=0&timestamp=1&security=x&orderid=ORD-1"
	signed := &providers.Notification{Trust: providers.Claims{Object: providers.SignedFields}, EventType: "payment.succeeded"}
	for _, c := range []struct {
		name, body, ctype string
		n                 *providers.Notification
		want              bool
	}{
		{"plain form", base, "application/x-www-form-urlencoded", signed, true},
		{"utf-8 charset", base, "application/x-www-form-urlencoded; charset=UTF-8", signed, true},
		{"utf-7 charset", base, "application/x-www-form-urlencoded; charset=utf-7", signed, false},
		{"case variant of orderid", base + "&ORDERID=ORD-2", "", signed, false},
		{"a lone case variant", "transactionid=1&type=capture&errorcode=0&timestamp=1&security=x&ORDERID=ORD-2", "", signed, false},
		{"repeated field", base + "&orderid=ORD-2", "", signed, false},
		{"payment_state matching the event", base + "&payment_state=credited", "", signed, true},
		{"payment_state claiming more", base + "&payment_state=credited", "",
			&providers.Notification{Trust: providers.Claims{Object: providers.SignedFields}, EventType: "payment.processing"}, false},
		{"undocumented payment_state", base + "&payment_state=pending_credit", "", signed, false},
		{"unverifiable security", base, "", &providers.Notification{Trust: providers.Claims{Object: providers.Unsigned}, EventType: "payment.succeeded"}, false},
	} {
		in := &providers.IncomingNotification{Method: "POST", Header: http.Header{}, Body: []byte(c.body)}
		if c.ctype != "" {
			in.Header.Set("Content-Type", c.ctype)
		}
		if _, got := new(Provider).OriginalAuth(in, c.n); got != c.want {
			t.Errorf("%s: OriginalAuth = %v, want %v", c.name, got, c.want)
		}
	}
}
