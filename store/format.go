package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
	bolt "go.etcd.io/bbolt"
)

// FormatVersion is the version of the stored state's layout and encoding
// that this code reads and writes. The state file keeps it in its bucket
// "format" (key "version"), Redis under the key P format (P the key
// prefix), both as a decimal number. State without it was written before
// versions existed; it is version 0 and has the layout of version 1.
//
// On open, state of an older version is migrated to this one, one version
// at a time (formatMigrations), and state of a newer version is refused
// with a FormatError: this code never reads, let alone writes, a format it
// does not know. A new version adds its migration step and raises
// FormatVersion.
const FormatVersion = 2

// ErrFormatTooNew is what a FormatError for state newer than FormatVersion
// matches with errors.Is.
var ErrFormatTooNew = errors.New("store: state written in a newer format")

// FormatError refuses state whose format version this code does not know.
type FormatError struct {
	// Where names the state: the file's path, or Redis's address, db and
	// key prefix.
	Where string
	// Found is the version the state carries (its raw text when that is
	// not a version number), Supported is FormatVersion.
	Found     string
	Supported int
}

func (e *FormatError) Error() string {
	return fmt.Sprintf("store: %s has format version %s, but this release supports versions up to %d: "+
		"refusing to open it (it was written by a newer release; a downgrade past a format version is not supported)",
		e.Where, e.Found, e.Supported)
}

// Is makes a FormatError match ErrFormatTooNew.
func (e *FormatError) Is(target error) bool { return target == ErrFormatTooNew }

// parseFormat reads a stored version: absent is 0; anything but a
// non-negative decimal number is refused like a newer version.
func parseFormat(where string, raw []byte, present bool) (int, error) {
	if !present {
		return 0, nil
	}
	v, err := strconv.Atoi(string(raw))
	if err != nil || v < 0 || strconv.Itoa(v) != string(raw) {
		return 0, &FormatError{Where: where, Found: strconv.Quote(string(raw)), Supported: FormatVersion}
	}
	if v > FormatVersion {
		return 0, &FormatError{Where: where, Found: string(raw), Supported: FormatVersion}
	}
	return v, nil
}

// formatMigration moves state from version From to From+1. Each step must
// be idempotent: in Redis a step that was interrupted is run again (the
// version is raised only once a step has completed); in bbolt every step
// and the new version are one transaction.
type formatMigration struct {
	// bolt runs in the migration's write transaction; nil when the step
	// changes nothing in the file.
	bolt func(tx *bolt.Tx) error
	// redis runs before the version is raised; nil when the step changes
	// nothing in Redis.
	redis func(ctx context.Context, r *Redis) error
}

// formatMigrations[v] migrates version v to v+1.
var formatMigrations = [FormatVersion]formatMigration{
	// 0 → 1. Version 0 is every state written before format versions:
	// its layout and records are version 1's, so records stay as they
	// are. In the file, version 1 also promises that the due-time indexes
	// (bolt_index.go) were built by code that keeps them: the step forgets
	// which transaction last kept them, so openDB's open transaction,
	// which follows, rebuilds them from the queue records (a rebuild that
	// a crash in between leaves to the next open). Redis has nothing to
	// change: its sorted sets are the queues' schedule itself.
	{bolt: func(tx *bolt.Tx) error {
		if meta := tx.Bucket(bucketDueMeta); meta != nil {
			return meta.Delete(dueMetaTx)
		}
		return nil
	}},
	// 1 → 2. Version 2 keeps payments in a time index (bolt_events.go,
	// redis_events.go) for GET /payments without reference: the step
	// indexes the payments stored before.
	{bolt: indexPaymentsTx, redis: indexRedisPayments},
}

// Where the file keeps its format version.
var (
	bucketFormat     = []byte("format")
	formatVersionKey = []byte("version")
)

// boltFormatOf reads the version stored in the file (0 when none).
func boltFormatOf(tx *bolt.Tx, path string) (int, error) {
	bk := tx.Bucket(bucketFormat)
	if bk == nil {
		return parseFormat(path, nil, false)
	}
	raw := bk.Get(formatVersionKey)
	return parseFormat(path, raw, raw != nil)
}

// migrateBoltFormat checks the format version of the just opened file at
// path before anything is written to it (openDB calls it first): a file of
// this version costs one read-only transaction; a newer or unreadable
// version is refused with a FormatError; an older one, or none, is
// migrated and stamped with FormatVersion in one write transaction, so a
// crash leaves the file either as it was or migrated. A new file (no
// buckets at all) is just stamped.
func migrateBoltFormat(db *bolt.DB, path string) error {
	var found int
	err := db.View(func(tx *bolt.Tx) (err error) {
		found, err = boltFormatOf(tx, path)
		return err
	})
	if err != nil || found == FormatVersion {
		return err
	}
	err = db.Update(func(tx *bolt.Tx) error {
		v, err := boltFormatOf(tx, path)
		if err != nil {
			return err
		}
		if k, _ := tx.Cursor().First(); k == nil {
			v = FormatVersion // a new file
		}
		for ; v < FormatVersion; v++ {
			if step := formatMigrations[v].bolt; step != nil {
				if err := step(tx); err != nil {
					return fmt.Errorf("migrating from format version %d to %d: %w", v, v+1, err)
				}
			}
		}
		bk, err := tx.CreateBucketIfNotExists(bucketFormat)
		if err != nil {
			return err
		}
		return bk.Put(formatVersionKey, []byte(strconv.Itoa(FormatVersion)))
	})
	if err != nil {
		var fe *FormatError
		if errors.As(err, &fe) {
			return err
		}
		return fmt.Errorf("store: migrating %s to format version %d: %w", path, FormatVersion, err)
	}
	return nil
}

// redisFormatKey is the key (after the prefix) of the format version.
const redisFormatKey = "format"

// scriptFormatStep raises the version from ARGV[1] to ARGV[2] only if it is
// still ARGV[1] (absent counts as 0), and returns the version then stored,
// so two instances migrating at once cannot skip a step, and an older
// release cannot lower a version a newer one set.
var scriptFormatStep = redis.NewScript(`
local v = redis.call('GET', KEYS[1]) or '0'
if v == ARGV[1] then
	redis.call('SET', KEYS[1], ARGV[2])
	return ARGV[2]
end
return v
`)

// openRedisFormat is OpenRedis's last step: it checks the format version
// under r's prefix and migrates older state, one step at a time, raising
// the stored version after each completed step (the version is the
// marker: a step cut short is run again on the next open). A newer or
// unreadable version is refused with a FormatError. On error r is closed.
func openRedisFormat(r *Redis, opts RedisOptions) (*Redis, error) {
	where := fmt.Sprintf("redis at %s (db %d, key prefix %q)", opts.Addr, opts.DB, opts.KeyPrefix)
	ctx, cancel := context.WithTimeout(context.Background(), opts.DialTimeout+30*time.Second)
	defer cancel()
	if err := migrateRedisFormat(ctx, r, where); err != nil {
		_ = r.Close()
		var fe *FormatError
		if errors.As(err, &fe) {
			return nil, err
		}
		return nil, fmt.Errorf("store: checking the format version of %s: %w", where, err)
	}
	return r, nil
}

func migrateRedisFormat(ctx context.Context, r *Redis, where string) error {
	key := r.prefix + redisFormatKey
	raw, err := r.client.Get(ctx, key).Bytes()
	present := err == nil
	if err != nil && !errors.Is(err, redis.Nil) {
		return err
	}
	for {
		v, err := parseFormat(where, raw, present)
		if err != nil || v == FormatVersion {
			return err
		}
		if step := formatMigrations[v].redis; step != nil {
			if err := step(ctx, r); err != nil {
				return fmt.Errorf("migrating from format version %d to %d: %w", v, v+1, err)
			}
		}
		now, err := scriptFormatStep.Run(ctx, r.client, []string{key}, strconv.Itoa(v), strconv.Itoa(v+1)).Text()
		if err != nil {
			return err
		}
		raw, present = []byte(now), true
	}
}
