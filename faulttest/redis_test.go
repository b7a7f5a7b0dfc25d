//go:build unix

package faulttest

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// startRedis runs Debian's redis-server on a free loopback port, without
// persistence, with a password (as production Redis has), and returns the
// port.
func startRedis(t *testing.T, dir, password string) int {
	t.Helper()
	path, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatal("redis-server is not installed (apt-get install redis-server); the fault test needs it")
	}
	port := freePort(t)
	p := &proc{name: "redis", log: filepath.Join(dir, "redis.log"), argv: []string{path,
		"--port", fmt.Sprint(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir, "--requirepass", password}}
	if err := p.start(t); err != nil {
		t.Fatal(err)
	}
	if err := waitTCP(p, fmt.Sprintf("127.0.0.1:%d", port), 10*time.Second); err != nil {
		t.Fatalf("%v\n%s", err, p.tail(20))
	}
	return port
}
