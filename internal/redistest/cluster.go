package redistest

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// Cluster is a Redis Cluster of redis-servers on loopback: Primaries
// primaries with Replicas replicas each (redis-cli --cluster create puts
// each replica on another primary's slots).
type Cluster struct {
	Nodes []*Server // every node, in the order given to redis-cli
}

// Addrs are the nodes' addresses (seed nodes for a cluster client).
func (c *Cluster) Addrs() []string {
	out := make([]string, len(c.Nodes))
	for i, n := range c.Nodes {
		out[i] = n.Addr
	}
	return out
}

// Stop stops every node.
func (c *Cluster) Stop() {
	for _, n := range c.Nodes {
		n.Stop()
	}
}

// clusterNodeTimeout is the nodes' cluster-node-timeout: how long a
// primary may be unreachable before its replica takes over.
const clusterNodeTimeout = 1500 * time.Millisecond

// StartCluster starts primaries×(1+replicas) cluster-enabled servers,
// joins them with redis-cli --cluster create, and waits until every node
// reports cluster_state:ok.
func StartCluster(primaries, replicas int) (*Cluster, error) {
	cli, err := exec.LookPath("redis-cli")
	if err != nil {
		return nil, ErrNotInstalled
	}
	c := &Cluster{}
	for range primaries * (1 + replicas) {
		s, err := Start("--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
			"--cluster-node-timeout", fmt.Sprint(clusterNodeTimeout.Milliseconds()))
		if err != nil {
			c.Stop()
			return nil, err
		}
		c.Nodes = append(c.Nodes, s)
	}
	args := append([]string{"--cluster", "create"}, c.Addrs()...)
	args = append(args, "--cluster-replicas", fmt.Sprint(replicas), "--cluster-yes")
	if out, err := exec.Command(cli, args...).CombinedOutput(); err != nil {
		c.Stop()
		return nil, fmt.Errorf("redis-cli --cluster create: %v\n%s", err, out)
	}
	for _, n := range c.Nodes {
		if err := waitClusterOK(n.Addr, 20*time.Second); err != nil {
			c.Stop()
			return nil, err
		}
	}
	if replicas > 0 {
		for _, n := range c.Nodes {
			if err := waitReplicasOnline(n.Addr, 20*time.Second); err != nil {
				c.Stop()
				return nil, err
			}
		}
	}
	return c, nil
}

// StartClusterT is StartCluster for one test, stopped when it ends; a
// missing redis-server skips the test unless Required.
func StartClusterT(t testing.TB, primaries, replicas int) *Cluster {
	t.Helper()
	c, err := StartCluster(primaries, replicas)
	switch {
	case err == ErrNotInstalled && !Required():
		t.Skip(err)
	case err != nil:
		t.Fatalf("starting a redis cluster: %v", err)
	}
	t.Cleanup(c.Stop)
	return c
}

// waitClusterOK polls CLUSTER INFO on addr (plain RESP over TCP, so this
// package needs no client library) until cluster_state is ok.
func waitClusterOK(addr string, within time.Duration) error {
	deadline := time.Now().Add(within)
	last := ""
	for time.Now().Before(deadline) {
		info, err := command(addr, "CLUSTER", "INFO")
		if err == nil && strings.Contains(info, "cluster_state:ok") {
			return nil
		}
		last = fmt.Sprint(info, err)
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("redis cluster node %s not ok after %s: %s", addr, within, last)
}

// waitReplicasOnline waits until a primary's replicas (if addr is one)
// are all in sync (INFO replication: no replica in a state but online).
func waitReplicasOnline(addr string, within time.Duration) error {
	deadline := time.Now().Add(within)
	for {
		info, err := command(addr, "INFO", "replication")
		if err == nil && (strings.Contains(info, "role:slave") ||
			strings.Count(info, "state=online") == strings.Count(info, ",state=") && !strings.Contains(info, "connected_slaves:0")) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("redis node %s: replicas not in sync after %s: %s %v", addr, within, info, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// command sends one command and returns a bulk or simple string reply.
func command(addr string, args ...string) (string, error) {
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(2 * time.Second))
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	if _, err := conn.Write([]byte(b.String())); err != nil {
		return "", err
	}
	r := bufio.NewReader(conn)
	line, err := r.ReadString('\n')
	if err != nil {
		return "", err
	}
	switch line[0] {
	case '+':
		return strings.TrimRight(line[1:], "\r\n"), nil
	case '-':
		return "", fmt.Errorf("%s", strings.TrimRight(line[1:], "\r\n"))
	case '$':
		var n int
		if _, err := fmt.Sscanf(line[1:], "%d", &n); err != nil || n < 0 {
			return "", fmt.Errorf("bad reply %q", line)
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(r, buf); err != nil {
			return "", err
		}
		return string(buf[:n]), nil
	}
	return "", fmt.Errorf("unexpected reply %q", line)
}
