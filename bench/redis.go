package main

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"
)

// redisProc is the benchmark's own redis-server (-storage redis): on a
// free loopback port, in a directory of the run's temp dir, with the AOF
// fsynced every second (appendfsync everysec, as in issue #11's
// measurement) and no RDB snapshots.
type redisProc struct {
	cmd  *exec.Cmd
	addr string
	done chan struct{}
	log  string
}

// startRedis starts redis-server (from PATH, or -redis-server) and waits
// until it accepts connections.
func startRedis(bin, dir string) (*redisProc, error) {
	if bin == "" {
		bin = "redis-server"
	}
	path, err := exec.LookPath(bin)
	if err != nil {
		return nil, fmt.Errorf("-storage redis needs redis-server (Debian: apt-get install redis-server): %w", err)
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	data := filepath.Join(dir, "redis")
	if err := os.MkdirAll(data, 0o700); err != nil {
		return nil, err
	}
	r := &redisProc{addr: "127.0.0.1:" + strconv.Itoa(port), done: make(chan struct{}), log: filepath.Join(data, "redis.log")}
	r.cmd = exec.Command(path, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--dir", data,
		"--appendonly", "yes", "--appendfsync", "everysec", "--save", "", "--daemonize", "no",
		"--protected-mode", "yes", "--logfile", r.log)
	detach(r.cmd)
	if err := r.cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting redis-server: %w", err)
	}
	go func() {
		_ = r.cmd.Wait()
		close(r.done)
	}()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-r.done:
			b, _ := os.ReadFile(r.log)
			return nil, fmt.Errorf("redis-server exited while starting:\n%s", b)
		default:
		}
		if c, err := net.DialTimeout("tcp", r.addr, time.Second); err == nil {
			_, _ = c.Write([]byte("PING\r\n"))
			buf := make([]byte, 16)
			_ = c.SetReadDeadline(time.Now().Add(time.Second))
			n, _ := c.Read(buf)
			c.Close()
			if string(buf[:n]) == "+PONG\r\n" {
				return r, nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	r.stop()
	return nil, errors.New("redis-server did not answer PING within 20s")
}

// stop ends redis-server (SIGTERM, then SIGKILL).
func (r *redisProc) stop() {
	if r == nil || r.cmd.Process == nil {
		return
	}
	select {
	case <-r.done:
		return
	default:
	}
	_ = r.cmd.Process.Signal(os.Interrupt)
	select {
	case <-r.done:
	case <-time.After(10 * time.Second):
		killGroup(r.cmd.Process.Pid)
		<-r.done
	}
}
