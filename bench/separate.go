package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// separate runs what measures the gateway's process on its own, after the
// side-by-side scenarios: the heap soak (-soak) and the idle measurement
// with a seeded store (-seed-payments, -seed-events). The side-by-side
// Caddy is stopped; the sandbox and the shop run in one Caddy process
// (upstreams) and the gateway in another (gatewayOnly), on the same
// ports, so the gateway's CPU, RSS and Go heap do not include the
// sandbox's in-memory payments.
func (b *bench) separate() ([]row, error) {
	seeding := b.o.seedPayments+b.o.seedEvents > 0
	if b.o.soak == 0 && !seeding {
		return nil, nil
	}
	say := func(s string) { fmt.Fprintln(os.Stderr, "bench:", s) }
	say("stopping the side-by-side Caddy; starting the sandbox and the shop in a Caddy of their own")
	b.caddy.stop()
	var err error
	if b.p.upAdmin, err = freePort(); err != nil {
		return nil, err
	}
	if b.up, err = b.startAlone("upstreams", nil); err != nil {
		return nil, err
	}
	var rows []row
	if b.o.soak > 0 {
		say("starting the gateway alone for the soak (" + b.st.String() + ")")
		if b.gwOnly, err = b.startAlone("gateway-soak", &b.st); err != nil {
			return rows, err
		}
		r, err := b.soak()
		b.gwOnly.stop()
		if err != nil {
			return rows, err
		}
		rows = append(rows, r)
	}
	if seeding {
		r, err := b.seeded()
		if err != nil {
			return rows, err
		}
		rows = append(rows, r)
	}
	return rows, nil
}

// startAlone starts the upstreams (st nil) or the gateway alone on st.
// The ports of the side-by-side run are reused, but the admin API's port
// is picked afresh when it was taken meanwhile (the load generator's
// client connections use the same ephemeral range).
func (b *bench) startAlone(name string, st *storage) (*caddyProc, error) {
	for attempt := 1; ; attempt++ {
		text := upstreams(b.p, b.dir, b.capture.url)
		waits := []waitFor{adminReady(b.p.upAdmin), sandboxReady(b.p)}
		if st != nil {
			text = gatewayOnly(b.p, b.dir, b.capture.url, *st)
			waits = []waitFor{adminReady(b.p.admin), gatewayReady(b.p)}
		}
		c, err := startCaddy(b.bin, b.dir, name, text, b.s.env(), waits)
		if err == nil || attempt == 3 || !strings.Contains(err.Error(), "administration endpoint: listen tcp") {
			return c, err
		}
		port, perr := freePort()
		if perr != nil {
			return nil, err
		}
		fmt.Fprintf(os.Stderr, "bench: %s: the admin port was taken; trying port %d\n", name, port)
		if st == nil {
			b.p.upAdmin = port
		} else {
			b.p.admin = port
		}
	}
}

// seeded seeds a fresh store (a new bolt file, or a new Redis key
// prefix), starts the gateway alone on it, measures it idle and checks
// that it really held the seed: its outbox depth gauge must show the
// seeded events, and, after it stopped, the reconcile queue must give
// out seeded checks when claimed at a time they are all due.
func (b *bench) seeded() (row, error) {
	say := func(s string) { fmt.Fprintln(os.Stderr, "bench:", s) }
	st := storage{path: filepath.Join(b.dir, "seeded.db")}
	if b.redis != nil {
		st = storage{redis: b.redis.addr, prefix: "bench-seeded:"}
	}
	if b.pg != nil {
		st = storage{pg: b.pg, schema: "bench_seeded"}
	}
	text := gatewayOnly(b.p, b.dir, b.capture.url, st)
	file := filepath.Join(b.dir, "gateway-seeded.Caddyfile")
	if err := os.WriteFile(file, []byte(text), 0o600); err != nil {
		return row{}, err
	}
	server, err := serverName(b.bin, file, b.p.gateway)
	if err != nil {
		return row{}, err
	}
	rt := route{server: server, host: fmt.Sprintf("127.0.0.1:%d", b.p.gateway)}
	say(fmt.Sprintf("seeding %s pending payments and %s queued events into %s (%d goroutines)",
		group(int64(b.o.seedPayments)), group(int64(b.o.seedEvents)), st, b.o.seedWorkers))
	res, err := seed(st, b.run, rt, b.o.seedPayments, b.o.seedEvents, b.o.seedWorkers)
	if err != nil {
		return row{}, err
	}
	say("seeded: " + res.String())
	b.notes = append(b.notes, "Seed for the last idle row: "+res.String()+", into "+st.String()+
		" before the gateway opened it, through the store package's PutPayment, ScheduleCheck and EnqueueEvent.")
	if b.gwOnly, err = b.startAlone("gateway-seeded", &st); err != nil {
		return row{}, err
	}
	idle, err := b.idle(b.gwOnly)
	if err != nil {
		return row{}, err
	}
	// The gauge is set after each worker round (every second): wait for
	// one if the interval was shorter.
	deadline := time.Now().Add(5 * time.Second)
	for int(idle.outbox) != b.o.seedEvents && time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond)
		if m, err := readMemstats(b.p.admin); err == nil {
			idle.outbox = m.outbox
		}
	}
	b.gwOnly.stop()
	if int(idle.outbox) != b.o.seedEvents {
		return row{}, fmt.Errorf("the seeded gateway's caddy_payments_outbox_depth is %v, not the %d events seeded: the idle measurement did not measure the seeded store",
			idle.outbox, b.o.seedEvents)
	}
	claimed, err := checkSeededQueue(st, b.o.seedPayments)
	if err != nil {
		return row{}, fmt.Errorf("after the seeded idle measurement: %w (%d claimed)", err, claimed)
	}
	b.notes = append(b.notes, fmt.Sprintf("The seeded gateway's outbox depth gauge read %s (as seeded); after it stopped, a claim of its reconcile queue at a time when all checks are due gave %s seeded checks.",
		group(int64(idle.outbox)), group(int64(claimed))))
	return row{name: fmt.Sprintf("idle, gateway alone, %s pending payments and %s queued events seeded (%s), none due",
		group(int64(b.o.seedPayments)), group(int64(b.o.seedEvents)), b.st.kind()),
		idle: idle}, nil
}

// heapSample is one reading of the gateway's memory during the soak.
type heapSample struct {
	at                   time.Duration // since the soak started
	heapAlloc, heapInuse float64
	nextGC               float64
	rssMiB, goroutines   float64
	mallocs              float64
}

// soak drives a steady open-loop mix against the gateway alone for -soak:
// one request in three a payabl create, one a GET /payments/{id} of one
// of 200 payments created before, one a payabl notification (the
// sandbox's own, for a payment the soak created and the benchmark, as the
// customer, approved; a GET when none is ready). It samples the gateway's
// Go heap from /metrics every 2s (every thirtieth of a soak shorter than a
// minute) and compares the median of the samples of the first minute with
// that of the last minute (first and last quarter of a soak shorter than
// 4 minutes). A forced GC is not available remotely, so heap_alloc is read
// at random points of the GC cycle (a saw tooth between the live heap and
// twice it): the median of some thirty readings is steadier than any one.
// Beside it, half of go_memstats_next_gc_bytes (the heap goal, set at each
// GC to twice the heap then live, GOGC 100) tracks the live heap itself.
func (b *bench) soak() (row, error) {
	say := func(s string) { fmt.Fprintln(os.Stderr, "bench:", s) }
	rate := b.o.soakRate
	if rate == 0 {
		rate = max(3, int(b.createRPS/3))
	}
	l := b.load()
	l.duration = 0
	say("soak: creating 200 payments to GET")
	_, pool := b.createGateway(l, "payabl", 'k', 200)
	if len(pool) == 0 {
		return row{}, fmt.Errorf("soak: no payment was created")
	}
	feed := make(chan notice, 100000)
	b.capture.setFeed("payabl", feed)
	defer b.capture.setFeed("", nil)
	toApprove := make(chan string, 100000)
	var approvers sync.WaitGroup
	var approved, approveFailed atomic.Int64
	client := &http.Client{Timeout: 30 * time.Second}
	for range 4 {
		approvers.Add(1)
		go func() {
			defer approvers.Done()
			for ref := range toApprove {
				if _, err := sandboxPost(client, b.sbx+"/payabl/_sandbox/payments/"+ref+"/approve", nil, [2]string{}); err != nil {
					approveFailed.Add(1)
				} else {
					approved.Add(1)
				}
			}
		}()
	}
	var kinds [3]atomic.Int64 // creates, GETs, notifications sent
	hdrCreate := func(key string) http.Header {
		return http.Header{"Authorization": {"Bearer " + b.s.apiToken}, "Content-Type": {"application/json"},
			"Idempotency-Key": {key}}
	}
	get := bearer(b.s.apiToken)
	tr := seq(-1, func(i int, t *vegeta.Target) error {
		switch i % 3 {
		case 0:
			kinds[0].Add(1)
			o := newOrder(b.run, "payabl", 'k', 1000+i)
			t.Method, t.URL, t.Body, t.Header = http.MethodPost, b.gw+"/payments", o.canonicalBody(), hdrCreate(o.key)
			return nil
		case 2:
			select {
			case n := <-feed:
				kinds[2].Add(1)
				t.Method, t.URL, t.Body, t.Header = http.MethodPost, b.gw+"/notifications/payabl", n.body, n.header
				return nil
			default:
			}
		}
		kinds[1].Add(1)
		t.Method, t.URL, t.Header, t.Body = http.MethodGet, b.gw+"/payments/"+pool[i%len(pool)].ID, get, nil
		return nil
	})
	each := func(r *vegeta.Result) {
		if r.Code != http.StatusCreated || r.Method != http.MethodPost {
			return
		}
		var c created
		if json.Unmarshal(r.Body, &c) == nil && c.ProviderReference != "" {
			select {
			case toApprove <- c.ProviderReference:
			default:
			}
		}
	}
	every := min(2*time.Second, b.o.soak/30).Round(10 * time.Millisecond)
	window := min(time.Minute, b.o.soak/4)
	var samples []heapSample
	var smu sync.Mutex
	stop := make(chan struct{})
	sampled := make(chan struct{})
	firstHeap := false
	start := time.Now()
	pid := b.gwOnly.cmd.Process.Pid
	go func() {
		defer close(sampled)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
			}
			m, err := readMemstats(b.p.admin)
			if err != nil {
				continue
			}
			rss, _ := rssKiB(pid)
			if !firstHeap && time.Since(start) >= window {
				firstHeap = true
				b.heapProfile("soak-heap-first")
			}
			smu.Lock()
			samples = append(samples, heapSample{at: time.Since(start), heapAlloc: m.heapAlloc, heapInuse: m.heapInuse, nextGC: m.nextGC,
				rssMiB: float64(rss) / 1024, goroutines: m.goroutines, mallocs: m.mallocs})
			smu.Unlock()
		}
	}()
	say(fmt.Sprintf("soak: %s at %d requests/s (creates, GETs, notifications), heap sampled every %s", b.o.soak, rate, every))
	sl := b.load()
	sl.rate, sl.duration = rate, b.o.soak
	s := sl.run("soak-gw", tr, each)
	close(stop)
	<-sampled
	b.heapProfile("soak-heap-last")
	close(toApprove)
	approvers.Wait()
	if s.requests == 0 {
		return row{}, fmt.Errorf("soak: no request was answered")
	}
	var first, last []heapSample
	for _, x := range samples {
		if x.at <= window+every/2 {
			first = append(first, x)
		}
		if x.at >= s.elapsed-window-every/2 {
			last = append(last, x)
		}
	}
	if len(first) == 0 || len(last) == 0 {
		return row{}, fmt.Errorf("soak: too few heap samples (%d)", len(samples))
	}
	med := func(xs []heapSample, f func(heapSample) float64) float64 {
		v := make([]float64, len(xs))
		for i, x := range xs {
			v[i] = f(x)
		}
		slices.Sort(v)
		if len(v)%2 == 1 {
			return v[len(v)/2]
		}
		return (v[len(v)/2-1] + v[len(v)/2]) / 2
	}
	alloc := func(x heapSample) float64 { return x.heapAlloc / (1 << 20) }
	inuse := func(x heapSample) float64 { return x.heapInuse / (1 << 20) }
	live := func(x heapSample) float64 { return x.nextGC / 2 / (1 << 20) }
	pct := func(a, z float64) string { return fmt.Sprintf("%+.1f%%", 100*(z-a)/a) }
	peak := 0.0
	for _, x := range samples {
		peak = max(peak, alloc(x))
	}
	a0, a1 := med(first, alloc), med(last, alloc)
	i0, i1 := med(first, inuse), med(last, inuse)
	l0, l1 := med(first, live), med(last, live)
	text := fmt.Sprintf("Go heap (heap_alloc) median of the first %s %.1f MiB → last %s %.1f MiB: **%s** · live after GC (next_gc/2) %.1f → %.1f MiB (%s) · heap_inuse %.1f → %.1f MiB (%s) · peak heap_alloc %.1f MiB · RSS %.0f → %.0f MiB · goroutines %.0f → %.0f · load %s",
		window, a0, window, a1, pct(a0, a1), l0, l1, pct(l0, l1), i0, i1, pct(i0, i1), peak,
		med(first, func(x heapSample) float64 { return x.rssMiB }), med(last, func(x heapSample) float64 { return x.rssMiB }),
		med(first, func(x heapSample) float64 { return x.goroutines }), med(last, func(x heapSample) float64 { return x.goroutines }),
		s.cell())
	b.notes = append(b.notes, fmt.Sprintf("Soak: %d heap samples every %s; %s creates, %s GETs and %s notifications sent; %s payments approved at the sandbox (%d failed); the gateway's store: %s.",
		len(samples), every, group(kinds[0].Load()), group(kinds[1].Load()), group(kinds[2].Load()), group(approved.Load()),
		approveFailed.Load(), b.st))
	var series []string
	for _, x := range samples {
		series = append(series, fmt.Sprintf("%s %.1f", x.at.Round(time.Second), alloc(x)))
	}
	b.notes = append(b.notes, "Soak heap_alloc samples (MiB): "+strings.Join(series, ", ")+".")
	return row{name: fmt.Sprintf("heap soak, gateway alone, %s open loop at %s/s: payabl creates, GETs and notifications",
		b.o.soak, group(int64(rate))), text: text}, nil
}

// heapProfile writes the gateway's heap profile (the admin API's
// /debug/pprof/heap) to <-profile>/<name>.pprof when -profile is set:
// `go tool pprof -sample_index=inuse_space -base soak-heap-first.pprof
// soak-heap-last.pprof` shows what grew during the soak.
func (b *bench) heapProfile(name string) {
	if b.o.profile == "" {
		return
	}
	client := &http.Client{Timeout: 30 * time.Second}
	resp, err := client.Get(fmt.Sprintf("http://127.0.0.1:%d/debug/pprof/heap", b.p.admin))
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench: heap profile:", err)
		return
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		fmt.Fprintf(os.Stderr, "bench: heap profile %s: %d %v\n", name, resp.StatusCode, err)
		return
	}
	if err := os.WriteFile(filepath.Join(b.o.profile, name+".pprof"), body, 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "bench: heap profile:", err)
	}
}
