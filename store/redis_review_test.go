package store_test

// Adversarial review of the Redis Cluster / WAIT change (c58695e, 5a18d9d).
// Every test here fails on main at c99824f and names the defect it shows.

import (
	"context"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/caddy-payments/caddy-payments/internal/redistest"
	"github.com/caddy-payments/caddy-payments/store"
)

// startPrimaryReplica starts a primary and one replica in sync with it.
func startPrimaryReplica(t *testing.T) (primary, replica *redistest.Server, pc, rc *redis.Client) {
	t.Helper()
	primary = redistest.StartT(t)
	host, port, _ := strings.Cut(primary.Addr, ":")
	replica = redistest.StartT(t, "--replicaof", host, port)
	pc = redis.NewClient(&redis.Options{Addr: primary.Addr, Protocol: 2})
	rc = redis.NewClient(&redis.Options{Addr: replica.Addr, Protocol: 2})
	t.Cleanup(func() { pc.Close(); rc.Close() })
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(pc.Info(context.Background(), "replication").Val(), "state=online"); {
		if time.Now().After(deadline) {
			t.Fatal("the replica did not connect")
		}
		time.Sleep(50 * time.Millisecond)
	}
	return primary, replica, pc, rc
}

// pidOf reads a server's process id from INFO server.
func pidOf(t *testing.T, c *redis.Client) int {
	t.Helper()
	m := regexp.MustCompile(`process_id:(\d+)`).FindStringSubmatch(c.Info(context.Background(), "server").Val())
	if m == nil {
		t.Fatal("no process_id in INFO server")
	}
	pid, _ := strconv.Atoi(m[1])
	return pid
}

// evalCalls is how many EVAL and EVALSHA commands c has run.
func evalCalls(t *testing.T, c *redis.Client) int {
	t.Helper()
	n := 0
	// Successful runs only: an EVALSHA answered NOSCRIPT (then sent
	// again as EVAL) is a failed call.
	for _, m := range regexp.MustCompile(`cmdstat_eval(?:sha)?:calls=(\d+),.*failed_calls=(\d+)`).FindAllStringSubmatch(c.Info(context.Background(), "commandstats").Val(), -1) {
		v, _ := strconv.Atoi(m[1])
		f, _ := strconv.Atoi(m[2])
		n += v - f
	}
	return n
}

// TestReviewTakeOnceSurvivesFailover: TakeOnce (the GETDEL that makes a
// checkout launch link work once, after which Razorpay's Launch makes a
// non-idempotent payment create) is not a guarded write: it does not WAIT.
// A replica cut off from the primary (a partition, before the cluster
// promotes it) still has the token; once promoted, the link works a
// second time: a second payment attempt. A claim in the same state is
// refused (WAIT), so the store's own rule says this take must be too.
func TestReviewTakeOnceSurvivesFailover(t *testing.T) {
	primary, replica, _, rc := startPrimaryReplica(t)
	ctx := context.Background()
	s, err := store.OpenRedis(store.RedisOptions{Addr: primary.Addr, Replicas: 1, ReplicaTimeout: 300 * time.Millisecond, KeyPrefix: "once:"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.PutOnce(ctx, "launch:razorpay:tok", []byte(`{"order_id":"order_1"}`), time.Hour); err != nil {
		t.Fatal(err)
	}
	// A guarded write makes sure the replica has the token.
	if _, _, err := s.BeginIdempotent(ctx, "sync", "fp", time.Hour); err != nil {
		t.Fatal(err)
	}
	// The replica loses its primary (partition), then is promoted.
	if err := rc.Do(ctx, "REPLICAOF", "NO", "ONE").Err(); err != nil {
		t.Fatal(err)
	}
	_, _, claimErr := s.BeginIdempotent(ctx, "idem:x", "fp", time.Hour)
	if claimErr == nil {
		t.Fatal("setup: a claim without a replica was reported done")
	}
	first, firstErr := s.TakeOnce(ctx, "launch:razorpay:tok")
	promoted, err := store.OpenRedis(store.RedisOptions{Addr: replica.Addr, Replicas: 0, KeyPrefix: "once:"})
	if err != nil {
		t.Fatal(err)
	}
	defer promoted.Close()
	second, secondErr := promoted.TakeOnce(ctx, "launch:razorpay:tok")
	if firstErr == nil && secondErr == nil {
		t.Fatalf("the one-time launch token was taken on the primary (%q) without any replica having the take (a claim then failed: %v), and taken again on the promoted replica (%q): two Razorpay payment creates for one link",
			first, claimErr, second)
	}
}

// TestReviewWaitLongerThanReadTimeout: a replica timeout above go-redis's
// read timeout (5s; the Caddyfile accepts up to 1m) makes the pipelined
// WAIT fail as an i/o timeout, which go-redis answers by re-sending the
// whole pipeline, script included. The claim's script runs again and finds
// the request's own claim; the failure is then not a WAIT shortfall, so
// the claim is not undone: a request that sent nothing leaves its key in
// flight for 24 h (retries: request_in_progress, then outcome_unknown).
func TestReviewWaitLongerThanReadTimeout(t *testing.T) {
	if testing.Short() {
		t.Skip("takes ~25s")
	}
	primary, replica, pc, _ := startPrimaryReplica(t)
	ctx := context.Background()
	s, err := store.OpenRedis(store.RedisOptions{Addr: primary.Addr, Replicas: 1, ReplicaTimeout: 6 * time.Second, KeyPrefix: "rt:"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	replica.Stop()
	before := evalCalls(t, pc)
	_, _, err = s.BeginIdempotent(ctx, "idem:payments:k", "fp", time.Hour)
	runs := evalCalls(t, pc) - before
	if err == nil {
		t.Fatal("a claim with no replica was reported done")
	}
	var problems []string
	if runs != 2 { // the claim, and the script that undoes it
		problems = append(problems, "the claim script ran "+strconv.Itoa(runs-1)+" times for one BeginIdempotent (go-redis retried the pipeline)")
	}
	if !strings.Contains(err.Error(), "WAIT") {
		problems = append(problems, "the error is not a WAIT shortfall: "+err.Error())
	}
	if pc.Exists(ctx, "rt:idem:idem:payments:k").Val() != 0 {
		problems = append(problems, "the claim of a refused request stays in flight on the primary")
	}
	if len(problems) > 0 {
		t.Fatal(strings.Join(problems, "; "))
	}
}

// TestReviewClaimRetriedFindsItself: the guarded pipeline (script + WAIT)
// is retried by go-redis when its connection breaks during the WAIT
// (EOF; also an i/o timeout). The claim script then runs a second time and
// finds the request's own claim, so BeginIdempotent reports "taken by
// another request": the gateway answers the request itself 409
// request_in_progress, nothing ever finishes or frees the key, and every
// retry for 24 h is refused (outcome_unknown after staleAfter), for a
// request that sent nothing.
func TestReviewClaimRetriedFindsItself(t *testing.T) {
	primary, _, pc, rc := startPrimaryReplica(t)
	ctx := context.Background()
	s, err := store.OpenRedis(store.RedisOptions{Addr: primary.Addr, Replicas: 1, ReplicaTimeout: 3 * time.Second, KeyPrefix: "again:"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// Warm up: the script is cached and the replica has acknowledged
	// every write so far.
	if _, _, err := s.BeginIdempotent(ctx, "warm", "fp", time.Hour); err != nil {
		t.Fatal(err)
	}
	pid := pidOf(t, rc)
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	defer syscall.Kill(pid, syscall.SIGCONT)
	type result struct {
		rec     *store.IdempotencyRecord
		started bool
		err     error
	}
	done := make(chan result, 1)
	go func() {
		rec, started, err := s.BeginIdempotent(ctx, "idem:payments:k", "fp", time.Hour)
		done <- result{rec, started, err}
	}()
	time.Sleep(300 * time.Millisecond) // the script ran; WAIT is blocked
	// The connection breaks during the WAIT (a network blip, a proxy,
	// a server-side timeout): here killed from another client.
	if err := pc.Do(ctx, "CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes").Err(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	_ = syscall.Kill(pid, syscall.SIGCONT)
	res := <-done
	if res.err == nil && !res.started {
		t.Fatalf("BeginIdempotent reported its own claim as another request's (started=false, record %+v): the request is answered request_in_progress and its key stays in flight for 24h", res.rec)
	}
	if res.err != nil && pc.Exists(ctx, "again:idem:idem:payments:k").Val() != 0 {
		t.Fatalf("BeginIdempotent failed (%v) and left its claim in flight", res.err)
	}
}
