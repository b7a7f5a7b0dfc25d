//go:build unix

package faulttest

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
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

// sandboxSite is the sandbox instance S: payabl., Razorpay and PaySage,
// with a short slow_delay so the timeout magic values cost seconds, not
// minutes. Razorpay's webhooks are account-level (set in its dashboard),
// so they go to webhook_url: the gateways' public URL, the balancer at
// publicPort. payabl. and PaySage are told their notification URL with
// each payment. Secrets come from the environment (setProviderSecrets).
func sandboxSite(publicPort int) string {
	return fmt.Sprintf(`	payments_sandbox {
		slow_delay 3s
		payabl {
			merchant_id gateway_test
			secret b185
		}
		razorpay {
			key_id %s
			key_secret {env.FAULTTEST_RAZORPAY_KEY_SECRET}
			webhook_secret {env.FAULTTEST_RAZORPAY_WEBHOOK_SECRET}
			webhook_url http://127.0.0.1:%d/notifications/razorpay
		}
		paysage {
			shop_id %s
			secret_key {env.FAULTTEST_PAYSAGE_SECRET_KEY}
		}
	}`, razorpayKeyID, publicPort, paysageShopID)
}

// The provider accounts S emulates and the gateways use.
const (
	razorpayKeyID = "rzp_test_faulttest"
	paysageShopID = "361"
)

// setProviderSecrets puts fresh Razorpay and PaySage secrets in the
// environment the Caddy processes inherit; S and the gateways read them
// as {env.*}.
func setProviderSecrets(t *testing.T) {
	t.Setenv("FAULTTEST_RAZORPAY_KEY_SECRET", "rzp_"+randomHex(t, 16))
	t.Setenv("FAULTTEST_RAZORPAY_WEBHOOK_SECRET", "rzpwh_"+randomHex(t, 16))
	t.Setenv("FAULTTEST_PAYSAGE_SECRET_KEY", "ps_"+randomHex(t, 16))
}

// paysagePublicKey reads the sandbox's webhook signing public key, as a
// shop copies it from PaySage's back office into public_key.
func paysagePublicKey(t *testing.T, sandboxBase string) string {
	t.Helper()
	resp, err := http.Get(sandboxBase + "/sandbox/paysage/_sandbox/public_key")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	key := strings.TrimSpace(string(b))
	if resp.StatusCode != http.StatusOK || key == "" || strings.ContainsAny(key, " \n{}") {
		t.Fatalf("PaySage public key from the sandbox: %d %q", resp.StatusCode, key)
	}
	return key
}

// gatewaySite is a gateway instance: payabl., Razorpay and PaySage at the
// sandbox, events to the shop, notifications and returns through the load
// balancer (public_url), short retry and reconcile schedules so a run
// takes seconds. Secrets come from the environment ({env.*}), as in
// production; paysageKey is the sandbox's public key (not a secret).
// storage is the storage directive(s). The shop learns which instance
// delivered an event from the X-Faulttest-Instance header.
func gatewaySite(name string, sandboxPort, lbPort, shopPort int, paysageKey, storage string) string {
	return fmt.Sprintf(`	payments {
		provider payabl {
			merchant_id gateway_test
			secret b185
			endpoint http://127.0.0.1:%[1]d/sandbox/payabl/pay/backoffice
		}
		provider razorpay {
			key_id %[6]s
			key_secret {env.FAULTTEST_RAZORPAY_KEY_SECRET}
			webhook_secret {env.FAULTTEST_RAZORPAY_WEBHOOK_SECRET}
			endpoint http://127.0.0.1:%[1]d/sandbox/razorpay
		}
		provider paysage {
			shop_id %[7]s
			secret_key {env.FAULTTEST_PAYSAGE_SECRET_KEY}
			public_key %[8]s
			test
			endpoint http://127.0.0.1:%[1]d/sandbox/paysage
		}
		api_token {env.FAULTTEST_API_TOKEN}
		forward_secret {env.FAULTTEST_WHSEC}
		public_url http://127.0.0.1:%[2]d
		timeout 2s
		retry_schedule 200ms 500ms 1s
		reconcile_schedule 1s
%[3]s
	}
	reverse_proxy 127.0.0.1:%[4]d {
		header_up X-Faulttest-Instance %[5]s
	}`, sandboxPort, lbPort, storage, shopPort, name, razorpayKeyID, paysageShopID, paysageKey)
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
