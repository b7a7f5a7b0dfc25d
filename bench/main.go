// Command bench is the gateway's load benchmark (issue #11, item 6). In one
// run it builds the product's Caddy (or takes -caddy), starts one Caddy
// process on free loopback ports with the embedded sandbox
// (payments_sandbox), the gateway (payments, with payabl., Razorpay and
// PaySage on the sandbox), a stand-in shop (a `respond` site) and a plain
// site that reverse_proxies to the same sandbox and shop, and measures the
// gateway side by side with the plain reverse_proxy of the same wire call:
//
//   - passthrough: a GET of a shop page through the gateway vs the plain
//     proxy;
//   - create, per provider: POST /payments (distinct references, the
//     fault test's realistic bodies, an Idempotency-Key each) vs the plain
//     proxy of the provider request the gateway makes for it (built by the
//     product's own provider modules);
//   - GET /payments/{id} (payabl. and PaySage: one provider fetch each) vs
//     the plain proxy of that fetch;
//   - notifications, per provider: the sandbox's own notifications about
//     payments the gateway created (the customer approved at the sandbox),
//     signed with the sandbox's secrets, one per transaction, replayed to
//     the gateway (each once) and to the plain proxy (which forwards to
//     the shop);
//   - p99 added at half throughput (-half-rate): after each closed-loop
//     create and notification run, an open-loop run of both sides at half
//     the plain proxy's measured throughput;
//   - idle CPU, RSS and Go heap of the Caddy process, empty and after the
//     scenarios;
//   - then, with the gateway alone in a Caddy process (separate.go): the
//     heap soak (-soak) and the idle measurement with -seed-payments
//     pending payments and -seed-events queued events written straight
//     into a fresh store (seed.go), none of them due.
//
// -storage redis runs the gateway on the Redis store, with a redis-server
// the benchmark starts (redis.go); -storage postgres on the PostgreSQL
// store, with a cluster the benchmark starts (internal/pgtest: Debian's
// initdb and pg_ctl, as the postgres user when root; fsync on).
//
// It prints one Markdown table: throughput, p50 and p99 per side, the
// throughput ratio gateway/plain, and Go allocations per request of the
// whole process (from the admin API's /metrics), whose difference is the
// gateway's own. It only talks to loopback, every loop is bounded, and it
// stops by itself (-max-time). It exits non-zero only when something is
// broken (Caddy does not start or dies, a scenario gets no or mostly
// failed answers), never because of a ratio.
//
//	go run ./bench                 # 5s per scenario, 16 concurrent clients
//	go run ./bench -soak 10m       # and the heap soak
//	go run ./bench -storage redis  # the gateway on Redis
//	go run ./bench -storage postgres  # the gateway on PostgreSQL
//	go run ./bench -smoke          # a few hundred ms per scenario (CI)
package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/caddy-payments/caddy-payments/internal/pgtest"
)

type options struct {
	caddy        string
	duration     time.Duration
	rate         int
	workers      int
	idle         time.Duration
	maxTime      time.Duration
	smoke        bool
	keep         bool
	profile      string
	halfRate     bool
	seedPayments int
	seedEvents   int
	seedWorkers  int
	soak         time.Duration
	soakRate     int
	storage      string
	redisServer  string
}

func main() {
	var o options
	flag.StringVar(&o.caddy, "caddy", "", "the product's Caddy binary (default: go build ./cmd/caddy into a temp dir)")
	flag.DurationVar(&o.duration, "duration", 5*time.Second, "load per scenario and side")
	flag.IntVar(&o.rate, "rate", 0, "requests per second (open loop); 0: closed loop with -workers")
	flag.IntVar(&o.workers, "workers", 16, "concurrent clients (closed loop), or the attack's workers with -rate")
	flag.DurationVar(&o.idle, "idle", 10*time.Second, "idle CPU measurement interval")
	flag.DurationVar(&o.maxTime, "max-time", 45*time.Minute, "stop (and fail) after this long whatever happens (the soak's length is added)")
	flag.BoolVar(&o.smoke, "smoke", false, "for CI: 300 ms per scenario, 4 clients, half-rate runs at most 200/s, 300 payments and 30 events seeded, no soak")
	flag.BoolVar(&o.keep, "keep", false, "keep the temp dir (Caddyfiles, Caddy logs, state, redis) for inspection")
	flag.StringVar(&o.profile, "profile", "", "write a CPU profile of Caddy for each gateway scenario into this directory (go tool pprof -top <file>), and the gateway's heap profile after the soak's first and last minute")
	flag.BoolVar(&o.halfRate, "half-rate", true, "after the closed-loop create and notification runs, an open-loop run of each side at half the plain proxy's measured throughput, for the p99 the gateway adds")
	flag.IntVar(&o.seedPayments, "seed-payments", 1_000_000, "pending payments (each with its reconcile check, none due) written straight into a fresh store for the last idle measurement; 0 with -seed-events 0: none")
	flag.IntVar(&o.seedEvents, "seed-events", 100_000, "queued outbox events (none due) seeded with -seed-payments")
	flag.IntVar(&o.seedWorkers, "seed-workers", 1500, "goroutines writing the seed (the embedded store commits their writes in shared transactions)")
	flag.DurationVar(&o.soak, "soak", 0, "heap soak: run a steady open-loop mix of creates, GETs and notifications this long (e.g. 10m; 0: none) and compare the Go heap of the first and the last minute")
	flag.IntVar(&o.soakRate, "soak-rate", 0, "the soak's requests/s; 0: a third of the gateway's measured payabl create throughput")
	flag.StringVar(&o.storage, "storage", "bolt", "the gateway's store: bolt (the embedded file), redis (a redis-server the benchmark starts: loopback, AOF everysec) or postgres (a PostgreSQL cluster the benchmark starts: loopback, fsync on)")
	flag.StringVar(&o.redisServer, "redis-server", "redis-server", "the redis-server binary for -storage redis")
	flag.Parse()
	if o.smoke {
		o.duration, o.workers, o.idle = 300*time.Millisecond, 4, 500*time.Millisecond
		o.seedPayments, o.seedEvents, o.seedWorkers, o.soak = 300, 30, 64, 0
	}
	if o.workers < 1 || o.duration <= 0 || o.idle <= 0 || o.rate < 0 || o.seedPayments < 0 || o.seedEvents < 0 ||
		o.seedWorkers < 1 || o.soak < 0 || o.soakRate < 0 || (o.storage != "bolt" && o.storage != "redis" && o.storage != "postgres") {
		fmt.Fprintln(os.Stderr, "bench: -workers ≥ 1, -duration > 0, -idle > 0, -rate, -seed-payments, -seed-events, -soak and -soak-rate ≥ 0, -seed-workers ≥ 1, -storage bolt, redis or postgres")
		os.Exit(2)
	}
	if o.soak > 0 && o.soak < 20*time.Second {
		fmt.Fprintln(os.Stderr, "bench: -soak needs at least 20s (it compares heap samples of its first and last quarter, taken every thirtieth of it)")
		os.Exit(2)
	}
	o.maxTime += o.soak
	if o.profile != "" {
		if err := os.MkdirAll(o.profile, 0o755); err != nil {
			fmt.Fprintln(os.Stderr, "bench: -profile:", err)
			os.Exit(2)
		}
	}
	if runtime.GOOS != "linux" {
		fmt.Fprintln(os.Stderr, "bench: needs Linux (/proc for CPU and RSS)")
		os.Exit(2)
	}
	os.Exit(run(o))
}

func run(o options) int {
	dir, err := os.MkdirTemp("", "payments-bench-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		return 1
	}
	if o.keep {
		fmt.Fprintln(os.Stderr, "bench: keeping", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	b := &bench{o: o, dir: dir}
	abort := func(why string) {
		fmt.Fprintln(os.Stderr, "bench:", why+"; stopping")
		b.close()
		if !o.keep {
			os.RemoveAll(dir)
		}
		os.Exit(1)
	}
	watchdog := time.AfterFunc(o.maxTime, func() { abort(fmt.Sprintf("-max-time %s passed", o.maxTime)) })
	defer watchdog.Stop()
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		if s, ok := <-sigs; ok {
			abort("got " + s.String())
		}
	}()
	defer signal.Stop(sigs)
	defer b.close()
	if err := b.setup(); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		return 1
	}
	b.loadavg[0] = loadavg1()
	rows, err := b.scenarios()
	b.loadavg[1] = loadavg1()
	footer := b.footer() // while the side-by-side Caddy still runs (its counters)
	if err == nil {
		var more []row
		more, err = b.separate()
		rows = append(rows, more...)
		b.loadavg[2] = loadavg1()
		if len(more) > 0 {
			b.notes = append(b.notes, "Load average at the end: "+b.loadavg[2]+".")
		}
	}
	fmt.Println(table(rows))
	fmt.Println(footer)
	for _, n := range b.notes {
		fmt.Println(n + "  ")
	}
	var bad []string
	for _, r := range rows {
		bad = append(bad, r.problems()...)
	}
	if err != nil {
		bad = append(bad, err.Error())
	}
	for _, c := range []*caddyProc{b.caddy, b.up, b.gwOnly} {
		if c.exited() && !c.stopped {
			bad = append(bad, "Caddy exited during the run:\n"+c.tail(20))
		}
	}
	if len(bad) > 0 {
		fmt.Fprintln(os.Stderr, "bench: broken:\n  "+strings.Join(bad, "\n  "))
		fmt.Fprintln(os.Stderr, "---- caddy log:\n"+b.caddy.tail(30))
		return 1
	}
	return 0
}

// bench is one run.
type bench struct {
	o       options
	dir     string
	run     string // random, in every reference
	p       ports
	s       secrets
	capture *captureServer
	caddy   *caddyProc
	wire    map[string]wireProvider
	gw, pl  string // base URLs: gateway, plain
	sbx     string // sandbox base URL (direct, for the customer's decisions)
	created map[string][]created
	spare   map[string][]created // created by the half-rate runs, not yet used
	bin     string
	built   bool
	loadavg [3]string // /proc/loadavg's 1-minute figure before and after the scenarios, and at the end
	redis   *redisProc
	pg      *pgtest.Server // -storage postgres
	st      storage        // the side-by-side scenarios' store
	// up and gwOnly are the two processes of the soak and the seeded idle
	// measurement (separate.go).
	up, gwOnly *caddyProc
	notes      []string // lines under the footer
	createRPS  float64  // the gateway's closed-loop payabl create throughput
}

// loadavg1 is the 1-minute load average: how busy the machine was
// besides the benchmark.
func loadavg1() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return "?"
	}
	return f[0]
}

// created is a payment the gateway answered 201 for.
type created struct {
	ID                string `json:"id"`
	ProviderReference string `json:"provider_reference"`
	Reference         string `json:"reference"`
	Amount            int64  `json:"amount"`
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func (b *bench) close() {
	b.caddy.stop()
	b.gwOnly.stop()
	b.up.stop()
	b.redis.stop()
	if b.pg != nil {
		b.pg.Stop()
	}
	if b.capture != nil {
		b.capture.close()
	}
}

func (b *bench) setup() error {
	b.bin = b.o.caddy
	if b.bin == "" {
		fmt.Fprintln(os.Stderr, "bench: go build ./cmd/caddy …")
		var err error
		if b.bin, err = buildCaddy(b.dir); err != nil {
			return err
		}
		b.built = true
	}
	b.run = randomHex(3)
	whsec := make([]byte, 32)
	_, _ = rand.Read(whsec)
	b.s = secrets{payabl: "pb" + randomHex(12), rzpKey: "rk" + randomHex(12), rzpWebhook: "rw" + randomHex(12),
		paysage: "ps" + randomHex(12), apiToken: "lb_" + randomHex(16), whsec: "whsec_" + base64.StdEncoding.EncodeToString(whsec)}
	var err error
	free := func() int {
		p, e := freePort()
		if e != nil && err == nil {
			err = e
		}
		return p
	}
	b.p = ports{admin: free(), sandbox: free(), shop: free(), gateway: free(), plain: free(), upAdmin: free()}
	if err != nil {
		return err
	}
	if b.capture, err = newCaptureServer(); err != nil {
		return err
	}
	b.gw = fmt.Sprintf("http://127.0.0.1:%d", b.p.gateway)
	b.pl = fmt.Sprintf("http://127.0.0.1:%d", b.p.plain)
	b.sbx = fmt.Sprintf("http://127.0.0.1:%d/sandbox", b.p.sandbox)
	if b.wire, err = wireProviders(b.pl+"/sandbox", b.s); err != nil {
		return err
	}
	b.st = storage{path: filepath.Join(b.dir, "state.db")}
	if b.o.storage == "redis" {
		fmt.Fprintln(os.Stderr, "bench: starting redis-server …")
		if b.redis, err = startRedis(b.o.redisServer, b.dir); err != nil {
			return err
		}
		b.st = storage{redis: b.redis.addr, prefix: "bench:"}
	}
	if b.o.storage == "postgres" {
		fmt.Fprintln(os.Stderr, "bench: starting PostgreSQL …")
		if b.pg, err = pgtest.Start(pgtest.Options{Durable: true}); err != nil {
			return fmt.Errorf("-storage postgres: %w", err)
		}
		// The Caddy processes inherit it (startCaddy passes os.Environ).
		if err := os.Setenv("BENCH_PG_DSN", b.pg.DSN("")); err != nil {
			return err
		}
		b.st = storage{pg: b.pg, schema: "bench"}
	}
	fmt.Fprintln(os.Stderr, "bench: starting Caddy …")
	b.caddy, err = startCaddy(b.bin, b.dir, "caddy", caddyfile(b.p, b.dir, b.capture.url, b.st), b.s.env(),
		[]waitFor{adminReady(b.p.admin), sandboxReady(b.p), gatewayReady(b.p),
			{fmt.Sprintf("http://127.0.0.1:%d/shop/", b.p.plain), 200}})
	return err
}

func (b *bench) load() load {
	return load{duration: b.o.duration, rate: b.o.rate, workers: b.o.workers, adminPort: b.p.admin, profileDir: b.o.profile}
}

var providerNames = []string{"payabl", "razorpay", "paysage"}

// scenarios runs every measurement in order and returns the table rows.
func (b *bench) scenarios() ([]row, error) {
	var rows []row
	l := b.load()
	say := func(s string) { fmt.Fprintln(os.Stderr, "bench:", s) }

	idle, err := b.idle(b.caddy)
	if err != nil {
		return rows, err
	}
	rows = append(rows, row{name: "idle, empty store", idle: idle})

	// passthrough
	say("passthrough")
	page := func(base string) vegeta.Targeter {
		return seq(-1, func(i int, t *vegeta.Target) error {
			t.Method, t.URL = http.MethodGet, fmt.Sprintf("%s/shop/page-%d", base, i%100)
			return nil
		})
	}
	rows = append(rows, row{name: "passthrough `GET` of a shop page", gw: l.run("passthrough-gw", page(b.gw), nil),
		plain: l.run("passthrough-plain", page(b.pl), nil)})

	// create
	b.created, b.spare = map[string][]created{}, map[string][]created{}
	var half []row
	for _, prov := range providerNames {
		say("create " + prov)
		gwSide, made := b.createGateway(l, prov, 'g', -1)
		b.created[prov] = made
		if prov == "payabl" {
			b.createRPS = gwSide.rps
		}
		wp := b.wire[prov]
		if err := probeCreate(wp, newOrder(b.run, prov, 'q', 0), b.capture.url); err != nil {
			return rows, err
		}
		plainCreates := func(tag byte) vegeta.Targeter {
			return seq(-1, func(i int, t *vegeta.Target) error {
				c, err := wireCreate(wp, newOrder(b.run, prov, tag, i), b.capture.url)
				if err != nil {
					return err
				}
				fromCall(c, t)
				return nil
			})
		}
		plainSide := l.run("create-"+prov+"-plain", plainCreates('p'), nil)
		rows = append(rows, row{name: "`POST /payments`, " + prov, gw: gwSide, plain: plainSide})
		if hl, ok := b.halfLoad(plainSide); ok {
			say(fmt.Sprintf("create %s, open loop at %d/s", prov, hl.rate))
			gwHalf, made := b.createGateway(hl, prov, 'h', -1)
			b.spare[prov] = made
			plainHalf := hl.run("create-"+prov+"-plain-half", plainCreates('r'), nil)
			half = append(half, halfRow("`POST /payments`, "+prov, hl, gwHalf, plainHalf, ""))
		}
	}
	rows = append(rows, half...)

	// GET /payments/{id}: payabl and PaySage make one provider call for a
	// payment the customer has not decided (Razorpay makes two: the order
	// and its payments, so the plain side would not be the same work).
	reserved := map[string]int{}
	for _, prov := range []string{"payabl", "paysage"} {
		// at most 200 payments, and never more than half of them: the
		// rest are approved for the notifications
		pool := b.created[prov]
		pool = pool[:min(200, len(pool)/2)]
		reserved[prov] = len(pool)
		if len(pool) == 0 {
			return rows, fmt.Errorf("GET %s: no payment was created", prov)
		}
		say("GET /payments/{id} " + prov)
		calls := make([]*wireCall, len(pool))
		for i, c := range pool {
			if calls[i], err = wireGet(b.wire[prov], prov, c.ProviderReference); err != nil {
				return rows, err
			}
		}
		if err := probeGet(b.wire[prov], prov, pool[0].ProviderReference); err != nil {
			return rows, err
		}
		hdr := bearer(b.s.apiToken)
		gwSide := l.run("get-"+prov+"-gw", seq(-1, func(i int, t *vegeta.Target) error {
			t.Method, t.URL, t.Header = http.MethodGet, b.gw+"/payments/"+pool[i%len(pool)].ID, hdr
			return nil
		}), nil)
		plainSide := l.run("get-"+prov+"-plain", seq(-1, func(i int, t *vegeta.Target) error {
			fromCall(calls[i%len(calls)], t)
			return nil
		}), nil)
		rows = append(rows, row{name: "`GET /payments/{id}`, " + prov, gw: gwSide, plain: plainSide,
			note: fmt.Sprintf("%d payments in turn", len(pool))})
	}

	// notifications
	half = nil
	for _, prov := range providerNames {
		pool := b.created[prov][reserved[prov]:]
		say(fmt.Sprintf("notifications %s: the customer approves %d payments at the sandbox", prov, len(pool)))
		notices, err := b.approve(prov, pool)
		if err != nil {
			return rows, err
		}
		if len(notices) == 0 {
			return rows, fmt.Errorf("notifications %s: the sandbox sent none", prov)
		}
		say(fmt.Sprintf("notifications %s: replaying %d", prov, len(notices)))
		gwSide, used := b.notifyGateway(l, prov, "notify-"+prov+"-gw", notices)
		plainSide := l.run("notify-"+prov+"-plain", b.notifyPlain(prov, notices), nil)
		note := "distinct transactions"
		if used >= len(notices) {
			note += fmt.Sprintf(", all %d used", len(notices))
		}
		rows = append(rows, row{name: "notification, " + prov, gw: gwSide, plain: plainSide, note: note})
		hl, ok := b.halfLoad(plainSide)
		if !ok {
			continue
		}
		// fresh notifications for the open-loop gateway run: what the
		// closed loop left, then those of the half-rate creates, then
		// payments created for it (at most 30,000 more)
		fresh := notices[used:]
		need := int(float64(hl.rate)*hl.duration.Seconds()) + 1
		if short := need - len(fresh); short > 0 {
			spare := b.spare[prov]
			take := min(short, len(spare))
			b.spare[prov] = spare[take:]
			extra := spare[:take]
			if more := min(short-take, 30000); more > 0 {
				say(fmt.Sprintf("notifications %s: creating %d more payments for the open-loop run", prov, more))
				big := l
				big.duration = 0
				_, made := b.createGateway(big, prov, 'n', more)
				extra = append(extra, made...)
			}
			say(fmt.Sprintf("notifications %s: the customer approves %d more", prov, len(extra)))
			more, err := b.approve(prov, extra)
			if err != nil {
				return rows, err
			}
			fresh = append(fresh[:len(fresh):len(fresh)], more...)
		}
		hd := hl
		note = ""
		if have := len(fresh); have < need {
			hd.duration = time.Duration(float64(have) / float64(hl.rate) * float64(time.Second))
			note = fmt.Sprintf("%d fresh notifications: %s instead of %s", have, hd.duration.Round(time.Millisecond), hl.duration)
		}
		if hd.duration < 50*time.Millisecond {
			continue
		}
		say(fmt.Sprintf("notifications %s, open loop at %d/s", prov, hl.rate))
		gwHalf, _ := b.notifyGateway(hd, prov, "notify-"+prov+"-gw-half", fresh)
		plainHalf := hd.run("notify-"+prov+"-plain-half", b.notifyPlain(prov, notices), nil)
		half = append(half, halfRow("notification, "+prov, hd, gwHalf, plainHalf, note))
	}
	rows = append(rows, half...)

	total := 0
	for _, c := range b.created {
		total += len(c)
	}
	idle, err = b.idle(b.caddy)
	if err != nil {
		return rows, err
	}
	rows = append(rows, row{name: fmt.Sprintf("idle after the scenarios (%s payments created in the main runs, some since decided; none due)",
		group(int64(total))), idle: idle})
	return rows, nil
}

// notifyGateway replays notices to the gateway, each once, and says how
// many it sent.
func (b *bench) notifyGateway(l load, prov, name string, notices []notice) (side, int) {
	var used atomic.Int64
	s := l.run(name, seq(len(notices), func(i int, t *vegeta.Target) error {
		used.Add(1)
		n := notices[i]
		t.Method, t.URL, t.Body, t.Header = http.MethodPost, b.gw+"/notifications/"+prov, n.body, n.header
		return nil
	}), nil)
	return s, int(used.Load())
}

// notifyPlain replays notices to the plain proxy, round and round.
func (b *bench) notifyPlain(prov string, notices []notice) vegeta.Targeter {
	return seq(-1, func(i int, t *vegeta.Target) error {
		n := notices[i%len(notices)]
		t.Method, t.URL, t.Body, t.Header = http.MethodPost, b.pl+"/notifications/"+prov, n.body, n.header
		return nil
	})
}

// halfLoad is the open-loop load at half the plain side's measured
// throughput (-half-rate; at most 200/s in -smoke).
func (b *bench) halfLoad(plain side) (load, bool) {
	if !b.o.halfRate || plain.rps < 4 {
		return load{}, false
	}
	l := b.load()
	l.rate = int(plain.rps / 2)
	if b.o.smoke {
		l.rate = min(l.rate, 200)
	}
	return l, true
}

// halfRow is the row of an open-loop run at half the plain throughput:
// its note gives the p99 the gateway adds.
func halfRow(what string, l load, gw, plain side, note string) row {
	n := fmt.Sprintf("open loop at %s/s, half the plain proxy's throughput: **p99 added %s**", group(int64(l.rate)), msSigned(gw.p99-plain.p99))
	if gw.rps < 0.95*float64(l.rate) {
		n += fmt.Sprintf("; the gateway did not keep up (%s/s answered)", rate(gw.rps))
	}
	if note != "" {
		n += "; " + note
	}
	return row{name: what, gw: gw, plain: plain, note: n}
}

// createGateway creates payments through the gateway's API and returns
// those answered 201. n < 0: for l.duration.
func (b *bench) createGateway(l load, prov string, tag byte, n int) (side, []created) {
	hdr := func(key string) http.Header {
		return http.Header{"Authorization": {"Bearer " + b.s.apiToken}, "Content-Type": {"application/json"},
			"Idempotency-Key": {key}}
	}
	var bodies [][]byte
	s := l.run("create-"+prov+"-gw", seq(n, func(i int, t *vegeta.Target) error {
		o := newOrder(b.run, prov, tag, i)
		t.Method, t.URL, t.Body, t.Header = http.MethodPost, b.gw+"/payments", o.canonicalBody(), hdr(o.key)
		return nil
	}), func(r *vegeta.Result) {
		if r.Code == http.StatusCreated {
			bodies = append(bodies, r.Body)
		}
	})
	var out []created
	for _, body := range bodies {
		var c created
		if json.Unmarshal(body, &c) == nil && c.ID != "" && c.ProviderReference != "" {
			out = append(out, c)
		}
	}
	return s, out
}

// approve plays the customer approving each payment at the sandbox (the
// checkout page's button, through the sandbox's own endpoint), which makes
// the sandbox send its signed notifications to the capture server, and
// returns one kept notification per payment. Razorpay first needs the
// payment attempt on the order (payments/create/json, as the checkout
// would make it).
func (b *bench) approve(prov string, pool []created) ([]notice, error) {
	client := &http.Client{Timeout: 30 * time.Second}
	post := func(url string, body []byte, basic [2]string) ([]byte, error) {
		return sandboxPost(client, url, body, basic)
	}
	objects := make([]string, len(pool))
	errs := make([]error, len(pool))
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for i, c := range pool {
		objects[i] = c.ProviderReference
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			id := c.ProviderReference
			if prov == "razorpay" {
				body, _ := json.Marshal(map[string]any{"amount": c.Amount, "currency": "EUR", "order_id": id,
					"email": "jane@example.com", "contact": "+46701234567", "method": "app", "provider": "trustly",
					"ip": "203.0.113.7", "user_agent": "Mozilla/5.0 (load benchmark customer)"})
				out, err := post(b.sbx+"/razorpay/v1/payments/create/json", body, [2]string{rzpKeyID, b.s.rzpKey})
				if err != nil {
					errs[i] = err
					return
				}
				var r struct {
					PaymentID string `json:"razorpay_payment_id"`
				}
				if json.Unmarshal(out, &r) != nil || r.PaymentID == "" {
					errs[i] = fmt.Errorf("razorpay payment create: %.200s", out)
					return
				}
				id = r.PaymentID
			}
			_, errs[i] = post(b.sbx+"/"+prov+"/_sandbox/payments/"+id+"/approve", nil, [2]string{})
		}()
	}
	wg.Wait()
	failed := 0
	var first error
	for _, e := range errs {
		if e != nil {
			failed++
			if first == nil {
				first = e
			}
		}
	}
	if failed > len(pool)/20 {
		return nil, fmt.Errorf("approving %s payments at the sandbox: %d of %d failed; first: %v", prov, failed, len(pool), first)
	}
	return b.capture.notices(prov, objects, 10*time.Second), nil
}

// sandboxPost posts body (JSON, if any) to the sandbox, with Basic auth
// when basic[0] is set, and wants a 200.
func sandboxPost(client *http.Client, url string, body []byte, basic [2]string) ([]byte, error) {
	req, err := http.NewRequestWithContext(context.Background(), http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if basic[0] != "" {
		req.SetBasicAuth(basic[0], basic[1])
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: %d %.200s", url, resp.StatusCode, out)
	}
	return out, nil
}

// idle measures Caddy's CPU over the idle interval, after a short settle.
func (b *bench) idle(c *caddyProc) (*idleStat, error) {
	fmt.Fprintf(os.Stderr, "bench: idle for %s\n", b.o.idle)
	settle := 2 * time.Second
	if b.o.smoke {
		settle = 200 * time.Millisecond
	}
	time.Sleep(settle)
	pid := c.cmd.Process.Pid
	t0, err := cpuTicks(pid)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	time.Sleep(b.o.idle)
	t1, err := cpuTicks(pid)
	if err != nil {
		return nil, err
	}
	elapsed := time.Since(start)
	rss, err := rssKiB(pid)
	if err != nil {
		return nil, err
	}
	st := &idleStat{cpuPercent: 100 * float64(t1-t0) / clockTicks / elapsed.Seconds(), rssMiB: float64(rss) / 1024,
		interval: elapsed}
	if m, err := readMemstats(b.p.admin); err == nil {
		st.heapMiB = m.heapAlloc / (1 << 20)
		st.outbox = m.outbox
	}
	return st, nil
}

// footer describes the run under the table.
func (b *bench) footer() string {
	loadDesc := fmt.Sprintf("closed loop, %d concurrent clients", b.o.workers)
	if b.o.rate > 0 {
		loadDesc = fmt.Sprintf("open loop at %d requests/s (%d workers to start)", b.o.rate, b.o.workers)
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "%s per scenario and side, %s; gateway store: %s; %d CPUs (GOMAXPROCS %d), load average %s before and %s after the side-by-side scenarios, %s, %s/%s; Caddy: %s.\n",
		b.o.duration, loadDesc, b.st, runtime.NumCPU(), runtime.GOMAXPROCS(0), b.loadavg[0], b.loadavg[1],
		runtime.Version(), runtime.GOOS, runtime.GOARCH,
		map[bool]string{true: "built from this tree", false: b.bin}[b.built])
	fmt.Fprintf(&sb, "Caddy log: %d error lines, %d warnings; events forwarded to the shop: payabl %d, razorpay %d, paysage %d.\n",
		b.caddy.countLog(`"level":"error"`), b.caddy.countLog(`"level":"warn"`),
		b.caddy.countLog(`"msg":"event forwarded","provider":"payabl"`),
		b.caddy.countLog(`"msg":"event forwarded","provider":"razorpay"`),
		b.caddy.countLog(`"msg":"event forwarded","provider":"paysage"`))
	if resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", b.p.admin)); err == nil {
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var lines []string
		for line := range strings.SplitSeq(string(body), "\n") {
			if strings.HasPrefix(line, "caddy_payments_notifications_total") || strings.HasPrefix(line, "caddy_payments_outbox_depth") {
				lines = append(lines, line)
			}
		}
		if len(lines) > 0 {
			sb.WriteString("Gateway counters: " + strings.Join(lines, "; ") + "\n")
		}
	}
	return sb.String()
}
