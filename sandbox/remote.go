package sandbox

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	pathpkg "path"
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
// read) anything beyond the machine it runs on. Whatever allow_remote
// says, it posts only to a gateway's notification route (a path ending in
// /notifications/<name>), so a loopback service such as Caddy's admin API
// (/load, /stop, /config/…) cannot be driven through it.

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

// errTargetPath is the refusal of a notification target whose path is not
// a gateway notification route.
const errTargetPath = "refused: the target's path does not end in /notifications/<name>; " +
	"the sandbox posts notifications to a payments gateway's notification route only"

// notificationPath reports whether path ends in /notifications/<name>, the
// gateway's notification route under any prefix (public_url may carry a
// path), with a non-empty <name> and no dot segment.
func notificationPath(path string) bool {
	dir, name := pathpkg.Split(path)
	return name != "" && name != "." && name != ".." &&
		(dir == "/notifications/" || strings.HasSuffix(dir, "/notifications/"))
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
	if !notificationPath(req.URL.Path) {
		e.logger.Warn("payments sandbox: refused a notification target whose path is not a gateway notification route",
			zap.String("host", req.URL.Hostname()),
			zap.String("path", req.URL.Path))
		return 0, nil, errTargetPath
	}
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

// loopbackClient reports whether r comes from a loopback address: the
// connection's peer is loopback, and so is every address the request says
// it was forwarded for (X-Forwarded-For, X-Real-IP, Forwarded's for=) and
// the client address Caddy computed (client_ip, trusted_proxies). A local
// proxy in front of Caddy appends the real client's address to whatever
// X-Forwarded-For the client sent, and Caddy's client_ip is by default the
// left-most entry, which the client writes itself: so no single entry is
// trusted, and one entry that is not a loopback address (or cannot be read
// as one, such as Forwarded's "unknown" or an obfuscated _name) refuses.
func loopbackClient(r *http.Request) bool {
	if !isLoopbackHost(r.RemoteAddr) {
		return false
	}
	if ip, ok := caddyhttp.GetVar(r.Context(), caddyhttp.ClientIPVarKey).(string); ok && ip != "" && !isLoopbackHost(ip) {
		return false
	}
	for _, name := range []string{"X-Forwarded-For", "X-Real-Ip"} {
		for _, v := range r.Header.Values(name) {
			for _, a := range strings.Split(v, ",") {
				if !isLoopbackHost(strings.TrimSpace(a)) {
					return false
				}
			}
		}
	}
	for _, v := range r.Header.Values("Forwarded") {
		for _, elem := range strings.Split(v, ",") {
			for _, pair := range strings.Split(elem, ";") {
				k, val, _ := strings.Cut(strings.TrimSpace(pair), "=")
				if strings.EqualFold(k, "for") && !isLoopbackHost(strings.Trim(val, `"`)) {
					return false
				}
			}
		}
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
