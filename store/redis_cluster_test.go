package store_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/caddy-payments/caddy-payments/internal/redistest"
	"github.com/caddy-payments/caddy-payments/store"
	"github.com/caddy-payments/caddy-payments/store/storetest"
)

// testCluster is one three-primary cluster shared by the cluster tests of
// this package (started on first use, stopped by TestMain's cleanup
// through t.Cleanup of the first test: each test that needs it calls
// clusterAddrs).
var testCluster struct {
	once sync.Once
	c    *redistest.Cluster
	err  error
}

// clusterAddrs returns the seed addresses of the shared cluster (three
// primaries, no replicas), starting it the first time.
func clusterAddrs(t *testing.T) []string {
	t.Helper()
	testCluster.once.Do(func() {
		testCluster.c, testCluster.err = redistest.StartCluster(3, 0)
	})
	switch {
	case testCluster.err == redistest.ErrNotInstalled && !redistest.Required():
		t.Skip(testCluster.err)
	case testCluster.err != nil:
		t.Fatalf("starting a redis cluster: %v", testCluster.err)
	}
	return testCluster.c.Addrs()
}

var clusterSeq sync.Map

// openCluster opens a cluster store with a fresh hash-tagged prefix,
// seeded with one node only (the client learns the rest).
func openCluster(t *testing.T) *store.Redis {
	t.Helper()
	addrs := clusterAddrs(t)
	n, _ := clusterSeq.LoadOrStore(t.Name(), new(int))
	*(n.(*int))++
	prefix := fmt.Sprintf("{t%d%s}:", *(n.(*int)), strings.ReplaceAll(t.Name(), "/", "."))
	r, err := store.OpenRedis(store.RedisOptions{Addr: addrs[0], Cluster: true, KeyPrefix: prefix})
	if err != nil {
		t.Fatalf("OpenRedis (cluster): %v", err)
	}
	t.Cleanup(func() { _ = r.Close() })
	return r
}

// TestRedisClusterSuite runs the conformance suite every store passes
// against a real three-primary Redis Cluster: every script's keys must
// share one slot (a cross-slot script fails with CROSSSLOT), and the
// stores of the sub-tests spread over the primaries.
func TestRedisClusterSuite(t *testing.T) {
	clusterAddrs(t)
	storetest.Run(t, func(t *testing.T) store.Store { return openCluster(t) })
}

// TestRedisClusterKeysShareTheirSlot checks every key a cluster store
// wrote lives in the key prefix's slot, and that stores with different
// prefixes land on different primaries (the cluster spreads gateways,
// not one gateway's keys).
func TestRedisClusterKeysShareTheirSlot(t *testing.T) {
	addrs := clusterAddrs(t)
	ctx := context.Background()
	cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs, Protocol: 2})
	defer cc.Close()
	masters := map[string]bool{}
	for i := range 12 {
		prefix := fmt.Sprintf("{slot-test-%d}:", i)
		r, err := store.OpenRedis(store.RedisOptions{Addr: addrs[0], ClusterAddrs: addrs[1:], Cluster: true, KeyPrefix: prefix})
		if err != nil {
			t.Fatal(err)
		}
		fillStore(t, r)
		_ = r.Close()
		want := cc.ClusterKeySlot(ctx, prefix).Val()
		node, err := cc.MasterForKey(ctx, prefix)
		if err != nil {
			t.Fatal(err)
		}
		masters[node.Options().Addr] = true
		var keys []string
		iter := node.Scan(ctx, 0, "*"+strings.Trim(prefix, "{}:")+"*", 100).Iterator()
		for iter.Next(ctx) {
			keys = append(keys, iter.Val())
		}
		if len(keys) < 5 {
			t.Fatalf("prefix %s: only %d keys written: %v", prefix, len(keys), keys)
		}
		for _, k := range keys {
			if got := cc.ClusterKeySlot(ctx, k).Val(); got != want {
				t.Errorf("key %q in slot %d, want the prefix's %d", k, got, want)
			}
		}
	}
	if len(masters) < 2 {
		t.Errorf("12 prefixes all on one primary (%v): the hash tag should spread gateways", masters)
	}
}

// TestRedisClusterRefusesUntaggedPrefix: without a hash tag, the keys of
// one script would hash to different slots; refused at open, naming the
// fix. db other than 0 is refused too.
func TestRedisClusterRefusesUntaggedPrefix(t *testing.T) {
	addrs := clusterAddrs(t)
	for _, c := range []struct {
		opts store.RedisOptions
		want string
	}{
		{store.RedisOptions{Addr: addrs[0], Cluster: true, KeyPrefix: "shop1:"}, `e.g. "{shop1}:"`},
		{store.RedisOptions{Addr: addrs[0], Cluster: true, KeyPrefix: "{}:"}, "no hash tag"},
		{store.RedisOptions{Addr: addrs[0], Cluster: true, DB: 2}, "db must be 0"},
		{store.RedisOptions{Addr: addrs[0], ClusterAddrs: addrs[1:]}, "only for a cluster"},
	} {
		if _, err := store.OpenRedis(c.opts); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: err %v, want one containing %q", c.opts, err, c.want)
		}
	}
	// The default prefix in cluster mode carries its tag.
	r, err := store.OpenRedis(store.RedisOptions{Addr: addrs[0], Cluster: true})
	if err != nil {
		t.Fatalf("default cluster prefix: %v", err)
	}
	_ = r.Close()
}

// fillStore writes one of each kind of record through the store's own
// operations: an idempotency key, a payment with its reconcile check,
// launch token and stored answer (one Commit), a queued event.
func fillStore(t *testing.T, s *store.Redis) {
	t.Helper()
	ctx := context.Background()
	now := time.Now().UTC()
	if _, _, err := s.BeginIdempotent(ctx, "idem:payments:k1", "fp", time.Hour); err != nil {
		t.Fatal(err)
	}
	rec := storetest.Payment("pay_fill", 1000)
	check := &store.ReconcileCheck{ID: rec.ID, Provider: rec.Provider, Server: "srv0", Host: "shop.example",
		Path: "/notifications/x", NextAt: now.Add(time.Minute), Created: now}
	if err := s.Commit(ctx, &store.Writes{Payment: rec, Checks: []*store.ReconcileCheck{check},
		Once:   []store.OnceWrite{{Key: "launch:x:pay_fill", Data: []byte("{}"), TTL: time.Hour}},
		Finish: &store.IdempotentFinish{Key: "idem:payments:k1", Status: 201, ContentType: "application/json", Body: []byte("{}")}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.EnqueueEvent(ctx, &store.OutboxEntry{EventID: "evt_fill", Provider: "fake", EventType: "payment.succeeded",
		Body: []byte(`{"id":"evt_fill"}`), NextAt: now, Created: now}); err != nil {
		t.Fatal(err)
	}
}
