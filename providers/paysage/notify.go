package paysage

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/caddy-payments/caddy-payments/providers"
)

// notificationWindow is how long after the change it reports a webhook may
// still arrive as a genuine delivery. beGateway documents, for its card
// service, 15 retries of which the last is about 36 h after the first; for
// the APM service it says 15 retries and leaves the formula blank
// (reference §5.3). The gateway takes twice the documented card window: a
// signed webhook whose updated_at is older is treated as a possible
// replay, and only a fetch from PaySage decides what it says (it is never
// dropped, only confirmed).
const notificationWindow = 72 * time.Hour

// signatureHeader carries base64(RSA PKCS#1 v1.5 SHA-256 signature of the
// raw body) made with the shop's private key held by PaySage (reference
// §5.2).
const signatureHeader = "Content-Signature"

// unauthenticated wraps ErrUnauthenticated with a reason that names no
// value from the notification.
func unauthenticated(reason string) error {
	return fmt.Errorf("paysage: %s: %w", reason, providers.ErrUnauthenticated)
}

// authenticate decides whether a webhook comes from PaySage, following the
// official SDK's Webhook::isAuthorized (reference §5.2):
//
//   - a Content-Signature header with a configured public_key: the RSA
//     signature over the raw body is the only test, and it passes when any
//     configured key (new or old, during a rotation) verifies it. A present
//     but invalid signature fails; it never falls back to Basic.
//   - otherwise HTTP Basic shop_id:secret_key, compared in constant time.
//
// signed says the body itself is covered by a signature.
func (p *Provider) authenticate(n *providers.IncomingNotification) (signed bool, err error) {
	sigs := n.Header.Values(signatureHeader)
	if len(sigs) > 1 {
		return false, unauthenticated("Content-Signature is repeated")
	}
	if len(sigs) == 1 && len(p.pubs) > 0 {
		return true, verifySignature(p.pubs, n.Body, sigs[0])
	}
	return false, p.checkBasic(n.Header)
}

// verifySignature checks a Content-Signature value against the raw body
// with each key in turn; one that verifies is enough. Whitespace inside the
// base64 is ignored (header folding); nothing else is lenient.
func verifySignature(pubs []*rsa.PublicKey, body []byte, header string) error {
	compact := strings.Map(func(r rune) rune {
		switch r {
		case ' ', '\t', '\r', '\n':
			return -1
		}
		return r
	}, header)
	sig, err := base64.StdEncoding.DecodeString(compact)
	if err != nil || len(sig) == 0 {
		return unauthenticated("Content-Signature is not base64")
	}
	digest := sha256.Sum256(body)
	for _, pub := range pubs {
		if rsa.VerifyPKCS1v15(pub, crypto.SHA256, digest[:], sig) == nil {
			return nil
		}
	}
	return unauthenticated("Content-Signature does not match the body")
}

// checkBasic checks Authorization: Basic base64(shop_id:secret_key). Both
// sides are hashed before the constant-time comparison, so neither the
// content nor the length of the credentials leaks through timing.
func (p *Provider) checkBasic(h http.Header) error {
	auths := h.Values("Authorization")
	if len(auths) != 1 {
		return unauthenticated("no Content-Signature and no (single) Basic Authorization")
	}
	scheme, cred, ok := strings.Cut(strings.TrimSpace(auths[0]), " ")
	if !ok || !strings.EqualFold(scheme, "Basic") {
		return unauthenticated("Authorization is not Basic")
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(cred))
	if err != nil {
		return unauthenticated("Basic credentials are not base64")
	}
	got := sha256.Sum256(raw)
	want := sha256.Sum256([]byte(p.shopID + ":" + p.secretKey))
	if p.shopID == "" || p.secretKey == "" || subtle.ConstantTimeCompare(got[:], want[:]) != 1 {
		return unauthenticated("Basic credentials do not match the shop")
	}
	return nil
}

// VerifyNotification implements providers.Provider. The body is
// authenticated first (see authenticate), then parsed: it must be
// {"transaction":{…}} with a uid and a status.
//
// Mapping: type payment → Object payment, status → canonical (status.go),
// event payment.<status> (none for requires_action/unknown); type refund →
// Object refund, PaymentRef parent_uid, refund.<status>; any other type is
// acknowledged without an event. At is the transaction's updated_at (else
// created_at) and MaxAge notificationWindow. With a signature the whole body is
// signed, so every claim is SignedBody. With Basic only the sender is
// authenticated, by the same credentials every API call carries: every
// claim is Unsigned, so the host fetches the status from PaySage before
// forwarding it.
func (p *Provider) VerifyNotification(n *providers.IncomingNotification) (*providers.Notification, error) {
	if n == nil {
		return nil, unauthenticated("empty notification")
	}
	signed, err := p.authenticate(n)
	if err != nil {
		return nil, err
	}
	// Read with gjson as the replies are (reply.go: the same acceptance and
	// values as encoding/json into these structs).
	var env envelope
	if !decodeEnvelope(n.Body, &env) || !present(env.Transaction) {
		return nil, invalidNotification("the body is not a PaySage transaction ({\"transaction\":{…}})")
	}
	var t transaction
	if !decodeTransaction(&t, env.transaction) {
		return nil, invalidNotification("the transaction object is malformed")
	}
	if !validUID(t.UID) || t.Status == "" {
		return nil, invalidNotification("the transaction has no uid or status")
	}
	out := &providers.Notification{
		ProviderRef:     t.UID,
		Reference:       t.TrackingID,
		ProviderStatus:  t.Status,
		ProviderMessage: clip(t.message()),
		Trust:           claims(signed),
		At:              t.stated(),
		MaxAge:          notificationWindow,
		EventKey:        eventKey(t.UID, t.Status, n.Body),
		ProviderEvent:   providerEventOfValid(n.Body),
	}
	// The amount is given only when it is a well-formed integer in a known
	// currency; it is signed only with a signature (see claims).
	if t.check() == nil {
		out.Amount, out.Currency = t.amountMinor, t.Currency
	}
	switch strings.ToLower(t.Type) {
	case "payment", "":
		out.Object = "payment"
		st := paymentStatus(t.Status)
		out.Status = string(st)
		out.EventType = paymentEventType(st)
	case "refund":
		out.Object = "refund"
		out.PaymentRef = t.ParentUID
		if !validUID(t.ParentUID) {
			out.PaymentRef = ""
		}
		if st := refundStatus(t.Status); st != "" {
			out.Status, out.EventType = st, "refund."+st
		}
	default:
		// Payouts and anything else: acknowledged, not forwarded.
		out.Object = strings.ToLower(t.Type)
	}
	return out, nil
}

// claims states what a notification authenticates: with a
// Content-Signature the whole body is signed; with HTTP Basic only the
// sender is (by the credentials every API call carries), so the object
// named is trusted but every claim about it is Unsigned and confirmed by a
// fetch.
func claims(signed bool) providers.Claims {
	if signed {
		return providers.Claims{Object: providers.SignedBody, Status: providers.SignedBody,
			Amount: providers.SignedBody, Reference: providers.SignedBody, Time: providers.SignedBody}
	}
	return providers.Claims{Object: providers.SignedBody}
}

// invalidNotification is an authenticated notification the gateway cannot
// read: not an authentication failure (the host answers 400, and PaySage
// retries).
func invalidNotification(reason string) error {
	return &providers.Error{Type: providers.TypeInvalidRequest, Code: "invalid_notification",
		Message: "PaySage notification: " + reason, RequestSent: providers.SentNo}
}

// eventKey identifies a notification by authenticated content only: the
// uid and status, and a hash of the verified body. The same delivery sent
// twice gives the same key; two different notifications (another status,
// or the same status with other content, e.g. a later updated_at) differ.
func eventKey(uid, status string, body []byte) string {
	sum := sha256.Sum256(body)
	var b strings.Builder
	b.Grow(len(uid) + len(status) + 2 + 2*16)
	b.WriteString(uid)
	b.WriteByte('|')
	b.WriteString(status)
	b.WriteByte('|')
	var h [2 * 16]byte
	hex.Encode(h[:], sum[:16])
	b.Write(h[:])
	return b.String()
}

// Acknowledge implements providers.Provider: PaySage wants HTTP 200
// (reference §5.3); anything else makes it send the webhook again.
func (p *Provider) Acknowledge(w http.ResponseWriter) error {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	_, err := w.Write([]byte("OK"))
	return err
}
