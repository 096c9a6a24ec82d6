package repository

import (
	"context"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/primitive"
)

// SetNewID replaces how the clicks repository makes _ids, so a test can force
// a real duplicate-key error on the first insert attempt.
func (r *Clicks) SetNewID(f func() primitive.ObjectID) { r.newID = f }

// AgeRateLimitSweep makes l's next attempt sweep, as if a sweep interval
// had passed.
func AgeRateLimitSweep(l *RateLimiter) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lastSweep = time.Time{}
}

// CountRateLimits counts the stored rate-limit buckets.
func CountRateLimits(t testing.TB, s *Store) int64 {
	t.Helper()
	n, err := s.collection(rateLimitsCollection).CountDocuments(context.Background(), bson.M{})
	if err != nil {
		t.Fatal(err)
	}
	return n
}
