//go:build unix

package faulttest

import (
	"context"
	"testing"
	"time"

	"github.com/caddy-payments/caddy-payments/internal/pgtest"
)

// pgRestartAfter is how long after A's restart PostgreSQL is stopped
// immediately (as a crash: no checkpoint, recovery from the WAL on
// start) and started again, while payments are still being created,
// notified and refunded. (A restart of A during the outage would fail:
// Caddy refuses a config whose store it cannot reach.)
const pgRestartAfter = 1500 * time.Millisecond

// startPostgres runs a PostgreSQL cluster of the test's own, durable
// (fsync and synchronous_commit on, as in production), and puts its DSN
// in FAULTTEST_PG_DSN for the Caddy processes. The fault test needs it: a
// missing PostgreSQL fails the test.
func startPostgres(t *testing.T) *pgtest.Server {
	t.Helper()
	s, err := pgtest.Start(pgtest.Options{Durable: true})
	if err != nil {
		t.Fatalf("PAYMENTS_FAULT_STORE=postgres needs PostgreSQL: %v", err)
	}
	t.Cleanup(s.Stop)
	t.Setenv("FAULTTEST_PG_DSN", s.DSN(""))
	return s
}

// postgresStorage is the shared store both gateways use.
func postgresStorage() string {
	return `		storage postgres {env.FAULTTEST_PG_DSN} {
			pool_size 8
			schema faulttest
		}`
}

// pgRestart is what restartPostgresMidRun did.
type pgRestart struct {
	at, down time.Duration
	err      error
}

// restartPostgresMidRun stops PostgreSQL immediately pgRestartAfter
// after A's restart (restarted closed) and starts it again.
func restartPostgresMidRun(ctx context.Context, s *pgtest.Server, start time.Time, restarted <-chan struct{}) pgRestart {
	select {
	case <-restarted:
	case <-ctx.Done():
		return pgRestart{}
	}
	if !pause(ctx, pgRestartAfter) {
		return pgRestart{}
	}
	r := pgRestart{at: time.Since(start)}
	began := time.Now()
	r.err = s.Restart("immediate")
	r.down = time.Since(began)
	return r
}
