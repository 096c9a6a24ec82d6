// Package ratelimit counts requests per key (an account, a client address, a
// token) in token buckets (golang.org/x/time/rate), in this process's
// memory. Every server process keeps its own counts: behind a load
// balancer with n servers, a key gets up to n times the configured rate.
package ratelimit

import (
	"errors"
	"fmt"
	"math"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Rate is Burst events at once, refilled at Burst per Per: "10/15m" allows
// 10 attempts straight away and one more every 90 seconds after that. The
// zero Rate is unlimited.
type Rate struct {
	Burst int
	Per   time.Duration
}

// Unlimited reports whether r limits nothing.
func (r Rate) Unlimited() bool { return r.Burst <= 0 || r.Per <= 0 }

func (r Rate) String() string {
	if r.Unlimited() {
		return "off"
	}
	return fmt.Sprintf("%d/%s", r.Burst, r.Per)
}

// ParseRate reads "N/duration" (such as "10/15m" or "300/1m") or "off".
func ParseRate(s string) (Rate, error) {
	s = strings.TrimSpace(s)
	if s == "off" {
		return Rate{}, nil
	}
	n, per, ok := strings.Cut(s, "/")
	burst, err := strconv.Atoi(n)
	if !ok || err != nil || burst < 1 || burst > 1_000_000 {
		return Rate{}, errors.New(`want N/duration such as "10/15m" (N from 1 to 1000000), or "off"`)
	}
	d, err := time.ParseDuration(per)
	if err != nil || d < time.Second || d > 7*24*time.Hour {
		return Rate{}, errors.New(`want N/duration such as "10/15m" (duration from 1s to 168h), or "off"`)
	}
	return Rate{Burst: burst, Per: d}, nil
}

// MaxKeys is how many keys one Limiter tracks. Keys whose bucket is full
// again are forgotten every minute; past MaxKeys, the keys whose buckets are
// fullest are forgotten too (each starts afresh), so a flood of distinct
// keys costs bounded memory and cannot push out the keys being limited
// right now (their buckets are empty).
const MaxKeys = 100_000

// Limiter is one rate applied to each key separately. A nil *Limiter allows
// everything. It is safe for concurrent use.
type Limiter struct {
	rate Rate
	now  func() time.Time

	mu        sync.Mutex
	buckets   map[string]*rate.Limiter
	lastSweep time.Time
}

// New returns a Limiter of r, or nil when r is unlimited. now is the clock
// (time.Now when nil).
func New(r Rate, now func() time.Time) *Limiter {
	if r.Unlimited() {
		return nil
	}
	if now == nil {
		now = time.Now
	}
	return &Limiter{rate: r, now: now, buckets: map[string]*rate.Limiter{}, lastSweep: now()}
}

// Rate returns the limiter's rate.
func (l *Limiter) Rate() Rate {
	if l == nil {
		return Rate{}
	}
	return l.rate
}

// Allow takes one event for key. When the bucket is empty it takes nothing
// and returns false and how long until an event is allowed again.
func (l *Limiter) Allow(key string) (bool, time.Duration) {
	if l == nil {
		return true, 0
	}
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sweep(now)
	b, ok := l.buckets[key]
	if !ok {
		b = rate.NewLimiter(rate.Every(l.rate.Per/time.Duration(l.rate.Burst)), l.rate.Burst)
		l.buckets[key] = b
	}
	r := b.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return false, d
	}
	return true, 0
}

// Reset forgets key: its next event starts a full bucket. A successful
// log-in resets its account's failures.
func (l *Limiter) Reset(key string) {
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.buckets, key)
}

// sweep forgets, at most once a minute, every key whose bucket is full
// again, and arbitrary keys beyond MaxKeys.
func (l *Limiter) sweep(now time.Time) {
	if now.Sub(l.lastSweep) < time.Minute && len(l.buckets) < MaxKeys {
		return
	}
	l.lastSweep = now
	for k, b := range l.buckets {
		if b.TokensAt(now) >= float64(l.rate.Burst) {
			delete(l.buckets, k)
		}
	}
	if len(l.buckets) < MaxKeys {
		return
	}
	type kt struct {
		key    string
		tokens float64
	}
	all := make([]kt, 0, len(l.buckets))
	for k, b := range l.buckets {
		all = append(all, kt{k, b.TokensAt(now)})
	}
	sort.Slice(all, func(i, j int) bool { return all[i].tokens > all[j].tokens })
	for _, e := range all[:len(all)-MaxKeys*9/10] {
		delete(l.buckets, e.key)
	}
}

// AddressKey is the key of a client address: IPv4 addresses as they are,
// IPv6 addresses by their /64 network, which is what one subscriber is
// usually given; so one client cannot get a fresh budget per address.
func AddressKey(a netip.Addr) string {
	a = a.Unmap()
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.String()
	}
	return a.String()
}

// RetryAfterSeconds is d as a Retry-After value: whole seconds, at least 1.
func RetryAfterSeconds(d time.Duration) int {
	return max(1, int(math.Ceil(d.Seconds())))
}
