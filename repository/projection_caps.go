package repository

import (
	"context"
	"fmt"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"

	"tally/domain"
)

// capSpendCollection holds the cap counters: each campaign's and each
// participation's spend on one day of the campaign's time zone, what the
// daily budget and the streamers' daily caps are decided against. The
// projector keeps them like the daily buckets (a guarded $inc upsert per
// batch); a participation's total spend is its earnings.
const capSpendCollection = "cap_spend"

func capSpendIndexes() []indexModel { return nil }

type capSpendDoc struct {
	ID          string `bson:"_id"` // domain.CapSpendKey.String()
	Scope       string `bson:"scope"`
	OwnerID     string `bson:"ownerId"`
	Day         string `bson:"day"`
	SpendMicros int64  `bson:"spendMicros"`
	ProjBatch   int64  `bson:"projBatch"`
}

func (d capSpendDoc) key() domain.CapSpendKey {
	return domain.CapSpendKey{Scope: domain.CapSpendScope(d.Scope), ID: d.OwnerID, Day: d.Day}
}

// readCapSpend reads the given cap counters (one query); a counter not
// stored is absent.
func readCapSpend(ctx context.Context, c *collection, keys []domain.CapSpendKey) (map[domain.CapSpendKey]domain.Micros, error) {
	out := make(map[domain.CapSpendKey]domain.Micros, len(keys))
	if len(keys) == 0 {
		return out, nil
	}
	ids := make(bson.A, len(keys))
	for i, k := range keys {
		ids[i] = k.String()
	}
	cur, err := c.Find(ctx, bson.M{"_id": bson.M{"$in": ids}})
	if err != nil {
		return nil, fmt.Errorf("read cap spend: %w", err)
	}
	var docs []capSpendDoc
	if err := cur.All(ctx, &docs); err != nil {
		return nil, fmt.Errorf("decode cap spend: %w", err)
	}
	for _, d := range docs {
		out[d.key()] = domain.Micros(d.SpendMicros)
	}
	return out, nil
}

// CapSpend reads the cap counters a batch's plan needs (projection.CapKeys),
// as they are before the batch: one query.
func (r *Projection) CapSpend(ctx context.Context, keys []domain.CapSpendKey) (map[domain.CapSpendKey]domain.Micros, error) {
	return readCapSpend(ctx, r.capSpend, keys)
}

// ParticipationCaps reads the given participations' caps and what each
// has spent so far (its earnings): one query. A participation that does not
// exist is absent.
func (r *Projection) ParticipationCaps(ctx context.Context, ids []string) (map[string]domain.ParticipationCaps, map[string]domain.Micros, error) {
	oids, err := parseObjectIDs(ids)
	if err != nil {
		return nil, nil, err
	}
	cur, err := r.participations.Find(ctx, bson.M{"_id": bson.M{"$in": oids}},
		options.Find().SetProjection(bson.M{"caps": 1, "stats.earningsMicros": 1}))
	if err != nil {
		return nil, nil, fmt.Errorf("read participation caps: %w", err)
	}
	var docs []participationDoc
	if err := cur.All(ctx, &docs); err != nil {
		return nil, nil, fmt.Errorf("decode participation caps: %w", err)
	}
	caps := make(map[string]domain.ParticipationCaps, len(docs))
	spent := make(map[string]domain.Micros, len(docs))
	for _, d := range docs {
		caps[d.ID.Hex()] = d.Caps.toDomain()
		spent[d.ID.Hex()] = domain.Micros(d.Stats.EarningsMicros)
	}
	return caps, spent, nil
}

// ApplyCapSpend applies batch n's money to the cap counters: one bulk of
// guarded upserts, like ApplyBuckets (a counter batch n already reached
// makes its upsert collide on its own _id: already applied).
func (r *Projection) ApplyCapSpend(ctx context.Context, n int64, deltas []domain.CapSpendDelta) error {
	models := make([]mongo.WriteModel, 0, len(deltas))
	for _, d := range deltas {
		filter, set := bson.M{"_id": d.Key.String()}, bson.M{"scope": string(d.Key.Scope), "ownerId": d.Key.ID, "day": d.Key.Day}
		guard(filter, set, n, oneCampaign)
		update := bson.M{"$set": set}
		if d.Spend != 0 {
			update["$inc"] = bson.M{"spendMicros": int64(d.Spend)}
		}
		models = append(models, mongo.NewUpdateOneModel().SetFilter(filter).SetUpdate(update).SetUpsert(true))
	}
	if len(models) == 0 {
		return nil
	}
	if err := guardedUpserts(ctx, r.capSpend, models); err != nil {
		return fmt.Errorf("apply batch %d to cap spend: %w", n, err)
	}
	return nil
}

// CapSpend reads the cap counters for the overlay: what each campaign and
// participation has spent on a day, as projected so far.
type CapSpend struct {
	c *collection
}

// NewCapSpend returns the cap counters' reader of s.
func NewCapSpend(s *Store) *CapSpend { return &CapSpend{c: s.collection(capSpendCollection)} }

// Read returns the given counters (one query); a counter not stored is
// absent (nothing spent).
func (r *CapSpend) Read(ctx context.Context, keys []domain.CapSpendKey) (map[domain.CapSpendKey]domain.Micros, error) {
	return readCapSpend(ctx, r.c, keys)
}
