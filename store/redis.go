package store

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
)

// DefaultRedisKeyPrefix starts every key the Redis store writes when
// RedisOptions.KeyPrefix is empty.
const DefaultRedisKeyPrefix = "payments:"

// DefaultRedisDialTimeout bounds connecting to Redis when
// RedisOptions.DialTimeout is zero.
const DefaultRedisDialTimeout = 5 * time.Second

// RedisMaxAmount is the largest amount (minor units) the Redis store
// accepts. Its Lua scripts read numbers as Lua 5.1 doubles, which hold
// integers exactly only up to 2^53; larger amounts are refused in Go
// before any script runs (about 90 trillion in a two-decimal currency).
const RedisMaxAmount int64 = 1<<53 - 1

// RedisDeliveredTTL is how long MarkDelivered remembers an event id. An
// embedded store keeps them forever; a shared Redis would grow without
// bound, and no provider retries a notification for anywhere near this
// long.
const RedisDeliveredTTL = 90 * 24 * time.Hour

// RedisOptions says how to reach the Redis server that several Caddy
// instances share.
type RedisOptions struct {
	// Addr is host:port of the Redis server, e.g. "10.0.0.5:6379". Required.
	Addr string
	// Username is the Redis 6+ ACL user; empty means the default user.
	Username string
	// Password authenticates Username (or the default user). It is never
	// put in errors or logs.
	Password string
	// DB is the logical database number (SELECT); 0 by default.
	DB int
	// KeyPrefix starts every key, so several gateways (or other
	// applications) can share one database; DefaultRedisKeyPrefix
	// ("payments:") when empty. Instances that share state must use the
	// same prefix.
	KeyPrefix string
	// TLS connects with TLS (1.2 or later), verifying the server's
	// certificate against the system roots and the host of Addr.
	TLS bool
	// DialTimeout bounds each connection attempt; DefaultRedisDialTimeout
	// when zero.
	DialTimeout time.Duration
	// Cluster talks to a Redis Cluster: Addr and ClusterAddrs are seed
	// nodes, from which the client learns the slot map (and follows it
	// through resharding and failovers). Every key then carries the key
	// prefix's hash tag, so each script's keys share one slot: the prefix
	// must contain one ("{payments}:", DefaultRedisClusterKeyPrefix, when
	// empty), and DB must be 0 (a cluster has only database 0).
	Cluster bool
	// ClusterAddrs are more seed nodes (host:port) besides Addr.
	ClusterAddrs []string
	// Replicas is how many replicas must have a write that guards money
	// (an idempotency key's claim, a refund reservation, an event put in
	// the outbox, a create's commit) before the store reports it done:
	// the write and a WAIT go to the primary on one connection. Redis
	// replicates asynchronously, so without it a failover can promote a
	// replica that lacks a write the gateway already acted on (a claim
	// taken before a provider call: a second call after the failover).
	// A write that fewer replicas acknowledged within ReplicaTimeout is
	// an error (the primary has it; the gateway answers 503). 0: no WAIT;
	// ReplicasDefault (-1) means 1 in cluster mode, 0 otherwise.
	Replicas int
	// ReplicaTimeout bounds each WAIT; DefaultRedisReplicaTimeout when
	// zero.
	ReplicaTimeout time.Duration
}

// ReplicasDefault in RedisOptions.Replicas asks for the mode's default.
const ReplicasDefault = -1

// DefaultRedisReplicaTimeout bounds the WAIT after a guarded write;
// MaxRedisReplicaTimeout is the longest allowed (the client's read
// timeout is set above it, so a WAIT never outlasts the read of its
// reply, which go-redis would answer by sending the script again).
const (
	DefaultRedisReplicaTimeout = time.Second
	MaxRedisReplicaTimeout     = 10 * time.Second
)

// readTimeout is the client's read timeout: go-redis's 3s, or with
// Replicas set 3s more than the WAIT may take, so a WAIT never outlasts
// the read of its reply (a read timeout makes go-redis send the script
// again).
func (o RedisOptions) readTimeout() time.Duration {
	if o.Replicas > 0 {
		return o.ReplicaTimeout + 3*time.Second
	}
	return 3 * time.Second
}

// DefaultRedisClusterKeyPrefix is the key prefix in cluster mode when none
// is given: DefaultRedisKeyPrefix with its name as the hash tag.
const DefaultRedisClusterKeyPrefix = "{payments}:"

// hashTag returns the part of key Redis Cluster hashes to pick its slot:
// between the first "{" and the first "}" after it, if that is not
// empty; ok is false when the key has no such tag (then the whole key is
// hashed).
func hashTag(key string) (tag string, ok bool) {
	open := strings.IndexByte(key, '{')
	if open < 0 {
		return "", false
	}
	end := strings.IndexByte(key[open+1:], '}')
	if end <= 0 {
		return "", false
	}
	return key[open+1 : open+1+end], true
}

// caddyRedisLogger sends go-redis's own messages (a reconnect, a pool
// error) to Caddy's log, where operators look, instead of the log
// package's stderr. caddy.Log() is read at each message, as Caddy swaps
// its default logger when a config loads. go-redis never puts a password
// in these messages.
type caddyRedisLogger struct{}

func (caddyRedisLogger) Printf(_ context.Context, format string, v ...any) {
	caddy.Log().Named("payments.redis").Warn("redis client: " + fmt.Sprintf(format, v...))
}

func init() { redis.SetLogger(caddyRedisLogger{}) }

// redisPool shares one *redis.Client per set of connection options. Caddy
// provisions a new config before it cleans up the old one; sharing keeps a
// reload from opening a second connection pool (and from pinging again)
// when nothing about the connection changed.
var redisPool = caddy.NewUsagePool()

// sharedClient is the pooled value; the pool calls Destruct when its last
// user is gone.
type sharedClient struct{ client redis.UniversalClient }

// Destruct closes the client's connections.
func (s *sharedClient) Destruct() error { return s.client.Close() }

// Redis is the networked Store for several Caddy instances sharing state.
// Every operation is one Redis command or one Lua script, so the
// read-check-write steps (first writer wins, status rules, refund caps,
// claims) are atomic across instances. Records are the same JSON as
// Bolt's. Several Redis values opened with the same connection options
// share one client.
//
// Key layout (P is RedisOptions.KeyPrefix, "payments:" by default):
//
//	P payment:<id>       string  PaymentRecord JSON
//	P refund:<id>        string  RefundRecord JSON
//	P payout:<id>        string  PayoutRecord JSON
//	P once:<key>         string  one-time data, PX ttl
//	P idem:<key>         string  IdempotencyRecord JSON, PX ttl
//	P delivered:<event>  string  time of delivery, EX 90 days
//	P announced:<key>    string  id of the event announcing a status, PX 90 days
//	P outbox             hash    event id → OutboxEntry JSON
//	P outbox:due         zset    event id, score = next attempt (µs)
//	P reconcile          hash    payment id → ReconcileCheck JSON
//	P reconcile:due      zset    payment id, score = next check (µs)
//	P reconcile:objects      hash  refund or payout id → ReconcileCheck JSON
//	P reconcile:objects:due  zset  refund or payout id, score = next check (µs)
//
// Records never expire; nothing but the gateway should write these keys.
type Redis struct {
	poolKey string
	client  redis.UniversalClient
	prefix  string
	// replicas and replicaTimeout: RedisOptions.Replicas and
	// ReplicaTimeout (the WAIT after a guarded write).
	replicas       int
	replicaTimeout time.Duration
	closed         atomic.Bool
}

var (
	_ Store          = (*Redis)(nil)
	_ ReconcileQueue = (*Redis)(nil)
)

// OpenRedis connects to the server in opts and checks it with PING. When
// this process already has a client with the same connection options (a
// config reload), that client is shared; each Redis must be closed.
func OpenRedis(opts RedisOptions) (*Redis, error) {
	if opts.Addr == "" {
		return nil, errors.New("store: redis address (addr) is required")
	}
	if opts.DB < 0 {
		return nil, fmt.Errorf("store: redis db must not be negative, got %d", opts.DB)
	}
	if opts.KeyPrefix == "" {
		opts.KeyPrefix = DefaultRedisKeyPrefix
		if opts.Cluster {
			opts.KeyPrefix = DefaultRedisClusterKeyPrefix
		}
	}
	if opts.Replicas == ReplicasDefault {
		opts.Replicas = 0
		if opts.Cluster {
			opts.Replicas = 1
		}
	}
	if opts.Replicas < 0 {
		return nil, fmt.Errorf("store: redis: replicas must not be negative, got %d", opts.Replicas)
	}
	switch {
	case opts.ReplicaTimeout == 0:
		opts.ReplicaTimeout = DefaultRedisReplicaTimeout
	case opts.ReplicaTimeout < time.Millisecond || opts.ReplicaTimeout > MaxRedisReplicaTimeout:
		// WAIT takes whole milliseconds, and 0 means forever.
		return nil, fmt.Errorf("store: redis: replica timeout must be from 1ms to %s, got %s", MaxRedisReplicaTimeout, opts.ReplicaTimeout)
	}
	if opts.Cluster {
		if opts.DB != 0 {
			return nil, fmt.Errorf("store: redis cluster: db must be 0 (a cluster has only database 0), got %d", opts.DB)
		}
		if _, ok := hashTag(opts.KeyPrefix); !ok {
			return nil, fmt.Errorf("store: redis cluster: key_prefix %q has no hash tag: the gateway's scripts touch several keys at once, which a cluster allows only within one slot; put the name in braces, e.g. %q", opts.KeyPrefix, "{"+strings.TrimSuffix(opts.KeyPrefix, ":")+"}:")
		}
	} else if len(opts.ClusterAddrs) > 0 {
		return nil, errors.New("store: redis: more than one address is only for a cluster (cluster)")
	}
	if opts.DialTimeout <= 0 {
		opts.DialTimeout = DefaultRedisDialTimeout
	}
	key := redisPoolKey(opts)
	val, _, err := redisPool.LoadOrNew(key, func() (caddy.Destructor, error) {
		c, err := newRedisClient(opts)
		if err != nil {
			return nil, err
		}
		return &sharedClient{client: c}, nil
	})
	if err != nil {
		// As in OpenBolt: the pool already dropped the failed entry.
		return nil, err
	}
	r := &Redis{poolKey: key, client: val.(*sharedClient).client, prefix: opts.KeyPrefix,
		replicas: opts.Replicas, replicaTimeout: opts.ReplicaTimeout}
	if err := r.checkReplicas(); err != nil {
		_, _ = redisPool.Delete(key)
		return nil, err
	}
	return openRedisFormat(r, opts)
}

// redisPoolKey identifies a client by everything that shapes its
// connections. The password enters only as a digest, and it enters at all
// so that a reload with a rotated password gets a new client instead of
// the old one. The key prefix is not part of it: it changes no
// connection, so gateways with different prefixes share a client.
func redisPoolKey(o RedisOptions) string {
	pw := sha256.Sum256([]byte(o.Password))
	return fmt.Sprintf("%s\x00%d\x00%s\x00%x\x00%t\x00%s\x00%t\x00%s", o.Addr, o.DB, o.Username, pw, o.TLS, o.DialTimeout,
		o.Cluster, strings.Join(o.ClusterAddrs, ",")) + "\x00" + o.readTimeout().String()
}

// newRedisClient builds a client and pings the server, so a wrong address
// or password fails Caddy's provisioning with a clear error instead of
// failing the first payment.
func newRedisClient(o RedisOptions) (redis.UniversalClient, error) {
	if o.Cluster {
		return newRedisClusterClient(o)
	}
	ro := &redis.Options{
		Addr:                  o.Addr,
		Username:              o.Username,
		Password:              o.Password,
		DB:                    o.DB,
		DialTimeout:           o.DialTimeout,
		ReadTimeout:           o.readTimeout(),
		ContextTimeoutEnabled: true,
		// RESP2 and no CLIENT SETINFO / maintenance notifications: the
		// store needs nothing newer, and so it works with any Redis 6.2+
		// (or compatible server) without handshake noise.
		Protocol:                 2,
		DisableIdentity:          true,
		MaintNotificationsConfig: &maintnotifications.Config{Mode: maintnotifications.ModeDisabled},
	}
	if o.TLS {
		host, _, err := net.SplitHostPort(o.Addr)
		if err != nil {
			host = o.Addr
		}
		ro.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12, ServerName: host}
	}
	return pinged(redis.NewClient(ro), o)
}

// newRedisClusterClient is newRedisClient for a cluster: the same
// connection settings on every node the slot map names.
func newRedisClusterClient(o RedisOptions) (redis.UniversalClient, error) {
	co := &redis.ClusterOptions{
		Addrs:                    append([]string{o.Addr}, o.ClusterAddrs...),
		Username:                 o.Username,
		Password:                 o.Password,
		DialTimeout:              o.DialTimeout,
		ReadTimeout:              o.readTimeout(),
		ContextTimeoutEnabled:    true,
		Protocol:                 2,
		DisableIdentity:          true,
		MaintNotificationsConfig: &maintnotifications.Config{Mode: maintnotifications.ModeDisabled},
	}
	if o.TLS {
		// No ServerName: crypto/tls takes each node's from the address
		// it dials, so every node is verified as itself.
		co.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	return pinged(redis.NewClusterClient(co), o)
}

// pinged checks c with PING (in a cluster, after loading the slot map).
func pinged(c redis.UniversalClient, o RedisOptions) (redis.UniversalClient, error) {
	ctx, cancel := context.WithTimeout(context.Background(), o.DialTimeout+3*time.Second)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		_ = c.Close()
		// go-redis errors name the server's complaint (WRONGPASS, NOAUTH,
		// connection refused), never the password.
		return nil, fmt.Errorf("store: redis at %s (db %d): PING failed: %w", o.Addr, o.DB, err)
	}
	return c, nil
}

// Close drops this handle's reference to the shared client; the client is
// closed when the last handle is. Calling Close again does nothing.
func (r *Redis) Close() error {
	if !r.closed.CompareAndSwap(false, true) {
		return nil
	}
	_, err := redisPool.Delete(r.poolKey)
	return err
}

// ready refuses work on a closed handle or a finished context, before any
// command is sent.
func (r *Redis) ready(ctx context.Context) error {
	if r.closed.Load() {
		return ErrClosed
	}
	return ctx.Err()
}

// key builds the Redis key of one record: prefix + kind + ":" + id.
func (r *Redis) key(kind, id string) string { return r.prefix + kind + ":" + id }

// Key kinds; see the key layout on Redis.
const (
	rkPayment   = "payment"
	rkRefund    = "refund"
	rkPayout    = "payout"
	rkOnce      = "once"
	rkIdem      = "idem"
	rkDelivered = "delivered"
	rkAnnounced = "announced"  // announcement key → id of the event that carries it
	rkOutbox    = "outbox"     // hash event id → entry JSON
	rkOutboxDue = "outbox:due" // zset event id scored by next attempt (µs)
	rkRecon     = "reconcile"  // hash payment id → check JSON
	rkReconDue  = "reconcile:due"
	// Refund and payout checks (see objectCheck).
	rkReconObj    = "reconcile:objects"
	rkReconObjDue = "reconcile:objects:due"
)

// scanNode is where a SCAN of the store's keys runs: the server, or in a
// cluster the primary of the key prefix's slot, which holds every key of
// the store (a cluster client would send SCAN to any node).
func (r *Redis) scanNode(ctx context.Context) (redis.Cmdable, error) {
	if cc, ok := r.client.(*redis.ClusterClient); ok {
		node, err := cc.MasterForKey(ctx, r.prefix)
		if err != nil {
			return nil, redisErr("finding the cluster node of "+r.prefix, err)
		}
		return node, nil
	}
	return r.client, nil
}

// redisErr wraps a failed command with the operation's name.
func redisErr(op string, err error) error {
	return fmt.Errorf("store: redis %s: %w", op, err)
}

// decodeRecord decodes a stored JSON record into a fresh value, which the
// caller may therefore change freely.
func decodeRecord[T any](kind, id, raw string) (*T, error) {
	v := new(T)
	if err := json.Unmarshal([]byte(raw), v); err != nil {
		return nil, fmt.Errorf("store: decoding %s record %q: %w", kind, id, err)
	}
	return v, nil
}

// getRecord reads and decodes one record; ErrNotFound when absent.
func getRecord[T any](ctx context.Context, r *Redis, kind, id string) (*T, error) {
	if err := r.ready(ctx); err != nil {
		return nil, err
	}
	raw, err := r.client.Get(ctx, r.key(kind, id)).Result()
	if errors.Is(err, redis.Nil) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, redisErr("get "+kind, err)
	}
	return decodeRecord[T](kind, id, raw)
}

// run executes a script whose reply is {code} or {code, json}.
func (r *Redis) run(ctx context.Context, op string, s *redis.Script, keys []string, args ...any) (int64, string, error) {
	return r.runCmd(op, s.Run(ctx, r.client, keys, args...))
}

// runGuarded is run for a write that guards money: with Replicas set, it
// returns only once that many replicas have it (exec).
func (r *Redis) runGuarded(ctx context.Context, op string, s *redis.Script, keys []string, args ...any) (int64, string, error) {
	return r.runCmd(op, r.exec(ctx, s, true, keys, args...))
}

// runCmd reads a script's {code} or {code, json} reply.
func (r *Redis) runCmd(op string, cmd *redis.Cmd) (int64, string, error) {
	res, err := cmd.Slice()
	if err != nil {
		return 0, "", redisErr(op, err)
	}
	if len(res) == 0 {
		return 0, "", redisErr(op, errors.New("empty script reply"))
	}
	code, ok := res[0].(int64)
	if !ok {
		return 0, "", redisErr(op, fmt.Errorf("unexpected script reply %T", res[0]))
	}
	var raw string
	if len(res) > 1 {
		if raw, ok = res[1].(string); !ok {
			return 0, "", redisErr(op, fmt.Errorf("unexpected script reply %T", res[1]))
		}
	}
	return code, raw, nil
}

// score turns a time into a sorted-set score: microseconds since the
// epoch, which a double holds exactly for any date this code will see.
func score(t time.Time) string { return strconv.FormatInt(t.UnixMicro(), 10) }

// ttlMillis rounds ttl up to whole milliseconds (PX takes no less than 1).
func ttlMillis(ttl time.Duration) int64 {
	ms := int64((ttl + time.Millisecond - 1) / time.Millisecond)
	if ms < 1 {
		ms = 1
	}
	return ms
}
