// Package storetest is the behaviour every store.Store implementation must
// show. Each implementation's tests call Run with a function that opens a
// fresh, empty store, so the embedded and networked stores are held to the
// same rules: first writer wins, statuses never move backwards, refunds
// never exceed the paid amount (even under concurrency), and callers only
// ever get copies.
package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddy-payments/caddy-payments/providers"
	"github.com/caddy-payments/caddy-payments/store"
)

// Run runs the whole suite. open must return a new, empty store each time
// it is called and register its cleanup with t.Cleanup.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"PaymentRoundTrip", testPaymentRoundTrip},
		{"PaymentFirstWriterWins", testPaymentFirstWriterWins},
		{"PaymentGainsReturnURLs", testPaymentGainsReturnURLs},
		{"PaymentRejectsBadRecords", testPaymentRejectsBadRecords},
		{"PaymentTransitions", testPaymentTransitions},
		{"FailedToSucceededOnlyConfirmed", testFailedToSucceededOnlyConfirmed},
		{"ReserveRefundCap", testReserveRefundCap},
		{"ReserveRefundRejectsBadInput", testReserveRefundRejectsBadInput},
		{"ReleaseRefund", testReleaseRefund},
		{"RefundCapUnderConcurrency", testRefundCapUnderConcurrency},
		{"RefundRoundTrip", testRefundRoundTrip},
		{"RefundTransitions", testRefundTransitions},
		{"FailedRefundReleasesReservation", testFailedRefundReleasesReservation},
		{"PayoutRoundTrip", testPayoutRoundTrip},
		{"PayoutTransitions", testPayoutTransitions},
		{"Delivered", testDelivered},
		{"Once", testOnce},
		{"OnceUnderConcurrency", testOnceUnderConcurrency},
		{"Idempotency", testIdempotency},
		{"IdempotencyUnderConcurrency", testIdempotencyUnderConcurrency},
		{"Outbox", testOutbox},
		{"OutboxClaimUnderConcurrency", testOutboxClaimUnderConcurrency},
		{"OutboxAdmin", testOutboxAdmin},
		{"CancelledContext", testCancelledContext},
		{"ReconcileQueue", testReconcileQueue},
		{"Commit", testCommit},
		{"CommitFirstWriterWins", testCommitFirstWriterWins},
		{"CommitAllOrNothing", testCommitAllOrNothing},
		{"CommitDelivery", testCommitDelivery},
		{"EventLog", testEventLog}, // events.go
		{"EventLogPrune", testEventLogPrune},
		{"EventRedeliver", testEventRedeliver},
		{"PaymentList", testPaymentList},
		{"ListingCursorsAreTheirOwn", testListingCursorsAreTheirOwn},
		{"NativeOriginal", testNativeOriginal}, // native.go
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, open(t)) })
	}
}

var t0 = time.Date(2025, 3, 14, 9, 26, 53, 0, time.UTC)

// Payment returns a fresh payment record in status processing.
func Payment(id string, amount int64) *store.PaymentRecord {
	return &store.PaymentRecord{
		ID: id, Provider: "razorpay-live", ProviderRef: "pay_" + id, Reference: "ORDER-" + id,
		Amount: amount, Currency: "EUR", Status: providers.StatusProcessing,
		ProviderStatus: "created", Test: true, CreatedAt: t0,
		History:    []store.StatusChange{{Status: "processing", At: t0, Source: "create", ProviderStatus: "created"}},
		SuccessURL: "https://shop.example/ok", FailureURL: "https://shop.example/ko",
	}
}

// sameJSON fails the test unless got and want encode identically; the
// stores keep JSON, so that is the equality that matters.
func sameJSON(t *testing.T, what string, got, want any) {
	t.Helper()
	g, err := json.Marshal(got)
	if err != nil {
		t.Fatal(err)
	}
	w, err := json.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	if string(g) != string(w) {
		t.Fatalf("%s:\n got  %s\n want %s", what, g, w)
	}
}

func mustPut(t *testing.T, s store.Store, rec *store.PaymentRecord) *store.PaymentRecord {
	t.Helper()
	got, err := s.PutPayment(context.Background(), rec)
	if err != nil {
		t.Fatalf("PutPayment(%s): %v", rec.ID, err)
	}
	return got
}

func mustGet(t *testing.T, s store.Store, id string) *store.PaymentRecord {
	t.Helper()
	got, err := s.GetPayment(context.Background(), id)
	if err != nil {
		t.Fatalf("GetPayment(%s): %v", id, err)
	}
	return got
}

// checkRefunded asserts the refund invariant and the expected total.
func checkRefunded(t *testing.T, rec *store.PaymentRecord, want int64) {
	t.Helper()
	var sum int64
	for _, a := range rec.Refunds {
		sum += a
	}
	if rec.AmountRefunded != sum {
		t.Fatalf("AmountRefunded = %d but refunds sum to %d (%v)", rec.AmountRefunded, sum, rec.Refunds)
	}
	if rec.AmountRefunded != want {
		t.Fatalf("AmountRefunded = %d, want %d (%v)", rec.AmountRefunded, want, rec.Refunds)
	}
}

func testPaymentRoundTrip(t *testing.T, s store.Store) {
	ctx := context.Background()
	in := Payment("p1", 1999)
	want := Payment("p1", 1999)
	got := mustPut(t, s, in)
	sameJSON(t, "PutPayment result", got, want)

	// Neither the input nor a returned record aliases the stored one.
	in.Amount = 1
	in.History[0].Status = "mutated"
	got.Amount = 2
	got.History[0].Status = "mutated"
	again := mustGet(t, s, "p1")
	sameJSON(t, "GetPayment after mutating input and result", again, want)
	again.Refunds = map[string]int64{"x": 5}
	again.History = append(again.History, store.StatusChange{Status: "x"})
	sameJSON(t, "GetPayment after mutating a fetched record", mustGet(t, s, "p1"), want)

	if _, err := s.GetPayment(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetPayment(unknown) err = %v, want ErrNotFound", err)
	}
}

func testPaymentFirstWriterWins(t *testing.T, s store.Store) {
	first := Payment("p1", 1000)
	mustPut(t, s, first)
	poorer := &store.PaymentRecord{ID: "p1", Provider: "razorpay-live", Status: providers.StatusSucceeded, Amount: 5}
	got := mustPut(t, s, poorer)
	sameJSON(t, "second PutPayment returns the first record", got, Payment("p1", 1000))
	sameJSON(t, "stored record after second PutPayment", mustGet(t, s, "p1"), Payment("p1", 1000))
}

// A record a notification made first (no return URLs) keeps its facts
// when the create's record arrives, but gains the merchant's return URLs,
// through PutPayment and through Commit; URLs it has are never replaced.
func testPaymentGainsReturnURLs(t *testing.T, s store.Store) {
	ctx := context.Background()
	for _, via := range []string{"PutPayment", "Commit"} {
		id := "p-urls-" + via
		fromNotification := Payment(id, 1000)
		fromNotification.SuccessURL, fromNotification.FailureURL = "", ""
		fromNotification.Status = providers.StatusSucceeded
		mustPut(t, s, fromNotification)

		create := Payment(id, 1000)
		create.ReturnURL = "https://shop.example/back"
		switch via {
		case "PutPayment":
			mustPut(t, s, create)
		case "Commit":
			if err := s.Commit(ctx, &store.Writes{Payment: create}); err != nil {
				t.Fatalf("Commit: %v", err)
			}
		}
		want := Payment(id, 1000)
		want.Status = providers.StatusSucceeded // the first writer's facts stay
		want.ReturnURL = "https://shop.example/back"
		sameJSON(t, via+": record after the create's write", mustGet(t, s, id), want)

		// A later writer with other URLs changes nothing.
		other := Payment(id, 1000)
		other.SuccessURL, other.FailureURL, other.ReturnURL = "https://evil.example/a", "https://evil.example/b", "https://evil.example/c"
		mustPut(t, s, other)
		sameJSON(t, via+": record after a third write", mustGet(t, s, id), want)
	}
}

func testPaymentRejectsBadRecords(t *testing.T, s store.Store) {
	ctx := context.Background()
	bad := map[string]*store.PaymentRecord{
		"empty id":         {Amount: 100},
		"negative amount":  {ID: "p-neg", Amount: -1},
		"refunds mismatch": {ID: "p-mis", Amount: 100, Refunds: map[string]int64{"k": 10}, AmountRefunded: 20},
		"refunds > amount": {ID: "p-over", Amount: 100, Refunds: map[string]int64{"k": 101}, AmountRefunded: 101},
	}
	for name, rec := range bad {
		if _, err := s.PutPayment(ctx, rec); err == nil {
			t.Errorf("%s: PutPayment accepted %+v", name, rec)
		}
		if rec.ID != "" {
			if _, err := s.GetPayment(ctx, rec.ID); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("%s: rejected record was stored (err %v)", name, err)
			}
		}
	}
}

func testPaymentTransitions(t *testing.T, s store.Store) {
	ctx := context.Background()
	mustPut(t, s, Payment("p1", 1000))
	at := t0.Add(time.Minute)
	steps := []struct {
		to        providers.Status
		confirmed bool
		changed   bool
		status    providers.Status // status after the step
	}{
		{providers.StatusProcessing, true, false, providers.StatusProcessing},     // same status
		{providers.StatusRequiresAction, true, false, providers.StatusProcessing}, // backwards
		{providers.StatusUnknown, true, false, providers.StatusProcessing},        // never to unknown
		{"bogus", true, false, providers.StatusProcessing},                        // not a status
		{providers.StatusAuthorized, false, true, providers.StatusAuthorized},
		{providers.StatusProcessing, true, false, providers.StatusAuthorized}, // backwards
		{providers.StatusSucceeded, false, true, providers.StatusSucceeded},
		{providers.StatusFailed, true, false, providers.StatusSucceeded}, // final
		{providers.StatusAuthorized, true, false, providers.StatusSucceeded},
	}
	wantHistory := 1
	for i, st := range steps {
		change := store.StatusChange{Status: "ignored", At: at, Source: "notification", ProviderStatus: "raw-" + string(st.to)}
		rec, changed, err := s.ApplyPaymentStatus(ctx, "p1", st.to, st.confirmed, change)
		if err != nil {
			t.Fatalf("step %d (%s): %v", i, st.to, err)
		}
		if changed != st.changed || rec.Status != st.status {
			t.Fatalf("step %d (%s): changed=%v status=%s, want changed=%v status=%s", i, st.to, changed, rec.Status, st.changed, st.status)
		}
		if st.changed {
			wantHistory++
			last := rec.History[len(rec.History)-1]
			if last.Status != string(st.to) || !last.At.Equal(at) || last.Source != "notification" || last.ProviderStatus != "raw-"+string(st.to) {
				t.Fatalf("step %d: history entry %+v", i, last)
			}
			if rec.ProviderStatus != "raw-"+string(st.to) {
				t.Fatalf("step %d: ProviderStatus = %q", i, rec.ProviderStatus)
			}
		}
		if len(rec.History) != wantHistory {
			t.Fatalf("step %d: history has %d entries, want %d", i, len(rec.History), wantHistory)
		}
		sameJSON(t, "returned vs stored", rec, mustGet(t, s, "p1"))
	}

	// A zero At is filled in with the current time.
	mustPut(t, s, Payment("p2", 1000))
	before := time.Now().Add(-time.Second)
	rec, changed, err := s.ApplyPaymentStatus(ctx, "p2", providers.StatusCancelled, false, store.StatusChange{Source: "fetch"})
	if err != nil || !changed {
		t.Fatalf("cancel: changed=%v err=%v", changed, err)
	}
	if last := rec.History[len(rec.History)-1]; last.At.Before(before) || last.At.After(time.Now().Add(time.Second)) {
		t.Fatalf("zero At became %v", last.At)
	}

	if _, _, err := s.ApplyPaymentStatus(ctx, "nope", providers.StatusSucceeded, true, store.StatusChange{}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("unknown id: err = %v, want ErrNotFound", err)
	}
}

func testFailedToSucceededOnlyConfirmed(t *testing.T, s store.Store) {
	ctx := context.Background()
	p := Payment("p1", 1000)
	p.Status = providers.StatusFailed
	mustPut(t, s, p)
	for _, to := range []providers.Status{providers.StatusSucceeded, providers.StatusAuthorized} {
		rec, changed, err := s.ApplyPaymentStatus(ctx, "p1", to, false, store.StatusChange{Source: "notification"})
		if err != nil || changed || rec.Status != providers.StatusFailed {
			t.Fatalf("unconfirmed failed→%s: changed=%v status=%s err=%v", to, changed, rec.Status, err)
		}
	}
	for _, to := range []providers.Status{providers.StatusProcessing, providers.StatusCancelled} {
		if _, changed, err := s.ApplyPaymentStatus(ctx, "p1", to, true, store.StatusChange{Source: "fetch"}); err != nil || changed {
			t.Fatalf("confirmed failed→%s: changed=%v err=%v", to, changed, err)
		}
	}
	rec, changed, err := s.ApplyPaymentStatus(ctx, "p1", providers.StatusSucceeded, true, store.StatusChange{Source: "fetch"})
	if err != nil || !changed || rec.Status != providers.StatusSucceeded {
		t.Fatalf("confirmed failed→succeeded: changed=%v status=%s err=%v", changed, rec.Status, err)
	}
	if got := mustGet(t, s, "p1").Status; got != providers.StatusSucceeded {
		t.Fatalf("stored status %s", got)
	}
}

func testReserveRefundCap(t *testing.T, s store.Store) {
	ctx := context.Background()
	mustPut(t, s, Payment("p1", 1000))

	rec, err := s.ReserveRefund(ctx, "p1", "k1", 300)
	if err != nil {
		t.Fatal(err)
	}
	checkRefunded(t, rec, 300)
	if _, err := s.ReserveRefund(ctx, "p1", "k2", 701); !errors.Is(err, store.ErrRefundExceeds) {
		t.Fatalf("over-refund err = %v, want ErrRefundExceeds", err)
	}
	checkRefunded(t, mustGet(t, s, "p1"), 300)
	rec, err = s.ReserveRefund(ctx, "p1", "k2", 700)
	if err != nil {
		t.Fatal(err)
	}
	checkRefunded(t, rec, 1000)
	if _, err := s.ReserveRefund(ctx, "p1", "k3", 1); !errors.Is(err, store.ErrRefundExceeds) {
		t.Fatalf("refund past full: err = %v, want ErrRefundExceeds", err)
	}
	// An existing key is a no-op whatever the amount (a retried request).
	for _, amt := range []int64{300, 5, 999999} {
		rec, err = s.ReserveRefund(ctx, "p1", "k1", amt)
		if err != nil {
			t.Fatalf("re-reserving k1 with %d: %v", amt, err)
		}
		checkRefunded(t, rec, 1000)
		if rec.Refunds["k1"] != 300 {
			t.Fatalf("k1 = %d, want 300", rec.Refunds["k1"])
		}
	}
	if _, err := s.ReserveRefund(ctx, "nope", "k1", 1); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("unknown payment: err = %v, want ErrNotFound", err)
	}
}

func testReserveRefundRejectsBadInput(t *testing.T, s store.Store) {
	ctx := context.Background()
	mustPut(t, s, Payment("p1", 1000))
	for _, amt := range []int64{0, -1, -1 << 62} {
		_, err := s.ReserveRefund(ctx, "p1", "k", amt)
		if err == nil || errors.Is(err, store.ErrRefundExceeds) {
			t.Fatalf("amount %d: err = %v, want a validation error", amt, err)
		}
	}
	if _, err := s.ReserveRefund(ctx, "p1", "", 10); err == nil {
		t.Fatal("empty key accepted")
	}
	// A huge amount must not overflow into acceptance.
	if _, err := s.ReserveRefund(ctx, "p1", "big", 1<<63-1); !errors.Is(err, store.ErrRefundExceeds) {
		t.Fatalf("max int64: err = %v, want ErrRefundExceeds", err)
	}
	checkRefunded(t, mustGet(t, s, "p1"), 0)
}

func testReleaseRefund(t *testing.T, s store.Store) {
	ctx := context.Background()
	mustPut(t, s, Payment("p1", 1000))
	for k, amt := range map[string]int64{"k1": 600, "k2": 400} {
		if _, err := s.ReserveRefund(ctx, "p1", k, amt); err != nil {
			t.Fatal(err)
		}
	}
	rec, err := s.ReleaseRefund(ctx, "p1", "k1")
	if err != nil {
		t.Fatal(err)
	}
	checkRefunded(t, rec, 400)
	if _, ok := rec.Refunds["k1"]; ok {
		t.Fatal("k1 still reserved")
	}
	rec, err = s.ReleaseRefund(ctx, "p1", "never")
	if err != nil {
		t.Fatalf("releasing an unknown key: %v", err)
	}
	checkRefunded(t, rec, 400)
	// The released room can be used again.
	rec, err = s.ReserveRefund(ctx, "p1", "k3", 600)
	if err != nil {
		t.Fatal(err)
	}
	checkRefunded(t, rec, 1000)
	checkRefunded(t, mustGet(t, s, "p1"), 1000)
	if _, err := s.ReleaseRefund(ctx, "nope", "k1"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("unknown payment: err = %v, want ErrNotFound", err)
	}
}

func testRefundCapUnderConcurrency(t *testing.T, s store.Store) {
	ctx := context.Background()
	mustPut(t, s, Payment("p1", 1999))
	const n = 50
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok, exceeded := 0, 0
	var other []error
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			_, err := s.ReserveRefund(ctx, "p1", "k"+strconv.Itoa(i), 100)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				ok++
			case errors.Is(err, store.ErrRefundExceeds):
				exceeded++
			default:
				other = append(other, err)
			}
		}(i)
	}
	wg.Wait()
	if len(other) > 0 {
		t.Fatalf("unexpected errors: %v", other)
	}
	if ok != 19 || exceeded != n-19 {
		t.Fatalf("%d reservations succeeded and %d exceeded; want 19 and %d", ok, exceeded, n-19)
	}
	rec := mustGet(t, s, "p1")
	checkRefunded(t, rec, 1900)
	if len(rec.Refunds) != 19 {
		t.Fatalf("%d reservations stored, want 19", len(rec.Refunds))
	}
}

func refund(id, paymentID, key string, amount int64) *store.RefundRecord {
	return &store.RefundRecord{
		ID: id, Key: key, PaymentID: paymentID, Provider: "razorpay-live", ProviderRef: "rfnd_" + id,
		Reference: "RF-" + id, Amount: amount, Currency: "EUR", Status: providers.RefundPending,
		Test: true, CreatedAt: t0,
		History: []store.StatusChange{{Status: providers.RefundPending, At: t0, Source: "create"}},
	}
}

func testRefundRoundTrip(t *testing.T, s store.Store) {
	ctx := context.Background()
	in := refund("r1", "p1", "k1", 500)
	if err := s.PutRefund(ctx, in); err != nil {
		t.Fatal(err)
	}
	in.Amount = 1
	got, err := s.GetRefund(ctx, "r1")
	if err != nil {
		t.Fatal(err)
	}
	sameJSON(t, "GetRefund", got, refund("r1", "p1", "k1", 500))
	got.History[0].Status = "mutated"
	again, _ := s.GetRefund(ctx, "r1")
	sameJSON(t, "GetRefund after mutating a fetched record", again, refund("r1", "p1", "k1", 500))

	// PutRefund overwrites.
	newer := refund("r1", "p1", "k1", 500)
	newer.ProviderRef = "rfnd_other"
	if err := s.PutRefund(ctx, newer); err != nil {
		t.Fatal(err)
	}
	again, _ = s.GetRefund(ctx, "r1")
	if again.ProviderRef != "rfnd_other" {
		t.Fatalf("PutRefund did not overwrite: %q", again.ProviderRef)
	}
	if err := s.PutRefund(ctx, &store.RefundRecord{Amount: 1}); err == nil {
		t.Fatal("PutRefund accepted an empty id")
	}
	if _, err := s.GetRefund(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetRefund(unknown) err = %v, want ErrNotFound", err)
	}
}

func testRefundTransitions(t *testing.T, s store.Store) {
	ctx := context.Background()
	mustPut(t, s, Payment("p1", 1000))
	if _, err := s.ReserveRefund(ctx, "p1", "k1", 500); err != nil {
		t.Fatal(err)
	}
	if err := s.PutRefund(ctx, refund("r1", "p1", "k1", 500)); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		to      string
		changed bool
		status  string
	}{
		{providers.RefundPending, false, providers.RefundPending},
		{"bogus", false, providers.RefundPending},
		{providers.RefundSucceeded, true, providers.RefundSucceeded},
		{providers.RefundPending, false, providers.RefundSucceeded},
		{providers.RefundFailed, false, providers.RefundSucceeded}, // succeeded is final
	}
	for i, st := range steps {
		rec, changed, err := s.ApplyRefundStatus(ctx, "r1", st.to, store.StatusChange{Source: "notification", At: t0})
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		if changed != st.changed || rec.Status != st.status {
			t.Fatalf("step %d (%s): changed=%v status=%s, want %v %s", i, st.to, changed, rec.Status, st.changed, st.status)
		}
	}
	rec, _ := s.GetRefund(ctx, "r1")
	if len(rec.History) != 2 || rec.History[1].Status != providers.RefundSucceeded || rec.History[1].Source != "notification" {
		t.Fatalf("history %+v", rec.History)
	}
	// A succeeded refund keeps its reservation.
	checkRefunded(t, mustGet(t, s, "p1"), 500)
	if _, _, err := s.ApplyRefundStatus(ctx, "nope", providers.RefundSucceeded, store.StatusChange{}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("unknown refund: err = %v, want ErrNotFound", err)
	}
}

func testFailedRefundReleasesReservation(t *testing.T, s store.Store) {
	ctx := context.Background()
	mustPut(t, s, Payment("p1", 1000))
	for k, amt := range map[string]int64{"k1": 400, "k2": 250} {
		if _, err := s.ReserveRefund(ctx, "p1", k, amt); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.PutRefund(ctx, refund("r1", "p1", "k1", 400)); err != nil {
		t.Fatal(err)
	}
	rec, changed, err := s.ApplyRefundStatus(ctx, "r1", providers.RefundFailed, store.StatusChange{Source: "notification"})
	if err != nil || !changed || rec.Status != providers.RefundFailed {
		t.Fatalf("→failed: changed=%v err=%v rec=%+v", changed, err, rec)
	}
	pay := mustGet(t, s, "p1")
	checkRefunded(t, pay, 250)
	if _, ok := pay.Refunds["k1"]; ok {
		t.Fatal("failed refund's reservation kept")
	}
	// A second failure report changes nothing.
	if _, changed, err := s.ApplyRefundStatus(ctx, "r1", providers.RefundFailed, store.StatusChange{}); err != nil || changed {
		t.Fatalf("failed again: changed=%v err=%v", changed, err)
	}
	checkRefunded(t, mustGet(t, s, "p1"), 250)
	// The released room can be refunded again.
	if _, err := s.ReserveRefund(ctx, "p1", "k3", 750); err != nil {
		t.Fatalf("reserving released room: %v", err)
	}

	// A refund whose payment is not in the store still fails cleanly.
	if err := s.PutRefund(ctx, refund("r2", "elsewhere", "kx", 10)); err != nil {
		t.Fatal(err)
	}
	if _, changed, err := s.ApplyRefundStatus(ctx, "r2", providers.RefundFailed, store.StatusChange{}); err != nil || !changed {
		t.Fatalf("orphan refund →failed: changed=%v err=%v", changed, err)
	}
}

func payout(id string, amount int64) *store.PayoutRecord {
	return &store.PayoutRecord{
		ID: id, Provider: "payabl-live", ProviderRef: "tx-" + id, Reference: "PO-" + id,
		Amount: amount, Currency: "EUR", Status: providers.PayoutPending, Test: true, CreatedAt: t0,
		History: []store.StatusChange{{Status: providers.PayoutPending, At: t0, Source: "create"}},
	}
}

func testPayoutRoundTrip(t *testing.T, s store.Store) {
	ctx := context.Background()
	in := payout("po1", 2500)
	got, err := s.PutPayout(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	sameJSON(t, "PutPayout result", got, payout("po1", 2500))
	in.Amount = 1
	got.Amount = 2
	stored, err := s.GetPayout(ctx, "po1")
	if err != nil {
		t.Fatal(err)
	}
	sameJSON(t, "GetPayout", stored, payout("po1", 2500))
	// First writer wins, as for payments.
	got, err = s.PutPayout(ctx, payout("po1", 7))
	if err != nil {
		t.Fatal(err)
	}
	sameJSON(t, "second PutPayout", got, payout("po1", 2500))
	if _, err := s.PutPayout(ctx, &store.PayoutRecord{Amount: 1}); err == nil {
		t.Fatal("PutPayout accepted an empty id")
	}
	if _, err := s.GetPayout(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetPayout(unknown) err = %v, want ErrNotFound", err)
	}
}

func testPayoutTransitions(t *testing.T, s store.Store) {
	ctx := context.Background()
	for _, id := range []string{"po1", "po2"} {
		if _, err := s.PutPayout(ctx, payout(id, 100)); err != nil {
			t.Fatal(err)
		}
	}
	type step struct {
		to      string
		changed bool
		status  string
	}
	run := func(id string, steps []step) {
		t.Helper()
		for i, st := range steps {
			rec, changed, err := s.ApplyPayoutStatus(ctx, id, st.to, store.StatusChange{Source: "notification"})
			if err != nil {
				t.Fatalf("%s step %d: %v", id, i, err)
			}
			if changed != st.changed || rec.Status != st.status {
				t.Fatalf("%s step %d (%s): changed=%v status=%s, want %v %s", id, i, st.to, changed, rec.Status, st.changed, st.status)
			}
		}
	}
	run("po1", []step{
		{providers.PayoutReversed, false, providers.PayoutPending}, // only a succeeded payout reverses
		{providers.PayoutProcessing, true, providers.PayoutProcessing},
		{providers.PayoutPending, false, providers.PayoutProcessing},
		{providers.PayoutSucceeded, true, providers.PayoutSucceeded},
		{providers.PayoutFailed, false, providers.PayoutSucceeded},
		{providers.PayoutReversed, true, providers.PayoutReversed},
		{providers.PayoutSucceeded, false, providers.PayoutReversed},
	})
	run("po2", []step{
		{providers.PayoutFailed, true, providers.PayoutFailed},
		{providers.PayoutReversed, false, providers.PayoutFailed},
		{providers.PayoutSucceeded, false, providers.PayoutFailed},
	})
	rec, err := s.GetPayout(ctx, "po1")
	if err != nil {
		t.Fatal(err)
	}
	var statuses []string
	for _, h := range rec.History {
		statuses = append(statuses, h.Status)
	}
	sameJSON(t, "po1 history", statuses, []string{"pending", "processing", "succeeded", "reversed"})
	if _, _, err := s.ApplyPayoutStatus(ctx, "nope", providers.PayoutSucceeded, store.StatusChange{}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("unknown payout: err = %v, want ErrNotFound", err)
	}
}

func testDelivered(t *testing.T, s store.Store) {
	ctx := context.Background()
	check := func(id string, want bool) {
		t.Helper()
		got, err := s.Delivered(ctx, id)
		if err != nil || got != want {
			t.Fatalf("Delivered(%s) = %v, %v; want %v", id, got, err, want)
		}
	}
	check("evt_1", false)
	if err := s.MarkDelivered(ctx, "evt_1"); err != nil {
		t.Fatal(err)
	}
	check("evt_1", true)
	check("evt_2", false)
	if err := s.MarkDelivered(ctx, "evt_1"); err != nil {
		t.Fatalf("marking twice: %v", err)
	}
	check("evt_1", true)
	if err := s.MarkDelivered(ctx, ""); err == nil {
		t.Fatal("MarkDelivered accepted an empty id")
	}
}

func testOnce(t *testing.T, s store.Store) {
	ctx := context.Background()
	if err := s.PutOnce(ctx, "k1", []byte("v1"), time.Minute); err != nil {
		t.Fatal(err)
	}
	got, err := s.TakeOnce(ctx, "k1")
	if err != nil || string(got) != "v1" {
		t.Fatalf("TakeOnce = %q, %v", got, err)
	}
	if _, err := s.TakeOnce(ctx, "k1"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("second TakeOnce = %v, want ErrNotFound", err)
	}
	if _, err := s.TakeOnce(ctx, "never"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("TakeOnce of an unknown key = %v", err)
	}
	if err := s.PutOnce(ctx, "k2", []byte("v2"), 20*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	time.Sleep(40 * time.Millisecond)
	if _, err := s.TakeOnce(ctx, "k2"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("expired TakeOnce = %v, want ErrNotFound", err)
	}
	if err := s.PutOnce(ctx, "", []byte("x"), time.Minute); err == nil {
		t.Fatal("PutOnce accepted an empty key")
	}
}

func testOnceUnderConcurrency(t *testing.T, s store.Store) {
	ctx := context.Background()
	if err := s.PutOnce(ctx, "race", []byte("v"), time.Minute); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var got atomic.Int32
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := s.TakeOnce(ctx, "race"); err == nil {
				got.Add(1)
			}
		}()
	}
	wg.Wait()
	if got.Load() != 1 {
		t.Fatalf("%d takers got the one-time value, want exactly 1", got.Load())
	}
}

func testIdempotency(t *testing.T, s store.Store) {
	ctx := context.Background()
	rec, started, err := s.BeginIdempotent(ctx, "k", "fp1", time.Hour)
	if err != nil || !started || rec != nil {
		t.Fatalf("first Begin = %v %v %v", rec, started, err)
	}
	rec, started, err = s.BeginIdempotent(ctx, "k", "fp1", time.Hour)
	if err != nil || started || rec == nil || rec.Done || rec.Fingerprint != "fp1" {
		t.Fatalf("Begin while in flight = %+v %v %v", rec, started, err)
	}
	if err := s.FinishIdempotent(ctx, "k", 201, "application/json", []byte(`{"id":"x"}`)); err != nil {
		t.Fatal(err)
	}
	rec, started, err = s.BeginIdempotent(ctx, "k", "fp2", time.Hour)
	if err != nil || started || !rec.Done || rec.Status != 201 || string(rec.Body) != `{"id":"x"}` || rec.Fingerprint != "fp1" {
		t.Fatalf("Begin after finish = %+v %v %v", rec, started, err)
	}
	// Abandon frees the key for a corrected request.
	if _, started, _ := s.BeginIdempotent(ctx, "k2", "fp", time.Hour); !started {
		t.Fatal("k2 not started")
	}
	if err := s.AbandonIdempotent(ctx, "k2"); err != nil {
		t.Fatal(err)
	}
	if _, started, _ := s.BeginIdempotent(ctx, "k2", "other", time.Hour); !started {
		t.Fatal("an abandoned key was not freed")
	}
	// Expired keys are free again.
	if _, started, _ := s.BeginIdempotent(ctx, "k3", "fp", 20*time.Millisecond); !started {
		t.Fatal("k3 not started")
	}
	time.Sleep(40 * time.Millisecond)
	if _, started, _ := s.BeginIdempotent(ctx, "k3", "fp", time.Hour); !started {
		t.Fatal("an expired key was not freed")
	}
}

func testIdempotencyUnderConcurrency(t *testing.T, s store.Store) {
	ctx := context.Background()
	var wg sync.WaitGroup
	var starts atomic.Int32
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, started, err := s.BeginIdempotent(ctx, "race", "fp", time.Hour); err == nil && started {
				starts.Add(1)
			}
		}()
	}
	wg.Wait()
	if starts.Load() != 1 {
		t.Fatalf("%d callers started the same key, want exactly 1", starts.Load())
	}
}

func testOutbox(t *testing.T, s store.Store) {
	ctx := context.Background()
	now := time.Now().UTC()
	e := &store.OutboxEntry{EventID: "evt_1", Provider: "payabl", Body: []byte(`{"id":"evt_1"}`), Server: "srv0", Host: "h", Path: "/n", NextAt: now, Created: now}
	if stored, err := s.EnqueueEvent(ctx, e); err != nil || !stored {
		t.Fatalf("enqueue = %v, %v; want stored", stored, err)
	}
	// Enqueuing the same event again keeps the first entry.
	if stored, err := s.EnqueueEvent(ctx, &store.OutboxEntry{EventID: "evt_1", Body: []byte("other"), NextAt: now}); err != nil || stored {
		t.Fatalf("enqueue again = %v, %v; want not stored", stored, err)
	}
	if _, err := s.EnqueueEvent(ctx, &store.OutboxEntry{EventID: "evt_later", NextAt: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	// An event already delivered is not queued again.
	if err := s.MarkDelivered(ctx, "evt_done"); err != nil {
		t.Fatal(err)
	}
	if stored, err := s.EnqueueEvent(ctx, &store.OutboxEntry{EventID: "evt_done", NextAt: now}); err != nil || stored {
		t.Fatalf("enqueue of a delivered event = %v, %v; want not stored", stored, err)
	}
	// One announcement (a status of an object), one event: a second event
	// announcing the same status is not queued, while the first is queued
	// or after it was delivered; the first event itself stays idempotent.
	if stored, err := s.EnqueueEvent(ctx, &store.OutboxEntry{EventID: "evt_captured", Announce: "pay_1|payment.succeeded", NextAt: now.Add(time.Hour)}); err != nil || !stored {
		t.Fatalf("first announcing event = %v, %v; want stored", stored, err)
	}
	if stored, err := s.EnqueueEvent(ctx, &store.OutboxEntry{EventID: "evt_paid", Announce: "pay_1|payment.succeeded", NextAt: now.Add(time.Hour)}); err != nil || stored {
		t.Fatalf("second event announcing the same status = %v, %v; want not stored", stored, err)
	}
	if stored, err := s.EnqueueEvent(ctx, &store.OutboxEntry{EventID: "evt_other", Announce: "pay_1|payment.refunded", NextAt: now.Add(time.Hour)}); err != nil || !stored {
		t.Fatalf("an event announcing another status = %v, %v; want stored", stored, err)
	}
	if err := s.MarkDelivered(ctx, "pay_2|payment.failed"); err != nil {
		t.Fatal(err)
	}
	if stored, err := s.EnqueueEvent(ctx, &store.OutboxEntry{EventID: "evt_late", Announce: "pay_2|payment.failed", NextAt: now}); err != nil || stored {
		t.Fatalf("an event whose status was announced already = %v, %v; want not stored", stored, err)
	}
	for _, id := range []string{"evt_captured", "evt_other"} {
		if err := s.RemoveEvent(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	if stored, err := s.EnqueueEvent(ctx, &store.OutboxEntry{EventID: "evt_paid", Announce: "pay_1|payment.succeeded", NextAt: now}); err != nil || stored {
		t.Fatalf("the second event after the first was delivered = %v, %v; want not stored", stored, err)
	}
	if n, err := s.OutboxDepth(ctx); err != nil || n != 2 {
		t.Fatalf("depth = %d, %v; want 2", n, err)
	}
	got, err := s.ClaimDueEvents(ctx, now, 10, time.Minute)
	if err != nil || len(got) != 1 || got[0].EventID != "evt_1" || string(got[0].Body) != `{"id":"evt_1"}` || got[0].Path != "/n" {
		t.Fatalf("claim = %+v, %v", got, err)
	}
	// Leased: not claimable again until the lease ends.
	if again, _ := s.ClaimDueEvents(ctx, now.Add(time.Second), 10, time.Minute); len(again) != 0 {
		t.Fatalf("a leased entry was claimed twice: %+v", again)
	}
	if err := s.RescheduleEvent(ctx, "evt_1", 1, now.Add(2*time.Second), "shop answered 503"); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.ClaimDueEvents(ctx, now.Add(time.Second), 10, time.Minute); len(got) != 0 {
		t.Fatal("claimed before its next attempt")
	}
	got, _ = s.ClaimDueEvents(ctx, now.Add(3*time.Second), 10, time.Minute)
	if len(got) != 1 || got[0].Attempts != 1 || got[0].LastError != "shop answered 503" {
		t.Fatalf("after reschedule: %+v", got)
	}
	if err := s.RemoveEvent(ctx, "evt_1"); err != nil {
		t.Fatal(err)
	}
	if err := s.RemoveEvent(ctx, "evt_1"); err != nil {
		t.Fatalf("removing twice: %v", err)
	}
	if n, _ := s.OutboxDepth(ctx); n != 1 {
		t.Fatalf("depth after remove = %d", n)
	}
	if err := s.RescheduleEvent(ctx, "evt_gone", 1, now, ""); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("reschedule of a missing entry = %v", err)
	}
}

func testOutboxClaimUnderConcurrency(t *testing.T, s store.Store) {
	ctx := context.Background()
	now := time.Now().UTC()
	for i := range 10 {
		if _, err := s.EnqueueEvent(ctx, &store.OutboxEntry{EventID: fmt.Sprintf("evt_%d", i), NextAt: now}); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	seen := map[string]int{}
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got, err := s.ClaimDueEvents(ctx, now, 3, time.Minute)
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			for _, e := range got {
				seen[e.EventID]++
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	if len(seen) != 10 {
		t.Fatalf("%d of 10 entries were claimed", len(seen))
	}
	for id, n := range seen {
		if n != 1 {
			t.Fatalf("%s was claimed %d times", id, n)
		}
	}
}

func testCancelledContext(t *testing.T, s store.Store) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.PutPayment(ctx, Payment("p1", 100)); err == nil {
		t.Fatal("PutPayment ran with a cancelled context")
	}
	if _, err := s.GetPayment(context.Background(), "p1"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("payment stored despite cancelled context (err %v)", err)
	}
	if err := s.MarkDelivered(ctx, "evt"); err == nil {
		t.Fatal("MarkDelivered ran with a cancelled context")
	}
}

// testReconcileQueue: checks of payments, refunds and payouts (the id's
// prefix names the kind) are scheduled, claimed under a lease, replaced
// and ended by id alike; a check keeps its persisted field names.
func testReconcileQueue(t *testing.T, s store.Store) {
	rq, ok := s.(store.ReconcileQueue)
	if !ok {
		t.Skip("the store keeps no reconcile checks")
	}
	ctx := context.Background()
	for _, c := range []struct {
		id string
		in time.Duration
	}{{"pay_a", 0}, {"re_b", 0}, {"po_c", 0}, {"re_d", time.Hour}} {
		if err := rq.ScheduleCheck(ctx, &store.ReconcileCheck{ID: c.id, Provider: "fake", Host: "shop.example",
			Path: "/notifications/fake", NextAt: t0.Add(c.in), Created: t0}); err != nil {
			t.Fatalf("schedule %s: %v", c.id, err)
		}
	}
	ids := func(cs []*store.ReconcileCheck) map[string]int {
		out := map[string]int{}
		for _, c := range cs {
			out[c.ID] = c.Attempts
		}
		return out
	}
	got, err := rq.ClaimDueChecks(ctx, t0, 10, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if m := ids(got); len(got) != 3 || len(m) != 3 {
		t.Fatalf("claimed %v, want pay_a, re_b and po_c once each", m)
	} else {
		for _, id := range []string{"pay_a", "re_b", "po_c"} {
			if _, ok := m[id]; !ok {
				t.Fatalf("claimed %v, want %s among them", m, id)
			}
		}
	}
	for _, c := range got {
		if c.Host != "shop.example" || c.Path != "/notifications/fake" || !c.Created.Equal(t0) {
			t.Fatalf("claimed check lost its fields: %+v", c)
		}
	}
	if again, _ := rq.ClaimDueChecks(ctx, t0.Add(time.Second), 10, time.Minute); len(again) != 0 {
		t.Fatalf("leased checks were claimed twice: %v", ids(again))
	}
	// The limit holds across kinds.
	if one, _ := rq.ClaimDueChecks(ctx, t0.Add(2*time.Minute), 1, time.Minute); len(one) != 1 {
		t.Fatalf("limit 1 claimed %v", ids(one))
	}
	// Rescheduling replaces; ending removes from whichever queue holds it.
	if err := rq.ScheduleCheck(ctx, &store.ReconcileCheck{ID: "re_b", Provider: "fake", Attempts: 1, NextAt: t0.Add(10 * time.Minute)}); err != nil {
		t.Fatal(err)
	}
	if err := rq.DoneCheck(ctx, "po_c"); err != nil {
		t.Fatal(err)
	}
	if err := rq.DoneCheck(ctx, "re_unknown"); err != nil {
		t.Fatalf("ending a missing check: %v", err)
	}
	later, _ := rq.ClaimDueChecks(ctx, t0.Add(2*time.Hour), 10, time.Minute)
	if m := ids(later); len(later) != 3 || m["re_b"] != 1 || len(m) != 3 {
		t.Fatalf("after done and reschedule: %v, want pay_a, re_b (1 attempt) and re_d", m)
	} else if _, ok := m["po_c"]; ok {
		t.Fatalf("an ended check was claimed: %v", m)
	}
	if err := rq.ScheduleCheck(ctx, &store.ReconcileCheck{}); err == nil {
		t.Fatal("a check without an id was accepted")
	}
	// Checks stored by versions that reconciled only payments carry the
	// id as payment_id: the name stays.
	raw, _ := json.Marshal(&store.ReconcileCheck{ID: "re_x"})
	if !json.Valid(raw) || !strings.Contains(string(raw), `"payment_id":"re_x"`) {
		t.Fatalf("check JSON %s: the id must stay under payment_id", raw)
	}
}
