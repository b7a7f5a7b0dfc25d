package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/caddy-payments/caddy-payments/store"
)

// testOldestEvent checks OldestEvent follows the queue: none when empty,
// the earliest Created whatever the order of enqueueing and of the ids,
// the next one once it is removed, none again at the end.
func testOldestEvent(t *testing.T, s store.Store) {
	ctx := context.Background()
	if _, ok, err := s.OldestEvent(ctx); err != nil || ok {
		t.Fatalf("empty outbox: ok=%v err=%v, want none", ok, err)
	}
	base := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for _, e := range []struct {
		id  string
		age time.Duration
	}{{"evt_b", 10 * time.Minute}, {"evt_c", 3 * time.Hour}, {"evt_a", time.Minute}} {
		if _, err := s.EnqueueEvent(ctx, &store.OutboxEntry{EventID: e.id, Provider: "fake", EventType: "payment.succeeded",
			Body: []byte(`{"created":"2000-01-01T00:00:00Z"}`), NextAt: base, Created: base.Add(-e.age)}); err != nil {
			t.Fatal(err)
		}
	}
	got, ok, err := s.OldestEvent(ctx)
	if err != nil || !ok || !got.Equal(base.Add(-3*time.Hour)) {
		t.Fatalf("OldestEvent = %v %v %v, want %v (the body's own created field must not count)", got, ok, err, base.Add(-3*time.Hour))
	}
	if err := s.RemoveEvent(ctx, "evt_c"); err != nil {
		t.Fatal(err)
	}
	if got, ok, _ = s.OldestEvent(ctx); !ok || !got.Equal(base.Add(-10*time.Minute)) {
		t.Fatalf("after removing the oldest: %v %v, want %v", got, ok, base.Add(-10*time.Minute))
	}
	for _, id := range []string{"evt_a", "evt_b"} {
		if err := s.RemoveEvent(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	if _, ok, _ = s.OldestEvent(ctx); ok {
		t.Fatal("emptied outbox still has an oldest entry")
	}
}

func TestBoltOldestEvent(t *testing.T) {
	b, _ := openTemp(t)
	testOldestEvent(t, b)
}

func TestRedisOldestEvent(t *testing.T) {
	r, _ := openRedis(t)
	testOldestEvent(t, r)
}
