package caddymodule

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"time"

	"github.com/caddy-payments/caddy-payments/providers"
)

// The trust policy: the one place that decides what in a provider
// notification is a fact.
//
// A provider's verifier states, per claim, how far its scheme
// authenticates it (providers.Claims: the object and its id, the status,
// the amount and currency, the merchant reference, the time). From those
// levels alone, and never from a provider's name, this file decides:
//
//   - Object unsigned (the signature cannot be checked at all, e.g.
//     payabl.'s 40-hex security): the notification only names an object.
//     It is rate limited per account (notifyLimiter), the status comes from
//     a provider fetch, the event key is built from fetched data only, and
//     a dispute is forwarded only when the fetch states one. A fetch that
//     finds nothing is acknowledged like any other notification, so the
//     route does not tell known objects from unknown ones.
//   - A signed time older than the provider's window (a replay, as far as
//     the gateway can tell): the status comes from a fetch.
//   - Status unsigned (payabl.'s payment_state, Razorpay's per-attempt
//     payment.failed, PaySage's Basic-authenticated body): the status comes
//     from a fetch.
//   - Status signed field by field (payabl.'s concatenated security):
//     every status that says money moved, did not move or moved back is
//     confirmed by a fetch; where the provider cannot answer
//     (NotSupported), the signed claim stands.
//   - Status signed with the whole body: a fact, except that a failed
//     payment moves up only on a fetch (the never-backwards rule).
//   - Amount, currency and reference: taken from the gateway's record, a
//     fetch, or a signed claim, in that order. An unsigned claim that
//     differs from them is tampering: logged, counted, acknowledged, not
//     forwarded.
//   - A signed tuple binds its unsigned claims: the first time a
//     field-signed notification is seen, the digest of its unsigned claims
//     is stored under its signed key; the same signed tuple seen again with
//     other unsigned claims is suspect: logged, counted, acknowledged, and
//     not acted on.
//
// A fetch that states a status only as consistent with a claim
// (providers.Payment.Confirms: payabl.'s tx_diagnose error_code 0, which
// its documents do not separate from "credited") confirms that claim only
// for a fresh notification whose object is signed, whose tuple is bound to
// its claims, and whose fetched amount and currency match the record.

// claimsTTL is how long a field-signed tuple stays bound to its unsigned
// claims: longer than any provider's delivery window (a notification older
// than its window is only ever confirmed by a fetch).
const claimsTTL = 30 * 24 * time.Hour

// Reasons a notification's status is fetched, for logs.
const (
	fetchUnverifiable  = "unverifiable"
	fetchStale         = "stale"
	fetchUnsigned      = "unsigned_status"
	fetchFieldSigned   = "field_signed_money_claim"
	fetchMissingRecord = "no_record"
)

// trustPlan is what the policy makes of one notification before any
// record or fetch is looked at.
type trustPlan struct {
	// fetch says the status claim is not a fact on its own: a provider
	// fetch establishes the status.
	fetch bool
	// reason says why (one of the fetch* constants).
	reason string
	// keyFromFetch says nothing in the notification is signed: its event
	// key is built from fetched data only.
	keyFromFetch bool
	// allowConfirms says a fetch that is only consistent with the claim
	// (Payment.Confirms) may confirm it.
	allowConfirms bool
	// fieldSigned says the status claim is signed field by field: where
	// the provider cannot be asked (NotSupported), the claim stands.
	fieldSigned bool
}

// planTrust applies the policy to a notification's claims.
func planTrust(n *providers.Notification, now time.Time) trustPlan {
	switch {
	case n.Trust.Object == providers.Unsigned:
		return trustPlan{fetch: true, reason: fetchUnverifiable, keyFromFetch: true}
	case !n.Fresh(now):
		// Its claims are bound to its signed fields like a fresh one's, so
		// a fetch consistent with them confirms them (a credited
		// notification that arrives late is still payabl's word).
		return trustPlan{fetch: true, reason: fetchStale, allowConfirms: true}
	case n.Trust.Status == providers.Unsigned:
		return trustPlan{fetch: true, reason: fetchUnsigned, allowConfirms: true}
	case n.Trust.Status == providers.SignedFields && movesMoney(n):
		return trustPlan{fetch: true, reason: fetchFieldSigned, allowConfirms: true, fieldSigned: true}
	}
	return trustPlan{allowConfirms: true}
}

// movesMoney reports whether a status claim says money moved, did not
// move or moved back: anything but the in-between statuses.
func movesMoney(n *providers.Notification) bool {
	if n.EventType == "payment.disputed" {
		return true
	}
	switch n.Status {
	// Payment processing and requires_action; refund and payout pending
	// and processing (the same words).
	case string(providers.StatusProcessing), string(providers.StatusRequiresAction), providers.RefundPending, "":
		return false
	}
	return true
}

// unsignedDigest is a digest of the claims the notification does not sign
// ("" when it signs them all).
func unsignedDigest(n *providers.Notification) string {
	h := sha256.New()
	some := false
	add := func(parts ...string) {
		some = true
		for _, p := range parts {
			h.Write([]byte(p))
			h.Write([]byte{0})
		}
	}
	if n.Trust.Status == providers.Unsigned {
		add("status", n.EventType, n.Status)
	}
	if n.Trust.Amount == providers.Unsigned {
		add("amount", strconv.FormatInt(n.Amount, 10), n.Currency)
	}
	if n.Trust.Reference == providers.Unsigned {
		add("reference", n.Reference)
	}
	if !some {
		return ""
	}
	return hex.EncodeToString(h.Sum(nil))
}

// bindClaims binds a field-signed notification's signed tuple (its event
// key) to its unsigned claims on first sight, and reports false when the
// tuple was seen before with other unsigned claims (suspect). Notifications
// signed over the whole body need no binding: their key covers the whole
// authenticated message.
func (h *Handler) bindClaims(ctx context.Context, name string, n *providers.Notification) (bool, error) {
	if n.Trust.Object != providers.SignedFields || n.EventKey == "" {
		return true, nil
	}
	digest := unsignedDigest(n)
	if digest == "" {
		return true, nil
	}
	rec, started, err := h.store.BeginIdempotent(ctx, "claims:"+name+":"+n.EventKey, digest, claimsTTL)
	if err != nil {
		return false, err
	}
	return started || rec.Fingerprint == digest, nil
}

// facts are the amount, currency and merchant reference an event states,
// taken from the record, a fetch or a signed claim.
type facts struct {
	amount    int64
	currency  string
	reference string
}

// pick fills what is still unknown from a source.
func (f *facts) pick(amount int64, currency, reference string) {
	if f.currency == "" && currency != "" {
		f.amount, f.currency = amount, currency
	}
	if f.reference == "" {
		f.reference = reference
	}
}

// signedFacts are the notification's own claims where they are signed.
func signedFacts(n *providers.Notification) (int64, string, string) {
	var amount int64
	var currency, reference string
	if n.Trust.Amount != providers.Unsigned {
		amount, currency = n.Amount, n.Currency
	}
	if n.Trust.Reference != providers.Unsigned {
		reference = n.Reference
	}
	return amount, currency, reference
}

// tampered names the first unsigned claim that contradicts the facts
// ("" when none does). A claim the notification does not make, or a fact
// the gateway does not know, contradicts nothing. The reference is
// compared only where the notification's reference is the object's own
// (withReference): a refund notification may echo its payment's.
func tampered(n *providers.Notification, f facts, withReference bool) string {
	if n.Trust.Amount == providers.Unsigned && n.Currency != "" && f.currency != "" &&
		(n.Amount != f.amount || n.Currency != f.currency) {
		return "amount"
	}
	if withReference && n.Trust.Reference == providers.Unsigned && n.Reference != "" && f.reference != "" && n.Reference != f.reference {
		return "reference"
	}
	return ""
}

// fetchedKey is the event key of a notification that signs nothing: built
// from what the fetch established, so forged notifications about one
// object can mint no more events than its real changes.
func fetchedKey(object, ref, status, providerStatus, dispute string) string {
	return "fetched|" + object + "|" + ref + "|" + status + "|" + providerStatus + "|" + dispute
}
