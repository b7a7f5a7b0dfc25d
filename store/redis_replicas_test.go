package store_test

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/caddy-payments/caddy-payments/internal/redistest"
	"github.com/caddy-payments/caddy-payments/store"
	"github.com/caddy-payments/caddy-payments/store/storetest"
)

// replicaOf finds the node of c that replicates primary (INFO
// replication's slave0 line names its port).
func replicaOf(t *testing.T, c *redistest.Cluster, primary *redis.Client) *redistest.Server {
	t.Helper()
	info := primary.Info(context.Background(), "replication").Val()
	m := regexp.MustCompile(`slave0:ip=([^,]+),port=(\d+)`).FindStringSubmatch(info)
	if m == nil {
		t.Fatalf("primary %s has no replica:\n%s", primary.Options().Addr, info)
	}
	for _, n := range c.Nodes {
		if n.Addr == m[1]+":"+m[2] {
			return n
		}
	}
	t.Fatalf("replica %s:%s is none of the cluster's nodes", m[1], m[2])
	return nil
}

func nodeOf(t *testing.T, c *redistest.Cluster, addr string) *redistest.Server {
	t.Helper()
	for _, n := range c.Nodes {
		if n.Addr == addr {
			return n
		}
	}
	t.Fatalf("no node %s", addr)
	return nil
}

// TestRedisClusterFailover runs guarded writes (idempotency claims and
// outbox entries, each acknowledged by a replica through WAIT) against a
// three-primary cluster with two replicas each, kills the primary that
// holds the store's slot with SIGKILL in the middle, and checks after the
// replica took over: every write the store reported done is there (0
// lost), and no claim the store reported taken can be taken a second
// time (0 double effects). Writes during the failover may fail; they
// must fail, not succeed twice.
func TestRedisClusterFailover(t *testing.T) {
	c := redistest.StartClusterT(t, 3, 2) // two replicas each: after the takeover, the new primary still has one for WAIT
	ctx := context.Background()
	s, err := store.OpenRedis(store.RedisOptions{Addr: c.Nodes[0].Addr, Cluster: true, KeyPrefix: "{failover}:",
		Replicas: store.ReplicasDefault, ReplicaTimeout: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.Addrs(), Protocol: 2})
	defer cc.Close()
	primary, err := cc.MasterForKey(ctx, "{failover}:")
	if err != nil {
		t.Fatal(err)
	}
	victim := nodeOf(t, c, primary.Options().Addr)

	var claimed, queued []string
	failed := 0
	var lastErr error
	write := func(i int) {
		key := fmt.Sprintf("idem:payments:k%d", i)
		wctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		defer cancel()
		if _, taken, err := s.BeginIdempotent(wctx, key, "fp", time.Hour); err == nil && taken {
			claimed = append(claimed, key)
		} else if err != nil {
			failed++
			lastErr = err
		}
		id := fmt.Sprintf("evt_%d", i)
		now := time.Now().UTC()
		if stored, err := s.EnqueueEvent(wctx, &store.OutboxEntry{EventID: id, Provider: "fake", EventType: "payment.succeeded",
			Body: []byte(`{}`), NextAt: now.Add(time.Hour), Created: now}); err == nil && stored {
			queued = append(queued, id)
		} else if err != nil {
			failed++
			lastErr = err
		}
	}
	i := 0
	for ; i < 200; i++ {
		write(i)
	}
	if len(claimed) != 200 || len(queued) != 200 {
		t.Fatalf("before the failover: %d claims, %d events of 200 (%d failures)", len(claimed), len(queued), failed)
	}
	victim.Stop() // SIGKILL
	deadline := time.Now().Add(30 * time.Second)
	for ok := 0; ok < 50; i++ { // until 50 rounds in a row succeed after the takeover
		if time.Now().After(deadline) {
			t.Fatalf("no recovery within 30s of killing the primary (%d failures, the last: %v)", failed, lastErr)
		}
		before := failed
		write(i)
		if failed == before {
			ok++
		} else {
			ok = 0
			time.Sleep(100 * time.Millisecond)
		}
	}
	t.Logf("%d rounds, %d failed writes during the failover, %d claims and %d events acknowledged", i, failed, len(claimed), len(queued))

	for _, key := range claimed {
		if _, taken, err := s.BeginIdempotent(ctx, key, "fp", time.Hour); err != nil || taken {
			t.Fatalf("claim %s, acknowledged before, taken again after the failover (taken=%v err=%v): a second provider call", key, taken, err)
		}
	}
	for _, id := range queued {
		if stored, err := s.EnqueueEvent(ctx, &store.OutboxEntry{EventID: id, Provider: "fake", EventType: "payment.succeeded",
			Body: []byte(`{}`), NextAt: time.Now().Add(time.Hour), Created: time.Now()}); err != nil || stored {
			t.Fatalf("event %s, acknowledged before, lost in the failover (stored again=%v err=%v)", id, stored, err)
		}
	}
}

// TestRedisReplicasWait: with replicas 1, a guarded write returns only
// when a replica has it; with the replica gone it fails (naming WAIT)
// instead of reporting done; opening asks for the replicas to exist.
func TestRedisReplicasWait(t *testing.T) {
	primary := redistest.StartT(t)
	host, port, _ := strings.Cut(primary.Addr, ":")
	replica := redistest.StartT(t, "--replicaof", host, port)
	c := redis.NewClient(&redis.Options{Addr: primary.Addr, Protocol: 2})
	defer c.Close()
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(c.Info(context.Background(), "replication").Val(), "state=online"); {
		if time.Now().After(deadline) {
			t.Fatal("the replica did not connect")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if _, err := store.OpenRedis(store.RedisOptions{Addr: primary.Addr, Replicas: 2}); err == nil || !strings.Contains(err.Error(), "has 1 replica(s) in sync") {
		t.Fatalf("replicas 2 with one replica: %v", err)
	}
	s, err := store.OpenRedis(store.RedisOptions{Addr: primary.Addr, Replicas: 1, ReplicaTimeout: 300 * time.Millisecond, KeyPrefix: "wait:"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	if _, taken, err := s.BeginIdempotent(ctx, "idem:payments:a", "fp", time.Hour); err != nil || !taken {
		t.Fatalf("guarded write with the replica up: taken=%v err=%v", taken, err)
	}
	rc := redis.NewClient(&redis.Options{Addr: replica.Addr, Protocol: 2})
	defer rc.Close()
	if v := rc.Exists(ctx, "wait:idem:idem:payments:a").Val(); v != 1 {
		t.Errorf("the replica lacks the claim the store reported done (EXISTS %d)", v)
	}
	replica.Stop()
	_, _, err = s.BeginIdempotent(ctx, "idem:payments:b", "fp", time.Hour)
	if err == nil || !strings.Contains(err.Error(), "WAIT") {
		t.Fatalf("guarded write with no replica: err %v, want a WAIT failure", err)
	}
	// The refused claim is freed on the primary: a retry is not told
	// "outcome unknown" for a request that sent nothing.
	if v := c.Exists(ctx, "wait:idem:idem:payments:b").Val(); v != 0 {
		t.Error("the claim of a refused request stays in flight on the primary")
	}
	if _, err := s.PutPayment(ctx, storetest.Payment("pay_w", 1000)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ReserveRefund(ctx, "pay_w", "rf1", 400); err == nil || !strings.Contains(err.Error(), "WAIT") {
		t.Fatalf("refund reservation with no replica: %v, want a WAIT failure", err)
	}
	// ... and its amount is given back: the whole 1000 can still be reserved.
	rec, err := s.GetPayment(ctx, "pay_w")
	if err != nil {
		t.Fatal(err)
	}
	if len(rec.Refunds) != 0 || rec.AmountRefunded != 0 {
		t.Errorf("a refused reservation is still held: %v, %d refunded", rec.Refunds, rec.AmountRefunded)
	}
}
