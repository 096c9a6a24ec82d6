package ratelimit

import (
	"fmt"
	"net/netip"
	"testing"
	"time"
)

type clock struct{ now time.Time }

func (c *clock) Now() time.Time { return c.now }

func TestLimiter(t *testing.T) {
	c := &clock{now: time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)}
	l := New(Rate{Burst: 3, Per: time.Minute}, c.Now)
	for i := range 3 {
		if ok, _ := l.Allow("k"); !ok {
			t.Fatalf("event %d refused within the burst", i)
		}
	}
	ok, wait := l.Allow("k")
	if ok || wait <= 0 || wait > 20*time.Second {
		t.Fatalf("over the burst: ok %v, wait %v; want refused, at most 20s", ok, wait)
	}
	if ok, _ := l.Allow("other"); !ok {
		t.Error("another key shares the bucket")
	}
	c.now = c.now.Add(wait)
	if ok, _ := l.Allow("k"); !ok {
		t.Error("refused after the wait it asked for")
	}
	l.Reset("k")
	for i := range 3 {
		if ok, _ := l.Allow("k"); !ok {
			t.Fatalf("event %d refused after Reset", i)
		}
	}
	var nilLimiter *Limiter
	if ok, _ := nilLimiter.Allow("k"); !ok {
		t.Error("a nil limiter refused")
	}
}

// TestLimiterKeepsLimitedKeys: a flood of fresh keys past MaxKeys forgets
// the fullest buckets, never the one being limited.
func TestLimiterKeepsLimitedKeys(t *testing.T) {
	c := &clock{now: time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)}
	l := New(Rate{Burst: 2, Per: time.Hour}, c.Now)
	l.Allow("victim")
	l.Allow("victim")
	for i := range MaxKeys + 10 {
		l.Allow(fmt.Sprint("flood-", i))
	}
	if len(l.buckets) > MaxKeys {
		t.Errorf("%d keys kept, want at most %d", len(l.buckets), MaxKeys)
	}
	if ok, _ := l.Allow("victim"); ok {
		t.Error("the flood reset the limited key")
	}
}

func TestParseRate(t *testing.T) {
	for in, want := range map[string]string{"10/15m": "10/15m0s", "off": "off", " 600/1m ": "600/1m0s"} {
		r, err := ParseRate(in)
		if err != nil || r.String() != want {
			t.Errorf("%q: got %v, %v; want %s", in, r, err, want)
		}
	}
	for _, in := range []string{"", "10", "0/1m", "-1/1m", "10/0s", "10/abc", "ten/1m"} {
		if _, err := ParseRate(in); err == nil {
			t.Errorf("%q: no error", in)
		}
	}
}

func TestAddressKey(t *testing.T) {
	for in, want := range map[string]string{
		"203.0.113.9":            "203.0.113.9",
		"::ffff:203.0.113.9":     "203.0.113.9",
		"2001:db8:1:2:3:4:5:6":   "2001:db8:1:2::/64",
		"2001:db8:1:2:ffff::abc": "2001:db8:1:2::/64",
	} {
		if got := AddressKey(netip.MustParseAddr(in)); got != want {
			t.Errorf("%s: got %s, want %s", in, got, want)
		}
	}
}
