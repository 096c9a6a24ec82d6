package repository_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"tally/repository"
	"tally/repository/repotest"
)

// frozenClock is a clock tests move by hand.
type frozenClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *frozenClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *frozenClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// twoProcesses opens two stores on one database, as two server processes
// have: two clients on a server engine; on the embedded engine, which
// belongs to one process, the same store twice.
func twoProcesses(t *testing.T) [2]*repository.Store {
	opts := repotest.Options(t)
	first := repotest.MustOpenWith(t, opts)
	second := first
	if opts.URI != "" {
		second = repotest.MustOpenWith(t, opts)
	}
	return [2]*repository.Store{first, second}
}

// TestRateLimiterIsSharedAcrossProcesses: many attempts on one key race
// through two stores on one database, as through two server processes;
// exactly the burst is allowed whatever the interleaving, each refusal
// says how long to wait, and the bucket refills at its rate.
func TestRateLimiterIsSharedAcrossProcesses(t *testing.T) {
	t.Parallel()
	stores := twoProcesses(t)
	clock := &frozenClock{now: time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)}
	const burst = 10
	var limiters [2]*repository.RateLimiter
	for i, s := range stores {
		limiters[i] = repository.NewRateLimiter(s, "login-account", burst, 15*time.Minute, clock.Now)
	}
	ctx := context.Background()
	race := func(n int, key string) (allowed, refused int32) {
		var a, r atomic.Int32
		repotest.Race(t, n, func(i int) {
			ok, wait, err := limiters[i%2].Allow(ctx, key)
			switch {
			case err != nil:
				t.Errorf("attempt %d: %v", i, err)
			case ok:
				a.Add(1)
			case wait <= 0 || wait > 90*time.Second:
				t.Errorf("attempt %d refused with a wait of %s, want (0, 90s]", i, wait)
			default:
				r.Add(1)
			}
		})
		return a.Load(), r.Load()
	}

	t.Run("ExactlyTheBurst", func(t *testing.T) {
		allowed, refused := race(60, "ann@example.com")
		if allowed != burst || refused != 60-burst {
			t.Errorf("60 racing attempts: %d allowed, %d refused; want %d and %d", allowed, refused, burst, 60-burst)
		}
	})
	t.Run("OtherKeysApart", func(t *testing.T) {
		if ok, _, err := limiters[1].Allow(ctx, "bob@example.com"); err != nil || !ok {
			t.Errorf("another key: allowed %v, %v", ok, err)
		}
	})
	t.Run("RefillsAtTheRate", func(t *testing.T) {
		_, wait, _ := limiters[0].Allow(ctx, "ann@example.com")
		if wait != 90*time.Second {
			t.Errorf("wait %s, want 90s (15m / 10)", wait)
		}
		clock.Advance(90 * time.Second)
		if allowed, _ := race(20, "ann@example.com"); allowed != 1 {
			t.Errorf("after one refill interval, %d racing attempts allowed, want 1", allowed)
		}
		clock.Advance(15 * time.Minute) // full again, and past: the bucket starts afresh
		if allowed, _ := race(30, "ann@example.com"); allowed != burst {
			t.Errorf("after a full refill, %d racing attempts allowed, want %d", allowed, burst)
		}
	})
	t.Run("ResetStartsAfresh", func(t *testing.T) {
		if err := limiters[1].Reset(ctx, "ann@example.com"); err != nil {
			t.Fatal(err)
		}
		if allowed, _ := race(30, "ann@example.com"); allowed != burst {
			t.Errorf("after a reset, %d racing attempts allowed, want %d", allowed, burst)
		}
	})
}

// TestRateLimiterSweepsFullBuckets: buckets full again are deleted by the
// next attempt's sweep (at most once a minute), keys still limited stay.
func TestRateLimiterSweepsFullBuckets(t *testing.T) {
	t.Parallel()
	s := repotest.MustOpen(t)
	clock := &frozenClock{now: time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)}
	ctx := context.Background()
	l := repository.NewRateLimiter(s, "signup-address", 2, time.Hour, clock.Now)
	for i := range 50 {
		if ok, _, err := l.Allow(ctx, fmt.Sprintf("192.0.2.%d", i)); err != nil || !ok {
			t.Fatalf("key %d: %v %v", i, ok, err)
		}
	}
	repository.AgeRateLimitSweep(l) // as if a minute had passed since the last sweep
	clock.Advance(31 * time.Minute) // each bucket of one attempt (every = 30m) is full again
	if ok, _, err := l.Allow(ctx, "198.51.100.1"); err != nil || !ok {
		t.Fatalf("allow: %v %v", ok, err)
	}
	if n := repository.CountRateLimits(t, s); n != 1 {
		t.Errorf("%d buckets left after the sweep, want 1 (the one just taken)", n)
	}
	var unlimited *repository.RateLimiter
	if ok, _, err := unlimited.Allow(ctx, "x"); !ok || err != nil {
		t.Errorf("a nil limiter refused: %v", err)
	}
	if repository.NewRateLimiter(s, "off", 0, time.Minute, nil) != nil {
		t.Error("a limiter of burst 0 is not nil (unlimited)")
	}
}
