package caddymodule

import (
	"fmt"
	"strconv"
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
}

// openStore opens the configured state store: Redis when configured,
// else the embedded bbolt file.
func (h *Handler) openStore() (store.Store, func() error, error) {
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
		db, err := store.OpenRedis(store.RedisOptions{
			Addr: addr, Username: username, Password: password, DB: r.DB,
			KeyPrefix: r.KeyPrefix, TLS: r.TLS, DialTimeout: 5 * time.Second,
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
//	storage redis <addr> {
//		username <name>
//		password <password>
//		db <number>
//		key_prefix <prefix>
//		tls
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
		if d.NextArg() {
			return d.ArgErr()
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
			default:
				return d.Errf("unrecognized storage redis option '%s'", opt)
			}
		}
		h.Redis = r
		return nil
	default:
		return d.Errf("unknown storage '%s' (file or redis)", kind)
	}
}
