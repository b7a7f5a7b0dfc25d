package main

import (
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// side is one half of a scenario: the gateway or the plain proxy.
type side struct {
	requests  int     // answered requests (excluding the end-of-pool marker)
	success   float64 // share of 2xx/3xx answers
	rps       float64 // successful requests per second
	p50, p99  time.Duration
	allocs    float64 // process-wide Go allocations per request (NaN if unknown)
	codes     map[string]int
	lastError string
	elapsed   time.Duration
}

// load is how a scenario is driven.
type load struct {
	duration  time.Duration
	rate      int // requests per second; 0: closed loop with workers
	workers   int
	adminPort int
	// profileDir, when set, receives a CPU profile of Caddy (from the
	// admin API's /debug/pprof) for every gateway side: <name>.pprof.
	profileDir string
}

// profile fetches a CPU profile of Caddy for d into dir/name.pprof; the
// returned channel is closed when it is written (or failed).
func (l load) profile(name string, d time.Duration) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		secs := max(1, int(math.Ceil(d.Seconds())))
		client := &http.Client{Timeout: time.Duration(secs+30) * time.Second}
		resp, err := client.Get(fmt.Sprintf("http://127.0.0.1:%d/debug/pprof/profile?seconds=%d", l.adminPort, secs))
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench: profile:", err)
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil || resp.StatusCode != http.StatusOK {
			fmt.Fprintf(os.Stderr, "bench: profile %s: %d %v\n", name, resp.StatusCode, err)
			return
		}
		if err := os.WriteFile(filepath.Join(l.profileDir, name+".pprof"), b, 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "bench: profile:", err)
		}
	}()
	return done
}

// seq is a concurrency-safe targeter over a sequence: make builds target
// i; n < 0 is an endless sequence, else the attack ends after n targets.
func seq(n int, make func(i int, t *vegeta.Target) error) vegeta.Targeter {
	var next atomic.Int64
	return func(t *vegeta.Target) error {
		i := int(next.Add(1) - 1)
		if n >= 0 && i >= n {
			return vegeta.ErrNoTargets
		}
		return make(i, t)
	}
}

// run drives tr for l.duration (or until it runs out of targets) and
// measures. each, if set, sees every result (from one goroutine).
func (l load) run(name string, tr vegeta.Targeter, each func(*vegeta.Result)) side {
	// Idle connections kept per host: enough for an open-loop run whose
	// workers grow while the server queues, so that finished requests
	// leave their connection for the next one instead of closing it (a
	// few seconds of closes at thousands per second used up the loopback
	// ephemeral ports: "bind: address already in use").
	idle := l.workers * 2
	if l.rate > 0 {
		idle = max(idle, 1024)
	}
	opts := []func(*vegeta.Attacker){
		vegeta.Workers(uint64(l.workers)),
		vegeta.Connections(idle),
		vegeta.MaxConnections(0),
		vegeta.KeepAlive(true),
		vegeta.HTTP2(false),
		vegeta.Redirects(vegeta.NoFollow),
		vegeta.Timeout(30 * time.Second),
	}
	pacer := vegeta.ConstantPacer{Freq: l.rate, Per: time.Second}
	if l.rate <= 0 {
		// closed loop: exactly `workers` requests in flight
		pacer = vegeta.ConstantPacer{}
		opts = append(opts, vegeta.MaxWorkers(uint64(l.workers)))
	}
	var profiled <-chan struct{}
	if l.profileDir != "" && strings.HasSuffix(name, "-gw") && l.duration > 0 {
		profiled = l.profile(name, l.duration)
	}
	before, memErr := readMemstats(l.adminPort)
	start := time.Now()
	atk := vegeta.NewAttacker(opts...)
	var m vegeta.Metrics
	var sample string // the first error answer
	for res := range atk.Attack(tr, pacer, l.duration, name) {
		if res.Error == vegeta.ErrNoTargets.Error() {
			continue
		}
		m.Add(res)
		if res.Code >= 400 && sample == "" {
			sample = fmt.Sprintf("%d %.300s", res.Code, res.Body)
		}
		if each != nil {
			each(res)
		}
	}
	m.Close()
	if profiled != nil {
		<-profiled
	}
	s := side{requests: int(m.Requests), success: m.Success, rps: m.Throughput,
		p50: m.Latencies.P50, p99: m.Latencies.P99, codes: m.StatusCodes, elapsed: time.Since(start), allocs: math.NaN()}
	if len(m.Errors) > 0 {
		s.lastError = m.Errors[len(m.Errors)-1]
	}
	if sample != "" {
		s.lastError += "; first error answer: " + sample
	}
	if after, err := readMemstats(l.adminPort); err == nil && memErr == nil && m.Requests > 0 {
		s.allocs = (after.mallocs - before.mallocs) / float64(m.Requests)
	}
	return s
}

// fromCall fills a target from a captured wire call.
func fromCall(c *wireCall, t *vegeta.Target) {
	t.Method, t.URL, t.Body, t.Header = c.method, c.url, c.body, c.header
}

// row is one line of the result table.
type row struct {
	name      string
	gw, plain side
	idle      *idleStat // an idle row has no sides
	text      string    // a row with neither: this is its gateway cell (the soak)
	note      string
}

// idleStat is the Caddy process at rest.
type idleStat struct {
	cpuPercent float64 // of one core
	rssMiB     float64
	heapMiB    float64
	interval   time.Duration
	outbox     float64 // the gateway's caddy_payments_outbox_depth after the interval (-1: unknown)
}

func ms(d time.Duration) string {
	f := float64(d) / float64(time.Millisecond)
	switch {
	case f < 10:
		return fmt.Sprintf("%.2f ms", f)
	default:
		return fmt.Sprintf("%.0f ms", f)
	}
}

// msSigned is ms with a sign.
func msSigned(d time.Duration) string {
	if d < 0 {
		return "−" + ms(-d)
	}
	return "+" + ms(d)
}

func (s side) cell() string {
	if s.requests == 0 {
		return "no requests"
	}
	c := fmt.Sprintf("%s/s · p50 %s · p99 %s", rate(s.rps), ms(s.p50), ms(s.p99))
	if s.success < 1 {
		c += fmt.Sprintf(" · **%.1f%% ok**", 100*s.success)
	}
	return c
}

func rate(f float64) string {
	if f >= 100 {
		return group(int64(math.Round(f)))
	}
	return fmt.Sprintf("%.1f", f)
}

// group writes n with thousands separators.
func group(n int64) string {
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

func allocCell(f float64) string {
	if math.IsNaN(f) {
		return "n/a"
	}
	return group(int64(math.Round(f)))
}

// table renders the rows as one Markdown table.
func table(rows []row) string {
	out := "| scenario | gateway | plain `reverse_proxy` | ratio | allocs/request, gateway − plain (gateway; plain) | requests (gateway; plain) |\n" +
		"|---|---|---|---|---|---|\n"
	for _, r := range rows {
		if r.idle != nil {
			depth := ""
			if r.idle.outbox >= 0 {
				depth = " · outbox depth gauge " + group(int64(r.idle.outbox))
			}
			out += fmt.Sprintf("| %s | CPU %.2f%% of a core over %s · RSS %.0f MiB · Go heap %.0f MiB%s | — | — | — | — |\n",
				r.name, r.idle.cpuPercent, r.idle.interval.Round(time.Millisecond), r.idle.rssMiB, r.idle.heapMiB, depth)
			continue
		}
		if r.text != "" {
			out += fmt.Sprintf("| %s | %s | — | — | — | — |\n", r.name, r.text)
			continue
		}
		ratio, allocs := "—", "n/a"
		if r.plain.rps > 0 {
			ratio = fmt.Sprintf("%.2f", r.gw.rps/r.plain.rps)
		}
		if !math.IsNaN(r.gw.allocs) && !math.IsNaN(r.plain.allocs) {
			allocs = fmt.Sprintf("%s (%s; %s)", allocCell(r.gw.allocs-r.plain.allocs), allocCell(r.gw.allocs), allocCell(r.plain.allocs))
		}
		name := r.name
		if r.note != "" {
			name += " (" + r.note + ")"
		}
		out += fmt.Sprintf("| %s | %s | %s | %s | %s | %s; %s |\n", name, r.gw.cell(), r.plain.cell(), ratio, allocs,
			group(int64(r.gw.requests)), group(int64(r.plain.requests)))
	}
	return out
}

// problems lists what makes a row broken (not slow): no answers, or more
// than 5% of answers not 2xx/3xx.
func (r row) problems() []string {
	if r.idle != nil || r.text != "" {
		return nil
	}
	var out []string
	for _, s := range []struct {
		who string
		s   side
	}{{"gateway", r.gw}, {"plain", r.plain}} {
		switch {
		case s.s.requests == 0:
			out = append(out, fmt.Sprintf("%s, %s: no requests were answered", r.name, s.who))
		case s.s.success < 0.95:
			out = append(out, fmt.Sprintf("%s, %s: only %.1f%% succeeded (status codes %v, last error %q)",
				r.name, s.who, 100*s.s.success, s.s.codes, s.s.lastError))
		}
	}
	return out
}

// bearer is the gateway's API header.
func bearer(token string) http.Header {
	return http.Header{"Authorization": {"Bearer " + token}}
}
