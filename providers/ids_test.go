package providers

import (
	"strings"
	"testing"
)

func TestIDsRoundTripAndStayOpaque(t *testing.T) {
	for _, c := range []struct{ kind, account, ref string }{
		{KindPayment, "payabl", "104579097"},
		{KindPayment, "razorpay_eu", "order_4xbQrmEoA5WJ0G"},
		{KindRefund, "paysage", "1-310b0da80b"},
		{KindPayout, "payabl-uk", "a/b?c=d&e"},
	} {
		id := EncodeID(c.kind, c.account, c.ref)
		if !strings.HasPrefix(id, c.kind+"_") || strings.ContainsAny(id, "/?&=+%") {
			t.Errorf("id %q is not URL-safe or lacks its prefix", id)
		}
		a, r, ok := DecodeID(c.kind, id)
		if !ok || a != c.account || r != c.ref {
			t.Errorf("DecodeID(%q) = %q %q %v", id, a, r, ok)
		}
		other := KindRefund
		if c.kind == KindRefund {
			other = KindPayment
		}
		if _, _, ok := DecodeID(other, id); ok {
			t.Errorf("%q decoded as a %s", id, other)
		}
	}
	for _, bad := range []string{"", "pay_", "pay_!!!", "pay_YWJj", "re_YWJjAGRlZg", "pay_" + strings.Repeat("A", 2000)} {
		if _, _, ok := DecodeID(KindPayment, bad); ok {
			t.Errorf("DecodeID(%q) accepted", bad)
		}
	}
}

func TestErrorStatuses(t *testing.T) {
	cases := map[*Error]int{
		Invalid("amount", "x"):                         400,
		Missing("currency"):                            400,
		NotFound("x"):                                  404,
		NotSupported("x"):                              501,
		Declined("-5002", "no"):                        402,
		ProviderFault("", "", SentYes, false):          502,
		{Type: TypeProviderUnreachable, Timeout: true}: 504,
		{Type: TypeProviderUnreachable}:                502,
		{Type: TypeIdempotencyConflict}:                409,
		{Type: TypeAuthentication}:                     401,
		Internal("x"):                                  500,
	}
	for e, want := range cases {
		if got := e.Status(); got != want {
			t.Errorf("%s: status %d, want %d", e.Type, got, want)
		}
	}
	if e := AsError(errString("secret-bearing text")); e.Type != TypeInternal || strings.Contains(e.Message, "secret") {
		t.Errorf("AsError leaks a plain error's text: %+v", e)
	}
	if e := Invalid("x", "m"); e.RequestSent != SentNo || e.Field != "x" {
		t.Errorf("Invalid: %+v", e)
	}
}

type errString string

func (e errString) Error() string { return string(e) }
