package repository

import (
	"context"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/primitive"
	"go.mongodb.org/mongo-driver/mongo/options"

	"tally/domain"
)

const slotsCollection = "slots"

// slotRetention is how long a slot is kept after it ends. Nothing reads an
// ended slot (its impression holds what was shown); the TTL index only keeps
// the collection small.
const slotRetention = 7 * 24 * time.Hour

// slotIndexes: key names a streamer's rotation slot and is the arbiter of
// concurrent claims; ended slots expire.
func slotIndexes() []indexModel {
	return []indexModel{
		uniqueIndex("key_1", bson.D{{Key: "key", Value: 1}}),
		{Keys: bson.D{{Key: "endsAt", Value: 1}},
			Options: options.Index().SetName("endsAt_ttl").SetExpireAfterSeconds(int32(slotRetention / time.Second))},
	}
}

// Slots is the slots collection: which campaign each streamer's overlay
// shows in each rotation slot.
type Slots struct {
	c     *collection
	newID func() primitive.ObjectID
}

// NewSlots returns the slots repository of s.
func NewSlots(s *Store) *Slots {
	return &Slots{c: s.collection(slotsCollection), newID: primitive.NewObjectID}
}

type slotDoc struct {
	ID              primitive.ObjectID `bson:"_id"`
	Key             string             `bson:"key"`
	StreamerID      primitive.ObjectID `bson:"streamerId"`
	ParticipationID primitive.ObjectID `bson:"participationId"`
	CampaignID      primitive.ObjectID `bson:"campaignId"`
	Strategy        string             `bson:"strategy"`
	StartsAt        time.Time          `bson:"startsAt"`
	EndsAt          time.Time          `bson:"endsAt"`
}

func (d *slotDoc) toDomain() domain.Slot {
	st, ok := domain.ParseStrategy(d.Strategy)
	if !ok {
		st = domain.StrategyFairRotation
	}
	return domain.Slot{Key: d.Key, StreamerID: d.StreamerID.Hex(), ParticipationID: d.ParticipationID.Hex(),
		CampaignID: d.CampaignID.Hex(), Strategy: st, StartsAt: d.StartsAt.UTC(), EndsAt: d.EndsAt.UTC()}
}

// ByKey returns the slot with key; found is false when nobody has claimed it.
func (r *Slots) ByKey(ctx context.Context, key string) (slot domain.Slot, found bool, err error) {
	var doc slotDoc
	err = r.c.FindOne(ctx, bson.M{"key": key}).Decode(&doc)
	if isNoDocuments(err) {
		return domain.Slot{}, false, nil
	}
	if err != nil {
		return domain.Slot{}, false, fmt.Errorf("find slot: %w", err)
	}
	return doc.toDomain(), true, nil
}

// Claim stores s as the choice for its slot unless the slot is already
// claimed, and returns the slot's choice: s when this call claimed it
// (claimed true), otherwise the one stored first. One upsert with
// $setOnInsert on the slot key (see recordOnce), so concurrent claims agree.
func (r *Slots) Claim(ctx context.Context, s domain.Slot) (domain.Slot, bool, error) {
	ins, err := slotFields(s)
	if err != nil {
		return domain.Slot{}, false, err
	}
	var old slotDoc
	_, claimed, err := recordOnce(ctx, r.c, bson.M{"key": s.Key}, ins, r.newID, &old)
	if err != nil {
		return domain.Slot{}, false, fmt.Errorf("claim slot: %w", err)
	}
	if claimed {
		return s, true, nil
	}
	return old.toDomain(), false, nil
}

// Replace swaps the choice of a claimed slot whose campaign can no longer be
// shown (paused, exhausted, left) for s, guarded on the choice it replaces:
// of several concurrent replacements one wins, and every caller gets the
// slot's choice afterwards. replaced reports whether this call wrote it.
func (r *Slots) Replace(ctx context.Context, previousParticipationID string, s domain.Slot) (domain.Slot, bool, error) {
	prev, err := objectID(previousParticipationID, "participation")
	if err != nil {
		return domain.Slot{}, false, err
	}
	set, err := slotFields(s)
	if err != nil {
		return domain.Slot{}, false, err
	}
	var doc slotDoc
	err = r.c.FindOneAndUpdate(ctx, bson.M{"key": s.Key, "participationId": prev}, bson.M{"$set": bson.M{
		"participationId": set["participationId"], "campaignId": set["campaignId"], "strategy": set["strategy"],
	}}, options.FindOneAndUpdate().SetReturnDocument(options.After)).Decode(&doc)
	if err == nil {
		return doc.toDomain(), true, nil
	}
	if !isNoDocuments(err) {
		return domain.Slot{}, false, fmt.Errorf("replace slot: %w", err)
	}
	cur, found, err := r.ByKey(ctx, s.Key)
	if err != nil {
		return domain.Slot{}, false, err
	}
	if !found { // expired meanwhile: claim it afresh
		return r.Claim(ctx, s)
	}
	return cur, false, nil
}

func slotFields(s domain.Slot) (bson.M, error) {
	pid, cid, sid, err := eventOwners(s.ParticipationID, s.CampaignID, s.StreamerID)
	if err != nil {
		return nil, fmt.Errorf("slot: %w", err)
	}
	return bson.M{"key": s.Key, "streamerId": sid, "participationId": pid, "campaignId": cid,
		"strategy": string(s.Strategy), "startsAt": s.StartsAt.UTC(), "endsAt": s.EndsAt.UTC()}, nil
}
