package store_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/caddy-payments/caddy-payments/providers"
	"github.com/caddy-payments/caddy-payments/store"
	"github.com/caddy-payments/caddy-payments/store/storetest"
)

// openTemp opens a Bolt on a new file in a fresh temporary directory.
func openTemp(t *testing.T) (*store.Bolt, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "nested", "dir", "state.db")
	b, err := store.OpenBolt(path)
	if err != nil {
		t.Fatalf("OpenBolt: %v", err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b, path
}

func TestBoltSuite(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		b, _ := openTemp(t)
		// After each test of the suite, the due-time indexes must say what
		// the queues say.
		t.Cleanup(func() {
			if err := store.CheckDueIndexes(b); err != nil {
				t.Errorf("due indexes out of step: %v", err)
			}
		})
		return b
	})
}

func TestBoltFileModes(t *testing.T) {
	_, path := openTemp(t)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if m := fi.Mode().Perm(); m != 0o600 {
		t.Errorf("file mode %o, want 600", m)
	}
	for _, dir := range []string{filepath.Dir(path), filepath.Dir(filepath.Dir(path))} {
		di, err := os.Stat(dir)
		if err != nil {
			t.Fatal(err)
		}
		if m := di.Mode().Perm(); m != 0o700 {
			t.Errorf("%s mode %o, want 700", dir, m)
		}
	}
}

func TestBoltPersistsAcrossReopen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "state.db")
	b, err := store.OpenBolt(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.PutPayment(ctx, storetest.Payment("p1", 1000)); err != nil {
		t.Fatal(err)
	}
	if _, err := b.ReserveRefund(ctx, "p1", "k1", 250); err != nil {
		t.Fatal(err)
	}
	if _, _, err := b.ApplyPaymentStatus(ctx, "p1", providers.StatusSucceeded, true, store.StatusChange{Source: "fetch"}); err != nil {
		t.Fatal(err)
	}
	if err := b.PutRefund(ctx, &store.RefundRecord{ID: "r1", Key: "k1", PaymentID: "p1", Amount: 250, Status: providers.RefundPending}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.PutPayout(ctx, &store.PayoutRecord{ID: "po1", Amount: 5, Status: providers.PayoutPending}); err != nil {
		t.Fatal(err)
	}
	if err := b.MarkDelivered(ctx, "evt_1"); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}

	// The file must really have been closed: a plain bbolt open (its own
	// file lock) succeeds at once.
	raw, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatalf("file still locked after Close: %v", err)
	}
	if err := raw.Close(); err != nil {
		t.Fatal(err)
	}

	b, err = store.OpenBolt(path)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	pay, err := b.GetPayment(ctx, "p1")
	if err != nil {
		t.Fatal(err)
	}
	if pay.Amount != 1000 || pay.AmountRefunded != 250 || pay.Refunds["k1"] != 250 || pay.Status != providers.StatusSucceeded || len(pay.History) != 2 {
		t.Fatalf("payment after reopen: %+v", pay)
	}
	if r, err := b.GetRefund(ctx, "r1"); err != nil || r.Amount != 250 {
		t.Fatalf("refund after reopen: %+v, %v", r, err)
	}
	if p, err := b.GetPayout(ctx, "po1"); err != nil || p.Amount != 5 {
		t.Fatalf("payout after reopen: %+v, %v", p, err)
	}
	if ok, err := b.Delivered(ctx, "evt_1"); err != nil || !ok {
		t.Fatalf("delivered after reopen: %v, %v", ok, err)
	}
}

// TestBoltSharedAcrossOpens is the config-reload case: the new config opens
// the same path while the old one still has it open (bbolt's exclusive lock
// would make a second real open block), then the old one closes.
func TestBoltSharedAcrossOpens(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "state.db")
	oldCfg, err := store.OpenBolt(path)
	if err != nil {
		t.Fatal(err)
	}

	done := make(chan error, 1)
	var newCfg *store.Bolt
	go func() {
		var err error
		// A relative spelling of the same file must share too.
		newCfg, err = store.OpenBolt(filepath.Join(dir, ".", "sub", "..", "state.db"))
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("second OpenBolt of the same path blocked")
	}
	defer newCfg.Close()

	if _, err := oldCfg.PutPayment(ctx, storetest.Payment("p1", 100)); err != nil {
		t.Fatal(err)
	}
	if _, err := newCfg.GetPayment(ctx, "p1"); err != nil {
		t.Fatalf("new handle does not see the old handle's write: %v", err)
	}

	if err := oldCfg.Close(); err != nil {
		t.Fatal(err)
	}
	if err := oldCfg.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := oldCfg.GetPayment(ctx, "p1"); !errors.Is(err, store.ErrClosed) {
		t.Fatalf("closed handle: err = %v, want ErrClosed", err)
	}
	if _, err := newCfg.ReserveRefund(ctx, "p1", "k", 10); err != nil {
		t.Fatalf("remaining handle unusable after the other closed: %v", err)
	}
	if err := newCfg.MarkDelivered(ctx, "evt"); err != nil {
		t.Fatal(err)
	}
}

// TestBoltLockedByOtherProcess: a lock held outside this process's pool
// (here a raw bbolt handle on its own file descriptor, which flock treats
// like another process) gives a clear error after the timeout, not a hang.
func TestBoltLockedByOtherProcess(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "state.db")
	raw, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()

	start := time.Now()
	b, err := store.OpenBolt(path)
	if err == nil {
		b.Close()
		t.Fatal("OpenBolt succeeded on a locked file")
	}
	if !errors.Is(err, bolt.ErrTimeout) || !strings.Contains(err.Error(), "locked by another process") {
		t.Fatalf("err = %v, want a lock timeout", err)
	}
	if d := time.Since(start); d > 15*time.Second {
		t.Fatalf("took %v", d)
	}

	// The failed open left nothing behind in the pool: once the lock is
	// gone the path opens normally.
	if err := raw.Close(); err != nil {
		t.Fatal(err)
	}
	b, err = store.OpenBolt(path)
	if err != nil {
		t.Fatalf("OpenBolt after the lock was released: %v", err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestDefaultPath: the state lives under Caddy's data directory, and an
// empty path means that default.
func TestDefaultPath(t *testing.T) {
	data := t.TempDir()
	t.Setenv("XDG_DATA_HOME", data)
	want := filepath.Join(data, "caddy", "payments", "state.db")
	if got := store.DefaultPath(); got != want {
		t.Fatalf("DefaultPath() = %q, want %q", got, want)
	}
	b, err := store.OpenBolt("")
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if _, err := os.Stat(want); err != nil {
		t.Fatalf("OpenBolt(\"\") did not create the default file: %v", err)
	}
}
