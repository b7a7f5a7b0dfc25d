package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// moduleRoot walks up from the working directory to the go.mod of this
// module, so `go run ./bench` builds the Caddy of the tree it runs in.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil &&
			bytes.Contains(b, []byte("module github.com/caddy-payments/caddy-payments")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod of caddy-payments above the working directory (run from the repository, or give -caddy)")
		}
		dir = parent
	}
}

// buildCaddy builds the product's cmd/caddy into dir.
func buildCaddy(dir string) (string, error) {
	root, err := moduleRoot()
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "caddy")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/caddy")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/caddy: %v\n%s", err, out)
	}
	return bin, nil
}

// freePort returns a loopback TCP port that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// ports are the loopback ports of one run.
type ports struct {
	admin, sandbox, shop, gateway, plain int
	upAdmin                              int // the upstreams process's admin API
}

// secrets are fresh per run: the sandbox and the gateway read them from
// the environment ({env.*}), so no secret is in the Caddyfile.
type secrets struct {
	payabl, rzpKey, rzpWebhook, paysage, apiToken, whsec string
}

const (
	payablMerchant = "benchshop"
	rzpKeyID       = "rzp_test_loadbench"
	rzpAccountID   = "acc_SandboxAcct001" // the sandbox's Razorpay account
	paysageShopID  = "361"
)

func (s secrets) env() []string {
	return []string{
		"BENCH_PAYABL_SECRET=" + s.payabl,
		"BENCH_RZP_KEY_SECRET=" + s.rzpKey,
		"BENCH_RZP_WEBHOOK_SECRET=" + s.rzpWebhook,
		"BENCH_PAYSAGE_SECRET_KEY=" + s.paysage,
		"BENCH_API_TOKEN=" + s.apiToken,
		"BENCH_WHSEC=" + s.whsec,
	}
}

// shopPage is what the stand-in shop serves for a page: about 2 KB of
// text, so passthrough moves a realistic body.
var shopPage = strings.Repeat("Stand-in shop page for the load benchmark. ", 48)

// The Caddyfile of a Caddy start is made of these parts. The side-by-side
// scenarios run one Caddy process with all of them: the sandbox (S), the
// stand-in shop (H), the gateway (G, payments in front of the shop) and
// the plain site (P: reverse_proxy to the same sandbox and shop). public
// is the gateway's public_url: the benchmark's own capture server, so the
// sandbox's notifications come to the benchmark, which replays them. The
// soak and the seeded idle measurement run the gateway alone in one
// process (gatewayOnly) and the sandbox and the shop in another
// (upstreams), so that the gateway's CPU, RSS and Go heap are its own (the
// sandbox keeps every payment it was asked for in memory).

// caddyfile is the one process of the side-by-side scenarios.
func caddyfile(p ports, dir, public string, st storage) string {
	return globalBlock(p.admin, filepath.Join(dir, "certmagic")) + sandboxSite(p, public) + shopSite(p) +
		gatewaySite(p, public, st) + plainSite(p)
}

// upstreams is the sandbox and the shop in a process of their own.
func upstreams(p ports, dir, public string) string {
	return globalBlock(p.upAdmin, filepath.Join(dir, "certmagic-up")) + sandboxSite(p, public) + shopSite(p)
}

// gatewayOnly is the gateway in a process of its own.
func gatewayOnly(p ports, dir, public string, st storage) string {
	return globalBlock(p.admin, filepath.Join(dir, "certmagic")) + gatewaySite(p, public, st)
}

func globalBlock(admin int, certDir string) string {
	return fmt.Sprintf(`{
	admin 127.0.0.1:%d
	persist_config off
	auto_https off
	skip_install_trust
	grace_period 1ns
	storage file_system %s
}
`, admin, certDir)
}

func sandboxSite(p ports, public string) string {
	return fmt.Sprintf(`
http://127.0.0.1:%[1]d {
	bind 127.0.0.1
	payments_sandbox {
		slow_delay 3s
		payabl {
			merchant_id %[3]s
			secret {env.BENCH_PAYABL_SECRET}
		}
		razorpay {
			key_id %[4]s
			key_secret {env.BENCH_RZP_KEY_SECRET}
			webhook_secret {env.BENCH_RZP_WEBHOOK_SECRET}
			webhook_url %[2]s/notifications/razorpay
		}
		paysage {
			shop_id %[5]s
			secret_key {env.BENCH_PAYSAGE_SECRET_KEY}
		}
	}
}
`, p.sandbox, public, payablMerchant, rzpKeyID, paysageShopID)
}

func shopSite(p ports) string {
	return fmt.Sprintf(`
http://127.0.0.1:%d {
	bind 127.0.0.1
	respond /shop/* "%s" 200
	respond "ok" 200
}
`, p.shop, shopPage)
}

func gatewaySite(p ports, public string, st storage) string {
	return fmt.Sprintf(`
http://127.0.0.1:%[1]d {
	bind 127.0.0.1
	payments {
		provider payabl {
			merchant_id %[5]s
			secret {env.BENCH_PAYABL_SECRET}
			endpoint http://127.0.0.1:%[2]d/sandbox/payabl/pay/backoffice
		}
		provider razorpay {
			key_id %[6]s
			key_secret {env.BENCH_RZP_KEY_SECRET}
			webhook_secret {env.BENCH_RZP_WEBHOOK_SECRET}
			account_id %[9]s
			endpoint http://127.0.0.1:%[2]d/sandbox/razorpay
		}
		provider paysage {
			shop_id %[7]s
			secret_key {env.BENCH_PAYSAGE_SECRET_KEY}
			public_key %[8]s
			test
			endpoint http://127.0.0.1:%[2]d/sandbox/paysage
		}
		api_token {env.BENCH_API_TOKEN}
		forward_secret {env.BENCH_WHSEC}
		public_url %[4]s
		timeout 10s
		max_idle_conns_per_host 1024
		reconcile_schedule 1h
		%[10]s
	}
	reverse_proxy 127.0.0.1:%[3]d {
		transport http {
			keepalive_idle_conns_per_host 1024
		}
	}
}
`, p.gateway, p.sandbox, p.shop, public, payablMerchant, rzpKeyID, paysageShopID, paysagePublicKey(),
		rzpAccountID, st.directive())
}

func plainSite(p ports) string {
	return fmt.Sprintf(`
http://127.0.0.1:%[1]d {
	bind 127.0.0.1
	handle /sandbox/* {
		reverse_proxy 127.0.0.1:%[2]d {
			transport http {
				keepalive_idle_conns_per_host 1024
			}
		}
	}
	handle {
		reverse_proxy 127.0.0.1:%[3]d {
			transport http {
				keepalive_idle_conns_per_host 1024
			}
		}
	}
}
`, p.plain, p.sandbox, p.shop)
}

// caddyProc is the running Caddy.
type caddyProc struct {
	cmd     *exec.Cmd
	done    chan struct{}
	log     string
	stopped bool // stop was called: its exit is no failure
}

// waitFor is an answer startCaddy waits for.
type waitFor struct {
	url  string
	want int
}

// startCaddy writes text as dir/<name>.Caddyfile, runs bin with it
// (logging to dir/<name>.log) and waits until every URL of waits answers
// as wanted.
func startCaddy(bin, dir, name, text string, env []string, waits []waitFor) (*caddyProc, error) {
	file := filepath.Join(dir, name+".Caddyfile")
	if err := os.WriteFile(file, []byte(text), 0o600); err != nil {
		return nil, err
	}
	logPath := filepath.Join(dir, name+".log")
	f, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "run", "--config", file, "--adapter", "caddyfile")
	cmd.Env = append(os.Environ(), "HOME="+dir, "XDG_DATA_HOME="+dir, "XDG_CONFIG_HOME="+dir)
	cmd.Env = append(cmd.Env, env...)
	cmd.Stdout, cmd.Stderr = f, f
	detach(cmd)
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("starting caddy: %w", err)
	}
	c := &caddyProc{cmd: cmd, done: make(chan struct{}), log: logPath}
	go func() {
		_ = cmd.Wait()
		f.Close()
		close(c.done)
	}()
	for _, w := range waits {
		if err := c.waitHTTP(w.url, w.want, 60*time.Second); err != nil {
			c.stop()
			return nil, fmt.Errorf("%v\n---- caddy log (%s):\n%s", err, name, c.tail(30))
		}
	}
	return c, nil
}

func adminReady(port int) waitFor {
	return waitFor{fmt.Sprintf("http://127.0.0.1:%d/config/", port), 200}
}

func sandboxReady(p ports) waitFor {
	return waitFor{fmt.Sprintf("http://127.0.0.1:%d/sandbox/payabl/_sandbox/payments", p.sandbox), 200}
}

func gatewayReady(p ports) waitFor {
	return waitFor{fmt.Sprintf("http://127.0.0.1:%d/payments", p.gateway), http.StatusUnauthorized}
}

func (c *caddyProc) exited() bool {
	if c == nil {
		return false
	}
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

func (c *caddyProc) waitHTTP(url string, want int, timeout time.Duration) error {
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if c.exited() {
			return errors.New("caddy exited while starting")
		}
		if resp, err := client.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == want {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("%s did not answer %d within %s", url, want, timeout)
}

// stop ends Caddy (SIGTERM, then SIGKILL to its process group).
func (c *caddyProc) stop() {
	if c == nil || c.cmd == nil || c.cmd.Process == nil {
		return
	}
	c.stopped = true
	if c.exited() {
		return
	}
	_ = c.cmd.Process.Signal(os.Interrupt)
	select {
	case <-c.done:
	case <-time.After(5 * time.Second):
		killGroup(c.cmd.Process.Pid)
		<-c.done
	}
}

// tail returns the last n lines of Caddy's log.
func (c *caddyProc) tail(n int) string {
	b, _ := os.ReadFile(c.log)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// countLog counts log lines containing s.
func (c *caddyProc) countLog(s string) int {
	b, _ := os.ReadFile(c.log)
	return bytes.Count(b, []byte(s))
}

// cpuTicks is the process's user+system time in clock ticks
// (/proc/<pid>/stat fields 14 and 15).
func cpuTicks(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// the command name (field 2) may hold spaces; fields follow its ')'
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, errors.New("unexpected /proc stat format")
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0, errors.New("unexpected /proc stat format")
	}
	// f[0] is field 3 (state): utime is field 14, stime field 15
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, errors.New("unexpected /proc stat format")
	}
	return ut + st, nil
}

// clockTicks is USER_HZ; 100 on every Linux architecture Go supports.
const clockTicks = 100

// rssKiB reads VmRSS from /proc/<pid>/status.
func rssKiB(pid int) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			return strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		}
	}
	return 0, errors.New("no VmRSS in /proc status")
}

// memstats reads Go runtime counters from Caddy's admin /metrics.
type memstats struct {
	mallocs    float64 // go_memstats_mallocs_total
	heapAlloc  float64 // go_memstats_heap_alloc_bytes
	heapInuse  float64 // go_memstats_heap_inuse_bytes
	goroutines float64 // go_goroutines
	nextGC     float64 // go_memstats_next_gc_bytes: the heap goal, twice the heap live after the last GC (GOGC 100)
	outbox     float64 // caddy_payments_outbox_depth (-1 if absent)
}

func readMemstats(adminPort int) (memstats, error) {
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", adminPort))
	if err != nil {
		return memstats{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return memstats{}, fmt.Errorf("admin /metrics: %d", resp.StatusCode)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return memstats{}, err
	}
	m := memstats{outbox: -1}
	found := 0
	for line := range strings.SplitSeq(string(b), "\n") {
		name, val, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		switch name {
		case "go_memstats_mallocs_total":
			m.mallocs, _ = strconv.ParseFloat(strings.TrimSpace(val), 64)
			found++
		case "go_memstats_heap_alloc_bytes":
			m.heapAlloc, _ = strconv.ParseFloat(strings.TrimSpace(val), 64)
			found++
		case "go_memstats_heap_inuse_bytes":
			m.heapInuse, _ = strconv.ParseFloat(strings.TrimSpace(val), 64)
		case "go_memstats_next_gc_bytes":
			m.nextGC, _ = strconv.ParseFloat(strings.TrimSpace(val), 64)
		case "go_goroutines":
			m.goroutines, _ = strconv.ParseFloat(strings.TrimSpace(val), 64)
		case "caddy_payments_outbox_depth":
			m.outbox, _ = strconv.ParseFloat(strings.TrimSpace(val), 64)
		}
	}
	if found < 2 {
		return m, errors.New("admin /metrics has no go_memstats counters")
	}
	return m, nil
}
