package store_test

import (
	"context"
	"errors"
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

// testPG is the one PostgreSQL cluster of this test binary, started on
// first use and stopped by TestMain (redis_test.go).
var testPG struct {
	once sync.Once
	srv  *pgtest.Server
	err  error
}

func stopTestPostgres() {
	if testPG.srv != nil {
		testPG.srv.Stop()
	}
}

// pgServer returns the test cluster, starting it the first time. Missing
// PostgreSQL binaries skip the test, or fail it under CI.
func pgServer(t testing.TB) *pgtest.Server {
	t.Helper()
	testPG.once.Do(func() { testPG.srv, testPG.err = pgtest.Start(pgtest.Options{}) })
	switch {
	case errors.Is(testPG.err, pgtest.ErrNotInstalled) && !pgtest.Required():
		t.Skip(testPG.err)
	case testPG.err != nil:
		t.Fatalf("starting PostgreSQL: %v", testPG.err)
	}
	return testPG.srv
}

var schemaSeq atomic.Int64

// freshSchema gives each test its own schema, so each store is empty.
func freshSchema() string { return fmt.Sprintf("t%d", schemaSeq.Add(1)) }

// openPostgres opens a pooled store on a fresh schema.
func openPostgres(t *testing.T) (*store.Postgres, store.PostgresOptions) {
	t.Helper()
	opts := store.PostgresOptions{DSN: pgServer(t).DSN(""), Schema: freshSchema()}
	p, err := store.OpenPostgres(opts)
	if err != nil {
		t.Fatalf("OpenPostgres: %v", err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p, opts
}

// twoPostgresInstances opens two stores on one schema with pools of their
// own (the DSNs differ in application_name), as two Caddy processes.
func twoPostgresInstances(t *testing.T) (*store.Postgres, *store.Postgres) {
	t.Helper()
	schema := freshSchema()
	var out [2]*store.Postgres
	for i := range out {
		p, err := store.OpenPostgres(store.PostgresOptions{DSN: pgServer(t).DSN("") + "&application_name=gw" + strconv.Itoa(i), Schema: schema, PoolSize: 8})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = p.Close() })
		out[i] = p
	}
	if store.PostgresSamePool(out[0], out[1]) {
		t.Fatal("the two instances share a pool")
	}
	return out[0], out[1]
}

func TestPostgresSuite(t *testing.T) {
	pgServer(t)
	storetest.Run(t, func(t *testing.T) store.Store {
		p, _ := openPostgres(t)
		return p
	})
}

// TestPostgresSharesPoolPerOptions: a reload's second open of the same
// options shares the pool; closing one handle leaves the other working.
func TestPostgresSharesPoolPerOptions(t *testing.T) {
	a, opts := openPostgres(t)
	b, err := store.OpenPostgres(opts)
	if err != nil {
		t.Fatal(err)
	}
	if !store.PostgresSamePool(a, b) {
		t.Fatal("same options, two pools")
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := b.GetPayment(context.Background(), "x"); !errors.Is(err, store.ErrClosed) {
		t.Fatalf("closed handle: %v; want ErrClosed", err)
	}
	if _, err := a.GetPayment(context.Background(), "x"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("other handle after close: %v; want ErrNotFound", err)
	}
}

// TestPostgresSchemaVersionTooNew: a schema stamped with a newer version
// than this code knows is refused with a FormatError, and left alone.
func TestPostgresSchemaVersionTooNew(t *testing.T) {
	_, opts := openPostgres(t)
	srv := pgServer(t)
	if _, err := srv.Exec("", "UPDATE "+opts.Schema+".schema_version SET version = 7"); err != nil {
		t.Fatal(err)
	}
	opts.DSN += "&application_name=newer" // a pool of its own
	_, err := store.OpenPostgres(opts)
	if !errors.Is(err, store.ErrFormatTooNew) {
		t.Fatalf("open of a newer schema: %v; want ErrFormatTooNew", err)
	}
	for _, want := range []string{"version 7", "up to " + strconv.Itoa(store.PostgresSchemaVersion), `schema "` + opts.Schema + `"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if strings.Contains(err.Error(), pgtest.Password) {
		t.Fatalf("the error shows the password: %v", err)
	}
	if v, _ := srv.Exec("", "SELECT version FROM "+opts.Schema+".schema_version"); v != "7" {
		t.Fatalf("the refused schema's version became %q", v)
	}
}

// TestPostgresMigratesOnceConcurrently opens one new schema from several
// instances at once: the advisory lock makes one of them create it, the
// others find it made (without the lock, CREATE SCHEMA or CREATE TABLE
// fails in all but one).
func TestPostgresMigratesOnceConcurrently(t *testing.T) {
	srv := pgServer(t)
	schema := freshSchema()
	var wg sync.WaitGroup
	errs := make(chan error, 6)
	for i := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p, err := store.OpenPostgres(store.PostgresOptions{DSN: srv.DSN("") + "&application_name=mig" + strconv.Itoa(i), Schema: schema, PoolSize: 2})
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
			t.Fatalf("concurrent open: %v", err)
		}
	}
	if v, err := srv.Exec("", "SELECT version FROM "+schema+".schema_version"); err != nil || v != strconv.Itoa(store.PostgresSchemaVersion) {
		t.Fatalf("schema version = %q, %v", v, err)
	}
}

// TestPostgresNeverShowsThePassword: failing opens (a wrong password, an
// unparsable DSN, TLS required of a server without it, nothing listening)
// give clear errors that contain neither the password nor the DSN.
func TestPostgresNeverShowsThePassword(t *testing.T) {
	srv := pgServer(t)
	const secret = "Sup3r-s3cret-pw"
	wrong := strings.Replace(srv.DSN(""), pgtest.Password, secret, 1)
	if wrong == srv.DSN("") {
		t.Fatal("the DSN has no password to replace")
	}
	closedPort := "postgres://postgres:" + secret + "@127.0.0.1:1/postgres?sslmode=disable&connect_timeout=2"
	for _, tc := range []struct {
		name string
		opts store.PostgresOptions
		want string
	}{
		{"wrong password", store.PostgresOptions{DSN: wrong}, "password authentication failed"},
		{"unparsable URL", store.PostgresOptions{DSN: "postgres://postgres:" + secret + "@127.0.0.1:notaport/db"}, "not a valid PostgreSQL connection string"},
		{"unparsable key=value", store.PostgresOptions{DSN: "host=127.0.0.1 password=" + secret + " port=x"}, "not a valid PostgreSQL connection string"},
		{"tls on a server without it", store.PostgresOptions{DSN: srv.DSN(""), TLS: true}, "connecting to"},
		{"nothing listening", store.PostgresOptions{DSN: closedPort}, "connecting to"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := store.OpenPostgres(tc.opts)
			if err == nil {
				t.Fatal("opened")
			}
			msg := err.Error()
			if !strings.Contains(msg, tc.want) {
				t.Errorf("error %q does not say %q", msg, tc.want)
			}
			for _, leak := range []string{secret, pgtest.Password, tc.opts.DSN} {
				if strings.Contains(msg, leak) {
					t.Fatalf("the error shows %q: %s", leak, msg)
				}
			}
		})
	}
}

// TestPostgresRefusesBadOptions: an empty DSN, a bad schema name or pool
// size are refused before connecting, naming the option.
func TestPostgresRefusesBadOptions(t *testing.T) {
	for _, tc := range []struct {
		opts store.PostgresOptions
		want string
	}{
		{store.PostgresOptions{DSN: " "}, "dsn"},
		{store.PostgresOptions{DSN: "postgres://x@127.0.0.1/db", Schema: "Bad-Name"}, "schema"},
		{store.PostgresOptions{DSN: "postgres://x@127.0.0.1/db", Schema: "pg_catalog"}, "reserved"},
		{store.PostgresOptions{DSN: "postgres://x@127.0.0.1/db", Schema: "a; DROP TABLE x"}, "schema"},
		{store.PostgresOptions{DSN: "postgres://x@127.0.0.1/db", PoolSize: -1}, "pool_size"},
		{store.PostgresOptions{DSN: "postgres://x@127.0.0.1/db", PoolSize: 100000}, "pool_size"},
	} {
		if _, err := store.OpenPostgres(tc.opts); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("OpenPostgres(%+v) = %v; want an error naming %s", tc.opts, err, tc.want)
		}
	}
}

// rowVersions is each row's physical version and lock marker in a table:
// an UPDATE makes a new version (ctid, xmin), a SELECT FOR UPDATE sets
// xmax.
func rowVersions(t *testing.T, srv *pgtest.Server, table string) string {
	t.Helper()
	out, err := srv.Exec("", "SELECT string_agg(ctid::text || xmin::text || '/' || xmax::text, ',' ORDER BY ctid) FROM "+table)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestPostgresIdleClaimTouchesNoRows: claiming when nothing is due
// neither locks nor rewrites a queued row (outbox and reconcile queue);
// a claim of a due entry does (so the comparison can fail).
func TestPostgresIdleClaimTouchesNoRows(t *testing.T) {
	p, opts := openPostgres(t)
	srv := pgServer(t)
	ctx := context.Background()
	now := time.Now().UTC()
	for i := range 5 {
		if _, err := p.EnqueueEvent(ctx, &store.OutboxEntry{EventID: "evt_" + strconv.Itoa(i), NextAt: now.Add(time.Hour), Created: now}); err != nil {
			t.Fatal(err)
		}
		if err := p.ScheduleCheck(ctx, &store.ReconcileCheck{ID: "pay_" + strconv.Itoa(i), NextAt: now.Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
	}
	outbox, recon := rowVersions(t, srv, opts.Schema+".outbox"), rowVersions(t, srv, opts.Schema+".reconcile")
	for range 3 {
		if got, err := p.ClaimDueEvents(ctx, now, 10, time.Minute); err != nil || len(got) != 0 {
			t.Fatalf("idle claim = %v, %v", got, err)
		}
		if got, err := p.ClaimDueChecks(ctx, now, 10, time.Minute); err != nil || len(got) != 0 {
			t.Fatalf("idle check claim = %v, %v", got, err)
		}
	}
	if after := rowVersions(t, srv, opts.Schema+".outbox"); after != outbox {
		t.Fatalf("an idle claim touched outbox rows:\nbefore %s\nafter  %s", outbox, after)
	}
	if after := rowVersions(t, srv, opts.Schema+".reconcile"); after != recon {
		t.Fatalf("an idle claim touched reconcile rows:\nbefore %s\nafter  %s", recon, after)
	}
	if got, err := p.ClaimDueEvents(ctx, now.Add(2*time.Hour), 1, time.Minute); err != nil || len(got) != 1 {
		t.Fatalf("due claim = %v, %v", got, err)
	}
	if after := rowVersions(t, srv, opts.Schema+".outbox"); after == outbox {
		t.Fatal("a claim of a due entry left every row as it was: the comparison cannot see a change")
	}
}

// TestPostgresClaimUsesTheDueIndex: with many entries queued, the claim's
// plan reads the (next_at, event_id) index, not the whole table.
func TestPostgresClaimUsesTheDueIndex(t *testing.T) {
	p, opts := openPostgres(t)
	srv := pgServer(t)
	ctx := context.Background()
	now := time.Now().UTC()
	if _, err := srv.Exec("", fmt.Sprintf(`INSERT INTO %s.outbox (event_id, next_at, created, data)
		SELECT 'evt_' || g, now() + g * interval '1 second', now(), '{}'::bytea FROM generate_series(1, 20000) g; ANALYZE %s.outbox`, opts.Schema, opts.Schema)); err != nil {
		t.Fatal(err)
	}
	plan, err := srv.Exec("", fmt.Sprintf(`EXPLAIN SELECT event_id FROM %s.outbox WHERE next_at <= now() ORDER BY next_at, event_id LIMIT 10 FOR UPDATE SKIP LOCKED`, opts.Schema))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(plan, "outbox_due") {
		t.Fatalf("the claim does not use the due index:\n%s", plan)
	}
	if got, err := p.ClaimDueEvents(ctx, now.Add(10*time.Second), 100, time.Minute); err != nil || len(got) < 5 {
		t.Fatalf("claim = %d entries, %v", len(got), err)
	}
}

// TestPostgresRefundCapAcrossInstances races ReserveRefund from two
// instances (two pools) on one payment: the cap holds.
func TestPostgresRefundCapAcrossInstances(t *testing.T) {
	a, b := twoPostgresInstances(t)
	ctx := context.Background()
	if _, err := a.PutPayment(ctx, storetest.Payment("p1", 1999)); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var ok, exceeded atomic.Int32
	for i := range 40 {
		s := a
		if i%2 == 1 {
			s = b
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := s.ReserveRefund(ctx, "p1", "k"+strconv.Itoa(i), 100)
			switch {
			case err == nil:
				ok.Add(1)
			case errors.Is(err, store.ErrRefundExceeds):
				exceeded.Add(1)
			default:
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	rec, err := b.GetPayment(ctx, "p1")
	if err != nil {
		t.Fatal(err)
	}
	if ok.Load() != 19 || exceeded.Load() != 21 || rec.AmountRefunded != 1900 || len(rec.Refunds) != 19 {
		t.Fatalf("%d reserved, %d refused, refunded %d in %d reservations; want 19, 21, 1900, 19", ok.Load(), exceeded.Load(), rec.AmountRefunded, len(rec.Refunds))
	}
}

// TestPostgresClaimAcrossInstances: two instances claiming one outbox
// concurrently never take the same entry.
func TestPostgresClaimAcrossInstances(t *testing.T) {
	a, b := twoPostgresInstances(t)
	ctx := context.Background()
	now := time.Now().UTC()
	for i := range 200 {
		if _, err := a.EnqueueEvent(ctx, &store.OutboxEntry{EventID: fmt.Sprintf("evt_%03d", i), NextAt: now}); err != nil {
			t.Fatal(err)
		}
	}
	var mu sync.Mutex
	seen := map[string]int{}
	var wg sync.WaitGroup
	for w := range 8 {
		s := a
		if w%2 == 1 {
			s = b
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				got, err := s.ClaimDueEvents(ctx, now, 7, time.Hour)
				if err != nil {
					t.Error(err)
					return
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
	if len(seen) != 200 {
		t.Fatalf("%d of 200 entries claimed", len(seen))
	}
	for id, n := range seen {
		if n != 1 {
			t.Fatalf("%s claimed %d times", id, n)
		}
	}
}

// TestPostgresSurvivesAServerCrash: what a store call returned survives an
// immediate shutdown (a crash) of the server, and the pool reconnects.
func TestPostgresSurvivesAServerCrash(t *testing.T) {
	srv := pgtest.StartT(t, pgtest.Options{Durable: true})
	p, err := store.OpenPostgres(store.PostgresOptions{DSN: srv.DSN(""), PoolSize: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	ctx := context.Background()
	if err := p.Commit(ctx, &store.Writes{Payment: storetest.Payment("p1", 500), Delivered: []string{"evt_1"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := p.ReserveRefund(ctx, "p1", "r1", 200); err != nil {
		t.Fatal(err)
	}
	if err := srv.Restart("immediate"); err != nil {
		t.Fatal(err)
	}
	var rec *store.PaymentRecord
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if rec, err = p.GetPayment(ctx, "p1"); err == nil || time.Now().After(deadline) {
			break
		}
	}
	if err != nil || rec.AmountRefunded != 200 {
		t.Fatalf("after the crash: %+v, %v", rec, err)
	}
	if ok, err := p.Delivered(ctx, "evt_1"); err != nil || !ok {
		t.Fatalf("delivered mark after the crash: %v, %v", ok, err)
	}
}

// TestPostgresPrunesExpiredKeys: the outbox worker's prune also deletes
// expired idempotency records and one-time values, and only those.
func TestPostgresPrunesExpiredKeys(t *testing.T) {
	p, opts := openPostgres(t)
	srv := pgServer(t)
	ctx := context.Background()
	for _, k := range []string{"old1", "old2"} {
		if _, started, err := p.BeginIdempotent(ctx, k, "fp", time.Millisecond); err != nil || !started {
			t.Fatal(started, err)
		}
		if err := p.PutOnce(ctx, k, []byte("v"), time.Millisecond); err != nil {
			t.Fatal(err)
		}
	}
	if _, started, err := p.BeginIdempotent(ctx, "live", "fp", time.Hour); err != nil || !started {
		t.Fatal(started, err)
	}
	if err := p.PutOnce(ctx, "live", []byte("v"), time.Hour); err != nil {
		t.Fatal(err)
	}
	time.Sleep(5 * time.Millisecond)
	if _, err := p.PruneEvents(ctx, time.Now(), 100); err != nil {
		t.Fatal(err)
	}
	for _, table := range []string{"idempotency", "once"} {
		if out, err := srv.Exec("", "SELECT string_agg(key, ',') FROM "+opts.Schema+"."+table); err != nil || out != "live" {
			t.Fatalf("%s after the prune: %q, %v; want only live", table, out, err)
		}
	}
}

// TestPostgresHotRowMakesProgress: 120 concurrent reservations of 1 on
// one payment of 90 from two instances (far more racers than
// compare-and-swap attempts) all get an answer: exactly 90 reserved, 30
// refused, no error.
func TestPostgresHotRowMakesProgress(t *testing.T) {
	a, b := twoPostgresInstances(t)
	ctx := context.Background()
	if _, err := a.PutPayment(ctx, storetest.Payment("hot", 90)); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var ok, exceeded atomic.Int32
	for i := range 120 {
		s := a
		if i%2 == 1 {
			s = b
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := s.ReserveRefund(ctx, "hot", "k"+strconv.Itoa(i), 1)
			switch {
			case err == nil:
				ok.Add(1)
			case errors.Is(err, store.ErrRefundExceeds):
				exceeded.Add(1)
			default:
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if rec, err := a.GetPayment(ctx, "hot"); err != nil || ok.Load() != 90 || exceeded.Load() != 30 || rec.AmountRefunded != 90 {
		t.Fatalf("%d reserved, %d refused, record %+v, %v; want 90, 30, 90 refunded", ok.Load(), exceeded.Load(), rec, err)
	}
}
