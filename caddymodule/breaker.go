package caddymodule

import (
	"context"
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"
)

// Circuit breaker defaults (Caddyfile `breaker <failures> <cooldown>`).
const (
	defaultBreakerFailures = 5
	defaultBreakerCooldown = 30 * time.Second
)

// BreakerConfig configures the circuit breaker every provider account
// has (docs/routing.md, "Circuit breakers"). A breaker counts the
// account's consecutive failed provider calls — no connection, a timeout,
// a connection lost, or a 5xx reply — made for any purpose. After
// Failures of them in a row it opens: routed creates (POST /payments
// without `provider`, see Routes) skip the account for Cooldown. Then it
// is half-open: the next routed create that picks the account is its
// single probe (others skip it meanwhile); the probe's success closes
// the breaker, its failure opens it again for another Cooldown.
//
// A breaker only steers new payments that a route sends: fetches,
// confirmations, refunds, payouts and creates naming `provider` always
// reach the account. Their calls count toward opening a closed breaker;
// while it is open or half-open only the probe's outcome decides.
//
// State is kept per Caddy instance (also with storage redis) and starts
// closed on every config load.
type BreakerConfig struct {
	// Consecutive failed calls that open the breaker. Default: 5.
	Failures int `json:"failures,omitempty"`

	// How long an open breaker keeps routed creates away from the
	// account before it lets one probe through. Default: 30s.
	Cooldown caddy.Duration `json:"cooldown,omitempty"`

	// Turns the breakers off: every account always counts as healthy
	// (Caddyfile: `breaker off`).
	Disabled bool `json:"disabled,omitempty"`
}

// Breaker states, as GET /providers `health` shows them and as the
// caddy_payments_breaker_state gauge counts them (0, 1, 2).
const (
	healthOK       = "ok"
	healthOpen     = "open"
	healthHalfOpen = "half_open"
)

// breaker is one account's circuit breaker. Its zero value is not used:
// newBreakers makes them.
type breaker struct {
	account  string
	failures int
	cooldown time.Duration
	disabled bool
	// onChange reports a state change (log line and gauge).
	onChange func(account, from, to string, failures int)

	mu      sync.Mutex
	state   string
	fails   int         // consecutive failures while closed
	probing bool        // half-open: the probe is under way
	probeID uint64      // the token of the latest probe (acquire), so a stale probe decides nothing
	gen     uint64      // bumped on each opening, so a stale timer does nothing
	timer   *time.Timer // moves an open breaker to half-open
	stopped bool
}

// probeKey marks a routed create's context as its account's half-open
// probe: the account and the probe's token.
type probeKey struct{}

type probeMark struct {
	account string
	token   uint64
}

// withProbe marks ctx as the probe with token of account's breaker.
func withProbe(ctx context.Context, account string, token uint64) context.Context {
	return context.WithValue(ctx, probeKey{}, probeMark{account, token})
}

// probeToken is the token of the probe ctx carries for account (0: none).
func probeToken(ctx context.Context, account string) uint64 {
	m, _ := ctx.Value(probeKey{}).(probeMark)
	if m.account != account {
		return 0
	}
	return m.token
}

func (h *Handler) newBreakers() map[string]*breaker {
	cfg := BreakerConfig{}
	if h.Breaker != nil {
		cfg = *h.Breaker
	}
	if cfg.Failures <= 0 {
		cfg.Failures = defaultBreakerFailures
	}
	if cfg.Cooldown <= 0 {
		cfg.Cooldown = caddy.Duration(defaultBreakerCooldown)
	}
	out := make(map[string]*breaker, len(h.names))
	for _, n := range h.names {
		out[n] = &breaker{
			account: n, failures: cfg.Failures, cooldown: time.Duration(cfg.Cooldown), disabled: cfg.Disabled,
			state: healthOK, onChange: h.breakerChanged,
		}
		h.metrics.setBreakerState(n, healthOK)
	}
	return out
}

// breakerChanged logs a breaker's state change and updates the gauge.
func (h *Handler) breakerChanged(account, from, to string, failures int) {
	h.metrics.setBreakerState(account, to)
	fields := []zap.Field{zap.String("provider", account), zap.String("from", from), zap.String("to", to)}
	switch to {
	case healthOpen:
		h.logger.Warn("circuit breaker opened: routed creates skip this account", append(fields, zap.Int("consecutive_failures", failures))...)
	case healthHalfOpen:
		h.logger.Info("circuit breaker half-open: the next routed create probes this account", fields...)
	default:
		h.logger.Info("circuit breaker closed: the account takes routed creates again", fields...)
	}
}

// health is the breaker's state; "ok" when there is none.
func (b *breaker) health() string {
	if b == nil || b.disabled {
		return healthOK
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.state
}

// acquire asks whether a routed create may go to the account: always
// when closed, never when open, and when half-open to exactly one create
// at a time, the probe, which gets a token (probe != 0) that it passes
// to release and, through its context, to record.
func (b *breaker) acquire() (ok bool, probe uint64) {
	if b == nil || b.disabled {
		return true, 0
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	switch {
	case b.state == healthOK:
		return true, 0
	case b.state == healthHalfOpen && !b.probing:
		b.probing = true
		b.probeID++
		return true, b.probeID
	}
	return false, 0
}

// release ends the probe with token (deferred by the caller, so a probe
// that panics or returns early frees the slot); a stale probe's release
// (one from before the breaker closed and opened again) does nothing.
func (b *breaker) release(token uint64) {
	if b == nil || token == 0 {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.state == healthHalfOpen && token == b.probeID {
		b.probing = false
	}
}

// record takes the outcome of one call to the account. Closed: a
// failure counts, a success resets the count (callDoer passes successes
// of creates only: an account whose fetches work but whose creates fail
// must still open). Half-open: only the current probe (its token)
// decides: success closes, failure re-opens.
func (b *breaker) record(failed bool, probe uint64) {
	if b == nil || b.disabled {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	switch b.state {
	case healthOK:
		if !failed {
			b.fails = 0
			return
		}
		b.fails++
		if b.fails >= b.failures {
			b.openLocked(b.fails)
		}
	case healthHalfOpen:
		if probe == 0 || probe != b.probeID || !b.probing {
			return // only the probe decides
		}
		b.probing = false
		if failed {
			b.openLocked(1)
			return
		}
		b.fails = 0
		b.setLocked(healthOK, 0)
	}
}

// openLocked opens the breaker and schedules its half-open state.
func (b *breaker) openLocked(failures int) {
	b.setLocked(healthOpen, failures)
	b.fails = 0
	b.gen++
	gen := b.gen
	if b.stopped {
		return
	}
	b.timer = time.AfterFunc(b.cooldown, func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		if b.gen == gen && b.state == healthOpen && !b.stopped {
			b.probing = false
			b.setLocked(healthHalfOpen, 0)
		}
	})
}

func (b *breaker) setLocked(to string, failures int) {
	from := b.state
	b.state = to
	if from != to && b.onChange != nil {
		b.onChange(b.account, from, to, failures)
	}
}

// stop cancels the pending half-open timer (Cleanup).
func (b *breaker) stop() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.stopped = true
	if b.timer != nil {
		b.timer.Stop()
	}
}

// callFailed says whether a provider call counts as a failure for the
// breaker: no complete reply (connection refused or lost, a timeout), or
// a 5xx reply. Any other reply shows the account's endpoint answering.
func callFailed(status int, err error) bool {
	return err != nil || status >= 500
}
