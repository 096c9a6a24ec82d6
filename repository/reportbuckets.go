package repository

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"

	"tally/domain"
)

// reportBucketsCollection holds the report's quarter buckets: one document
// per 15-minute UTC quarter and per campaign, participation, goal or sub-id
// value within one campaign (domain.QuarterKey), kept by the projector like
// the daily buckets: a guarded $inc upsert per batch.
const reportBucketsCollection = "report_buckets"

// reportSubsCollection holds, per campaign and sub-id, the values its
// buckets keep (at most domain.MaxSubValues), in the order first met.
const reportSubsCollection = "report_subs"

// reportBucketIndexes: a report reads one campaign's buckets of one level
// over a range of quarters (and, for a streamer, of some participations).
func reportBucketIndexes() []indexModel {
	return []indexModel{plainIndex("campaignId_1_level_1_at_1", bson.D{{Key: "campaignId", Value: 1}, {Key: "level", Value: 1}, {Key: "at", Value: 1}})}
}

func reportSubsIndexes() []indexModel { return nil }

type quarterDoc struct {
	ID              string    `bson:"_id"`
	Level           string    `bson:"level"`
	CampaignID      string    `bson:"campaignId"`
	ParticipationID string    `bson:"participationId,omitempty"`
	Goal            string    `bson:"goal,omitempty"`
	Sub             int       `bson:"sub,omitempty"`
	Value           string    `bson:"value,omitempty"`
	Other           bool      `bson:"other,omitempty"`
	At              time.Time `bson:"at"`
	Impressions     int64     `bson:"impressions"`
	Clicks          int64     `bson:"clicks"`
	InvalidClicks   int64     `bson:"invalidClicks"`
	Conversions     int64     `bson:"conversions"`
	Pending         int64     `bson:"pending"`
	Approved        int64     `bson:"approved"`
	Rejected        int64     `bson:"rejected"`
	SpendMicros     int64     `bson:"spendMicros"`
	EarningsMicros  int64     `bson:"earningsMicros"`
	ProjBatch       int64     `bson:"projBatch"`
}

func (d quarterDoc) delta() domain.QuarterDelta {
	return domain.QuarterDelta{
		Key: domain.QuarterKey{Level: domain.QuarterLevel(d.Level), CampaignID: d.CampaignID, ParticipationID: d.ParticipationID,
			Goal: d.Goal, Sub: d.Sub, Value: d.Value, Other: d.Other, At: d.At.UTC()},
		Counts: domain.QuarterCounts{Impressions: d.Impressions, Clicks: d.Clicks, InvalidClicks: d.InvalidClicks, Conversions: d.Conversions,
			Pending: d.Pending, Approved: d.Approved, Rejected: d.Rejected, Spend: domain.Micros(d.SpendMicros), Earnings: domain.Micros(d.EarningsMicros)},
	}
}

// keyFields are the fields naming a bucket, set on every upsert.
func keyFields(k domain.QuarterKey) bson.M {
	m := bson.M{"level": string(k.Level), "campaignId": k.CampaignID, "at": k.At}
	if k.ParticipationID != "" {
		m["participationId"] = k.ParticipationID
	}
	switch k.Level {
	case domain.LevelGoal:
		m["goal"] = k.Goal
	case domain.LevelSub:
		m["sub"] = k.Sub
		if k.Other {
			m["other"] = true
		} else {
			m["value"] = k.Value
		}
	}
	return m
}

func quarterInc(c domain.QuarterCounts) bson.M {
	inc := bson.M{}
	for f, v := range map[string]int64{"impressions": c.Impressions, "clicks": c.Clicks, "invalidClicks": c.InvalidClicks,
		"conversions": c.Conversions, "pending": c.Pending, "approved": c.Approved, "rejected": c.Rejected,
		"spendMicros": int64(c.Spend), "earningsMicros": int64(c.Earnings)} {
		if v != 0 {
			inc[f] = v
		}
	}
	return inc
}

// ApplyQuarters applies batch n's deltas to the quarter buckets: one bulk
// write of guarded upserts, however many buckets the batch touches. A
// bucket batch n already reached does not match, so its upsert collides
// with the bucket's own _id: that duplicate key means "already applied".
func (r *Projection) ApplyQuarters(ctx context.Context, n int64, deltas []domain.QuarterDelta) error {
	models := make([]mongo.WriteModel, 0, len(deltas))
	for _, d := range deltas {
		set := keyFields(d.Key)
		set["projBatch"] = n
		update := bson.M{"$set": set}
		if inc := quarterInc(d.Counts); len(inc) > 0 {
			update["$inc"] = inc
		}
		models = append(models, mongo.NewUpdateOneModel().
			SetFilter(bson.M{"_id": d.Key.ID(), "projBatch": notApplied(n)}).SetUpdate(update).SetUpsert(true))
	}
	if len(models) == 0 {
		return nil
	}
	if err := guardedUpserts(ctx, r.quarters, models); err != nil {
		return fmt.Errorf("apply batch %d to report buckets: %w", n, err)
	}
	return nil
}

type subValuesDoc struct {
	ID        string   `bson:"_id"`
	Values    []string `bson:"values"`
	ProjBatch int64    `bson:"projBatch"`
}

// SubValues reads the sub-id value lists keys name (one query); a list not
// stored is absent.
func (r *Projection) SubValues(ctx context.Context, keys []domain.SubValuesKey) (map[domain.SubValuesKey][]string, error) {
	out := map[domain.SubValuesKey][]string{}
	if len(keys) == 0 {
		return out, nil
	}
	ids := make(bson.A, len(keys))
	byID := map[string]domain.SubValuesKey{}
	for i, k := range keys {
		ids[i] = k.String()
		byID[k.String()] = k
	}
	cur, err := r.subs.Find(ctx, bson.M{"_id": bson.M{"$in": ids}})
	if err != nil {
		return nil, fmt.Errorf("read sub-id values: %w", err)
	}
	var docs []subValuesDoc
	if err := cur.All(ctx, &docs); err != nil {
		return nil, fmt.Errorf("decode sub-id values: %w", err)
	}
	for _, d := range docs {
		out[byID[d.ID]] = d.Values
	}
	return out, nil
}

// AllSubValues reads every sub-id value list: verify uses it.
func (r *Projection) AllSubValues(ctx context.Context) (map[domain.SubValuesKey][]string, error) {
	out := map[domain.SubValuesKey][]string{}
	err := each(ctx, r.subs, func(d *subValuesDoc) error {
		camp, sub, _ := strings.Cut(d.ID, "|")
		n, _ := strconv.Atoi(sub)
		out[domain.SubValuesKey{CampaignID: camp, Sub: n}] = d.Values
		return nil
	})
	return out, err
}

// SaveSubValues saves the lists batch n grew, whole: one bulk of upserts
// guarded by the batch (a duplicate key means "already applied"). Lists
// only grow, and only the projector writes them.
func (r *Projection) SaveSubValues(ctx context.Context, n int64, lists map[domain.SubValuesKey][]string) error {
	models := make([]mongo.WriteModel, 0, len(lists))
	for k, vs := range lists {
		models = append(models, mongo.NewUpdateOneModel().SetFilter(bson.M{"_id": k.String(), "projBatch": notApplied(n)}).
			SetUpdate(bson.M{"$set": bson.M{"values": vs, "projBatch": n}}).SetUpsert(true))
	}
	if len(models) == 0 {
		return nil
	}
	if err := guardedUpserts(ctx, r.subs, models); err != nil {
		return fmt.Errorf("save batch %d sub-id values: %w", n, err)
	}
	return nil
}

// EachQuarter calls fn with every quarter bucket and its batch: verify.
func (r *Projection) EachQuarter(ctx context.Context, fn func(domain.QuarterDelta, int64) error) error {
	return each(ctx, r.quarters, func(d *quarterDoc) error { return fn(d.delta(), d.ProjBatch) })
}

// RepairQuarter overwrites one quarter bucket with recomputed figures.
func (r *Projection) RepairQuarter(ctx context.Context, q domain.QuarterDelta, batch int64) error {
	set := keyFields(q.Key)
	for f, v := range map[string]int64{"impressions": q.Counts.Impressions, "clicks": q.Counts.Clicks, "invalidClicks": q.Counts.InvalidClicks,
		"conversions": q.Counts.Conversions, "pending": q.Counts.Pending, "approved": q.Counts.Approved, "rejected": q.Counts.Rejected,
		"spendMicros": int64(q.Counts.Spend), "earningsMicros": int64(q.Counts.Earnings)} {
		set[f] = v
	}
	set["projBatch"] = batch
	if _, err := r.quarters.UpdateOne(ctx, bson.M{"_id": q.Key.ID()}, bson.M{"$set": set}, options.Update().SetUpsert(true)); err != nil {
		return fmt.Errorf("repair report bucket: %w", err)
	}
	return nil
}

// ReportBuckets reads the report's quarter buckets.
type ReportBuckets struct {
	c *collection
}

// NewReportBuckets returns the report buckets' reader of s.
func NewReportBuckets(s *Store) *ReportBuckets {
	return &ReportBuckets{c: s.collection(reportBucketsCollection)}
}

// QuarterRange is one read of a report: one campaign's buckets of one
// level over [From, To), of the participations given (all when nil).
type QuarterRange struct {
	CampaignID       string
	Level            domain.QuarterLevel
	ParticipationIDs []string
	Sub              int // LevelSub: which sub-id
	From, To         time.Time
}

// ErrTooManyBuckets is returned by Read when a report would read more than
// its limit of buckets.
var ErrTooManyBuckets = domain.Invalid("to", "the report reads more than %d buckets: narrow the range, the granularity's span or the filters", domain.MaxReportBuckets)

// Read calls fn with every bucket of each range (one indexed query per
// range), streaming them; it stops with ErrTooManyBuckets once more than
// limit buckets have been read in all.
func (r *ReportBuckets) Read(ctx context.Context, ranges []QuarterRange, limit int, fn func(domain.QuarterDelta)) error {
	read := 0
	for _, q := range ranges {
		filter := bson.D{{Key: "campaignId", Value: q.CampaignID}, {Key: "level", Value: string(q.Level)},
			{Key: "at", Value: bson.M{"$gte": q.From, "$lt": q.To}}}
		if q.Sub > 0 {
			filter = append(filter, bson.E{Key: "sub", Value: q.Sub})
		}
		if q.ParticipationIDs != nil {
			filter = append(filter, bson.E{Key: "participationId", Value: bson.M{"$in": q.ParticipationIDs}})
		}
		cur, err := r.c.Find(ctx, filter)
		if err != nil {
			return fmt.Errorf("find report buckets: %w", err)
		}
		for cur.Next(ctx) {
			if read++; read > limit {
				cur.Close(ctx)
				return ErrTooManyBuckets
			}
			var d quarterDoc
			if err := cur.Decode(&d); err != nil {
				cur.Close(ctx)
				return fmt.Errorf("decode report bucket: %w", err)
			}
			fn(d.delta())
		}
		err = cur.Err()
		cur.Close(ctx)
		if err != nil {
			return fmt.Errorf("read report buckets: %w", err)
		}
	}
	return nil
}

// SeedReportBuckets inserts quarter buckets whole, as the projector's
// upserts would leave them at batch n, in bulks of 10,000: for benchmarks
// that need millions of events' worth of buckets without projecting them
// one batch at a time (the embedded engine scans its collection per
// upsert). Production never calls it.
func SeedReportBuckets(ctx context.Context, s *Store, n int64, buckets []domain.QuarterDelta) error {
	c := s.db.Collection(reportBucketsCollection)
	for len(buckets) > 0 {
		chunk := buckets[:min(len(buckets), 10_000)]
		buckets = buckets[len(chunk):]
		docs := make([]any, len(chunk))
		for i, q := range chunk {
			d := keyFields(q.Key)
			d["_id"] = q.Key.ID()
			for f, v := range quarterInc(q.Counts) {
				d[f] = v
			}
			d["projBatch"] = n
			docs[i] = d
		}
		if _, err := c.InsertMany(ctx, docs); err != nil {
			return fmt.Errorf("seed report buckets: %w", err)
		}
	}
	return nil
}
