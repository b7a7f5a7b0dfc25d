//go:build unix

package faulttest

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/caddy-payments/caddy-payments/internal/pgtest"
)

// Run shape: bounded in count and time.
const (
	numPayments  = 42                      // 14 per provider
	paymentEvery = 150 * time.Millisecond  // payment i starts at i*paymentEvery
	killAfter    = 2500 * time.Millisecond // A is killed -9 in the first shop outage after this
	downFor      = time.Second             // and restarted this much later
	flowBudget   = 100 * time.Second       // every flow ends by then
	eventBudget  = 75 * time.Second        // then every expected event must arrive within this (> the outbox lease, forward_timeout + 15s = 30s)
	shopPeriod   = 3 * time.Second         // the shop answers 503 for the first
	shopDown     = time.Second             // second of every three
	// Two deliveries of one event from both instances this close together
	// mean both were working on the same outbox entry at once.
	concurrentWindow = 50 * time.Millisecond
)

// TestFaultAndLoad is issue #6 item 10: real Caddy processes (a sandbox S
// and two gateways A and B sharing Redis) behind a round-robin balancer, a
// flapping shop, concurrent and repeated creates, duplicated notifications,
// concurrent over-refunds through both instances, and a kill -9 of A in
// the middle. No expected event may be lost and nothing may take effect
// twice.
func TestFaultAndLoad(t *testing.T) {
	if os.Getenv("PAYMENTS_FAULT_TEST") != "1" {
		t.Skip("set PAYMENTS_FAULT_TEST=1 to run the fault and load test (it builds and runs real Caddy processes)")
	}
	if testing.Short() {
		t.Skip("not with -short")
	}
	began := time.Now()
	c := startCluster(t)
	res := runLoad(t, c)
	r := c.measure(res)
	r.Elapsed = time.Since(began)

	out := r.String()
	t.Log("\n" + out)
	fmt.Println(out) // also on stdout (go test shows it with -v, or when the test fails)
	c.saveArtifacts(t, out)
	checkReport(t, c, r)
}

// cluster is everything the run talks to.
type cluster struct {
	store   string         // redis, bolt or postgres (PAYMENTS_FAULT_STORE)
	pg      *pgtest.Server // with postgres: restarted mid-run (postgres_test.go)
	token   string
	s, a, b *caddy
	lb      *balancer
	tap     *reorderTap
	lbURL   string
	sh      *shop
}

// startCluster builds Caddy and starts Redis, the shop, the sandbox, both
// gateways and the balancer, all on loopback.
func startCluster(t *testing.T) *cluster {
	dir := t.TempDir()
	bin := buildCaddy(t, dir)
	c := &cluster{store: os.Getenv("PAYMENTS_FAULT_STORE"), token: "ft_" + randomHex(t, 24)}
	whsec := "whsec_" + base64.StdEncoding.EncodeToString(randomBytes(t, 32))
	t.Setenv("FAULTTEST_API_TOKEN", c.token) // inherited by the Caddy processes
	t.Setenv("FAULTTEST_WHSEC", whsec)
	setProviderSecrets(t)

	if c.store == "" {
		c.store = "redis"
	}
	storage := func(name string) string { return boltStorage(filepath.Join(dir, name+".db")) }
	if c.store == "redis" {
		password := randomHex(t, 16)
		t.Setenv("FAULTTEST_REDIS_PASSWORD", password)
		port := startRedis(t, password)
		storage = func(string) string { return redisStorage(port) }
	}
	if c.store == "postgres" {
		c.pg = startPostgres(t)
		storage = func(string) string { return postgresStorage() }
	}

	c.sh = newShop(whsec, shopPeriod, shopDown)
	shopSrv := httptest.NewServer(c.sh)
	t.Cleanup(shopSrv.Close)
	shopPort := shopSrv.Listener.Addr().(*net.TCPAddr).Port

	lbLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	lbPort := lbLn.Addr().(*net.TCPAddr).Port
	c.lbURL = fmt.Sprintf("http://127.0.0.1:%d", lbPort)

	c.s = newCaddy(t, bin, dir, "S", freePort(t), freePort(t), sandboxSite(lbPort))
	c.s.readyPath, c.s.readyStatus = "/sandbox/payabl/_sandbox/payments", http.StatusOK
	mustRun(t, c.s)
	paysageKey := paysagePublicKey(t, c.s.base())
	gw := func(name string) *caddy {
		g := newCaddy(t, bin, dir, name, freePort(t), freePort(t), gatewaySite(name, c.s.httpPort, lbPort, shopPort, paysageKey, storage(name)))
		g.readyPath, g.readyStatus = "/payments", http.StatusUnauthorized
		mustRun(t, g)
		return g
	}
	c.a, c.b = gw("A"), gw("B")

	c.lb = newBalancer(c.a.base(), c.b.base())
	c.tap = newReorderTap(c.lb.handler(), c.lbURL)
	lbSrv := &http.Server{Handler: c.tap}
	go lbSrv.Serve(lbLn)
	t.Cleanup(func() { lbSrv.Close() })
	return c
}

// loadResult is what runLoad leaves for the report.
type loadResult struct {
	w                   *world
	ps                  []*payment
	victim              *payment
	start               time.Time
	flowsEnded          time.Duration
	killedAt            time.Duration
	pgRestart           pgRestart // with PAYMENTS_FAULT_STORE=postgres
	restarts            int
	servedBeforeRestart int64
	expected, optional  []event
}

// runLoad runs every payment's flow, staggered, kills A -9 in the middle
// and restarts it, then waits (bounded) for every expected event.
func runLoad(t *testing.T, c *cluster) *loadResult {
	res := &loadResult{w: &world{lb: c.lbURL, a: c.a.base(), b: c.b.base(), sandbox: c.s.base(),
		cl: &client{token: c.token, http: &http.Client{Timeout: 15 * time.Second}}}}
	w := res.w
	run := fmt.Sprint(time.Now().Unix() % 100000)
	res.ps = plan(run, numPayments)
	for _, p := range res.ps {
		if p.reorder {
			c.tap.reorder(p.ref)
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), flowBudget)
	defer cancel()
	res.start = time.Now()
	var wg sync.WaitGroup
	var restartErr error
	// Kill A in a shop outage, when it holds events it could not deliver
	// yet: they must still arrive (from B, or from A restarted). A second
	// before, a create that times out (magic 1234: payabl holds the reply
	// 3s, the gateway waits 2s) is sent to A directly, so the kill cuts it
	// off in flight and its Idempotency-Key is left started, never done.
	killTime := c.sh.intoDown(res.start.Add(killAfter), 400*time.Millisecond)
	res.victim = &payment{ref: "FT-" + run + "-KV", amount: 1234, slow: true, copies: 1, via: c.a.base(), ids: map[string]bool{}}
	wg.Go(func() {
		if pause(ctx, time.Until(killTime.Add(-time.Second))) {
			w.flow(ctx, res.victim)
		}
	})
	restarted := make(chan struct{})
	wg.Go(func() {
		defer close(restarted)
		if !pause(ctx, time.Until(killTime)) {
			return
		}
		res.killedAt = time.Since(res.start)
		c.a.kill()
		pause(ctx, downFor)
		res.servedBeforeRestart = c.lb.served[0].Load()
		if restartErr = c.a.run(t); restartErr == nil {
			res.restarts++
		}
	})
	if c.pg != nil {
		wg.Go(func() { res.pgRestart = restartPostgresMidRun(ctx, c.pg, res.start, restarted) })
	}
	for i, p := range res.ps {
		wg.Go(func() {
			if pause(ctx, time.Duration(i)*paymentEvery) {
				w.flow(ctx, p)
			}
		})
	}
	wg.Wait()
	res.flowsEnded = time.Since(res.start)
	res.ps = append(res.ps, res.victim)
	if restartErr != nil {
		t.Fatalf("restarting A: %v", restartErr)
	}
	if c.pg != nil {
		if res.pgRestart.err != nil {
			t.Fatalf("restarting PostgreSQL mid-run: %v", res.pgRestart.err)
		}
		t.Logf("PostgreSQL stopped (immediate: as a crash) %s into the run and back %s later; %d creates and refunds were refused meanwhile with 503 store_unavailable, request_sent \"no\", and retried",
			res.pgRestart.at.Round(time.Millisecond), res.pgRestart.down.Round(time.Millisecond), w.cl.storeDown.Load())
	}

	res.expected, res.optional = expectedEvents(res.ps)
	deadline := time.Now().Add(eventBudget)
	for missing(c.sh, res.expected) > 0 && time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond)
	}
	time.Sleep(2 * shopPeriod) // let stragglers (redeliveries, repeats) show up before counting
	return res
}

// saveArtifacts writes the report to PAYMENTS_FAULT_REPORT and copies the
// Caddy logs into the directory PAYMENTS_FAULT_LOGS, when set (for CI).
func (c *cluster) saveArtifacts(t *testing.T, report string) {
	if logs := os.Getenv("PAYMENTS_FAULT_LOGS"); logs != "" {
		for _, g := range []*caddy{c.a, c.b, c.s} {
			if raw, err := os.ReadFile(g.log); err == nil {
				_ = os.WriteFile(filepath.Join(logs, g.name+".log"), raw, 0o644)
			}
		}
	}
	if path := os.Getenv("PAYMENTS_FAULT_REPORT"); path != "" {
		if err := os.WriteFile(path, []byte(report), 0o644); err != nil {
			t.Errorf("writing the report: %v", err)
		}
	}
}

// checkReport fails the test on what must never happen, with the end of
// each instance's log when it does.
func checkReport(t *testing.T, c *cluster, r *report) {
	checks := []struct {
		n    int
		what string
	}{
		{r.EventsLost, "expected events never reached the shop"},
		{r.DoubleEffects, "double effects (a reference charged twice, or a refund over the balance past the gateway)"},
		{r.RepeatedAnnouncements, "statuses announced under more than one webhook-id"},
		{r.BadSignatures, "deliveries that did not verify"},
		{r.Concurrent, "deliveries of an event the other instance was delivering at the same time (an outbox entry claimed twice)"},
		{r.Unexpected, "events the run did not cause, or with the wrong reference or amount"},
		{r.Problems, "payment flows that could not be completed"},
	}
	for _, ch := range checks {
		if ch.n > 0 {
			t.Errorf("%d %s", ch.n, ch.what)
		}
	}
	if r.Reordered == 0 {
		t.Errorf("no payment had its notifications reordered: the run did not test out-of-order notifications")
	}
	for _, name := range providerNames {
		if s := r.side(name); s.Approved == 0 || s.Declined == 0 || s.RefundPairs == 0 {
			t.Errorf("%s: %d approved, %d declined, %d refund pairs; the run must have each for every provider", name, s.Approved, s.Declined, s.RefundPairs)
		}
	}
	if r.Restarts != 1 || r.ServedAAfter == 0 {
		t.Errorf("instance A was restarted %d times and answered %d requests afterwards; want 1 restart that answered", r.Restarts, r.ServedAAfter)
	}
	if t.Failed() {
		for _, g := range []*caddy{c.a, c.b, c.s} {
			t.Logf("---- %s log (end):\n%s", g.name, g.tail(30))
		}
	}
}

// mustRun starts a Caddy instance or stops the test.
func mustRun(t *testing.T, c *caddy) {
	t.Helper()
	if err := c.run(t); err != nil {
		t.Fatal(err)
	}
}

func randomBytes(t *testing.T, n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

func randomHex(t *testing.T, n int) string { return hex.EncodeToString(randomBytes(t, n)) }
