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
//   - idle CPU and RSS of the Caddy process, empty and with -pending
//     payments seeded through the API, none of them due.
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
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

type options struct {
	caddy    string
	duration time.Duration
	rate     int
	workers  int
	pending  int
	idle     time.Duration
	maxTime  time.Duration
	smoke    bool
	keep     bool
	profile  string
}

func main() {
	var o options
	flag.StringVar(&o.caddy, "caddy", "", "the product's Caddy binary (default: go build ./cmd/caddy into a temp dir)")
	flag.DurationVar(&o.duration, "duration", 5*time.Second, "load per scenario and side")
	flag.IntVar(&o.rate, "rate", 0, "requests per second (open loop); 0: closed loop with -workers")
	flag.IntVar(&o.workers, "workers", 16, "concurrent clients (closed loop), or the attack's workers with -rate")
	flag.IntVar(&o.pending, "pending", 2000, "pending payments to seed before the idle measurement")
	flag.DurationVar(&o.idle, "idle", 10*time.Second, "idle CPU measurement interval")
	flag.DurationVar(&o.maxTime, "max-time", 30*time.Minute, "stop (and fail) after this long whatever happens")
	flag.BoolVar(&o.smoke, "smoke", false, "a few hundred ms per scenario, 4 clients, 20 pending (for CI)")
	flag.BoolVar(&o.keep, "keep", false, "keep the temp dir (Caddyfile, caddy.log, state) for inspection")
	flag.StringVar(&o.profile, "profile", "", "write a CPU profile of Caddy for each gateway scenario into this directory (go tool pprof -top <file>)")
	flag.Parse()
	if o.smoke {
		o.duration, o.workers, o.pending, o.idle = 300*time.Millisecond, 4, 20, 500*time.Millisecond
	}
	if o.workers < 1 || o.duration <= 0 || o.pending < 0 || o.idle <= 0 || o.rate < 0 {
		fmt.Fprintln(os.Stderr, "bench: -workers ≥ 1, -duration > 0, -idle > 0, -pending ≥ 0 and -rate ≥ 0")
		os.Exit(2)
	}
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
	fmt.Println(table(rows))
	fmt.Println(b.footer())
	var bad []string
	for _, r := range rows {
		bad = append(bad, r.problems()...)
	}
	if err != nil {
		bad = append(bad, err.Error())
	}
	if b.caddy.exited() {
		bad = append(bad, "Caddy exited during the run:\n"+b.caddy.tail(20))
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
	bin     string
	built   bool
	loadavg [2]string // /proc/loadavg's 1-minute figure before and after the scenarios
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
	b.p = ports{admin: free(), sandbox: free(), shop: free(), gateway: free(), plain: free()}
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
	fmt.Fprintln(os.Stderr, "bench: starting Caddy …")
	b.caddy, err = startCaddy(b.bin, b.dir, b.p, b.s.env(), b.capture.url)
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

	idle, err := b.idle()
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
	b.created = map[string][]created{}
	for _, prov := range providerNames {
		say("create " + prov)
		gwSide, made := b.createGateway(l, prov, 'g', -1)
		b.created[prov] = made
		wp := b.wire[prov]
		if err := probeCreate(wp, newOrder(b.run, prov, 'q', 0), b.capture.url); err != nil {
			return rows, err
		}
		plainSide := l.run("create-"+prov+"-plain", seq(-1, func(i int, t *vegeta.Target) error {
			c, err := wireCreate(wp, newOrder(b.run, prov, 'p', i), b.capture.url)
			if err != nil {
				return err
			}
			fromCall(c, t)
			return nil
		}), nil)
		rows = append(rows, row{name: "`POST /payments`, " + prov, gw: gwSide, plain: plainSide})
	}

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
		gwSide := l.run("notify-"+prov+"-gw", seq(len(notices), func(i int, t *vegeta.Target) error {
			n := notices[i]
			t.Method, t.URL, t.Body, t.Header = http.MethodPost, b.gw+"/notifications/"+prov, n.body, n.header
			return nil
		}), nil)
		plainSide := l.run("notify-"+prov+"-plain", seq(-1, func(i int, t *vegeta.Target) error {
			n := notices[i%len(notices)]
			t.Method, t.URL, t.Body, t.Header = http.MethodPost, b.pl+"/notifications/"+prov, n.body, n.header
			return nil
		}), nil)
		note := "distinct transactions"
		if gwSide.requests >= len(notices) {
			note += fmt.Sprintf(", all %d used", len(notices))
		}
		rows = append(rows, row{name: "notification, " + prov, gw: gwSide, plain: plainSide, note: note})
	}

	// idle with N pending
	if b.o.pending > 0 {
		say(fmt.Sprintf("seeding %d pending payments", b.o.pending))
		per := (b.o.pending + len(providerNames) - 1) / len(providerNames)
		seeded := 0
		for k, prov := range providerNames {
			n := min(per, b.o.pending-k*per)
			if n <= 0 {
				break
			}
			big := l
			big.duration = 0 // bounded by n
			_, made := b.createGateway(big, prov, 's', n)
			seeded += len(made)
		}
		if seeded < b.o.pending {
			return rows, fmt.Errorf("seeding: only %d of %d payments were created", seeded, b.o.pending)
		}
	}
	total := 0
	for _, c := range b.created {
		total += len(c)
	}
	idle, err = b.idle()
	if err != nil {
		return rows, err
	}
	rows = append(rows, row{name: fmt.Sprintf("idle, %s pending payments seeded (+ %s created by the scenarios, some since decided), none due",
		group(int64(b.o.pending)), group(int64(total))), idle: idle})
	return rows, nil
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

// idle measures Caddy's CPU over the idle interval, after a short settle.
func (b *bench) idle() (*idleStat, error) {
	fmt.Fprintf(os.Stderr, "bench: idle for %s\n", b.o.idle)
	settle := 2 * time.Second
	if b.o.smoke {
		settle = 200 * time.Millisecond
	}
	time.Sleep(settle)
	pid := b.caddy.cmd.Process.Pid
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
	fmt.Fprintf(&sb, "%s per scenario and side, %s; %d CPUs (GOMAXPROCS %d), load average %s before and %s after, %s, %s/%s; Caddy: %s.\n",
		b.o.duration, loadDesc, runtime.NumCPU(), runtime.GOMAXPROCS(0), b.loadavg[0], b.loadavg[1],
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
