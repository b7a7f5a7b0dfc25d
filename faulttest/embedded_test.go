//go:build unix

package faulttest

import (
	"context"
	"encoding/base64"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestKillRestartEmbeddedStore: one gateway on the default embedded store
// (bbolt). With the shop down, a payment's notifications are stored and
// payabl is acknowledged; the gateway is killed with SIGKILL, the shop
// comes back, the gateway is restarted on the same file, and both events
// reach the shop, once each, correctly signed.
func TestKillRestartEmbeddedStore(t *testing.T) {
	if os.Getenv("PAYMENTS_FAULT_TEST") != "1" {
		t.Skip("set PAYMENTS_FAULT_TEST=1 to run the fault tests (they build and run real Caddy processes)")
	}
	if testing.Short() {
		t.Skip("not with -short")
	}
	dir := t.TempDir()
	bin := buildCaddy(t, dir)
	token := "ft_" + randomHex(t, 24)
	whsec := "whsec_" + base64.StdEncoding.EncodeToString(randomBytes(t, 32))
	t.Setenv("FAULTTEST_API_TOKEN", token)
	t.Setenv("FAULTTEST_WHSEC", whsec)
	setProviderSecrets(t)

	sh := newShop(whsec, time.Hour, 0) // never down by schedule
	sh.forceDown.Store(true)
	shopSrv := httptest.NewServer(sh)
	t.Cleanup(shopSrv.Close)
	shopPort := shopSrv.Listener.Addr().(*net.TCPAddr).Port

	gPort := freePort(t)
	s := newCaddy(t, bin, dir, "S", freePort(t), freePort(t), sandboxSite(gPort))
	s.readyPath, s.readyStatus = "/sandbox/payabl/_sandbox/payments", http.StatusOK
	mustRun(t, s)
	g := newCaddy(t, bin, dir, "G", freePort(t), gPort,
		gatewaySite("G", s.httpPort, gPort, shopPort, paysagePublicKey(t, s.base()), boltStorage(filepath.Join(dir, "G.db"))))
	g.readyPath, g.readyStatus = "/payments", http.StatusUnauthorized
	mustRun(t, g)

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	w := &world{lb: g.base(), a: g.base(), b: g.base(), sandbox: s.base(),
		cl: &client{token: token, http: &http.Client{Timeout: 15 * time.Second}}}
	p := &payment{ref: "FT-EMB-" + randomHex(t, 3), amount: 2490, copies: 1, ids: map[string]bool{}}
	w.create(ctx, p)
	if p.id() == "" || p.tx == "" {
		t.Fatalf("create: %v", p.problems)
	}
	if !w.decide(ctx, p, p.tx, "approve") {
		t.Fatalf("approve: %v", p.problems)
	}

	// Both notifications (not_credited_yet, then credited) are acknowledged
	// with "OK" although the shop refused both events.
	acked := func() int {
		txns, err := sandboxTxns(s.base())
		if err != nil {
			return 0
		}
		n := 0
		for _, tx := range txns {
			if tx.OrderID == p.ref {
				for _, no := range tx.Notifications {
					if no.Acknowledged {
						n++
					}
				}
			}
		}
		return n
	}
	for acked() < 2 {
		if !pause(ctx, 100*time.Millisecond) {
			t.Fatalf("payabl's two notifications were not acknowledged while the shop was down (%d were)\n%s", acked(), g.tail(30))
		}
	}
	if sh.has(p.id(), "payment.processing") || sh.has(p.id(), "payment.succeeded") {
		t.Fatal("the shop accepted an event while it was down")
	}

	g.kill()
	sh.forceDown.Store(false)
	if err := g.run(t); err != nil {
		t.Fatalf("restarting G on the same state file: %v", err)
	}
	for !sh.has(p.id(), "payment.processing") || !sh.has(p.id(), "payment.succeeded") {
		if !pause(ctx, 200*time.Millisecond) {
			t.Fatalf("the stored events never reached the shop after the restart\n%s", g.tail(40))
		}
	}
	time.Sleep(2 * time.Second) // a second delivery would show up now
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.reaccepts != 0 || len(sh.badSig) != 0 || len(sh.accepted) != 2 {
		t.Fatalf("after the restart the shop accepted %d events (want 2), %d again, bad signatures %v",
			len(sh.accepted), sh.reaccepts, sh.badSig)
	}
	t.Logf("kill -9 with the embedded store: 2 events stored while the shop was down, delivered after the restart; %d delivery attempts, %d refused", sh.attempts, sh.refused)
}
