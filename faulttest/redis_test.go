//go:build unix

package faulttest

import (
	"net"
	"strconv"
	"testing"

	"github.com/caddy-payments/caddy-payments/internal/redistest"
)

// startRedis runs Debian's redis-server with a password (as production
// Redis has) and returns its port. The fault test needs it: a missing
// redis-server fails the test.
func startRedis(t *testing.T, password string) int {
	t.Helper()
	s, err := redistest.Start("--requirepass", password)
	if err != nil {
		t.Fatalf("the fault test needs redis-server: %v", err)
	}
	t.Cleanup(s.Stop)
	_, port, _ := net.SplitHostPort(s.Addr)
	n, _ := strconv.Atoi(port)
	return n
}
