package store

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"net/url"
	"regexp"
	"strings"
	"sync/atomic"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// DefaultPostgresSchema is the schema the PostgreSQL store keeps its
// tables in when PostgresOptions.Schema is empty.
const DefaultPostgresSchema = "payments"

// DefaultPostgresPoolSize is the pool's connection limit when
// PostgresOptions.PoolSize is zero.
const DefaultPostgresPoolSize = 10

// MaxPostgresPoolSize bounds PostgresOptions.PoolSize.
const MaxPostgresPoolSize = 1000

// DefaultPostgresConnectTimeout bounds connecting (and the schema check)
// when PostgresOptions.ConnectTimeout is zero.
const DefaultPostgresConnectTimeout = 10 * time.Second

// PostgresSchemaVersion is the version of the tables this code creates,
// reads and writes (the schema_version table of the schema). It is
// separate from FormatVersion: the records in the tables are the same
// JSON as in the other stores, of FormatVersion.
const PostgresSchemaVersion = 1

// PostgresOptions says how to reach the PostgreSQL database that several
// Caddy instances share.
type PostgresOptions struct {
	// DSN is a libpq connection string: a URL
	// (postgres://user:password@host:5432/db?sslmode=verify-full) or
	// key=value pairs (host=… user=… password=… dbname=…). Required. It
	// holds the password: it is never put in errors or logs.
	DSN string
	// PoolSize is the most connections the pool opens;
	// DefaultPostgresPoolSize when zero, at most MaxPostgresPoolSize.
	PoolSize int
	// TLS requires TLS with a verified certificate and host name
	// (sslmode=verify-full, overriding the DSN's sslmode). Without it the
	// DSN's own sslmode applies (libpq's default is prefer).
	TLS bool
	// Schema is the schema of the store's tables, created when missing;
	// DefaultPostgresSchema when empty. Instances that share state must
	// use the same schema; see ValidPostgresSchema for the names allowed.
	Schema string
	// ConnectTimeout bounds connecting and the schema check on open;
	// DefaultPostgresConnectTimeout when zero.
	ConnectTimeout time.Duration
}

var schemaName = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)

// ValidPostgresSchema refuses a schema name that is not a plain lower-case
// SQL identifier (a letter or _, then letters, digits or _, 63 at most),
// or that names one of PostgreSQL's own schemas.
func ValidPostgresSchema(name string) error {
	if !schemaName.MatchString(name) {
		return fmt.Errorf("schema %q must be a lower-case identifier: a letter or _, then letters, digits or _ (63 characters at most)", name)
	}
	if strings.HasPrefix(name, "pg_") || name == "information_schema" {
		return fmt.Errorf("schema %q is reserved by PostgreSQL", name)
	}
	return nil
}

// Postgres is the Store on a PostgreSQL database, for several Caddy
// instances sharing state with a committed transaction's durability.
// Records are the same JSON as Bolt's, in bytea columns, next to the
// columns the queries need (due times, index keys). Every method is one
// statement, one compare-and-swap update, or one transaction; queues are
// claimed with FOR UPDATE SKIP LOCKED on a due-time index. Several
// Postgres values opened with the same connection options share one pool.
//
// Tables (in the schema, "payments" by default): schema_version,
// payments, refunds, payouts, once, idempotency, delivered, announced,
// outbox, reconcile, events, dropped (see pgSchemaV1).
type Postgres struct {
	poolKey string
	pool    *pgxpool.Pool
	schema  string // quoted identifier
	where   string // for errors: host, database, schema (no secrets)
	secrets []string
	closed  atomic.Bool
}

var (
	_ Store          = (*Postgres)(nil)
	_ ReconcileQueue = (*Postgres)(nil)
	_ OutboxAdmin    = (*Postgres)(nil)
	_ EventLog       = (*Postgres)(nil)
)

// pgPools shares one pool per set of connection options, so a config
// reload that keeps them does not open a second pool.
var pgPools = caddy.NewUsagePool()

type sharedPgPool struct {
	pool    *pgxpool.Pool
	secrets []string
}

func (s *sharedPgPool) Destruct() error {
	s.pool.Close()
	return nil
}

// OpenPostgres connects to the database of opts, checks it with a ping
// and creates or migrates the schema (under an advisory lock, so
// instances starting together migrate once). A schema of a newer version
// than PostgresSchemaVersion is refused with a FormatError. Each Postgres
// must be closed.
func OpenPostgres(opts PostgresOptions) (*Postgres, error) {
	if strings.TrimSpace(opts.DSN) == "" {
		return nil, errors.New("store: postgres: the dsn (connection string) is required")
	}
	if opts.Schema == "" {
		opts.Schema = DefaultPostgresSchema
	}
	if err := ValidPostgresSchema(opts.Schema); err != nil {
		return nil, fmt.Errorf("store: postgres: %w", err)
	}
	if opts.PoolSize == 0 {
		opts.PoolSize = DefaultPostgresPoolSize
	}
	if opts.PoolSize < 1 || opts.PoolSize > MaxPostgresPoolSize {
		return nil, fmt.Errorf("store: postgres: pool_size must be from 1 to %d, got %d", MaxPostgresPoolSize, opts.PoolSize)
	}
	if opts.ConnectTimeout <= 0 {
		opts.ConnectTimeout = DefaultPostgresConnectTimeout
	}
	cfg, err := parsePostgresDSN(opts)
	if err != nil {
		return nil, err
	}
	secrets := dsnSecrets(opts.DSN, cfg.ConnConfig.Password)
	where := fmt.Sprintf("postgresql database %q at %s:%d as %q", cfg.ConnConfig.Database, cfg.ConnConfig.Host, cfg.ConnConfig.Port, cfg.ConnConfig.User)
	sum := sha256.Sum256([]byte(opts.DSN))
	key := fmt.Sprintf("%x\x00%d\x00%t", sum, opts.PoolSize, opts.TLS)
	val, _, err := pgPools.LoadOrNew(key, func() (caddy.Destructor, error) {
		pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
		if err != nil {
			return nil, scrubbed(secrets, fmt.Errorf("store: postgres: creating the pool for %s: %w", where, err))
		}
		ctx, cancel := context.WithTimeout(context.Background(), opts.ConnectTimeout)
		defer cancel()
		// A server still starting up (crash recovery after a restart)
		// answers 57P03 cannot_connect_now: wait for it, within the
		// connect timeout, instead of refusing the config.
		err = pool.Ping(ctx)
		for startingUp(err) && ctx.Err() == nil {
			time.Sleep(200 * time.Millisecond)
			err = pool.Ping(ctx)
		}
		if err != nil {
			pool.Close()
			return nil, pgWrap(secrets, "connecting to "+where, err)
		}
		return &sharedPgPool{pool: pool, secrets: secrets}, nil
	})
	if err != nil {
		return nil, err
	}
	shared := val.(*sharedPgPool)
	p := &Postgres{poolKey: key, pool: shared.pool, schema: pgx.Identifier{opts.Schema}.Sanitize(),
		where: fmt.Sprintf("%s, schema %q", where, opts.Schema), secrets: shared.secrets}
	ctx, cancel := context.WithTimeout(context.Background(), opts.ConnectTimeout+30*time.Second)
	defer cancel()
	if err := p.migrate(ctx, opts.Schema); err != nil {
		_ = p.Close()
		return nil, err
	}
	return p, nil
}

// parsePostgresDSN parses the DSN, applying TLS and the pool size. A
// parse error never repeats the DSN (it may hold a password in a form a
// parser cannot tell apart).
func parsePostgresDSN(opts PostgresOptions) (*pgxpool.Config, error) {
	dsn := opts.DSN
	if opts.TLS {
		var err error
		if dsn, err = requireTLS(dsn); err != nil {
			return nil, err
		}
	}
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, errors.New("store: postgres: the dsn is not a valid PostgreSQL connection string " +
			"(postgres://user:password@host:port/database?options, or key=value pairs such as host=… dbname=…); " +
			"it is not shown here because it may hold a password")
	}
	cfg.MaxConns = int32(opts.PoolSize)
	if cfg.ConnConfig.ConnectTimeout == 0 || cfg.ConnConfig.ConnectTimeout > opts.ConnectTimeout {
		cfg.ConnConfig.ConnectTimeout = opts.ConnectTimeout
	}
	if opts.TLS && cfg.ConnConfig.TLSConfig == nil {
		return nil, errors.New("store: postgres: tls is set but the dsn's options leave TLS off")
	}
	if cfg.ConnConfig.RuntimeParams == nil {
		cfg.ConnConfig.RuntimeParams = map[string]string{}
	}
	if _, ok := cfg.ConnConfig.RuntimeParams["application_name"]; !ok {
		cfg.ConnConfig.RuntimeParams["application_name"] = "caddy-payments"
	}
	// The store's atomic steps are written for READ COMMITTED (row locks,
	// compare-and-swap updates, SKIP LOCKED claims, a migration that reads
	// after its advisory lock): a database or role whose default is
	// stricter must not change that (tx also asks for it).
	cfg.ConnConfig.RuntimeParams["default_transaction_isolation"] = "read committed"
	if opts.TLS {
		// Every way the DSN lets pgx connect must be TLS, verified: a
		// sslmode the appended verify-full did not override (a value
		// that swallowed it) would fall back to plain text.
		for _, fc := range append([]*pgconn.FallbackConfig{{TLSConfig: cfg.ConnConfig.TLSConfig}}, cfg.ConnConfig.Fallbacks...) {
			if fc.TLSConfig == nil || fc.TLSConfig.InsecureSkipVerify {
				return nil, errors.New("store: postgres: tls is set but the dsn lets a connection go without verified TLS (check its sslmode and the value before it)")
			}
		}
	}
	withReplyTimeout(cfg, PostgresReplyTimeout)
	return cfg, nil
}

// requireTLS sets sslmode=verify-full in a URL or key=value DSN.
func requireTLS(dsn string) (string, error) {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			return "", errors.New("store: postgres: the dsn is not a valid postgres:// URL; it is not shown here because it may hold a password")
		}
		q := u.Query()
		q.Set("sslmode", "verify-full")
		u.RawQuery = q.Encode()
		return u.String(), nil
	}
	// In key=value form a later key overrides an earlier one.
	return dsn + " sslmode=verify-full", nil
}

// dsnSecrets are the strings scrubbed from every error: the DSN itself
// and the password, raw and URL-escaped.
func dsnSecrets(dsn, password string) []string {
	out := []string{dsn}
	if password != "" {
		out = append(out, password, url.QueryEscape(password), url.PathEscape(password))
		if u, err := url.Parse(dsn); err == nil && u.User != nil {
			out = append(out, u.User.String())
		}
	}
	return out
}

// PostgresError is every error the PostgreSQL store reports for a failed
// database operation: the operation, and the server's message and
// SQLSTATE code (or the connection problem), with the DSN and the
// password scrubbed. It unwraps to context errors only, never to the
// driver's error (which may carry connection details).
type PostgresError struct {
	Op   string
	Code string // SQLSTATE, when the server answered
	msg  string
	ctx  error
}

func (e *PostgresError) Error() string {
	return "store: postgres: " + e.Op + ": " + e.msg
}

// Unwrap gives context.Canceled or context.DeadlineExceeded when the
// operation ended for that reason.
func (e *PostgresError) Unwrap() error { return e.ctx }

// pgWrap turns a driver error into a PostgresError.
func pgWrap(secrets []string, op string, err error) error {
	if err == nil {
		return nil
	}
	e := &PostgresError{Op: op, msg: scrub(secrets, err.Error())}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		e.Code = pe.Code
	}
	switch {
	case errors.Is(err, context.Canceled):
		e.ctx = context.Canceled
	case errors.Is(err, context.DeadlineExceeded):
		e.ctx = context.DeadlineExceeded
	}
	return e
}

func scrub(secrets []string, msg string) string {
	for _, s := range secrets {
		if len(s) >= 3 {
			msg = strings.ReplaceAll(msg, s, "[redacted]")
		}
	}
	return msg
}

func scrubbed(secrets []string, err error) error {
	return errors.New(scrub(secrets, err.Error()))
}

// Close drops this handle's reference to the shared pool; the pool is
// closed when the last handle is. Calling Close again does nothing.
func (p *Postgres) Close() error {
	if !p.closed.CompareAndSwap(false, true) {
		return nil
	}
	_, err := pgPools.Delete(p.poolKey)
	return err
}

func (p *Postgres) ready(ctx context.Context) error {
	if p.closed.Load() {
		return ErrClosed
	}
	return ctx.Err()
}

// q puts the schema into a statement: {s} stands for it.
func (p *Postgres) q(sql string) string { return strings.ReplaceAll(sql, "{s}", p.schema) }

func (p *Postgres) wrap(op string, err error) error { return pgWrap(p.secrets, op, err) }

// keep marks an error of the store's contract (ErrNotFound, a
// providers.Error, …) returned inside a transaction, so tx passes it on
// unchanged and rolls back.
type keep struct{ error }

func (k keep) Unwrap() error { return k.error }

// maxTxAttempts bounds the retries of a transaction PostgreSQL aborted
// for a deadlock or a serialization failure.
const maxTxAttempts = 8

// tx runs fn in a transaction, retrying it when PostgreSQL aborted it for
// a deadlock or a serialization failure. fn returns keep(err) for an
// error of the store's contract; other errors are wrapped with op.
func (p *Postgres) tx(ctx context.Context, op string, fn func(tx pgx.Tx) error) error {
	if err := p.ready(ctx); err != nil {
		return err
	}
	for attempt := 1; ; attempt++ {
		err := pgx.BeginTxFunc(ctx, p.pool, pgx.TxOptions{IsoLevel: pgx.ReadCommitted}, fn)
		if err == nil {
			return nil
		}
		var k keep
		if errors.As(err, &k) {
			return k.error
		}
		if retryable(err) && attempt < maxTxAttempts {
			continue
		}
		return p.wrap(op, err)
	}
}

// startingUp: the server answered cannot_connect_now (starting up or
// shutting down).
func startingUp(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "57P03"
}

// retryable: deadlock_detected, serialization_failure.
func retryable(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code == "40P01" || pe.Code == "40001")
}

// pgDecode decodes a stored JSON record into a fresh value.
func pgDecode[T any](kind, id string, raw []byte) (*T, error) {
	v := new(T)
	if err := json.Unmarshal(raw, v); err != nil {
		return nil, fmt.Errorf("store: decoding %s record %q: %w", kind, id, err)
	}
	return v, nil
}

// advisoryKey is the advisory lock that serialises the schema's
// migration: a hash of the schema name.
func advisoryKey(schema string) int64 {
	h := fnv.New64a()
	_, _ = h.Write([]byte("caddy-payments schema " + schema))
	return int64(h.Sum64())
}

// migrate creates the schema, or migrates it to PostgresSchemaVersion,
// in one transaction under a transaction-level advisory lock: instances
// starting together wait for each other, and a crash leaves the schema
// as it was. A schema of this version costs the lock and two reads.
func (p *Postgres) migrate(ctx context.Context, schema string) error {
	err := p.tx(ctx, "checking the schema version", func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, advisoryKey(schema)); err != nil {
			return err
		}
		var hasSchema, hasVersion bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1),
			to_regclass($2) IS NOT NULL`, schema, p.schema+".schema_version").Scan(&hasSchema, &hasVersion); err != nil {
			return err
		}
		found := 0
		if hasVersion {
			if err := tx.QueryRow(ctx, p.q(`SELECT version FROM {s}.schema_version`)).Scan(&found); err != nil && !errors.Is(err, pgx.ErrNoRows) {
				return err
			}
		}
		if found > PostgresSchemaVersion || found < 0 {
			return keep{&FormatError{Where: p.where + " (table schema_version)", Found: fmt.Sprint(found), Supported: PostgresSchemaVersion}}
		}
		if found == PostgresSchemaVersion {
			return nil
		}
		if !hasSchema {
			if _, err := tx.Exec(ctx, p.q(`CREATE SCHEMA {s}`)); err != nil {
				return err
			}
		}
		if !hasVersion {
			if _, err := tx.Exec(ctx, p.q(`CREATE TABLE {s}.schema_version (
				one boolean PRIMARY KEY DEFAULT true CHECK (one),
				version integer NOT NULL,
				migrated timestamptz NOT NULL DEFAULT now())`)); err != nil {
				return err
			}
		}
		for v := found; v < PostgresSchemaVersion; v++ {
			if _, err := tx.Exec(ctx, p.q(pgMigrations[v])); err != nil {
				return fmt.Errorf("migrating from schema version %d to %d: %w", v, v+1, err)
			}
		}
		_, err := tx.Exec(ctx, p.q(`INSERT INTO {s}.schema_version (one, version) VALUES (true, $1)
			ON CONFLICT (one) DO UPDATE SET version = EXCLUDED.version, migrated = now()`), PostgresSchemaVersion)
		return err
	})
	return err
}

// pgMigrations[v] takes the schema from version v to v+1 ({s} is the
// schema). Text keys that are ordered use the "C" collation: byte order,
// whatever the database's locale, as the other stores order them.
var pgMigrations = [PostgresSchemaVersion]string{pgSchemaV1}

const pgSchemaV1 = `
CREATE TABLE {s}.payments (
	id text COLLATE "C" PRIMARY KEY,
	tkey text COLLATE "C" NOT NULL, -- timeKey(created_at, id): GET /payments
	data bytea NOT NULL
);
CREATE INDEX payments_tkey ON {s}.payments (tkey);
CREATE TABLE {s}.refunds (id text COLLATE "C" PRIMARY KEY, data bytea NOT NULL);
CREATE TABLE {s}.payouts (id text COLLATE "C" PRIMARY KEY, data bytea NOT NULL);
CREATE TABLE {s}.once (key text COLLATE "C" PRIMARY KEY, expires timestamptz NOT NULL, data bytea NOT NULL);
CREATE INDEX once_expires ON {s}.once (expires);
CREATE TABLE {s}.idempotency (key text COLLATE "C" PRIMARY KEY, expires timestamptz NOT NULL, data bytea NOT NULL);
CREATE INDEX idempotency_expires ON {s}.idempotency (expires);
CREATE TABLE {s}.delivered (id text COLLATE "C" PRIMARY KEY, at timestamptz NOT NULL);
CREATE TABLE {s}.announced (key text COLLATE "C" PRIMARY KEY, event_id text NOT NULL);
CREATE TABLE {s}.outbox (
	event_id text COLLATE "C" PRIMARY KEY,
	next_at timestamptz NOT NULL, -- the entry's next attempt (or lease end): authoritative
	created timestamptz,
	data bytea NOT NULL
);
CREATE INDEX outbox_due ON {s}.outbox (next_at, event_id);
CREATE TABLE {s}.reconcile (
	id text COLLATE "C" PRIMARY KEY,
	next_at timestamptz NOT NULL,
	data bytea NOT NULL
);
CREATE INDEX reconcile_due ON {s}.reconcile (next_at, id);
CREATE TABLE {s}.events (
	event_id text COLLATE "C" PRIMARY KEY,
	tkey text COLLATE "C" NOT NULL, -- timeKey(created, event_id): GET /events
	data bytea NOT NULL
);
CREATE INDEX events_tkey ON {s}.events (tkey);
CREATE TABLE {s}.dropped (event_id text COLLATE "C" PRIMARY KEY, data bytea NOT NULL);
`

// PostgresIdentity names the state a DSN and schema reach, for telling
// two gateways' stores apart: server, database and schema, never the
// user's credentials. An unparsable DSN is an error that does not repeat
// it.
func PostgresIdentity(dsn, schema string) (string, error) {
	if schema == "" {
		schema = DefaultPostgresSchema
	}
	cfg, err := pgconn.ParseConfig(dsn)
	if err != nil {
		return "", errors.New("storage postgres: the dsn is not a valid PostgreSQL connection string; it is not shown here because it may hold a password")
	}
	return fmt.Sprintf("postgres %s:%d database %q schema %q", strings.ToLower(cfg.Host), cfg.Port, cfg.Database, schema), nil
}
