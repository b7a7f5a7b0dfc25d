package store

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/redis/go-redis/v9"
)

// ErrNotReplicated is (wrapped in) the error of a guarded write that
// fewer replicas than Replicas acknowledged in time: the primary has it,
// a failover may lose it. A Commit that fails with it was written.
var ErrNotReplicated = errors.New("not acknowledged by enough replicas")

// errNotReplicated is the package's name for it.
var errNotReplicated = ErrNotReplicated

// exec runs script s. A write that guards money (guard) with Replicas set
// is sent to the primary of its keys together with WAIT, on one
// connection (WAIT counts the replicas that have this connection's
// writes, so it must follow the write on the same connection), and fails
// when fewer replicas than Replicas acknowledged it in time.
func (r *Redis) exec(ctx context.Context, s *redis.Script, guard bool, keys []string, args ...any) *redis.Cmd {
	cmd, err := r.execWait(ctx, s, guard, keys, args...)
	if err != nil && cmd.Err() == nil {
		cmd.SetErr(err)
	}
	return cmd
}

// execWait is exec that keeps the script's own reply apart from a WAIT
// shortfall (an error wrapping errNotReplicated, while cmd holds what the
// script did on the primary), so that a caller can undo a write the
// gateway will not act on.
func (r *Redis) execWait(ctx context.Context, s *redis.Script, guard bool, keys []string, args ...any) (*redis.Cmd, error) {
	if !guard || r.replicas == 0 {
		return s.Run(ctx, r.client, keys, args...), nil
	}
	node, err := r.primaryOf(ctx, keys[0])
	if err != nil {
		cmd := redis.NewCmd(ctx)
		cmd.SetErr(err)
		return cmd, nil
	}
	cmd, acked, err := r.evalWait(ctx, node, s, keys, args, true)
	if redis.HasErrorPrefix(err, "NOSCRIPT") {
		cmd, acked, err = r.evalWait(ctx, node, s, keys, args, false)
	}
	if err != nil && !isScriptReply(err) {
		// The node was reached outside the cluster client's own routing,
		// so tell it its slot map may be stale (a failover, a reshard):
		// the next write asks the cluster again.
		if cc, ok := r.client.(*redis.ClusterClient); ok {
			cc.ReloadState(ctx)
		}
	}
	if err != nil {
		if cmd.Err() == nil {
			// The script ran and answered, but its WAIT did not (a
			// broken connection, a timeout): as good as no replica.
			return cmd, fmt.Errorf("written on the primary; waiting for its replicas failed (WAIT): %v: %w", err, errNotReplicated)
		}
		return cmd, nil
	}
	if acked < int64(r.replicas) {
		return cmd, fmt.Errorf("written on the primary, but only %d of %d replicas acknowledged it within %s (WAIT): %w",
			acked, r.replicas, r.replicaTimeout, errNotReplicated)
	}
	return cmd, nil
}

// evalWait pipelines the script (EVALSHA, or EVAL when sha is false)
// and WAIT on one connection of node.
func (r *Redis) evalWait(ctx context.Context, node *redis.Client, s *redis.Script, keys []string, args []any, sha bool) (*redis.Cmd, int64, error) {
	var cmd *redis.Cmd
	var wait *redis.Cmd
	_, err := node.Pipelined(ctx, func(p redis.Pipeliner) error {
		if sha {
			cmd = s.EvalSha(ctx, p, keys, args...)
		} else {
			cmd = s.Eval(ctx, p, keys, args...)
		}
		wait = p.Do(ctx, "WAIT", r.replicas, r.replicaTimeout.Milliseconds())
		return nil
	})
	if cmd.Err() != nil {
		return cmd, 0, cmd.Err()
	}
	if err != nil {
		return cmd, 0, err
	}
	acked, err := wait.Int64()
	return cmd, acked, err
}

// primaryOf is the client of the primary that holds key: the server
// itself, or in a cluster the primary of key's slot.
func (r *Redis) primaryOf(ctx context.Context, key string) (*redis.Client, error) {
	switch c := r.client.(type) {
	case *redis.ClusterClient:
		return c.MasterForKey(ctx, key)
	case *redis.Client:
		return c, nil
	}
	return nil, fmt.Errorf("store: redis: unexpected client %T", r.client)
}

// onlineReplica matches a replica INFO replication lists as in sync.
var onlineReplica = regexp.MustCompile(`(?m)^slave\d+:.*\bstate=online\b`)

// checkReplicas refuses to open when the primary of the store's keys has
// fewer connected replicas than Replicas: every guarded write would fail.
func (r *Redis) checkReplicas() error {
	if r.replicas == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	node, err := r.primaryOf(ctx, r.prefix)
	if err != nil {
		return redisErr("finding the primary of "+r.prefix, err)
	}
	info, err := node.Info(ctx, "replication").Result()
	if err != nil {
		return redisErr("reading INFO replication", err)
	}
	n := len(onlineReplica.FindAllString(info, -1))
	if n < r.replicas {
		return fmt.Errorf("store: redis: replicas %d, but the primary of the gateway's keys (%s) has %d replica(s) in sync; add replicas, or set replicas 0 to accept that a failover may lose the last writes",
			r.replicas, node.Options().Addr, n)
	}
	return nil
}

// isScriptReply reports whether err is the script's own error reply (a
// Lua error), not a connection or routing failure.
func isScriptReply(err error) bool {
	var re redis.Error
	return errors.As(err, &re) && !redis.HasErrorPrefix(err, "MOVED") && !redis.HasErrorPrefix(err, "ASK") &&
		!redis.HasErrorPrefix(err, "CLUSTERDOWN") && !redis.HasErrorPrefix(err, "READONLY") && !redis.HasErrorPrefix(err, "LOADING")
}
