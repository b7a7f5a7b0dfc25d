package caddymodule

import (
	"container/list"
	"sync"
	"time"
)

// Notifications that cost a provider fetch — every unverifiable one, and
// signed ones whose claim must be confirmed — are rate limited, so that
// forged or replayed notifications cannot turn into unbounded provider
// calls. Two token buckets must both have a token:
//
//   - one per provider object (account and provider reference): fetchRefBurst
//     at once, then one every fetchRefEvery. A flood about one transaction
//     is stopped there and leaves every other transaction alone, so an
//     attacker who knows one id cannot starve the genuine notifications of
//     the others. At most fetchRefMax objects are tracked (least recently
//     seen dropped first);
//   - one per account: fetchAccountBurst at once, then one every
//     fetchAccountEvery, a ceiling on what the account's provider is asked.
//
// Unverifiable notifications (anyone can send them) and authenticated ones
// that need a fetch (a captured genuine notification replayed, at worst)
// have limiters of their own, so no flood of forged notifications takes
// anything from a genuine one; the authenticated budget is the larger.
//
// A limited notification is answered 429 with Retry-After, never 200, so
// the provider sends it again later. The state is bounded: one bucket per
// configured account and at most fetchRefMax per-object buckets per
// limiter.
const (
	fetchRefBurst     = 5
	fetchRefEvery     = 10 * time.Second
	fetchRefMax       = 10000
	fetchAccountBurst = 200
	fetchAccountEvery = 50 * time.Millisecond

	signedRefBurst     = 10
	signedRefEvery     = time.Second
	signedAccountBurst = 1000
	signedAccountEvery = 5 * time.Millisecond
)

// notifyLimiter holds the buckets.
type notifyLimiter struct {
	mu       sync.Mutex
	accounts map[string]*bucket
	refs     map[string]*list.Element // of *refBucket
	lru      *list.List               // front: most recently used
	refMax   int
	ref      bucketRule
	account  bucketRule
}

// bucketRule is a token bucket's size and refill period.
type bucketRule struct {
	burst float64
	every time.Duration
}

type bucket struct {
	tokens float64
	at     time.Time
}

type refBucket struct {
	key string
	b   bucket
}

// newNotifyLimiter makes one account bucket per account name; names not
// given are never allowed.
func newNotifyLimiter(names []string, account, ref bucketRule, refMax int) *notifyLimiter {
	l := &notifyLimiter{accounts: make(map[string]*bucket, len(names)), refs: map[string]*list.Element{},
		lru: list.New(), refMax: refMax, ref: ref, account: account}
	for _, n := range names {
		l.accounts[n] = &bucket{tokens: account.burst}
	}
	return l
}

// refill adds the tokens earned since the bucket was last used.
func (b *bucket) refill(r bucketRule, now time.Time) {
	if !b.at.IsZero() && now.After(b.at) {
		b.tokens += float64(now.Sub(b.at)) / float64(r.every)
		if b.tokens > r.burst {
			b.tokens = r.burst
		}
	}
	b.at = now
}

// wait is how long until the bucket has a token.
func (b *bucket) wait(r bucketRule) time.Duration {
	return time.Duration((1 - b.tokens) * float64(r.every))
}

// allow takes a token from the account's bucket and from the object's;
// when either has none it takes nothing and reports how long to wait.
func (l *notifyLimiter) allow(name, ref string, now time.Time) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	acc := l.accounts[name]
	if acc == nil {
		return false, l.account.every
	}
	key := name + "\x00" + ref
	var rb *refBucket
	if el, ok := l.refs[key]; ok {
		l.lru.MoveToFront(el)
		rb = el.Value.(*refBucket)
	} else {
		rb = &refBucket{key: key, b: bucket{tokens: l.ref.burst, at: now}}
		l.refs[key] = l.lru.PushFront(rb)
		for l.lru.Len() > l.refMax {
			last := l.lru.Back()
			l.lru.Remove(last)
			delete(l.refs, last.Value.(*refBucket).key)
		}
	}
	acc.refill(l.account, now)
	rb.b.refill(l.ref, now)
	switch {
	case rb.b.tokens < 1:
		return false, rb.b.wait(l.ref)
	case acc.tokens < 1:
		return false, acc.wait(l.account)
	}
	rb.b.tokens--
	acc.tokens--
	return true, 0
}
