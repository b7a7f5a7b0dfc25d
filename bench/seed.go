package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddy-payments/caddy-payments/internal/pgtest"
	"github.com/caddy-payments/caddy-payments/providers"
	"github.com/caddy-payments/caddy-payments/store"
)

// Seeding for the idle measurement. Creating a million payments through
// the API would take longer than the rest of the run, so the benchmark
// writes the records straight into the state store the gateway will open
// (the bolt file before Caddy starts, or the Redis key prefix it will
// use), with the store package's own exported operations: PutPayment,
// the reconcile queue's ScheduleCheck and EnqueueEvent. The records are
// the ones the gateway would hold after creating those payments and
// failing to deliver those events: canonical ids from providers.EncodeID
// for the configured accounts, a pending status with its "create"
// history, a reconcile check routed to the gateway's own server, host and
// notification path, and outbox entries carrying a canonical event. Every
// due time is far in the future (30 days and more), so nothing is due
// during the measurement. Many goroutines write at once, so the embedded
// store's group committer puts many writes in one transaction (one fsync
// per batch).

// seedStore is a store the benchmark seeds: the Store and its
// reconcile queue.
type seedStore interface {
	store.Store
	store.ReconcileQueue
	Close() error
}

// storage says where the gateway keeps its state in one Caddy start.
type storage struct {
	path   string // bolt file; "" with redis or postgres
	redis  string // host:port of the benchmark's redis-server
	prefix string // Redis key prefix
	// pg is the benchmark's PostgreSQL cluster (-storage postgres); the
	// Caddyfile reads its DSN from {env.BENCH_PG_DSN}.
	pg     *pgtest.Server
	schema string
}

// directive is the payments handler's storage option for s.
func (s storage) directive() string {
	if s.pg != nil {
		return fmt.Sprintf("storage postgres {env.BENCH_PG_DSN} {\n\t\t\tschema %s\n\t\t}", s.schema)
	}
	if s.redis != "" {
		return fmt.Sprintf("storage redis %s {\n\t\t\tkey_prefix %s\n\t\t}", s.redis, s.prefix)
	}
	return "storage file " + s.path
}

func (s storage) String() string {
	if s.pg != nil {
		return fmt.Sprintf("PostgreSQL (the benchmark's cluster at %s, fsync and synchronous_commit on), schema %s", s.pg.Addr(), s.schema)
	}
	if s.redis != "" {
		return fmt.Sprintf("Redis (the benchmark's redis-server at %s, AOF fsync everysec), key prefix %s", s.redis, s.prefix)
	}
	return "bolt file " + s.path
}

// kind names the store for a row's title.
func (s storage) kind() string {
	switch {
	case s.pg != nil:
		return "PostgreSQL"
	case s.redis != "":
		return "Redis"
	}
	return "bolt file"
}

// open opens s as the gateway does (caddymodule/storage.go's openStore).
func (s storage) open() (seedStore, error) {
	if s.pg != nil {
		return store.OpenPostgres(store.PostgresOptions{DSN: s.pg.DSN(""), Schema: s.schema})
	}
	if s.redis != "" {
		return store.OpenRedis(store.RedisOptions{Addr: s.redis, KeyPrefix: s.prefix, DialTimeout: 5 * time.Second})
	}
	return store.OpenBolt(s.path)
}

// route is where the gateway's reconcile checks and outbox entries say
// the gateway is reached: the Caddy server's name in the adapted config,
// the Host clients use and the notification path of each account.
type route struct {
	server, host string
}

// serverName adapts caddyfile with the product's Caddy and returns the
// name of the HTTP server that listens on port (srv0, srv1, …).
func serverName(bin, caddyfile string, port int) (string, error) {
	cmd := exec.Command(bin, "adapt", "--config", caddyfile, "--adapter", "caddyfile")
	cmd.Stderr = io.Discard
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("adapting %s: %w", caddyfile, err)
	}
	var cfg struct {
		Apps struct {
			HTTP struct {
				Servers map[string]struct {
					Listen []string `json:"listen"`
				} `json:"servers"`
			} `json:"http"`
		} `json:"apps"`
	}
	if err := json.Unmarshal(out, &cfg); err != nil {
		return "", fmt.Errorf("reading the adapted config: %w", err)
	}
	suffix := ":" + strconv.Itoa(port)
	for name, s := range cfg.Apps.HTTP.Servers {
		for _, l := range s.Listen {
			if strings.HasSuffix(l, suffix) {
				return name, nil
			}
		}
	}
	return "", fmt.Errorf("no server of the adapted config listens on port %d", port)
}

// seedResult says what was written and how fast.
type seedResult struct {
	payments, events int
	took             time.Duration
}

func (r seedResult) String() string {
	n := r.payments*2 + r.events
	return fmt.Sprintf("%s payments (each with its reconcile check) and %s events written in %s (%s store operations/s)",
		group(int64(r.payments)), group(int64(r.events)), r.took.Round(100*time.Millisecond),
		group(int64(float64(n)/max(r.took.Seconds(), 1e-3))))
}

// providerRef makes the i-th seeded provider reference in the provider's
// own format: payabl's numeric transactionid, Razorpay's order id,
// PaySage's uid.
func providerRef(run, prov string, i int) string {
	switch prov {
	case "payabl":
		return fmt.Sprintf("9%s%09d", run[:2], i)
	case "razorpay":
		return fmt.Sprintf("order_S%s%08d", run[:5], i)
	default:
		h := sha256.Sum256([]byte(run + strconv.Itoa(i)))
		x := hex.EncodeToString(h[:])
		return fmt.Sprintf("%s-%s-%s-%s-%s", x[:8], x[8:12], x[12:16], x[16:20], x[20:32])
	}
}

// seedPayment is the record and check of the i-th seeded payment.
func seedPayment(run string, rt route, i int, now time.Time) (*store.PaymentRecord, *store.ReconcileCheck) {
	prov := providerNames[i%len(providerNames)]
	ref := providerRef(run, prov, i)
	id := providers.EncodeID(providers.KindPayment, prov, ref)
	o := newOrder(run, prov, 'i', i)
	created := now.Add(-time.Duration(i%86400) * time.Second).Truncate(time.Second)
	// a hosted payment the customer has not decided yet
	status, pstatus := providers.StatusRequiresAction, "pending"
	if prov == "razorpay" {
		pstatus = "created"
	}
	rec := &store.PaymentRecord{
		ID: id, Provider: prov, ProviderRef: ref, Reference: o.ref, Amount: o.amount, Currency: "EUR",
		Status: status, ProviderStatus: pstatus, Test: true, CreatedAt: created,
		History:    []store.StatusChange{{Status: string(status), At: created, Source: "create", ProviderStatus: pstatus}},
		SuccessURL: "https://shop.example/ok", FailureURL: "https://shop.example/failed", ReturnURL: "https://shop.example/return",
	}
	// 30 days and more: nothing is due during the run, and the due times
	// are spread (as the gateway's jitter spreads them).
	next := now.Add(30*24*time.Hour + time.Duration(i%100000)*time.Second)
	check := &store.ReconcileCheck{ID: id, Provider: prov, Server: rt.server, Host: rt.host,
		Path: "/notifications/" + prov, Attempts: 3, NextAt: next, Created: created}
	return rec, check
}

// seedEvent is the i-th seeded outbox entry: a canonical
// payment.succeeded event the shop has not accepted yet.
func seedEvent(run string, rt route, i int, now time.Time) *store.OutboxEntry {
	prov := providerNames[i%len(providerNames)]
	ref := providerRef(run, prov, 1_000_000_000+i)
	id := providers.EncodeID(providers.KindPayment, prov, ref)
	o := newOrder(run, prov, 'e', i)
	sum := sha256.Sum256([]byte(prov + "\x00" + ref + "\x00payment.succeeded"))
	evID := providers.KindEvent + "_" + hex.EncodeToString(sum[:16])
	created := now.Add(-time.Duration(i%3600) * time.Second).UTC().Truncate(time.Second)
	body, _ := json.Marshal(map[string]any{
		"id": evID, "type": "payment.succeeded", "created_at": created, "provider": prov,
		"data": map[string]any{"object": "payment", "id": id, "provider": prov, "provider_reference": ref,
			"reference": o.ref, "amount": o.amount, "currency": "EUR", "status": "succeeded", "amount_refunded": 0,
			"test": true, "created_at": created},
		"provider_event": map[string]any{"transactionid": ref, "type": "capture", "payment_state": "successful"},
	})
	return &store.OutboxEntry{EventID: evID, Provider: prov, EventType: "payment.succeeded", Body: body,
		Server: rt.server, Host: rt.host, Path: "/notifications/" + prov, Attempts: 8,
		NextAt: now.Add(7*24*time.Hour + time.Duration(i%100000)*time.Second), LastError: "the shop answered 503",
		Created: created}
}

// seed writes payments and events into s from workers goroutines and
// reports progress to stderr.
func seed(s storage, run string, rt route, payments, events, workers int) (seedResult, error) {
	db, err := s.open()
	if err != nil {
		return seedResult{}, fmt.Errorf("seeding: opening %s: %w", s, err)
	}
	defer db.Close()
	ctx := context.Background()
	now := time.Now().UTC()
	start := time.Now()
	var next, done atomic.Int64
	total := int64(payments + events)
	var firstErr error
	var once sync.Once
	fail := func(err error) { once.Do(func() { firstErr = err }) }
	var failed atomic.Bool
	stop := make(chan struct{})
	go func() { // progress
		t := time.NewTicker(10 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				fmt.Fprintf(os.Stderr, "bench: seeding: %s of %s records after %s\n", group(done.Load()), group(total),
					time.Since(start).Round(time.Second))
			}
		}
	}()
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !failed.Load() {
				i := int(next.Add(1) - 1)
				if i >= payments+events {
					return
				}
				var err error
				if i < payments {
					rec, check := seedPayment(run, rt, i, now)
					var got *store.PaymentRecord
					if got, err = db.PutPayment(ctx, rec); err == nil && got.ProviderRef != rec.ProviderRef {
						err = fmt.Errorf("payment %s was already stored with another reference", rec.ID)
					}
					if err == nil {
						err = db.ScheduleCheck(ctx, check)
					}
				} else {
					e := seedEvent(run, rt, i-payments, now)
					var stored bool
					if stored, err = db.EnqueueEvent(ctx, e); err == nil && !stored {
						err = fmt.Errorf("event %s was not stored (a duplicate?)", e.EventID)
					}
				}
				if err != nil {
					failed.Store(true)
					fail(err)
					return
				}
				done.Add(1)
			}
		}()
	}
	wg.Wait()
	close(stop)
	res := seedResult{payments: payments, events: events, took: time.Since(start)}
	if firstErr != nil {
		return res, fmt.Errorf("seeding %s: %w", s, firstErr)
	}
	return res, nil
}

// checkSeededQueue claims, after Caddy stopped, a sample of the seeded
// reconcile checks at a time when all are due, to show the queue the idle
// gateway held was really the seeded one (the outbox is checked through
// the gateway's own depth gauge while it runs). It changes the leases of
// those checks only, in a store the run throws away.
func checkSeededQueue(s storage, want int) (int, error) {
	if want <= 0 {
		return 0, nil
	}
	db, err := s.open()
	if err != nil {
		return 0, err
	}
	defer db.Close()
	n := min(want, 1000)
	got, err := db.ClaimDueChecks(context.Background(), time.Now().Add(400*24*time.Hour), n, time.Minute)
	if err != nil {
		return 0, err
	}
	if len(got) < n {
		return len(got), errors.New("the reconcile queue holds fewer checks than were seeded")
	}
	return len(got), nil
}
