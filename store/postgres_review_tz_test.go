package store_test

import (
	"testing"

	"github.com/caddy-payments/caddy-payments/store"
	"github.com/caddy-payments/caddy-payments/store/storetest"
)

// TestPostgresReviewSuiteOtherTimeZone: the conformance suite with the
// session in a far-off time zone and the simple protocol (timestamps as
// text): timestamptz and Go times agree whatever the zone.
func TestPostgresReviewSuiteOtherTimeZone(t *testing.T) {
	dsn := pgServer(t).DSN("") + "&timezone=Pacific/Chatham&default_query_exec_mode=simple_protocol&application_name=tz"
	storetest.Run(t, func(t *testing.T) store.Store {
		p, err := store.OpenPostgres(store.PostgresOptions{DSN: dsn, Schema: freshSchema()})
		if err != nil {
			t.Fatalf("OpenPostgres: %v", err)
		}
		t.Cleanup(func() { _ = p.Close() })
		return p
	})
}
