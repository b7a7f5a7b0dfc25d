//go:build unix

package faulttest

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// caddy is one Caddy process started from a generated Caddyfile.
type caddy struct {
	proc
	adminPort, httpPort int
	readyPath           string // polled on httpPort until it answers
	readyStatus         int
}

// base is the instance's own HTTP address.
func (c *caddy) base() string { return fmt.Sprintf("http://127.0.0.1:%d", c.httpPort) }

// newCaddy writes a Caddyfile made of the global options every instance
// needs and site, and prepares (does not start) the process. Each instance
// gets its own admin port, data and config directories, so nothing is
// shared through the file system and nothing outside dir is written.
func newCaddy(t *testing.T, bin, dir, name string, adminPort, httpPort int, site string) *caddy {
	t.Helper()
	home := filepath.Join(dir, name)
	if err := os.MkdirAll(home, 0o700); err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf(`{
	admin 127.0.0.1:%d
	persist_config off
	auto_https off
	skip_install_trust
	grace_period 1ns
	storage file_system %s
}

http://127.0.0.1:%d {
	bind 127.0.0.1
%s
}
`, adminPort, filepath.Join(home, "certmagic"), httpPort, site)
	file := filepath.Join(home, "Caddyfile")
	if err := os.WriteFile(file, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return &caddy{
		proc: proc{
			name: name,
			argv: []string{bin, "run", "--config", file, "--adapter", "caddyfile"},
			env:  []string{"HOME=" + home, "XDG_DATA_HOME=" + home, "XDG_CONFIG_HOME=" + home},
			log:  filepath.Join(home, "caddy.log"),
		},
		adminPort: adminPort, httpPort: httpPort,
	}
}

// run starts the instance and waits until its admin API and its site
// answer. A config that does not load is an error quoting the log's end.
// It does not call t.Fatal, so a goroutine may use it to restart.
func (c *caddy) run(t *testing.T) error {
	err := c.start(t)
	if err == nil {
		err = waitHTTP(&c.proc, fmt.Sprintf("http://127.0.0.1:%d/config/", c.adminPort), 200, 30*time.Second)
	}
	if err == nil {
		err = waitHTTP(&c.proc, c.base()+c.readyPath, c.readyStatus, 30*time.Second)
	}
	if err != nil {
		return fmt.Errorf("%v\n---- %s log:\n%s", err, c.name, c.tail(40))
	}
	return nil
}

// sandboxSite is the sandbox instance S: payabl only, with a short
// slow_delay so the timeout magic value costs seconds, not minutes.
func sandboxSite() string {
	return `	payments_sandbox {
		slow_delay 3s
		payabl {
			merchant_id gateway_test
			secret b185
		}
	}`
}

// gatewaySite is a gateway instance: payabl at the sandbox, events to the
// shop, notifications and returns through the load balancer (public_url),
// short retry and reconcile schedules so a run takes seconds. Secrets come
// from the environment ({env.*}), as in production. storage is the storage
// directive(s). The shop learns which instance delivered an event from the
// X-Faulttest-Instance header.
func gatewaySite(name string, sandboxPort, lbPort, shopPort int, storage string) string {
	return fmt.Sprintf(`	payments {
		provider payabl {
			merchant_id gateway_test
			secret b185
			endpoint http://127.0.0.1:%d/sandbox/payabl/pay/backoffice
		}
		api_token {env.FAULTTEST_API_TOKEN}
		forward_secret {env.FAULTTEST_WHSEC}
		public_url http://127.0.0.1:%d
		timeout 2s
		retry_schedule 200ms 500ms 1s
		reconcile_schedule 1s
%s
	}
	reverse_proxy 127.0.0.1:%d {
		header_up X-Faulttest-Instance %s
	}`, sandboxPort, lbPort, storage, shopPort, name)
}

// redisStorage is the shared store both gateways use.
func redisStorage(redisPort int) string {
	return fmt.Sprintf(`		storage redis 127.0.0.1:%d {
			password {env.FAULTTEST_REDIS_PASSWORD}
			key_prefix faulttest:
		}`, redisPort)
}

// boltStorage is a per-instance embedded store (PAYMENTS_FAULT_STORE=bolt):
// two instances then share nothing, which shows what the shared store is
// for (duplicates reach payabl).
func boltStorage(path string) string {
	return "\t\tstorage_path " + path
}
