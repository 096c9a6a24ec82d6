package repository

import (
	"context"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/primitive"

	"tally/domain"
)

const impressionsCollection = "impressions"

// impressionIndexes: a streamer's rotation slot (its key) is an impression's
// natural key, so a reloading page counts once per slot.
func impressionIndexes() []indexModel {
	return []indexModel{
		uniqueIndex("slotKey_1", bson.D{{Key: "slotKey", Value: 1}}),
		plainIndex("campaignId_1", bson.D{{Key: "campaignId", Value: 1}}),
		pendingIndex("billing"),
	}
}

// Impressions is the impressions collection.
type Impressions struct {
	c     *collection
	newID func() primitive.ObjectID
}

// NewImpressions returns the impressions repository of s.
func NewImpressions(s *Store) *Impressions {
	return &Impressions{c: s.collection(impressionsCollection), newID: primitive.NewObjectID}
}

type impressionDoc struct {
	ID              primitive.ObjectID `bson:"_id"`
	SlotKey         string             `bson:"slotKey"`
	ParticipationID primitive.ObjectID `bson:"participationId"`
	CampaignID      primitive.ObjectID `bson:"campaignId"`
	StreamerID      primitive.ObjectID `bson:"streamerId"`
	SlotStartsAt    time.Time          `bson:"slotStartsAt"`
	CostMicros      int64              `bson:"costMicros"`
	CreatedAt       time.Time          `bson:"createdAt"`
	State           eventState         `bson:",inline"`
}

func (d *impressionDoc) toDomain() domain.Impression {
	return domain.Impression{ID: d.ID.Hex(), SlotKey: d.SlotKey, ParticipationID: d.ParticipationID.Hex(),
		CampaignID: d.CampaignID.Hex(), StreamerID: d.StreamerID.Hex(), SlotStartsAt: d.SlotStartsAt.UTC(),
		Billing: d.State.billing(), NotBilled: domain.NotBilledReason(d.State.NotBilled), Cost: domain.Micros(d.CostMicros), CreatedAt: d.CreatedAt.UTC()}
}

// Record stores an impression once per slot and reports whether this call
// created it: one store call, the impression's only write (see recordOnce).
// A new impression is PENDING with its price (im.Cost) until the projector
// bills it or not. When the slot's impression already exists it is returned
// as stored.
func (r *Impressions) Record(ctx context.Context, im domain.Impression) (domain.Impression, bool, error) {
	if im.SlotKey == "" {
		return domain.Impression{}, false, fmt.Errorf("record impression: no slot key")
	}
	pid, cid, sid, err := eventOwners(im.ParticipationID, im.CampaignID, im.StreamerID)
	if err != nil {
		return domain.Impression{}, false, fmt.Errorf("record impression: %w", err)
	}
	im.CreatedAt = im.CreatedAt.UTC().Truncate(time.Millisecond)
	var old impressionDoc
	id, isNew, err := recordOnce(ctx, r.c, bson.M{"slotKey": im.SlotKey}, bson.M{
		"slotKey": im.SlotKey, "participationId": pid, "campaignId": cid, "streamerId": sid,
		"slotStartsAt": im.SlotStartsAt.UTC(), "billing": string(domain.BillingPending), "costMicros": int64(im.Cost), "createdAt": im.CreatedAt,
	}, r.newID, &old)
	if err != nil {
		return domain.Impression{}, false, fmt.Errorf("record impression: %w", err)
	}
	if !isNew {
		return old.toDomain(), false, nil
	}
	im.ID, im.Billing = id.Hex(), domain.BillingPending
	return im, true, nil
}
