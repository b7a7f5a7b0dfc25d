package store

import (
	"context"
	"net"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// PostgresReplyTimeout bounds how long the store waits for any reply of
// the server once it has sent something: a server that stops answering
// (a synchronous standby that is gone, a partition without a reset, a
// stopped process) then fails the operation — the gateway answers 503,
// or leaves a provider's notification unacknowledged — instead of holding
// the request and a pool connection forever. statement_timeout cannot do
// this: it is the server's, and a commit waiting for a standby is not a
// statement.
const PostgresReplyTimeout = 10 * time.Second

// withReplyTimeout makes every connection of cfg a deadlineConn.
func withReplyTimeout(cfg *pgxpool.Config, timeout time.Duration) {
	dial := cfg.ConnConfig.DialFunc
	if dial == nil {
		d := &net.Dialer{KeepAlive: 30 * time.Second}
		dial = d.DialContext
	}
	cfg.ConnConfig.DialFunc = func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dial(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return &deadlineConn{Conn: c, timeout: timeout}, nil
	}
}

// deadlineConn gives each Read a deadline of timeout from its start,
// unless pgconn set an earlier one itself (it sets a deadline to
// interrupt a read when the operation's context ends, and clears it
// after), which it keeps.
type deadlineConn struct {
	net.Conn
	timeout time.Duration

	mu  sync.Mutex
	own time.Time // the read deadline pgconn set (zero: none)
}

func (c *deadlineConn) Read(b []byte) (int, error) {
	d := time.Now().Add(c.timeout)
	c.mu.Lock()
	if !c.own.IsZero() && c.own.Before(d) {
		d = c.own
	}
	err := c.Conn.SetReadDeadline(d)
	c.mu.Unlock()
	if err != nil {
		return 0, err
	}
	return c.Conn.Read(b)
}

func (c *deadlineConn) SetDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.own = t
	return c.Conn.SetDeadline(t)
}

func (c *deadlineConn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.own = t
	return c.Conn.SetReadDeadline(t)
}
