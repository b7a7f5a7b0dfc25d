// Package pgtest runs a throwaway PostgreSQL cluster for tests and
// benchmarks: Debian's initdb, pg_ctl and postgres (the postgresql
// package), in a temporary directory of its own, listening on a free
// loopback port and on a unix socket in that directory. initdb and
// postgres refuse to run as root, so as root they run as the postgres
// user (runuser).
//
// The cluster's superuser is "postgres" with the password Password over
// TCP (scram-sha-256), so the tests exercise a password in the DSN.
package pgtest

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// Password is the superuser's password of every test cluster.
const Password = "pg-test-pass-never-shown"

// ErrNotInstalled is Start's error when the PostgreSQL server binaries
// are not found.
var ErrNotInstalled = errors.New("PostgreSQL server binaries (initdb, pg_ctl) are not installed (apt-get install postgresql)")

// Required reports whether missing PostgreSQL binaries must fail the
// tests instead of skipping them: under CI (CI=true), which installs
// them, or with PAYMENTS_REQUIRE_POSTGRES=1.
func Required() bool {
	return os.Getenv("CI") == "true" || os.Getenv("PAYMENTS_REQUIRE_POSTGRES") == "1"
}

// Options shape the cluster.
type Options struct {
	// Durable keeps fsync and synchronous_commit on, as in production
	// (benchmarks); the tests turn both off to spare the shared disk.
	Durable bool
	// Settings are extra "-c name=value" server settings.
	Settings []string
}

// Server is a running cluster.
type Server struct {
	Host string // 127.0.0.1
	Port int
	dir  string
	bin  string
	data string
	opt  string // pg_ctl -o: port and settings, kept for Restart
}

// BinDir finds the directory of initdb and pg_ctl: $PAYMENTS_PG_BIN, the
// newest /usr/lib/postgresql/<version>/bin, or the directory of initdb
// on PATH.
func BinDir() (string, error) {
	if d := os.Getenv("PAYMENTS_PG_BIN"); d != "" {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d, nil
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return versionOf(dirs[i]) > versionOf(dirs[j]) })
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d, nil
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		return filepath.Dir(p), nil
	}
	return "", ErrNotInstalled
}

func versionOf(binDir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return n
}

// command runs bin as the postgres user when this process is root.
func command(bin string, args ...string) *exec.Cmd {
	if os.Geteuid() == 0 {
		return exec.Command("runuser", append([]string{"-u", "postgres", "--", bin}, args...)...)
	}
	return exec.Command(bin, args...)
}

// Start creates and starts a cluster and waits until it accepts
// connections.
func Start(opts Options) (*Server, error) {
	bin, err := BinDir()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "payments-pg-")
	if err != nil {
		return nil, err
	}
	s := &Server{Host: "127.0.0.1", dir: dir, bin: bin, data: filepath.Join(dir, "data")}
	fail := func(err error) (*Server, error) {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			return fail(fmt.Errorf("running as root, initdb needs the postgres user: %w", err))
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			return fail(err)
		}
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return fail(err)
	}
	pwfile := filepath.Join(dir, "pw")
	if err := os.WriteFile(pwfile, []byte(Password+"\n"), 0o644); err != nil {
		return fail(err)
	}
	if os.Geteuid() == 0 {
		_ = exec.Command("chown", "postgres:", pwfile).Run()
	}
	out, err := command(filepath.Join(bin, "initdb"), "-D", s.data, "-U", "postgres", "--pwfile", pwfile,
		"--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync").CombinedOutput()
	if err != nil {
		return fail(fmt.Errorf("initdb: %v\n%s", err, out))
	}
	_ = os.Remove(pwfile)
	settings := []string{"listen_addresses=127.0.0.1", "unix_socket_directories=" + dir, "max_connections=200",
		"shared_buffers=64MB", "logging_collector=off"}
	if !opts.Durable {
		settings = append(settings, "fsync=off", "synchronous_commit=off", "full_page_writes=off")
	}
	settings = append(settings, opts.Settings...)
	for attempt := 0; ; attempt++ {
		s.Port, err = freePort()
		if err != nil {
			return fail(err)
		}
		s.opt = "-p " + strconv.Itoa(s.Port)
		for _, kv := range settings {
			s.opt += " -c " + kv
		}
		if err = s.start(); err == nil {
			return s, nil
		}
		if attempt == 2 {
			log, _ := os.ReadFile(filepath.Join(dir, "log"))
			return fail(fmt.Errorf("%v\n%s", err, log))
		}
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// DSN is a URL connecting to database db (postgres when empty) over TCP
// as the superuser, with the password and sslmode=disable.
func (s *Server) DSN(db string) string {
	if db == "" {
		db = "postgres"
	}
	u := url.URL{Scheme: "postgres", User: url.UserPassword("postgres", Password),
		Host: net.JoinHostPort(s.Host, strconv.Itoa(s.Port)), Path: "/" + db, RawQuery: "sslmode=disable"}
	return u.String()
}

// Addr is host:port.
func (s *Server) Addr() string { return net.JoinHostPort(s.Host, strconv.Itoa(s.Port)) }

// Exec runs SQL through psql on the unix socket (as the superuser,
// trusted locally) and returns its output.
func (s *Server) Exec(db, sql string) (string, error) {
	if db == "" {
		db = "postgres"
	}
	var stdout, stderr bytes.Buffer
	cmd := command(filepath.Join(s.bin, "psql"), "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", s.dir, "-p", strconv.Itoa(s.Port),
		"-U", "postgres", "-d", db, "-c", sql)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("psql: %v: %s", err, stderr.String())
	}
	return strings.TrimSpace(stdout.String()), nil
}

// CreateDB creates a database.
func (s *Server) CreateDB(name string) error {
	_, err := s.Exec("", `CREATE DATABASE "`+name+`"`)
	return err
}

// Stop stops the cluster at once (immediate mode: a crash, as far as
// the data directory is concerned) and removes its directory.
func (s *Server) Stop() {
	_ = command(filepath.Join(s.bin, "pg_ctl"), "stop", "-m", "immediate", "-w", "-t", "30", "-D", s.data).Run()
	_ = os.RemoveAll(s.dir)
}

// Restart stops the cluster in mode (immediate: as after a crash; fast:
// a clean shutdown) and starts it again on the same port and data.
func (s *Server) Restart(mode string) error {
	if out, err := command(filepath.Join(s.bin, "pg_ctl"), "stop", "-m", mode, "-w", "-t", "30", "-D", s.data).CombinedOutput(); err != nil {
		return fmt.Errorf("pg_ctl stop: %v\n%s", err, out)
	}
	return s.start()
}

// Halt stops the server in mode (immediate: as a crash; fast: a clean
// shutdown) and leaves it stopped, its data kept, until Resume.
func (s *Server) Halt(mode string) error {
	if out, err := command(filepath.Join(s.bin, "pg_ctl"), "stop", "-m", mode, "-w", "-t", "30", "-D", s.data).CombinedOutput(); err != nil {
		return fmt.Errorf("pg_ctl stop: %v\n%s", err, out)
	}
	return nil
}

// Resume starts a halted server again, on the same port and data.
func (s *Server) Resume() error { return s.start() }

func (s *Server) start() error {
	out, err := command(filepath.Join(s.bin, "pg_ctl"), "start", "-w", "-t", "60", "-D", s.data,
		"-l", filepath.Join(s.dir, "log"), "-o", s.opt).CombinedOutput()
	if err != nil {
		return fmt.Errorf("pg_ctl start: %v\n%s", err, out)
	}
	return nil
}

// StartT is Start for one test or benchmark, stopped when it ends. Missing
// binaries skip it, or fail it when Required.
func StartT(t testing.TB, opts Options) *Server {
	t.Helper()
	s, err := Start(opts)
	switch {
	case errors.Is(err, ErrNotInstalled) && !Required():
		t.Skip(err)
	case err != nil:
		t.Fatalf("starting PostgreSQL: %v", err)
	}
	t.Cleanup(s.Stop)
	return s
}
