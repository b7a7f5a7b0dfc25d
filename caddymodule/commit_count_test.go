package caddymodule

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/caddy-payments/caddy-payments/providers"
	"github.com/caddy-payments/caddy-payments/providers/fake"
	"github.com/caddy-payments/caddy-payments/store"
)

// TestRequestWritesAreOneCommit counts the write transactions (each one
// fsync) a request makes in the embedded store, through Caddy. A create
// with an Idempotency-Key claims its key in one (durable before the
// provider is called) and makes the rest (record, reconcile check,
// idempotency completion) in one more, where it made four (the claim,
// the record, the check, the completion); the stored answer is the one
// the client got, byte for byte. A delivered notification records the
// delivery (the event and its announcement delivered, the outbox entry
// removed) in one transaction, where it made three.
func TestRequestWritesAreOneCommit(t *testing.T) {
	fs := fake.NewServer(fakeSecret)
	fsrv := httptest.NewServer(fs)
	t.Cleanup(fsrv.Close)
	sh := newShop(t)
	path := filepath.Join(t.TempDir(), "state.db")
	loadCaddy(t, fakeSite(t, 9080, fsrv.URL, sh.srv.URL, "storage_path "+path))
	// Opening the gateway's file in this process shares its database and
	// its committer, whose count of transactions is what is measured.
	db, err := store.OpenBolt(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	commits := func(do func()) int64 {
		t.Helper()
		before := db.Commits()
		do()
		return db.Commits() - before
	}
	post := func(path, key string, body any) (int, http.Header, []byte) {
		t.Helper()
		raw, _ := json.Marshal(body)
		req, _ := http.NewRequest(http.MethodPost, gwBase+path, bytes.NewReader(raw))
		req.Header.Set("Authorization", "Bearer "+testToken)
		req.Header.Set("Content-Type", "application/json")
		if key != "" {
			req.Header.Set("Idempotency-Key", key)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		out, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header, out
	}

	var code int
	var hdr http.Header
	var answer []byte
	if n := commits(func() { code, hdr, answer = post("/payments", "idem-commit-1", fakePayment("ORD-TXN-1", 1500)) }); n != 2 || code != 201 {
		t.Fatalf("create with an Idempotency-Key: %d %s in %d write transactions, want 201 in 2", code, answer, n)
	}
	var pay map[string]any
	if err := json.Unmarshal(answer, &pay); err != nil {
		t.Fatal(err)
	}
	id, _ := pay["id"].(string)
	rec, err := db.GetPayment(context.Background(), id)
	if err != nil || rec.Amount != 1500 || rec.Reference != "ORD-TXN-1" {
		t.Fatalf("record after the create: %+v %v", rec, err)
	}
	if n := commits(func() {
		c2, h2, again := post("/payments", "idem-commit-1", fakePayment("ORD-TXN-1", 1500))
		if c2 != code || !bytes.Equal(again, answer) || h2.Get("Content-Type") != hdr.Get("Content-Type") || h2.Get("Idempotent-Replayed") != "true" {
			t.Fatalf("replay: %d %q %s; want %d %q %s", c2, h2.Get("Content-Type"), again, code, hdr.Get("Content-Type"), answer)
		}
	}); n != 0 {
		t.Fatalf("a replay made %d write transactions", n)
	}
	if n := commits(func() { code, _, answer = post("/payments", "", fakePayment("ORD-TXN-2", 1500)) }); n != 1 || code != 201 {
		t.Fatalf("create without an Idempotency-Key: %d %s in %d write transactions, want 201 in 1", code, answer, n)
	}

	// The customer pays: the fake posts "processing" then "succeeded",
	// and the gateway answers each once the shop took its event. Each
	// notification: the status (ApplyPaymentStatus), the event
	// (EnqueueEvent), the delivery (one Commit).
	ref, _ := pay["provider_reference"].(string)
	var sent []fake.SentNotification
	n := commits(func() {
		if sent, err = fs.Checkout(context.Background(), ref, true); err != nil {
			t.Fatal(err)
		}
	})
	for _, s := range sent {
		if s.StatusCode != 200 {
			t.Fatalf("notification %s answered %d %s", s.Status, s.StatusCode, s.Reply)
		}
	}
	if got := len(eventsOf(t, sh, id)); got != 2 {
		t.Fatalf("the shop got %d events, want 2", got)
	}
	if n != 6 {
		t.Fatalf("two delivered notifications made %d write transactions, want 6 (3 each)", n)
	}
	for _, typ := range []string{"payment.processing", "payment.succeeded"} {
		if done, _ := db.Delivered(context.Background(), announceKey("fake", "payment", ref, typ)); !done {
			t.Fatalf("%s not recorded as announced", typ)
		}
	}
	if depth, _ := db.OutboxDepth(context.Background()); depth != 0 {
		t.Fatalf("%d delivered events left in the outbox", depth)
	}

	// A refund with a key: the claim, the reservation, then one Commit
	// (record, check, completion). A payout: the claim and one Commit.
	if n := commits(func() {
		code, _, answer = post("/payments/"+id+"/refunds", "idem-commit-2", map[string]any{"amount": 500})
	}); n != 3 || code != 201 {
		t.Fatalf("refund with an Idempotency-Key: %d %s in %d write transactions, want 201 in 3", code, answer, n)
	}
	var rf map[string]any
	_ = json.Unmarshal(answer, &rf)
	// The fake refunds at once: the record is committed succeeded, with
	// the history ApplyRefundStatus would have given it.
	if got, err := db.GetRefund(context.Background(), rf["id"].(string)); err != nil || got.Amount != 500 || got.Status != "succeeded" ||
		len(got.History) != 1 || got.History[0].Source != "create" || got.History[0].Status != "succeeded" {
		t.Fatalf("refund record: %+v %v", got, err)
	}
	payout := map[string]any{"reference": "PO-TXN-1", "amount": 700, "currency": "EUR",
		"bank_account": map[string]any{"country": "DE", "iban": "DE89370400440532013000", "holder_name": "Jane"}}
	if n := commits(func() { code, _, answer = post("/payouts", "idem-commit-3", payout) }); n != 2 || code != 201 {
		t.Fatalf("payout with an Idempotency-Key: %d %s in %d write transactions, want 201 in 2", code, answer, n)
	}
	var po map[string]any
	_ = json.Unmarshal(answer, &po)
	if got, err := db.GetPayout(context.Background(), po["id"].(string)); err != nil || got.Amount != 700 {
		t.Fatalf("payout record: %+v %v", got, err)
	}
	// The checks of the payments and the (pending) payout were committed
	// with them (claimed here far in the future, so the gateway leaves
	// them).
	checks, err := db.ClaimDueChecks(context.Background(), time.Now().Add(48*time.Hour), 100, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, c := range checks {
		have[c.ID] = true
	}
	for _, want := range []string{id, po["id"].(string)} {
		if !have[want] {
			t.Fatalf("no reconcile check for %s (checks %v)", want, have)
		}
	}
}

// TestCommitAnswerKeepsTheRecordWithoutItsKey: when the idempotency key
// is gone by the time the create commits (a Redis that evicts keys), the
// record and its check are still stored; only the answer is not.
func TestCommitAnswerKeepsTheRecordWithoutItsKey(t *testing.T) {
	db, err := store.OpenBolt(filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	h := &Handler{store: db, logger: zap.NewNop(), now: time.Now, maxBodySize: defaultMaxBody,
		doer: &providers.HTTPDoer{Timeout: time.Second}}
	ctx := context.Background()
	create := func(w http.ResponseWriter, r *http.Request) error {
		if err := db.AbandonIdempotent(ctx, "idem:payments:k-gone"); err != nil { // evicted meanwhile
			t.Fatal(err)
		}
		now := time.Now().UTC()
		wr := &store.Writes{
			Payment: &store.PaymentRecord{ID: "pay_acct_gone", Provider: "acct", Amount: 100, Currency: "EUR", Status: "requires_action", CreatedAt: now},
			Checks:  []*store.ReconcileCheck{{ID: "pay_acct_gone", Provider: "acct", NextAt: now.Add(time.Minute), Created: now}},
		}
		answer, _ := encodeAnswer(map[string]any{"id": "pay_acct_gone", "object": "payment"})
		if err := h.commitAnswer(ctx, r, wr, http.StatusCreated, answer); err != nil {
			t.Errorf("commitAnswer: %v", err)
		}
		return writeAnswer(w, http.StatusCreated, answer)
	}
	r := httptest.NewRequest(http.MethodPost, "/payments", strings.NewReader(`{"amount":100}`))
	r.Header.Set("Idempotency-Key", "k-gone")
	rec := httptest.NewRecorder()
	if err := h.withIdempotency(rec, r, "payments", create); err != nil || rec.Code != http.StatusCreated {
		t.Fatalf("create: %v, %d %s", err, rec.Code, rec.Body)
	}
	if _, err := db.GetPayment(ctx, "pay_acct_gone"); err != nil {
		t.Fatalf("the record was lost with its idempotency key: %v", err)
	}
	if checks, _ := db.ClaimDueChecks(ctx, time.Now().Add(time.Hour), 10, time.Minute); len(checks) != 1 {
		t.Fatalf("%d reconcile checks stored, want 1", len(checks))
	}
}
