package repository

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo/options"
)

const rateLimitsCollection = "rate_limits"

// rateLimitIndexes: the sweep deletes buckets whose theoretical arrival
// time has passed (full buckets) by tat.
func rateLimitIndexes() []indexModel {
	return []indexModel{plainIndex("tat_1", bson.D{{Key: "tat", Value: 1}})}
}

// RateLimiter counts attempts per key in the store, so that every server
// process on one database shares one count: N processes allow what one
// does. It is a token bucket of Burst attempts refilled at Burst per Per
// (ratelimit.Rate's meaning), kept as one document per key holding the
// bucket's theoretical arrival time (GCRA): tat, in Unix nanoseconds, is
// when the bucket will be full again. An attempt at now is allowed while
// tat ≤ now + (Burst−1)·every, and moves tat on by every = Per/Burst.
//
// Every decision is one guarded write (design patterns 1 and 3), no read
// decides anything and no transaction is used:
//
//   - a bucket with room: $inc tat by every, guarded by now ≤ tat ≤ now +
//     (Burst−1)·every, so that concurrent attempts never take more than
//     Burst;
//   - no bucket, or a full one (tat < now): an upsert guarded by tat < now
//     sets tat = now + every; a racer that started the bucket first makes it
//     a duplicate key, and the attempt goes round again and takes from that
//     bucket.
//
// A bucket whose tat has passed is full, which is what no document means:
// a sweep (at most once a minute per limiter, on an attempt) deletes them,
// as a TTL index would on MongoDB alone (the embedded engine has none).
// Processes should keep their clocks in sync (NTP): a bucket is judged by
// the clock of the process that sees the attempt.
//
// A nil *RateLimiter allows everything.
type RateLimiter struct {
	c     *collection
	name  string
	burst int64
	every int64 // nanoseconds for one attempt to come back: Per/Burst
	now   func() time.Time

	mu        sync.Mutex
	lastSweep time.Time
}

// sweepEvery is how often a limiter deletes full buckets.
const sweepEvery = time.Minute

// NewRateLimiter returns the limiter name (the keys' namespace, such as
// "login-account") of burst attempts refilled at burst per per, or nil
// (unlimited) when either is not positive. now is the clock (time.Now when
// nil).
func NewRateLimiter(s *Store, name string, burst int, per time.Duration, now func() time.Time) *RateLimiter {
	if burst <= 0 || per <= 0 {
		return nil
	}
	if now == nil {
		now = time.Now
	}
	return &RateLimiter{c: s.collection(rateLimitsCollection), name: name, burst: int64(burst),
		every: max(int64(per)/int64(burst), 1), now: now}
}

// rateDoc is a bucket as stored.
type rateDoc struct {
	ID  string `bson:"_id"`
	TAT int64  `bson:"tat"` // Unix nanoseconds when the bucket is full again
}

// id is key's document id: the limiter's name and a hash of the key, so
// that emails and addresses are not stored and every id has one length.
func (l *RateLimiter) id(key string) string {
	h := sha256.Sum256([]byte(l.name + "\x00" + key))
	return l.name + ":" + hex.EncodeToString(h[:16])
}

// rateAttempts bounds the rounds of Allow: a round is lost only to a
// racer that started the bucket meanwhile, which happens once per bucket.
const rateAttempts = 4

// Allow takes one attempt for key. When the bucket is empty it takes
// nothing and returns false and how long until an attempt is allowed
// again. A store error is returned as it is (SERVICE_UNAVAILABLE when the
// store is busy or unreachable).
func (l *RateLimiter) Allow(ctx context.Context, key string) (bool, time.Duration, error) {
	if l == nil {
		return true, 0, nil
	}
	now := l.now().UnixNano()
	l.sweep(ctx, now)
	id, slack := l.id(key), (l.burst-1)*l.every
	for range rateAttempts {
		res, err := l.c.UpdateOne(ctx, bson.M{"_id": id, "tat": bson.M{"$gte": now, "$lte": now + slack}},
			bson.M{"$inc": bson.M{"tat": l.every}})
		if err != nil {
			return false, 0, fmt.Errorf("rate limit %s: %w", l.name, err)
		}
		if res.MatchedCount == 1 {
			return true, 0, nil
		}
		var d rateDoc
		switch err := l.c.FindOne(ctx, bson.M{"_id": id}).Decode(&d); {
		case err == nil && d.TAT > now+slack:
			return false, time.Duration(d.TAT - slack - now), nil
		case err == nil && d.TAT >= now:
			continue // started by a racer since the update: take from it
		case err != nil && !isNoDocuments(err):
			return false, 0, fmt.Errorf("rate limit %s: %w", l.name, err)
		}
		_, err = l.c.UpdateOne(ctx, bson.M{"_id": id, "tat": bson.M{"$lt": now}},
			bson.M{"$set": bson.M{"tat": now + l.every}}, options.Update().SetUpsert(true))
		switch {
		case err == nil:
			return true, 0, nil
		case !isDuplicate(err):
			return false, 0, fmt.Errorf("rate limit %s: %w", l.name, err)
		}
		// a racer started the bucket first: go round and take from it
	}
	return false, 0, errUnavailable("rate limit "+l.name, rateAttempts, fmt.Errorf("the bucket kept changing"))
}

// Reset forgets key: its next attempt finds a full bucket. A successful
// log-in resets its account's failures.
func (l *RateLimiter) Reset(ctx context.Context, key string) error {
	if l == nil {
		return nil
	}
	if _, err := l.c.DeleteOne(ctx, bson.M{"_id": l.id(key)}); err != nil {
		return fmt.Errorf("rate limit %s: reset: %w", l.name, err)
	}
	return nil
}

// sweep deletes, at most once per sweepEvery, this limiter's full buckets.
// Deleting one changes nothing a later attempt decides (no bucket and a
// full bucket are the same), so a sweep racing an attempt is harmless and
// a failed one waits for the next.
func (l *RateLimiter) sweep(ctx context.Context, now int64) {
	l.mu.Lock()
	wall := time.Now()
	due := wall.Sub(l.lastSweep) >= sweepEvery
	if due {
		l.lastSweep = wall
	}
	l.mu.Unlock()
	if !due {
		return
	}
	_, _ = l.c.DeleteMany(ctx, bson.M{"_id": bson.M{"$gte": l.name + ":", "$lt": l.name + ";"}, "tat": bson.M{"$lt": now}})
}
