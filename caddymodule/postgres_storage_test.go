package caddymodule

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddy-payments/caddy-payments/internal/pgtest"
	"github.com/caddy-payments/caddy-payments/providers/fake"
)

// TestPostgresStorageEndToEnd runs two payments handlers (two sites, as
// two instances behind a load balancer) on one PostgreSQL schema through
// a real Caddy: a payment created through one is replayed, found after
// its notification, and refunded concurrently through both without
// exceeding what was paid; the event reaches the shop through the outbox;
// the records sit in the configured schema; and the running config shows
// the DSN's placeholder, never the DSN or its password.
func TestPostgresStorageEndToEnd(t *testing.T) {
	srv := pgtest.StartT(t, pgtest.Options{})
	t.Setenv("PAYMENTS_TEST_PG_DSN", srv.DSN(""))
	id := sharedGateways(t, "storage postgres {env.PAYMENTS_TEST_PG_DSN} {\npool_size 4\nschema gwtest\n}") // redis_storage_test.go

	// The state is in PostgreSQL, in the schema.
	out, err := srv.Exec("", "SELECT count(*) FROM gwtest.payments WHERE id = '"+id+"' AND convert_from(data, 'UTF8') LIKE '%ORD-SHARED-1%'")
	if err != nil || out != "1" {
		t.Fatalf("payment row in gwtest.payments: %q %v", out, err)
	}
	if out, err := srv.Exec("", "SELECT count(*) FROM gwtest.refunds"); err != nil || out != "13" {
		t.Fatalf("refund rows: %q %v", out, err)
	}

	resp, err := http.Get("http://localhost:2999/config/")
	if err != nil {
		t.Fatal(err)
	}
	cfg, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if bytes.Contains(cfg, []byte(pgtest.Password)) || bytes.Contains(cfg, []byte(srv.Addr())) || !bytes.Contains(cfg, []byte("{env.PAYMENTS_TEST_PG_DSN}")) {
		t.Fatalf("the running config shows the DSN or lost its placeholder:\n%s", cfg)
	}
}

// TestPostgresStorageValidate: a JSON config's storage postgres is
// refused with a clear error for an empty dsn, a bad pool_size or schema,
// or a second store.
func TestPostgresStorageValidate(t *testing.T) {
	for _, tc := range []struct {
		h    Handler
		want string
	}{
		{Handler{Postgres: &PostgresStorage{DSN: " "}}, "needs a dsn"},
		{Handler{Postgres: &PostgresStorage{DSN: "{env.X}", PoolSize: -2}}, "pool_size must be from 1 to 1000"},
		{Handler{Postgres: &PostgresStorage{DSN: "{env.X}", PoolSize: 1001}}, "pool_size must be from 1 to 1000"},
		{Handler{Postgres: &PostgresStorage{DSN: "{env.X}", Schema: "Shop-1"}}, "lower-case identifier"},
		{Handler{Postgres: &PostgresStorage{DSN: "{env.X}"}, Redis: &RedisStorage{Addr: "x:1"}}, "not several"},
		{Handler{Postgres: &PostgresStorage{DSN: "{env.X}"}, StoragePath: "/tmp/x.db"}, "not several"},
	} {
		err := tc.h.validateStorage()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v; want an error saying %q", tc.h.Postgres, err, tc.want)
		}
	}
	ok := Handler{Postgres: &PostgresStorage{DSN: "{env.X}", PoolSize: 5, Schema: "shop_1"}}
	if err := ok.validateStorage(); err != nil {
		t.Fatalf("a valid storage postgres was refused: %v", err)
	}
}

// TestPostgresStorageOutage: while the database is down, a create with an
// Idempotency-Key and a refund are refused before any provider call with
// 503 store_unavailable, request_sent "no", retryable; the provider sees
// nothing. Once the database is back the same requests go through.
func TestPostgresStorageOutage(t *testing.T) {
	srv := pgtest.StartT(t, pgtest.Options{})
	fs := fake.NewServer(fakeSecret)
	var calls atomic.Int32
	fsrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			calls.Add(1)
		}
		fs.ServeHTTP(w, r)
	}))
	t.Cleanup(fsrv.Close)
	sh := newShop(t)
	t.Setenv("PAYMENTS_TEST_PG_DSN", srv.DSN(""))
	loadCaddy(t, fakeSite(t, 9080, fsrv.URL, sh.srv.URL, "storage postgres {env.PAYMENTS_TEST_PG_DSN}"))

	post := func(path, key string, body any) (int, map[string]any) {
		t.Helper()
		buf, _ := json.Marshal(body)
		req, _ := http.NewRequest("POST", "http://localhost:9080"+path, bytes.NewReader(buf))
		req.Header.Set("Authorization", "Bearer "+testToken)
		req.Header.Set("Idempotency-Key", key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out
	}
	code, pay := post("/payments", "outage-1", fakePayment("ORD-PG-OUT", 1000))
	if code != 201 {
		t.Fatalf("create before the outage: %d %v", code, pay)
	}
	id := pay["id"].(string)
	if _, err := fs.Checkout(context.Background(), pay["provider_reference"].(string), true); err != nil {
		t.Fatal(err)
	}
	before := calls.Load()

	if err := srv.Halt("immediate"); err != nil {
		t.Fatal(err)
	}
	refused := func(what string, code int, out map[string]any) {
		t.Helper()
		e, _ := out["error"].(map[string]any)
		if code != 503 || e["code"] != "store_unavailable" || e["request_sent"] != "no" || e["retryable"] != true {
			t.Fatalf("%s while the database is down: %d %v; want 503 store_unavailable, request_sent no, retryable", what, code, out)
		}
	}
	code, out := post("/payments", "outage-2", fakePayment("ORD-PG-OUT-2", 700))
	refused("create", code, out)
	code, out = post("/payments/"+id+"/refunds", "outage-rf", map[string]any{"amount": 100})
	refused("refund", code, out)
	if n := calls.Load(); n != before {
		t.Fatalf("the provider got %d calls during the outage, want none", n-before)
	}

	if err := srv.Resume(); err != nil {
		t.Fatal(err)
	}
	var again map[string]any
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		if code, again = post("/payments", "outage-2", fakePayment("ORD-PG-OUT-2", 700)); code == 201 || time.Now().After(deadline) {
			break
		}
	}
	if code != 201 {
		t.Fatalf("the retried create after the outage: %d %v", code, again)
	}
	if code, out := post("/payments/"+id+"/refunds", "outage-rf", map[string]any{"amount": 100}); code != 201 {
		t.Fatalf("the retried refund after the outage: %d %v", code, out)
	}
}

// TestPostgresStorageDeferredWrite: the database goes down while the
// provider creates the payment (between the gateway's claim and its
// commit). The merchant gets the truth (201 and the payment), and the
// record, which the store refused, is written as soon as the database is
// back (deferred.go), without any further request.
func TestPostgresStorageDeferredWrite(t *testing.T) {
	srv := pgtest.StartT(t, pgtest.Options{Durable: true})
	fs := fake.NewServer(fakeSecret)
	var halted atomic.Bool
	fsrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && r.URL.Path == "/payments" && !halted.Swap(true) {
			if err := srv.Halt("immediate"); err != nil {
				t.Errorf("halting the database: %v", err)
			}
		}
		fs.ServeHTTP(w, r)
	}))
	t.Cleanup(fsrv.Close)
	sh := newShop(t)
	t.Setenv("PAYMENTS_TEST_PG_DSN", srv.DSN(""))
	loadCaddy(t, fakeSite(t, 9080, fsrv.URL, sh.srv.URL, "storage postgres {env.PAYMENTS_TEST_PG_DSN} {\nschema deferred\n}"))

	code, pay := api(t, "POST", "/payments", testToken, fakePayment("ORD-PG-DEFER", 1200))
	if code != 201 || pay["id"] == nil {
		t.Fatalf("create while the database went down: %d %v; want 201 with the payment (the provider has it)", code, pay)
	}
	id := pay["id"].(string)
	stored := func() string {
		out, _ := srv.Exec("", "SELECT count(*) FROM deferred.payments WHERE id = '"+id+"'")
		return out
	}
	if err := srv.Resume(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the refused record written once the database is back", func() bool { return stored() == "1" })
}
