package caddymodule

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/caddy-payments/caddy-payments/store"
)

// TestEventRetentionPrunes: the outbox tick's pruning removes the logged
// events older than event_retention (default 720h) and keeps the rest.
func TestEventRetentionPrunes(t *testing.T) {
	db, err := store.OpenBolt(filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	ctx := context.Background()
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	log := func(id string, age time.Duration) {
		at := now.Add(-age)
		if _, err := db.EnqueueEvent(ctx, &store.OutboxEntry{EventID: id, Body: []byte(`{"id":"` + id + `"}`), NextAt: at, Created: at}); err != nil {
			t.Fatal(err)
		}
	}
	log("evt_721h", 721*time.Hour)
	log("evt_719h", 719*time.Hour)
	log("evt_2h", 2*time.Hour)
	log("evt_30m", 30*time.Minute)
	kept := func(id string) bool {
		_, err := db.GetEvent(ctx, id)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			t.Fatal(err)
		}
		return err == nil
	}
	h := &Handler{store: db, logger: zap.NewNop(), now: func() time.Time { return now }}
	h.pruneEvents(ctx)
	if kept("evt_721h") || !kept("evt_719h") || !kept("evt_2h") {
		t.Fatal("the default retention (720h) did not prune exactly the older event")
	}
	h.EventRetention = caddy.Duration(time.Hour)
	h.pruneEvents(ctx)
	if kept("evt_719h") || kept("evt_2h") || !kept("evt_30m") {
		t.Fatal("event_retention 1h did not prune exactly the events older than an hour")
	}
}
