package caddymodule

import (
	"sync"
	"time"
)

// Unverifiable notifications (whose signature cannot be checked at all)
// cost a provider fetch each. They are rate limited per provider account
// with a token bucket: unverifiableBurst at once, then one every
// unverifiableEvery. A limited one is answered 429 with Retry-After, never
// 200, so a genuine notification is sent again by the provider later.
// The state is one bucket per configured account: nothing grows with what
// callers send.
const (
	unverifiableBurst = 20
	unverifiableEvery = 3 * time.Second
)

// notifyLimiter is a token bucket per provider account.
type notifyLimiter struct {
	mu      sync.Mutex
	burst   float64
	every   time.Duration
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	at     time.Time
}

// newNotifyLimiter makes one bucket per account name; names not given
// are never allowed.
func newNotifyLimiter(names []string, burst int, every time.Duration) *notifyLimiter {
	l := &notifyLimiter{burst: float64(burst), every: every, buckets: make(map[string]*bucket, len(names))}
	for _, n := range names {
		l.buckets[n] = &bucket{tokens: float64(burst)}
	}
	return l
}

// allow takes a token from the account's bucket; when there is none it
// reports false and how long until the next one.
func (l *notifyLimiter) allow(name string, now time.Time) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[name]
	if b == nil {
		return false, l.every
	}
	if !b.at.IsZero() {
		b.tokens += float64(now.Sub(b.at)) / float64(l.every)
		if b.tokens > l.burst {
			b.tokens = l.burst
		}
	}
	b.at = now
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	wait := time.Duration((1 - b.tokens) * float64(l.every))
	return false, wait
}
