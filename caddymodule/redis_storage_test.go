package caddymodule

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/caddy-payments/caddy-payments/internal/redistest"
	"github.com/caddy-payments/caddy-payments/providers/fake"
)

const redisTestPassword = "redis-pass-never-shown"

// TestRedisStorageSharedBetweenGateways runs two payments handlers (two
// sites, as two instances behind a load balancer would be) on one Redis:
// a payment created through one is found, replayed and refunded through
// the other, concurrent refunds on both never exceed what was paid, and
// the records sit under the configured key prefix.
func TestRedisStorageSharedBetweenGateways(t *testing.T) {
	addr := redistest.StartT(t, "--requirepass", redisTestPassword).Addr
	t.Setenv("PAYMENTS_TEST_REDIS_PASSWORD", redisTestPassword)
	id := sharedGateways(t, fmt.Sprintf("storage redis %s {\npassword {env.PAYMENTS_TEST_REDIS_PASSWORD}\nkey_prefix gwtest:\n}", addr))

	// The state is in Redis, under the prefix.
	c := redis.NewClient(&redis.Options{Addr: addr, Password: redisTestPassword})
	defer c.Close()
	raw, err := c.Get(context.Background(), "gwtest:payment:"+id).Bytes()
	if err != nil || !strings.Contains(string(raw), "ORD-SHARED-1") {
		t.Fatalf("payment record in Redis: %v %s", err, raw)
	}

	// The password never appears in the running config.
	resp, err := http.Get("http://localhost:2999/config/")
	if err != nil {
		t.Fatal(err)
	}
	cfg, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if bytes.Contains(cfg, []byte(redisTestPassword)) || !bytes.Contains(cfg, []byte("{env.PAYMENTS_TEST_REDIS_PASSWORD}")) {
		t.Fatalf("the running config shows the Redis password or lost its placeholder:\n%s", cfg)
	}
}

// TestRedisClusterStorageSharedBetweenGateways is the same run on a real
// Redis Cluster (three primaries, one replica each), with the default
// replicas 1: every guarded write waits for a replica (WAIT).
func TestRedisClusterStorageSharedBetweenGateways(t *testing.T) {
	c := redistest.StartClusterT(t, 3, 1)
	addrs := c.Addrs()
	id := sharedGateways(t, fmt.Sprintf("storage redis %s %s {\ncluster\nkey_prefix {gwcluster}:\n}", addrs[0], addrs[3]))

	cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs})
	defer cc.Close()
	raw, err := cc.Get(context.Background(), "{gwcluster}:payment:"+id).Bytes()
	if err != nil || !strings.Contains(string(raw), "ORD-SHARED-1") {
		t.Fatalf("payment record in the cluster: %v %s", err, raw)
	}
}

// sharedGateways runs two payments handlers on the storage directive
// given and returns the id of the payment it made (reference
// ORD-SHARED-1).
func sharedGateways(t *testing.T, storage string) string {
	t.Helper()
	fs := fake.NewServer(fakeSecret)
	var creates atomic.Int32
	fsrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && r.URL.Path == "/payments" {
			creates.Add(1)
		}
		fs.ServeHTTP(w, r)
	}))
	t.Cleanup(fsrv.Close)
	sh := newShop(t)
	site := func(port int) string {
		return fakeSite(t, port, fsrv.URL, sh.srv.URL, "retry_schedule 300ms\n"+storage)
	}
	loadCaddy(t, site(9080)+site(9081))

	// callOn calls the gateway listening on port.
	callOn := func(port int, method, path, key string, body any) (int, http.Header, map[string]any) {
		t.Helper()
		var rd io.Reader
		if body != nil {
			buf, _ := json.Marshal(body)
			rd = bytes.NewReader(buf)
		}
		req, _ := http.NewRequest(method, fmt.Sprintf("http://localhost:%d%s", port, path), rd)
		req.Header.Set("Authorization", "Bearer "+testToken)
		if key != "" {
			req.Header.Set("Idempotency-Key", key)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		defer resp.Body.Close()
		var out map[string]any
		raw, _ := io.ReadAll(resp.Body)
		if err := json.Unmarshal(raw, &out); err != nil {
			t.Fatalf("%s %s: not JSON (%d): %s", method, path, resp.StatusCode, raw)
		}
		return resp.StatusCode, resp.Header, out
	}

	code, _, pay := callOn(9080, "POST", "/payments", "redis-key-1", fakePayment("ORD-SHARED-1", 2000))
	if code != 201 {
		t.Fatalf("create on A: %d %v", code, pay)
	}
	id := pay["id"].(string)

	// The same key on the other instance is replayed from Redis, not sent again.
	code, h, again := callOn(9081, "POST", "/payments", "redis-key-1", fakePayment("ORD-SHARED-1", 2000))
	if code != 201 || h.Get("Idempotent-Replayed") != "true" || again["id"] != id {
		t.Fatalf("replay on B: %d %v %v", code, h, again)
	}
	code, _, conflict := callOn(9081, "POST", "/payments", "redis-key-1", fakePayment("ORD-SHARED-1", 2001))
	if code != 409 || errField(conflict, "type") != "idempotency_conflict" {
		t.Fatalf("conflict on B: %d %v", code, conflict)
	}
	if n := creates.Load(); n != 1 {
		t.Fatalf("the provider saw %d creates, want 1", n)
	}

	// B finds what A created; the notification (sent to A) moves it for both.
	if _, err := fs.Checkout(context.Background(), pay["provider_reference"].(string), true); err != nil {
		t.Fatal(err)
	}
	code, _, got := callOn(9081, "GET", "/payments/"+id, "", nil)
	if code != 200 || got["status"] != "succeeded" || got["amount"] != float64(2000) {
		t.Fatalf("get on B: %d %v", code, got)
	}
	// Its event reaches the shop, signed (through the outbox if the
	// delivery inside the notification failed).
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		evs := sh.Events()
		if len(evs) > 0 && bytes.Contains(evs[0].Body, []byte(id)) && evs[0].Verified == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the shop got no verified event about %s: %+v", id, evs)
		}
	}

	// Twenty concurrent refunds of 150, alternating between the instances,
	// against 2000 paid: exactly 13 pass (1950), the rest are refused.
	var wg sync.WaitGroup
	results := make(chan int, 20)
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			code, _, _ := callOn(9080+i%2, "POST", "/payments/"+id+"/refunds", "", map[string]any{"amount": 150})
			results <- code
		}()
	}
	wg.Wait()
	close(results)
	ok, refused := 0, 0
	for c := range results {
		switch c {
		case 201:
			ok++
		case 400:
			refused++
		default:
			t.Errorf("refund answered %d", c)
		}
	}
	if ok != 13 || refused != 7 {
		t.Fatalf("concurrent refunds: %d passed, %d refused; want 13 and 7", ok, refused)
	}
	code, _, got = callOn(9080, "GET", "/payments/"+id, "", nil)
	if code != 200 || got["amount_refunded"] != float64(1950) {
		t.Fatalf("amount_refunded: %d %v", code, got)
	}

	return id
}
