package sandbox

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"time"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
)

// The sandbox is reachable by anyone who can reach Caddy, its secrets are
// published, and it posts notifications to URLs its callers name. Unless
// allow_remote says otherwise it therefore serves loopback clients only
// and notifies loopback targets only, so it cannot be used to reach (or
// read) anything beyond the machine it runs on.

// errRemoteTarget is the refusal of a notification target that is not a
// loopback address.
type errRemoteTarget struct{ addr string }

func (e *errRemoteTarget) Error() string {
	return fmt.Sprintf("refused: %s is not a loopback address; the sandbox notifies loopback targets only "+
		"(payments_sandbox option: allow_remote targets)", e.addr)
}

// loopbackOnlyControl is a net.Dialer Control function that refuses every
// connection to an address that is not loopback. It sees the address
// actually dialed, after name resolution, so a host name that resolves
// (or re-resolves) elsewhere cannot get past it.
func loopbackOnlyControl(_, address string, _ syscall.RawConn) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		host = address
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return &errRemoteTarget{addr: host}
}

// newNotifyClient is the HTTP client that delivers notifications. It never
// follows redirects (a 3xx is recorded as the answer), never uses a proxy
// from the environment (the dialed address must be the target's own), and
// dials loopback addresses only unless allowRemote.
func newNotifyClient(allowRemote bool) *http.Client {
	dialer := &net.Dialer{Timeout: notifyTimeout, KeepAlive: 30 * time.Second}
	if !allowRemote {
		dialer.Control = loopbackOnlyControl
	}
	return &http.Client{
		Timeout: notifyTimeout,
		Transport: &http.Transport{
			Proxy:                 nil,
			DialContext:           dialer.DialContext,
			ForceAttemptHTTP2:     true,
			MaxIdleConns:          16,
			IdleConnTimeout:       90 * time.Second,
			TLSHandshakeTimeout:   notifyTimeout,
			ExpectContinueTimeout: time.Second,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// maxAckBody is how much of a receiver's answer the sandbox reads to
// decide whether it acknowledged (payabl. expects the body "OK"). The
// answer is never stored or published.
const maxAckBody = 1024

// deliver sends one notification request and returns the receiver's HTTP
// status, the first maxAckBody bytes of its answer (for the caller's
// acknowledgement check only: it must not be recorded), and an error
// description for the inspection listing.
func (e *env) deliver(req *http.Request) (int, []byte, string) {
	resp, err := e.client.Do(req)
	if err != nil {
		var refused *errRemoteTarget
		if errors.As(err, &refused) {
			e.logger.Warn("payments sandbox: refused a notification target that is not a loopback address",
				zap.String("host", req.URL.Hostname()),
				zap.String("resolved", refused.addr),
				zap.String("hint", "payments_sandbox option allow_remote targets"))
			return 0, nil, refused.Error()
		}
		return 0, nil, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, maxAckBody))
	return resp.StatusCode, b, ""
}

// loopbackClient reports whether r comes from a loopback address: both the
// connection's peer and, when Caddy determined one (trusted_proxies), the
// client address it computed.
func loopbackClient(r *http.Request) bool {
	if !isLoopbackHost(r.RemoteAddr) {
		return false
	}
	if ip, ok := caddyhttp.GetVar(r.Context(), caddyhttp.ClientIPVarKey).(string); ok && ip != "" {
		return isLoopbackHost(ip)
	}
	return true
}

// isLoopbackHost reports whether addr ("ip", "ip:port" or "[ip]:port") is a
// loopback IP address.
func isLoopbackHost(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr
	}
	host = strings.Trim(host, "[]")
	if i := strings.IndexByte(host, '%'); i >= 0 {
		host = host[:i]
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// refuseRemoteClient answers a request from a non-loopback client.
func refuseRemoteClient(w http.ResponseWriter) {
	http.Error(w, "payments sandbox: only loopback clients may use the sandbox: it is for demos and tests, "+
		"its credentials are published and anyone it serves can approve any payment. "+
		"To serve other clients set the payments_sandbox option allow_remote clients.", http.StatusForbidden)
}
