package repository

import (
	"context"
	"fmt"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/primitive"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"

	"tally/domain"
)

// invalidClicksField is the counter of invalid traffic, beside clicks.
const invalidClicksField = "invalidClicks"

// countsInc is the $inc of counts under prefix, without zero counters.
func countsInc(prefix string, c domain.Counts) bson.M {
	inc := bson.M{}
	for field, v := range map[string]int64{string(domain.EventImpression): c.Impressions, string(domain.EventClick): c.Clicks,
		invalidClicksField: c.InvalidClicks, string(domain.EventConversion): c.Conversions,
		"notBilled.budget": c.NotBilled.Budget, "notBilled.dailyCap": c.NotBilled.DailyCap, "notBilled.streamerCap": c.NotBilled.StreamerCap} {
		if v != 0 {
			inc[prefix+field] = v
		}
	}
	return inc
}

// ApplyParticipations applies batch n's deltas to participations, by id:
// one bulk write of guarded updates (a participation batch n already reached
// does not match and is left alone).
func (r *Projection) ApplyParticipations(ctx context.Context, n int64, deltas map[string]domain.ParticipationDelta) error {
	models := make([]mongo.WriteModel, 0, len(deltas))
	for id, d := range deltas {
		oid, err := objectID(id, "participation")
		if err != nil {
			return err
		}
		inc := countsInc("stats.", d.Counts)
		if d.Earnings != 0 {
			inc["stats.earningsMicros"] = int64(d.Earnings)
		}
		filter, set := bson.M{"_id": oid}, bson.M{}
		guard(filter, set, n, oneCampaign)
		update := bson.M{"$set": set}
		if len(inc) > 0 {
			update["$inc"] = inc
		}
		models = append(models, mongo.NewUpdateOneModel().SetFilter(filter).SetUpdate(update))
	}
	if len(models) == 0 {
		return nil
	}
	if _, err := r.participations.BulkWrite(ctx, models, options.BulkWrite().SetOrdered(false)); err != nil {
		return fmt.Errorf("apply batch %d to participations: %w", n, err)
	}
	return nil
}

// ApplyBuckets applies batch n of partition part's deltas to daily buckets:
// one bulk write of guarded upserts. A bucket batch n already reached does
// not match, so its upsert collides with the bucket's own _id: that
// duplicate-key error means "already applied" and is not an error. A
// streamer's bucket gathers several campaigns, so several partitions: it is
// guarded by the partition's own mark (see guard).
func (r *Projection) ApplyBuckets(ctx context.Context, part int, n int64, deltas []domain.BucketDelta) error {
	models := make([]mongo.WriteModel, 0, len(deltas))
	for _, d := range deltas {
		inc := countsInc("", d.Counts)
		if d.Spend != 0 {
			inc["spendMicros"] = int64(d.Spend)
		}
		if d.Earnings != 0 {
			inc["earningsMicros"] = int64(d.Earnings)
		}
		filter, set := bson.M{"_id": bucketID(d.Owner.Scope, d.Owner.ID, d.Day)}, bson.M{"scope": string(d.Owner.Scope), "ownerId": d.Owner.ID, "day": d.Day}
		shared := oneCampaign
		if d.Owner.Scope == domain.ScopeStreamer {
			shared = part
		}
		guard(filter, set, n, shared)
		update := bson.M{"$set": set}
		if len(inc) > 0 {
			update["$inc"] = inc
		}
		models = append(models, mongo.NewUpdateOneModel().SetFilter(filter).SetUpdate(update).SetUpsert(true))
	}
	if len(models) == 0 {
		return nil
	}
	if err := guardedUpserts(ctx, r.daily, models); err != nil {
		return fmt.Errorf("apply batch %d to daily stats: %w", n, err)
	}
	return nil
}

type counterDoc struct {
	ID              any                  `bson:"_id"`
	InvalidClicks   int64                `bson:"invalidClicks"` // daily buckets; campaigns and participations keep it in stats
	Stats           statsDoc             `bson:"stats"`
	SpentMicros     int64                `bson:"spentMicros"`
	BudgetMicros    int64                `bson:"budgetMicros"`
	RemainingMicros int64                `bson:"remainingMicros"`
	ProjBatch       int64                `bson:"projBatch"`
	ProjBatches     map[string]int64     `bson:"projBatches"` // shared documents: per partition (see guard)
	ProjUnbilled    []primitive.ObjectID `bson:"projUnbilled"`
	ProjInvalid     []invalidDoc         `bson:"projInvalid"`
	ProjCapped      []cappedDoc          `bson:"projCapped"`
	TimeZone        string               `bson:"timeZone"`
	NotBilled       notBilledDoc         `bson:"notBilled"` // daily buckets
	// daily buckets keep their counters at the top level
	Scope          string `bson:"scope"`
	OwnerID        string `bson:"ownerId"`
	Day            string `bson:"day"`
	Impressions    int64  `bson:"impressions"`
	Clicks         int64  `bson:"clicks"`
	Conversions    int64  `bson:"conversions"`
	SpendMicros    int64  `bson:"spendMicros"`
	EarningsMicros int64  `bson:"earningsMicros"`
}

// EachCounter calls fn with every counter document: campaigns, then
// participations, then daily buckets. Verify uses it.
func (r *Projection) EachCounter(ctx context.Context, fn func(domain.Counter) error) error {
	err := each(ctx, r.campaigns, func(d *counterDoc) error {
		c := domain.Counter{Kind: domain.CounterCampaign, ID: hexID(d.ID), Spend: domain.Micros(d.SpentMicros),
			Budget: domain.Micros(d.BudgetMicros), Remain: domain.Micros(d.RemainingMicros), Batch: d.ProjBatch,
			Counts:  domain.Counts{Impressions: d.Stats.Impressions, Clicks: d.Stats.Clicks, InvalidClicks: d.Stats.InvalidClicks, Conversions: d.Stats.Conversions, NotBilled: d.Stats.NotBilled.toDomain()},
			Invalid: invalidMap(d.ProjInvalid), Capped: cappedMap(d.ProjCapped), TimeZone: d.TimeZone, Part: -1}
		for _, id := range d.ProjUnbilled {
			c.Unbilled = append(c.Unbilled, id.Hex())
		}
		return fn(c)
	})
	if err == nil {
		err = each(ctx, r.participations, func(d *counterDoc) error {
			return fn(domain.Counter{Kind: domain.CounterParticipation, ID: hexID(d.ID), Earnings: domain.Micros(d.Stats.EarningsMicros),
				Batch: d.ProjBatch, Part: -1, Counts: domain.Counts{Impressions: d.Stats.Impressions, Clicks: d.Stats.Clicks, InvalidClicks: d.Stats.InvalidClicks, Conversions: d.Stats.Conversions, NotBilled: d.Stats.NotBilled.toDomain()}})
		})
	}
	if err == nil {
		err = each(ctx, r.daily, func(d *counterDoc) error {
			return fn(domain.Counter{Kind: domain.CounterDaily, ID: d.OwnerID, Scope: domain.StatsScope(d.Scope), Day: d.Day,
				Spend: domain.Micros(d.SpendMicros), Earnings: domain.Micros(d.EarningsMicros), Batch: d.ProjBatch, Batches: partMarks(d.ProjBatches), Part: -1,
				Counts: domain.Counts{Impressions: d.Impressions, Clicks: d.Clicks, InvalidClicks: d.InvalidClicks, Conversions: d.Conversions, NotBilled: d.NotBilled.toDomain()}})
		})
	}
	if err == nil {
		err = each(ctx, r.capSpend, func(d *capSpendDoc) error {
			return fn(domain.Counter{Kind: domain.CounterCapSpend, ID: d.OwnerID, CapScope: domain.CapSpendScope(d.Scope), Day: d.Day,
				Spend: domain.Micros(d.SpendMicros), Batch: d.ProjBatch, Part: -1})
		})
	}
	return err
}

// partMarks are a shared document's marks by partition (see guard).
func partMarks(m map[string]int64) map[int]int64 {
	if len(m) == 0 {
		return nil
	}
	out := make(map[int]int64, len(m))
	for k, v := range m {
		var p int
		if _, err := fmt.Sscanf(k, "p%d", &p); err == nil {
			out[p] = v
		}
	}
	return out
}

func hexID(id any) string {
	if oid, ok := id.(primitive.ObjectID); ok {
		return oid.Hex()
	}
	return fmt.Sprint(id)
}

// Repair overwrites one counter document with recomputed values: the repair
// mode of verify, for damaged data, run while no server projects. A
// campaign keeps remaining = budget − spent in the same update, guarded by
// the budget it was recomputed against (ok is false if it changed). Its
// mark becomes its partition's last applied batch (applied, by partition;
// c.Part, or for a shared bucket every partition's); a counter of unknown
// partition keeps its mark.
func (r *Projection) Repair(ctx context.Context, c domain.Counter, applied []int64) (ok bool, err error) {
	marks := bson.M{}
	switch {
	case c.Shared():
		for p, a := range applied {
			marks[sharedMark(p)] = max(a, c.Batches[p])
		}
	case c.Part >= 0 && c.Part < len(applied):
		marks["projBatch"] = max(applied[c.Part], c.Batch)
	}
	counts := bson.M{"impressions": c.Counts.Impressions, "clicks": c.Counts.Clicks, invalidClicksField: c.Counts.InvalidClicks, "conversions": c.Counts.Conversions,
		"notBilled": notBilledDoc{Budget: c.Counts.NotBilled.Budget, DailyCap: c.Counts.NotBilled.DailyCap, StreamerCap: c.Counts.NotBilled.StreamerCap}}
	var res *mongo.UpdateResult
	switch c.Kind {
	case domain.CounterCampaign:
		oid, err := objectID(c.ID, "campaign")
		if err != nil {
			return false, err
		}
		res, err = r.campaigns.UpdateOne(ctx, bson.M{"_id": oid, "budgetMicros": int64(c.Budget)}, bson.M{"$set": setDoc{
			"stats.impressions": counts["impressions"], "stats.clicks": counts["clicks"], "stats.conversions": counts["conversions"],
			"stats." + invalidClicksField: counts[invalidClicksField], "stats.notBilled": counts["notBilled"],
			"spentMicros": int64(c.Spend), "remainingMicros": int64(c.Budget - c.Spend), "projUnbilled": bson.A{}, "projCapped": bson.A{},
		}.with(marks)})
		if err != nil {
			return false, fmt.Errorf("repair campaign: %w", err)
		}
	case domain.CounterParticipation:
		oid, err := objectID(c.ID, "participation")
		if err != nil {
			return false, err
		}
		res, err = r.participations.UpdateOne(ctx, bson.M{"_id": oid}, bson.M{"$set": setDoc{
			"stats.impressions": counts["impressions"], "stats.clicks": counts["clicks"], "stats.conversions": counts["conversions"],
			"stats." + invalidClicksField: counts[invalidClicksField], "stats.notBilled": counts["notBilled"],
			"stats.earningsMicros": int64(c.Earnings),
		}.with(marks)})
		if err != nil {
			return false, fmt.Errorf("repair participation: %w", err)
		}
	case domain.CounterCapSpend:
		key := domain.CapSpendKey{Scope: c.CapScope, ID: c.ID, Day: c.Day}
		set := setDoc{"scope": string(c.CapScope), "ownerId": c.ID, "day": c.Day, "spendMicros": int64(c.Spend)}.with(marks)
		if _, err := r.capSpend.UpdateOne(ctx, bson.M{"_id": key.String()}, bson.M{"$set": set}, options.Update().SetUpsert(true)); err != nil {
			return false, fmt.Errorf("repair cap spend: %w", err)
		}
		return true, nil
	default:
		set := setDoc{"scope": string(c.Scope), "ownerId": c.ID, "day": c.Day, "spendMicros": int64(c.Spend),
			"earningsMicros": int64(c.Earnings)}.with(marks)
		for k, v := range counts {
			set[k] = v
		}
		// an upsert: the bucket is there afterwards, whatever matched
		if _, err := r.daily.UpdateOne(ctx, bson.M{"_id": bucketID(c.Scope, c.ID, c.Day)}, bson.M{"$set": set}, options.Update().SetUpsert(true)); err != nil {
			return false, fmt.Errorf("repair daily stats: %w", err)
		}
		return true, nil
	}
	return res.MatchedCount == 1, nil
}

// setDoc is a $set under construction.
type setDoc bson.M

// with adds more to the $set.
func (s setDoc) with(more bson.M) bson.M {
	for k, v := range more {
		s[k] = v
	}
	return bson.M(s)
}
