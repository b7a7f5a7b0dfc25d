package payablnotify

import (
	"errors"
	"testing"
)

// payabl.'s published worked example (reference §2.1).
func TestSecurityPublishedExample(t *testing.T) {
	if got := Security("118656640", "capture", "0", "1610018172", "goodsecret"); got != "1f67d79aa5e2a4070b2091837fefae84cd15f08370de0cee4bf9ea75951e047b" {
		t.Fatalf("security %s", got)
	}
}

func TestParse(t *testing.T) {
	body := "transactionid=118656640&type=capture&errorcode=0&timestamp=1610018172&payment_state=credited&orderid=ORD-1&amount=19.99&currency=EUR" +
		"&security=1f67d79aa5e2a4070b2091837fefae84cd15f08370de0cee4bf9ea75951e047b"
	n, err := Parse([]byte(body), "goodsecret")
	if err != nil || n.OrderID != "ORD-1" || n.Amount != "19.99" || n.Status() != "paid" {
		t.Fatalf("parse: %+v %v", n, err)
	}
	if _, err := Parse([]byte(body), "othersecret"); !errors.Is(err, ErrSecurity) {
		t.Fatalf("wrong secret: %v", err)
	}
	if _, err := Parse([]byte(body[:len(body)-1]+"c"), "goodsecret"); !errors.Is(err, ErrSecurity) {
		t.Fatalf("altered security: %v", err)
	}
}
