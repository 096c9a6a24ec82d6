package repository

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"

	"tally/domain"
)

const dailyStatsCollection = "daily_stats"

// dailyStatsIndexes: a bucket's _id is "scope:ownerId:YYYY-MM-DD", so a range
// of one owner's days is an _id range scan and needs no other index.
func dailyStatsIndexes() []indexModel { return nil }

// DailyStats holds pre-aggregated daily buckets, kept current with atomic
// $inc upserts: the reports MongoDB would compute with $group, computed at
// write time instead (the embedded engine has no aggregation, and on MongoDB
// it is what scales).
type DailyStats struct {
	c *collection
}

// NewDailyStats returns the daily stats repository of s.
func NewDailyStats(s *Store) *DailyStats { return &DailyStats{c: s.collection(dailyStatsCollection)} }

type dailyDoc struct {
	ID             string `bson:"_id"`
	Scope          string `bson:"scope"`
	OwnerID        string `bson:"ownerId"`
	Day            string `bson:"day"`
	Impressions    int64  `bson:"impressions"`
	Clicks         int64  `bson:"clicks"`
	Conversions    int64  `bson:"conversions"`
	SpendMicros    int64  `bson:"spendMicros"`
	EarningsMicros int64  `bson:"earningsMicros"`
}

func bucketID(scope domain.StatsScope, ownerID, day string) string {
	return string(scope) + ":" + ownerID + ":" + day
}

// BucketOwner names one bucket an event counts in.
type BucketOwner struct {
	Scope domain.StatsScope
	ID    string
}

// Add counts one event of kind, with the money it moved, in each owner's
// bucket for day: one ordered bulk of $inc upserts, one round trip. A
// duplicate-key error from a racing first upsert of a bucket is retried once
// from the operation that failed (the ones before it have landed).
func (r *DailyStats) Add(ctx context.Context, day string, owners []BucketOwner, kind domain.EventKind, spend, earnings domain.Micros) error {
	models := make([]mongo.WriteModel, 0, len(owners))
	for _, o := range owners {
		inc := bson.M{string(kind): int64(1)}
		if spend != 0 {
			inc["spendMicros"] = int64(spend)
		}
		if earnings != 0 {
			inc["earningsMicros"] = int64(earnings)
		}
		models = append(models, mongo.NewUpdateOneModel().
			SetFilter(bson.M{"_id": bucketID(o.Scope, o.ID, day)}).
			SetUpdate(bson.M{"$inc": inc, "$setOnInsert": bson.M{"scope": string(o.Scope), "ownerId": o.ID, "day": day}}).
			SetUpsert(true))
	}
	ordered := options.BulkWrite().SetOrdered(true)
	_, err := r.c.BulkWrite(ctx, models, ordered)
	if isDuplicate(err) {
		from := 0
		var bwe mongo.BulkWriteException
		if errors.As(err, &bwe) && len(bwe.WriteErrors) > 0 {
			from = bwe.WriteErrors[0].Index
		}
		_, err = r.c.BulkWrite(ctx, models[from:], ordered)
	}
	if err != nil {
		return fmt.Errorf("add daily stats: %w", err)
	}
	return nil
}

// Range returns one owner's buckets from day from to day to (inclusive, UTC
// dates), one entry per day, zeros where nothing happened.
func (r *DailyStats) Range(ctx context.Context, scope domain.StatsScope, ownerID string, from, to time.Time) ([]domain.DailyStat, error) {
	lo, hi := bucketID(scope, ownerID, domain.Day(from)), bucketID(scope, ownerID, domain.Day(to))
	cur, err := r.c.Find(ctx, bson.M{"_id": bson.M{"$gte": lo, "$lte": hi}})
	if err != nil {
		return nil, fmt.Errorf("find daily stats: %w", err)
	}
	var docs []dailyDoc
	if err := cur.All(ctx, &docs); err != nil {
		return nil, fmt.Errorf("decode daily stats: %w", err)
	}
	byDay := make(map[string]dailyDoc, len(docs))
	for _, d := range docs {
		byDay[d.Day] = d
	}
	var out []domain.DailyStat
	for d := from.UTC(); !d.After(to.UTC()); d = d.AddDate(0, 0, 1) {
		day := domain.Day(d)
		doc := byDay[day]
		out = append(out, domain.DailyStat{Date: day, Impressions: doc.Impressions, Clicks: doc.Clicks,
			Conversions: doc.Conversions, Spend: domain.Micros(doc.SpendMicros), Earnings: domain.Micros(doc.EarningsMicros)})
	}
	return out, nil
}

// Bucket is one recomputed bucket, for reconcile.
type Bucket struct {
	Owner BucketOwner
	Day   string
	Stat  domain.DailyStat
}

// Replace sets a bucket to recomputed values.
func (r *DailyStats) Replace(ctx context.Context, b Bucket) error {
	id := bucketID(b.Owner.Scope, b.Owner.ID, b.Day)
	_, err := r.c.UpdateOne(ctx, bson.M{"_id": id}, bson.M{"$set": bson.M{
		"scope": string(b.Owner.Scope), "ownerId": b.Owner.ID, "day": b.Day,
		"impressions": b.Stat.Impressions, "clicks": b.Stat.Clicks, "conversions": b.Stat.Conversions,
		"spendMicros": int64(b.Stat.Spend), "earningsMicros": int64(b.Stat.Earnings),
	}}, options.Update().SetUpsert(true))
	if err != nil {
		return fmt.Errorf("replace daily stats: %w", err)
	}
	return nil
}

// EachBucket calls fn with every stored bucket; reconcile uses it to zero
// buckets no event supports any more.
func (r *DailyStats) EachBucket(ctx context.Context, fn func(Bucket) error) error {
	return each(ctx, r.c, func(d *dailyDoc) error {
		return fn(Bucket{Owner: BucketOwner{Scope: domain.StatsScope(d.Scope), ID: d.OwnerID}, Day: d.Day,
			Stat: domain.DailyStat{Date: d.Day, Impressions: d.Impressions, Clicks: d.Clicks, Conversions: d.Conversions,
				Spend: domain.Micros(d.SpendMicros), Earnings: domain.Micros(d.EarningsMicros)}})
	})
}
