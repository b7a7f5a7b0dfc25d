package store_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddy-payments/caddy-payments/internal/pgtest"
	"github.com/caddy-payments/caddy-payments/store"
	"github.com/caddy-payments/caddy-payments/store/storetest"
)

// Adversarial review of the PostgreSQL store (review-pg).

var reviewDBSeq atomic.Int64

// isolationDB creates a database whose default_transaction_isolation is
// level (what a DBA may set with ALTER DATABASE / ALTER ROLE or
// postgresql.conf) and returns its DSN.
func isolationDB(t *testing.T, level string) string {
	t.Helper()
	srv := pgServer(t)
	name := fmt.Sprintf("iso%d", reviewDBSeq.Add(1))
	if err := srv.CreateDB(name); err != nil {
		t.Fatal(err)
	}
	if _, err := srv.Exec("", "ALTER DATABASE "+name+" SET default_transaction_isolation = '"+level+"'"); err != nil {
		t.Fatal(err)
	}
	return srv.DSN(name)
}

// TestPostgresReviewRefundCapUnderRepeatableRead: the store assumes READ
// COMMITTED without asking for it (BeginFunc with the server's default
// isolation). Under a database default of REPEATABLE READ (ALTER
// DATABASE/ROLE ... SET default_transaction_isolation) the
// compare-and-swap UPDATE of a row another transaction updated meanwhile
// fails with SQLSTATE 40001 instead of matching or missing, and modify
// does not retry it: a refund that would fit gets a store error (503).
// Deterministic: another session holds the payment row (updating it to
// the same bytes) while ReserveRefund runs.
func TestPostgresReviewRefundCapUnderRepeatableRead(t *testing.T) {
	dsn := isolationDB(t, "repeatable read")
	schema := freshSchema()
	p, err := store.OpenPostgres(store.PostgresOptions{DSN: dsn, Schema: schema, PoolSize: 4})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	ctx := context.Background()
	if _, err := p.PutPayment(ctx, storetest.Payment("p1", 1000)); err != nil {
		t.Fatal(err)
	}
	db := dsn[strings.LastIndex(dsn, "/")+1 : strings.Index(dsn, "?")]
	held := make(chan error, 1)
	go func() {
		_, err := pgServer(t).Exec(db, "UPDATE "+schema+".payments SET data = data WHERE id = 'p1'; SELECT pg_sleep(2)")
		held <- err
	}()
	time.Sleep(700 * time.Millisecond)
	_, err = p.ReserveRefund(ctx, "p1", "k1", 100)
	if herr := <-held; herr != nil {
		t.Fatal(herr)
	}
	if err != nil {
		t.Fatalf("ReserveRefund of 100 of 1000, the row updated by another session meanwhile: %v", err)
	}
}

// TestPostgresReviewMigrateUnderRepeatableRead: under a REPEATABLE READ
// default the migration transaction's snapshot is taken by the
// pg_advisory_xact_lock statement, before it waits; the instance that
// waited then reads schema_version as empty (the table exists in the
// catalog, its row is not in the snapshot) and re-runs CREATE TABLE.
func TestPostgresReviewMigrateUnderRepeatableRead(t *testing.T) {
	dsn := isolationDB(t, "repeatable read")
	schema := freshSchema()
	var wg sync.WaitGroup
	errs := make(chan error, 6)
	for i := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p, err := store.OpenPostgres(store.PostgresOptions{DSN: dsn + "&application_name=rrmig" + strconv.Itoa(i), Schema: schema, PoolSize: 2})
			if err == nil {
				_ = p.Close()
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("concurrent open under repeatable read: %v", err)
		}
	}
}

// TestPostgresReviewClaimUnderRepeatableRead: concurrent claims from two
// instances under a REPEATABLE READ default fail with 40001 instead of
// skipping each other's rows.
func TestPostgresReviewClaimUnderRepeatableRead(t *testing.T) {
	dsn := isolationDB(t, "repeatable read")
	schema := freshSchema()
	var inst [2]*store.Postgres
	for i := range inst {
		p, err := store.OpenPostgres(store.PostgresOptions{DSN: dsn + "&application_name=rrc" + strconv.Itoa(i), Schema: schema, PoolSize: 8})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = p.Close() })
		inst[i] = p
	}
	ctx := context.Background()
	now := time.Now().UTC()
	for i := range 200 {
		if _, err := inst[0].EnqueueEvent(ctx, &store.OutboxEntry{EventID: fmt.Sprintf("evt_%03d", i), NextAt: now}); err != nil {
			t.Fatal(err)
		}
	}
	var mu sync.Mutex
	seen := map[string]int{}
	var failed atomic.Int32
	var firstErr atomic.Value
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				got, err := inst[w%2].ClaimDueEvents(ctx, now, 7, time.Hour)
				if err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
					continue
				}
				if len(got) == 0 {
					return
				}
				mu.Lock()
				for _, e := range got {
					seen[e.EventID]++
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if failed.Load() != 0 {
		t.Fatalf("%d claims failed (first: %v)", failed.Load(), firstErr.Load())
	}
	for id, n := range seen {
		if n != 1 {
			t.Fatalf("%s claimed %d times", id, n)
		}
	}
}

// TestPostgresReviewTLSCannotBeSwallowed: `tls` is applied by appending
// " sslmode=verify-full" to a key=value DSN. A DSN whose last value ends
// in a backslash (which libpq and pgconn accept: the trailing backslash
// is dropped) swallows the appended text into that value, so the DSN's
// own sslmode (default prefer: unverified, with a plain-text fallback)
// applies. The test server has no TLS: with `tls` the open must fail;
// it connects in plain text instead.
func TestPostgresReviewTLSCannotBeSwallowed(t *testing.T) {
	srv := pgServer(t)
	host, port, _ := strings.Cut(srv.Addr(), ":")
	dsn := fmt.Sprintf(`host=%s port=%s user=postgres password=%s dbname=postgres application_name=gw\`, host, port, pgtest.Password)
	p, err := store.OpenPostgres(store.PostgresOptions{DSN: dsn, TLS: true, Schema: freshSchema()})
	if err == nil {
		_ = p.Close()
		t.Fatal("tls was set, the server has no TLS, and the store connected anyway (in plain text)")
	}
}

// TestPostgresReviewSuiteExecMode runs the conformance suite with the
// DSN option docs/postgres.md recommends behind PgBouncer in transaction
// mode (default_query_exec_mode=exec).
func TestPostgresReviewSuiteExecMode(t *testing.T) {
	for _, mode := range []string{"exec", "simple_protocol"} {
		t.Run(mode, func(t *testing.T) {
			dsn := pgServer(t).DSN("") + "&default_query_exec_mode=" + mode
			storetest.Run(t, func(t *testing.T) store.Store {
				p, err := store.OpenPostgres(store.PostgresOptions{DSN: dsn, Schema: freshSchema()})
				if err != nil {
					t.Fatalf("OpenPostgres: %v", err)
				}
				t.Cleanup(func() { _ = p.Close() })
				return p
			})
		})
	}
}

// TestPostgresReviewSuitePoolOfOne: with pool_size 1 no method may wait
// for a second connection while holding the first (it would hang).
func TestPostgresReviewSuitePoolOfOne(t *testing.T) {
	dsn := pgServer(t).DSN("") + "&application_name=pool1"
	storetest.Run(t, func(t *testing.T) store.Store {
		p, err := store.OpenPostgres(store.PostgresOptions{DSN: dsn, Schema: freshSchema(), PoolSize: 1})
		if err != nil {
			t.Fatalf("OpenPostgres: %v", err)
		}
		t.Cleanup(func() { _ = p.Close() })
		return p
	})
}

// TestPostgresReviewHungServerIsBounded: a database that accepts
// connections but does not answer (here: synchronous replication to a
// standby that is gone, which docs/postgres.md recommends; likewise a
// network partition without RST, or a stopped server process) makes every
// commit wait forever. The store sets no statement_timeout and no
// deadline of its own (Redis has a read timeout), and the gateway calls it
// with the request's context, or context.WithoutCancel after a provider
// call: a request hangs, holding a pool connection, instead of getting
// 503 store_unavailable. A store call must end with an error in bounded
// time.
func TestPostgresReviewHungServerIsBounded(t *testing.T) {
	srv := pgtest.StartT(t, pgtest.Options{Durable: true})
	p, err := store.OpenPostgres(store.PostgresOptions{DSN: srv.DSN(""), PoolSize: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if _, err := srv.Exec("", "ALTER SYSTEM SET synchronous_standby_names = 'ghost'"); err != nil {
		t.Fatal(err)
	}
	if _, err := srv.Exec("", "SELECT pg_reload_conf()"); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_, _ = srv.Exec("", "ALTER SYSTEM RESET synchronous_standby_names")
		_, _ = srv.Exec("", "SELECT pg_reload_conf()")
	}()
	time.Sleep(500 * time.Millisecond)
	done := make(chan error, 1)
	go func() {
		_, _, err := p.BeginIdempotent(context.Background(), "idem:hung", "fp", time.Hour)
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("BeginIdempotent succeeded without the synchronous standby")
		}
	case <-time.After(20 * time.Second):
		t.Fatal("BeginIdempotent still waiting after 20s on a database that does not answer; the gateway would hang instead of answering 503")
	}
}

// TestPostgresReviewBacklogPlan: the reconcile backlog count, as a
// generic plan (what a prepared statement settles on), reads the due
// index, not the whole table, when nothing is due.
func TestPostgresReviewBacklogPlan(t *testing.T) {
	_, opts := openPostgres(t)
	srv := pgServer(t)
	if _, err := srv.Exec("", fmt.Sprintf(`INSERT INTO %s.reconcile (id, next_at, data)
		SELECT 'pay_' || g, now() + g * interval '1 second', '{}'::bytea FROM generate_series(1, 50000) g; ANALYZE %s.reconcile`, opts.Schema, opts.Schema)); err != nil {
		t.Fatal(err)
	}
	for _, mode := range []string{"force_custom_plan", "force_generic_plan"} {
		plan, err := srv.Exec("", fmt.Sprintf(`SET plan_cache_mode = %s;
			PREPARE q(timestamptz, bigint) AS SELECT count(*) FROM (SELECT 1 FROM %s.reconcile WHERE next_at <= $1 ORDER BY next_at LIMIT $2) AS due;
			EXPLAIN EXECUTE q(now(), 1000)`, mode, opts.Schema))
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s:\n%s", mode, plan)
		if !strings.Contains(plan, "reconcile_due") {
			t.Errorf("%s: the backlog count does not use the due index:\n%s", mode, plan)
		}
	}
}
