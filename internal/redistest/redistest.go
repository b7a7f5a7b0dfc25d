// Package redistest runs Debian's redis-server for tests: without
// persistence, on a free loopback port, in a directory of its own.
package redistest

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"testing"
	"time"
)

// Required reports whether a missing redis-server must fail the tests
// instead of skipping them: under CI (CI=true), which installs it, or with
// PAYMENTS_REQUIRE_REDIS=1.
func Required() bool {
	return os.Getenv("CI") == "true" || os.Getenv("PAYMENTS_REQUIRE_REDIS") == "1"
}

// Server is a running redis-server.
type Server struct {
	Addr string // 127.0.0.1:<port>
	cmd  *exec.Cmd
	dir  string
	mu   sync.Mutex
	logs bytes.Buffer
}

// FreePort asks the kernel for a loopback port that was free a moment ago.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// ErrNotInstalled is Start's error when redis-server is not on PATH.
var ErrNotInstalled = errors.New("redis-server is not installed (apt-get install redis-server)")

// Start runs redis-server with args added to its command line (e.g.
// "--requirepass", pw) and waits until it accepts connections.
func Start(args ...string) (*Server, error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, ErrNotInstalled
	}
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "payments-redis-")
	if err != nil {
		return nil, err
	}
	s := &Server{Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), dir: dir}
	s.cmd = exec.Command(bin, append([]string{"--port", strconv.Itoa(port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", dir}, args...)...)
	s.cmd.Stdout, s.cmd.Stderr = s, s
	if err := s.cmd.Start(); err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	for deadline := time.Now().Add(10 * time.Second); ; {
		if c, err := net.DialTimeout("tcp", s.Addr, time.Second); err == nil {
			c.Close()
			return s, nil
		}
		if time.Now().After(deadline) {
			s.Stop()
			return nil, fmt.Errorf("redis-server did not listen on %s:\n%s", s.Addr, s.Logs())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Write collects the server's output (for Logs).
func (s *Server) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.logs.Write(p)
}

// Logs is what the server printed so far.
func (s *Server) Logs() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.logs.String()
}

// Stop kills the server and removes its directory.
func (s *Server) Stop() {
	_ = s.cmd.Process.Kill()
	_ = s.cmd.Wait()
	_ = os.RemoveAll(s.dir)
}

// StartT is Start for one test, stopped when the test ends. A missing
// redis-server skips the test, or fails it when Required.
func StartT(t testing.TB, args ...string) *Server {
	t.Helper()
	s, err := Start(args...)
	switch {
	case errors.Is(err, ErrNotInstalled) && !Required():
		t.Skip(err)
	case err != nil:
		t.Fatalf("starting redis-server: %v", err)
	}
	t.Cleanup(s.Stop)
	return s
}
