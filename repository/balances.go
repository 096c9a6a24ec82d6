package repository

import (
	"context"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"

	"tally/domain"
)

// releaseCountsCollection holds the balance counters (domain.ReleaseCount):
// per participation the sum of its earning entries in total and per
// release day (UTC), "<participation>:total" and "<participation>:<day>".
// Only the projector writes them, batch by batch, guarded by projBatch like
// the daily buckets; each is keyed under one participation, so projection
// in partitions writes each from one partition. Payouts never touch them:
// balances subtract the payouts' parts (domain.CountedBalances).
const releaseCountsCollection = "balance_counts"

func releaseCountIndexes() []indexModel {
	return []indexModel{
		plainIndex("streamer_day", bson.D{{Key: "streamerId", Value: 1}, {Key: "day", Value: 1}}),
		plainIndex("participation_day", bson.D{{Key: "participationId", Value: 1}, {Key: "day", Value: 1}}),
	}
}

type releaseCountDoc struct {
	ID              string `bson:"_id"`
	ParticipationID string `bson:"participationId"`
	CampaignID      string `bson:"campaignId"`
	StreamerID      string `bson:"streamerId"`
	Day             string `bson:"day"`
	AmountMicros    int64  `bson:"amountMicros"`
	Reversals       int64  `bson:"reversals,omitempty"`
	ProjBatch       int64  `bson:"projBatch"`
}

func (d releaseCountDoc) toDomain() domain.ReleaseCount {
	return domain.ReleaseCount{ParticipationID: d.ParticipationID, CampaignID: d.CampaignID, StreamerID: d.StreamerID,
		Day: d.Day, Amount: domain.Micros(d.AmountMicros), Reversals: d.Reversals}
}

// ApplyReleaseCounts adds batch n's entries to the balance counters: one
// bulk of upserts guarded by the batch (guard; a counter batch n already
// reached makes its upsert collide on its own _id: already applied).
func (r *Projection) ApplyReleaseCounts(ctx context.Context, n int64, counts []domain.ReleaseCount) error {
	models := make([]mongo.WriteModel, 0, len(counts))
	for _, c := range counts {
		filter, set := bson.M{"_id": c.Key()}, bson.M{"participationId": c.ParticipationID, "campaignId": c.CampaignID,
			"streamerId": c.StreamerID, "day": c.Day}
		guard(filter, set, n, oneCampaign)
		update := bson.M{"$set": set}
		inc := bson.M{}
		if c.Amount != 0 {
			inc["amountMicros"] = int64(c.Amount)
		}
		if c.Reversals != 0 {
			inc["reversals"] = c.Reversals
		}
		if len(inc) > 0 {
			update["$inc"] = inc
		}
		models = append(models, mongo.NewUpdateOneModel().
			SetFilter(filter).SetUpdate(update).SetUpsert(true))
	}
	if len(models) == 0 {
		return nil
	}
	if err := guardedUpserts(ctx, r.releaseCounts, models); err != nil {
		return fmt.Errorf("apply batch %d to the balance counters: %w", n, err)
	}
	return nil
}

// StoredReleaseCount is a balance counter as stored, with the last batch
// that applied to it (verify).
type StoredReleaseCount struct {
	domain.ReleaseCount
	ProjBatch int64
}

// EachReleaseCount calls f with every balance counter (verify).
func (r *Projection) EachReleaseCount(ctx context.Context, f func(StoredReleaseCount) error) error {
	cur, err := r.releaseCounts.Find(ctx, bson.M{})
	if err != nil {
		return fmt.Errorf("read balance counters: %w", err)
	}
	defer cur.Close(ctx)
	for cur.Next(ctx) {
		var d releaseCountDoc
		if err := cur.Decode(&d); err != nil {
			return fmt.Errorf("decode balance counter: %w", err)
		}
		if err := f(StoredReleaseCount{ReleaseCount: d.toDomain(), ProjBatch: d.ProjBatch}); err != nil {
			return err
		}
	}
	return cur.Err()
}

// SetReleaseCount sets a balance counter to what its entries sum to
// (verify's repair), keeping the batch it was applied to, so that the
// next batch adds to it.
func (r *Projection) SetReleaseCount(ctx context.Context, c domain.ReleaseCount) error {
	_, err := r.releaseCounts.UpdateOne(ctx, bson.M{"_id": c.Key()}, bson.M{
		"$set":         bson.M{"amountMicros": int64(c.Amount), "reversals": c.Reversals, "participationId": c.ParticipationID, "campaignId": c.CampaignID, "streamerId": c.StreamerID, "day": c.Day},
		"$setOnInsert": bson.M{"projBatch": int64(0)},
	}, options.Update().SetUpsert(true))
	if err != nil {
		return fmt.Errorf("repair balance counter %s: %w", c.Key(), err)
	}
	return nil
}

// BalanceInputs are what balances are computed from
// (domain.CountedBalances): the lifetime counters and the counters of days
// after now's, the entries released later on now's day, and the unclaimed
// reversals. Three indexed reads, bounded by the participations and their
// open release days, one day's entries and the unclaimed reversals — not
// by the entries since the last payout.
type BalanceInputs struct {
	Counts    []domain.ReleaseCount
	Later     []domain.Entry
	Reversals []domain.Entry
}

// BalanceInputsOfStreamer reads streamerID's balance inputs at now.
func (r *Earnings) BalanceInputsOfStreamer(ctx context.Context, streamerID string, now time.Time) (BalanceInputs, error) {
	return r.balanceInputs(ctx, "streamerId", streamerID, now)
}

// BalanceInputsOfParticipation reads participationID's balance inputs at now.
func (r *Earnings) BalanceInputsOfParticipation(ctx context.Context, participationID string, now time.Time) (BalanceInputs, error) {
	return r.balanceInputs(ctx, "participationId", participationID, now)
}

func (r *Earnings) balanceInputs(ctx context.Context, field, id string, now time.Time) (BalanceInputs, error) {
	var in BalanceInputs
	today := domain.ReleaseDay(now)
	cur, err := r.counts.Find(ctx, bson.M{field: id, "$or": bson.A{bson.M{"day": ""}, bson.M{"day": bson.M{"$gt": today}}}})
	if err != nil {
		return in, fmt.Errorf("find balance counters: %w", err)
	}
	var docs []releaseCountDoc
	if err := cur.All(ctx, &docs); err != nil {
		return in, fmt.Errorf("decode balance counters: %w", err)
	}
	for _, d := range docs {
		in.Counts = append(in.Counts, d.toDomain())
	}
	var reversals int64
	for _, c := range in.Counts {
		reversals += c.Reversals
	}
	day, _ := time.Parse("2006-01-02", today)
	if in.Later, err = findEntries(ctx, r.c, bson.M{field: id, "releaseAt": bson.M{"$gt": now.UTC(), "$lt": day.AddDate(0, 0, 1)}}); err != nil {
		return in, err
	}
	if reversals == 0 {
		return in, nil // no reversal ever: none to read
	}
	if in.Reversals, err = findEntries(ctx, r.c, bson.M{field: id, "kind": string(domain.EntryReversal), "payoutId": unclaimed}); err != nil {
		return in, err
	}
	return in, nil
}
