package repository

import (
	"context"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/bson"

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
	ID             string       `bson:"_id"`
	Scope          string       `bson:"scope"`
	OwnerID        string       `bson:"ownerId"`
	Day            string       `bson:"day"`
	Impressions    int64        `bson:"impressions"`
	Clicks         int64        `bson:"clicks"`
	InvalidClicks  int64        `bson:"invalidClicks"`
	Conversions    int64        `bson:"conversions"`
	SpendMicros    int64        `bson:"spendMicros"`
	EarningsMicros int64        `bson:"earningsMicros"`
	NotBilled      notBilledDoc `bson:"notBilled"`
}

func bucketID(scope domain.StatsScope, ownerID, day string) string {
	return string(scope) + ":" + ownerID + ":" + day
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
		out = append(out, domain.DailyStat{Date: day, Impressions: doc.Impressions, Clicks: doc.Clicks, InvalidClicks: doc.InvalidClicks,
			Conversions: doc.Conversions, NotBilled: doc.NotBilled.toDomain(), Spend: domain.Micros(doc.SpendMicros), Earnings: domain.Micros(doc.EarningsMicros)})
	}
	return out, nil
}
