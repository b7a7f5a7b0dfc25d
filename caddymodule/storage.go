package caddymodule

import (
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/caddy-payments/caddy-payments/store"
)

// RedisStorage keeps the gateway's state in Redis, so that several Caddy
// instances behind one load balancer share payments, refund ledgers,
// idempotency keys, the outbox and the reconcile queue. Every operation
// is atomic on the Redis server (Lua scripts, SET NX PX).
type RedisStorage struct {
	// The Redis server's host:port. Required; {env.*} placeholders are
	// resolved at provision time.
	Addr string `json:"addr,omitempty"`

	// The ACL user name, if the server uses ACLs; {env.*} and {file.*}
	// are resolved at provision time.
	Username string `json:"username,omitempty"`

	// The password. Give it as {env.*} or {file.*}: it is resolved at
	// provision time and never shown in the adapted config.
	Password string `json:"password,omitempty"`

	// The database number. Default: 0.
	DB int `json:"db,omitempty"`

	// The prefix of every key the gateway writes. Default: "payments:".
	// Instances that share state must use the same prefix.
	KeyPrefix string `json:"key_prefix,omitempty"`

	// Connect with TLS.
	TLS bool `json:"tls,omitempty"`

	// Talk to a Redis Cluster: addr (and cluster_addrs) are seed nodes.
	// The key prefix must then carry a hash tag ("{payments}:" by
	// default), so that each atomic step's keys share one slot; db must
	// be 0.
	Cluster bool `json:"cluster,omitempty"`

	// More seed nodes of the cluster (host:port), besides addr; {env.*}
	// placeholders are resolved at provision time.
	ClusterAddrs []string `json:"cluster_addrs,omitempty"`

	// How many replicas must acknowledge (WAIT) each write that guards
	// money — an idempotency key's claim, a refund reservation, an event
	// put in the outbox, a create's commit — before the gateway acts on
	// it. Default: 1 with cluster, else 0 (no WAIT). Opening refuses a
	// primary with fewer replicas in sync.
	Replicas *int `json:"replicas,omitempty"`

	// How long each WAIT may take before the write counts as failed
	// (answered 503). Default: 1s.
	ReplicaTimeout caddy.Duration `json:"replica_timeout,omitempty"`
}

// PostgresStorage keeps the gateway's state in a PostgreSQL database,
// so that several Caddy instances share it with the durability of a
// committed transaction: what the gateway acted on survives a crash of
// the database server (and, with synchronous replication, a failover).
// Every operation is one statement or one transaction; the outbox and
// the reconcile queue are claimed with FOR UPDATE SKIP LOCKED.
type PostgresStorage struct {
	// The connection string: a URL
	// (postgres://user:password@host:5432/database?sslmode=verify-full)
	// or key=value pairs (host=… user=… password=… dbname=…). Required.
	// It holds the password: give it, or the whole DSN, as {env.*} or
	// {file.*}; placeholders are resolved at provision time and never
	// shown in the adapted config. Neither it nor the password appears
	// in any log or error.
	DSN string `json:"dsn,omitempty"`

	// The most connections the pool opens. Default: 10 (at most 1000).
	PoolSize int `json:"pool_size,omitempty"`

	// Require TLS with a verified certificate and host name
	// (sslmode=verify-full, overriding the DSN's sslmode; the CA is the
	// system roots, or sslrootcert in the DSN). Without it the DSN's own
	// sslmode applies.
	TLS bool `json:"tls,omitempty"`

	// The schema of the gateway's tables, created on first start.
	// Default: "payments". Instances that share state must use the same
	// schema; two gateways on one database use two schemas.
	Schema string `json:"schema,omitempty"`
}

// validate checks what can be checked without connecting.
func (p *PostgresStorage) validate() error {
	if strings.TrimSpace(p.DSN) == "" {
		return fmt.Errorf("payments: storage postgres needs a dsn (the connection string)")
	}
	if p.PoolSize < 0 || p.PoolSize > store.MaxPostgresPoolSize {
		return fmt.Errorf("payments: storage postgres: pool_size must be from 1 to %d, got %d", store.MaxPostgresPoolSize, p.PoolSize)
	}
	if p.Schema != "" {
		if err := store.ValidPostgresSchema(p.Schema); err != nil {
			return fmt.Errorf("payments: storage postgres: %w", err)
		}
	}
	return nil
}

// validateStorage refuses a config that names more than one state store
// or a PostgreSQL store it cannot use.
func (h *Handler) validateStorage() error {
	if h.Postgres == nil {
		return nil
	}
	if h.Redis != nil || h.StoragePath != "" {
		return fmt.Errorf("payments: give one of storage postgres, storage redis or storage_path, not several")
	}
	return h.Postgres.validate()
}

// storeUsers records, for each config load, which payments handler uses
// each state store. Two handlers of one config that would share a store
// would mix their idempotency keys, records and reconcile checks (one's
// reconciler ends the other's checks as "provider no longer
// configured"), so a second handler on a store is refused unless it is
// the same gateway: the same public_url (one site served on several
// ports or servers gets one handler per server). A config load is
// told apart by its context's Done channel, which every module of the
// load shares (the http app derives each server's context from it) and
// which closes when the load is stopped or fails; the old and the new
// config of a reload are two loads, so they may use the same store, as
// they must.
var storeUsers = struct {
	sync.Mutex
	loads map[<-chan struct{}]map[string]string // load → store → public_url
}{loads: map[<-chan struct{}]map[string]string{}}

// claimStore registers this handler as a user of its state store in the
// config load of ctx, and refuses a store another handler of the same
// load uses under another public_url.
func (h *Handler) claimStore(ctx caddy.Context) error {
	done := ctx.Done()
	if done == nil {
		return nil // a context that never ends is no config load
	}
	where, err := h.storeIdentity()
	if err != nil {
		return err
	}
	self := ""
	if h.publicURL != nil {
		self = h.publicURL.String()
	}
	storeUsers.Lock()
	defer storeUsers.Unlock()
	users := storeUsers.loads[done]
	if users == nil {
		users = map[string]string{}
		storeUsers.loads[done] = users
		go func() {
			<-done
			storeUsers.Lock()
			delete(storeUsers.loads, done)
			storeUsers.Unlock()
		}()
	}
	if other, taken := users[where]; taken && other != self {
		fix := "give each its own storage_path"
		if h.Redis != nil {
			fix = "give each its own key_prefix (or db) in storage redis"
		}
		if h.Postgres != nil {
			fix = "give each its own schema in storage postgres"
		}
		return fmt.Errorf("payments: two payments handlers in one config (public_url %s and %s) would share one state store (%s), mixing their idempotency keys, records and reconcile checks: %s",
			other, self, where, fix)
	}
	users[where] = self
	return nil
}

// storeIdentity names the state store this handler would open: the
// absolute path of the bolt file, the Redis address, database and key
// prefix, or the PostgreSQL server, database and schema (never the
// credentials).
func (h *Handler) storeIdentity() (string, error) {
	if p := h.Postgres; p != nil {
		dsn, err := caddy.NewReplacer().ReplaceOrErr(p.DSN, true, true)
		if err != nil {
			return "", fmt.Errorf("storage postgres: dsn: %w", err)
		}
		return store.PostgresIdentity(dsn, p.Schema)
	}
	if r := h.Redis; r != nil {
		addr, err := caddy.NewReplacer().ReplaceOrErr(r.Addr, true, true)
		if err != nil {
			return "", fmt.Errorf("storage redis: address: %w", err)
		}
		prefix := r.KeyPrefix
		if prefix == "" {
			prefix = store.DefaultRedisKeyPrefix
			if r.Cluster {
				prefix = store.DefaultRedisClusterKeyPrefix
			}
		}
		if r.Cluster {
			// The sorted seeds and the prefix name the store (handlers on
			// one cluster give the same seeds).
			seeds := append([]string{addr}, r.ClusterAddrs...)
			for i := range seeds {
				if seeds[i], err = caddy.NewReplacer().ReplaceOrErr(seeds[i], true, true); err != nil {
					return "", fmt.Errorf("storage redis: cluster address: %w", err)
				}
				seeds[i] = strings.ToLower(seeds[i])
			}
			slices.Sort(seeds)
			return fmt.Sprintf("redis cluster %s key_prefix %q", strings.Join(seeds, ","), prefix), nil
		}
		return fmt.Sprintf("redis %s db %d key_prefix %q", strings.ToLower(addr), r.DB, prefix), nil
	}
	path := h.StoragePath
	if path == "" {
		path = store.DefaultPath()
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", fmt.Errorf("storage_path: %w", err)
	}
	return "file " + abs, nil
}

// openStore opens the configured state store: PostgreSQL or Redis when
// configured, else the embedded bbolt file.
func (h *Handler) openStore() (store.Store, func() error, error) {
	if p := h.Postgres; p != nil {
		// The DSN's placeholders are resolved here, at provision time;
		// an error names the option, never the value.
		dsn, err := caddy.NewReplacer().ReplaceOrErr(p.DSN, true, true)
		if err != nil {
			return nil, nil, fmt.Errorf("storage postgres: dsn: %w", err)
		}
		db, err := store.OpenPostgres(store.PostgresOptions{DSN: dsn, PoolSize: p.PoolSize, TLS: p.TLS, Schema: p.Schema})
		if err != nil {
			return nil, nil, err
		}
		return db, db.Close, nil
	}
	if r := h.Redis; r != nil {
		repl := caddy.NewReplacer()
		password, err := repl.ReplaceOrErr(r.Password, false, true)
		if err != nil {
			return nil, nil, fmt.Errorf("storage redis: password: %w", err)
		}
		addr, err := repl.ReplaceOrErr(r.Addr, true, true)
		if err != nil {
			return nil, nil, fmt.Errorf("storage redis: address: %w", err)
		}
		username, err := repl.ReplaceOrErr(r.Username, false, true)
		if err != nil {
			return nil, nil, fmt.Errorf("storage redis: username: %w", err)
		}
		seeds := make([]string, len(r.ClusterAddrs))
		for i, a := range r.ClusterAddrs {
			if seeds[i], err = repl.ReplaceOrErr(a, true, true); err != nil {
				return nil, nil, fmt.Errorf("storage redis: cluster address: %w", err)
			}
		}
		replicas := store.ReplicasDefault
		if r.Replicas != nil {
			replicas = *r.Replicas
		}
		db, err := store.OpenRedis(store.RedisOptions{
			Addr: addr, Username: username, Password: password, DB: r.DB,
			KeyPrefix: r.KeyPrefix, TLS: r.TLS, DialTimeout: 5 * time.Second,
			Cluster: r.Cluster, ClusterAddrs: seeds, Replicas: replicas, ReplicaTimeout: time.Duration(r.ReplicaTimeout),
		})
		if err != nil {
			return nil, nil, err
		}
		return db, db.Close, nil
	}
	path := h.StoragePath
	if path == "" {
		path = store.DefaultPath()
	}
	db, err := store.OpenBolt(path)
	if err != nil {
		return nil, nil, err
	}
	return db, db.Close, nil
}

// unmarshalStorage parses
//
//	storage file <path>
//	storage redis <addr> [<more cluster seed addrs>...] {
//		username <name>
//		password <password>
//		db <number>
//		key_prefix <prefix>
//		tls
//		cluster
//		replicas <n> [<timeout>]
//	}
//	storage postgres <dsn> {
//		pool_size <n>
//		tls
//		schema <name>
//	}
func (h *Handler) unmarshalStorage(d *caddyfile.Dispenser) error {
	if !d.NextArg() {
		return d.ArgErr()
	}
	switch kind := d.Val(); kind {
	case "file":
		if !d.NextArg() {
			return d.ArgErr()
		}
		h.StoragePath = d.Val()
		if d.NextArg() {
			return d.ArgErr()
		}
		return nil
	case "redis":
		r := &RedisStorage{}
		if !d.NextArg() {
			return d.Err("storage redis needs the server's address (host:port)")
		}
		r.Addr = d.Val()
		r.ClusterAddrs = d.RemainingArgs()
		if len(r.ClusterAddrs) == 0 {
			r.ClusterAddrs = nil
		}
		for nesting := d.Nesting(); d.NextBlock(nesting); {
			switch opt := d.Val(); opt {
			case "username":
				if !d.AllArgs(&r.Username) {
					return d.ArgErr()
				}
			case "password":
				if !d.AllArgs(&r.Password) {
					return d.ArgErr()
				}
			case "db":
				var v string
				if !d.AllArgs(&v) {
					return d.ArgErr()
				}
				n, err := strconv.Atoi(v)
				if err != nil || n < 0 {
					return d.Errf("storage redis: db must be a number (0, 1, …), not '%s'", v)
				}
				r.DB = n
			case "key_prefix":
				if !d.AllArgs(&r.KeyPrefix) {
					return d.ArgErr()
				}
			case "tls":
				if d.NextArg() {
					return d.ArgErr()
				}
				r.TLS = true
			case "cluster":
				if d.NextArg() {
					return d.ArgErr()
				}
				r.Cluster = true
			case "replicas":
				args := d.RemainingArgs()
				if len(args) < 1 || len(args) > 2 {
					return d.Err("storage redis: replicas <n> [<timeout>]")
				}
				n, err := strconv.Atoi(args[0])
				if err != nil || n < 0 || n > 16 {
					return d.Errf("storage redis: replicas must be a whole number from 0 to 16, not '%s'", args[0])
				}
				r.Replicas = &n
				if len(args) == 2 {
					t, err := caddy.ParseDuration(args[1])
					if err != nil || t < time.Millisecond || t > store.MaxRedisReplicaTimeout {
						return d.Errf("storage redis: replicas timeout must be a duration from 1ms to %s, not '%s'", store.MaxRedisReplicaTimeout, args[1])
					}
					r.ReplicaTimeout = caddy.Duration(t)
				}
			default:
				return d.Errf("unrecognized storage redis option '%s'", opt)
			}
		}
		if len(r.ClusterAddrs) > 0 && !r.Cluster {
			return d.Err("storage redis: several addresses are seed nodes of a cluster: add the cluster option")
		}
		h.Redis = r
		return nil
	case "postgres":
		return h.unmarshalPostgres(d)
	default:
		return d.Errf("unknown storage '%s' (file, redis or postgres)", kind)
	}
}

// unmarshalPostgres parses the rest of
//
//	storage postgres <dsn> {
//		pool_size <n>
//		tls
//		schema <name>
//	}
func (h *Handler) unmarshalPostgres(d *caddyfile.Dispenser) error {
	p := &PostgresStorage{}
	if !d.NextArg() {
		return d.Err("storage postgres needs the connection string (dsn), e.g. {env.PAYMENTS_PG_DSN}")
	}
	p.DSN = d.Val()
	if strings.TrimSpace(p.DSN) == "" {
		return d.Err("storage postgres: the dsn must not be empty")
	}
	if d.NextArg() {
		return d.ArgErr()
	}
	seen := map[string]bool{}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		opt := d.Val()
		if seen[opt] {
			return d.Errf("storage postgres: %s given twice", opt)
		}
		seen[opt] = true
		switch opt {
		case "pool_size":
			var v string
			if !d.AllArgs(&v) {
				return d.ArgErr()
			}
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > store.MaxPostgresPoolSize {
				return d.Errf("storage postgres: pool_size must be a whole number from 1 to %d, not '%s'", store.MaxPostgresPoolSize, v)
			}
			p.PoolSize = n
		case "tls":
			if d.NextArg() {
				return d.ArgErr()
			}
			p.TLS = true
		case "schema":
			if !d.AllArgs(&p.Schema) {
				return d.ArgErr()
			}
			if err := store.ValidPostgresSchema(p.Schema); err != nil {
				return d.Errf("storage postgres: %v", err)
			}
		default:
			return d.Errf("unrecognized storage postgres option '%s'", opt)
		}
	}
	h.Postgres = p
	return nil
}
