package repository

import (
	"context"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/primitive"

	"tally/domain"
)

const conversionsCollection = "conversions"

// conversionIndexes: (campaignId, clickId, goalId) is a conversion's natural
// key — the old system's click_id_1_goal_id_1 within the click's campaign,
// since click ids are unique per campaign; lists and verify go by campaign
// and participation.
// obsoleteConversionIndexes were replaced by the campaign-scoped key.
var obsoleteConversionIndexes = []string{"clickId_1_goalId_1"}

func conversionIndexes() []indexModel {
	return []indexModel{
		uniqueIndex("campaignId_1_clickId_1_goalId_1", bson.D{{Key: "campaignId", Value: 1}, {Key: "clickId", Value: 1}, {Key: "goalId", Value: 1}}),
		plainIndex("campaignId_1__id_-1", bson.D{{Key: "campaignId", Value: 1}, {Key: "_id", Value: -1}}),
		plainIndex("participationId_1__id_-1", bson.D{{Key: "participationId", Value: 1}, {Key: "_id", Value: -1}}),
		pendingIndex(),
	}
}

// Conversions is the conversions collection.
type Conversions struct {
	c     *collection
	newID func() primitive.ObjectID
}

// NewConversions returns the conversions repository of s.
func NewConversions(s *Store) *Conversions {
	return &Conversions{c: s.collection(conversionsCollection), newID: primitive.NewObjectID}
}

type conversionDoc struct {
	ID              primitive.ObjectID `bson:"_id"`
	ClickID         string             `bson:"clickId"`
	GoalID          string             `bson:"goalId"`
	ExternalID      string             `bson:"externalId,omitempty"`
	ParticipationID primitive.ObjectID `bson:"participationId"`
	CampaignID      primitive.ObjectID `bson:"campaignId"`
	StreamerID      primitive.ObjectID `bson:"streamerId"`
	Status          string             `bson:"status"`
	PayoutMicros    int64              `bson:"payoutMicros"`
	CostMicros      *int64             `bson:"costMicros"` // absent on conversions stored before the projector: the payout
	CreatedAt       time.Time          `bson:"createdAt"`
	State           eventState         `bson:",inline"`
}

func (d *conversionDoc) toDomain() domain.Conversion {
	st := domain.ConversionStatus(d.Status)
	if st == "" {
		st = domain.ConversionApproved
	}
	cost := d.PayoutMicros
	if d.CostMicros != nil {
		cost = *d.CostMicros
	}
	return domain.Conversion{ID: d.ID.Hex(), ClickID: d.ClickID, GoalID: d.GoalID, ExternalID: d.ExternalID,
		ParticipationID: d.ParticipationID.Hex(), CampaignID: d.CampaignID.Hex(), StreamerID: d.StreamerID.Hex(),
		Status: st, Payout: domain.Micros(d.PayoutMicros), Cost: domain.Micros(cost), Billing: d.State.billing(),
		CreatedAt: d.CreatedAt.UTC()}
}

// Record stores a conversion once per (CampaignID, ClickID, GoalID) and reports whether
// this call created it: one store call, the conversion's only write (see
// recordOnce). It is PENDING with its price (c.Cost) until the projector
// bills it or not.
func (r *Conversions) Record(ctx context.Context, c domain.Conversion) (domain.Conversion, bool, error) {
	pid, cid, sid, err := eventOwners(c.ParticipationID, c.CampaignID, c.StreamerID)
	if err != nil {
		return domain.Conversion{}, false, fmt.Errorf("record conversion: %w", err)
	}
	c.CreatedAt = c.CreatedAt.UTC().Truncate(time.Millisecond)
	insert := bson.M{
		"clickId": c.ClickID, "goalId": c.GoalID, "participationId": pid, "campaignId": cid, "streamerId": sid,
		"status": string(c.Status), "payoutMicros": int64(c.Payout), "costMicros": int64(c.Cost),
		"billing": string(domain.BillingPending), "createdAt": c.CreatedAt,
	}
	if c.ExternalID != "" {
		insert["externalId"] = c.ExternalID
	}
	var old conversionDoc
	id, isNew, err := recordOnce(ctx, r.c, bson.M{"campaignId": cid, "clickId": c.ClickID, "goalId": c.GoalID}, insert, r.newID, &old)
	if err != nil {
		return domain.Conversion{}, false, fmt.Errorf("record conversion: %w", err)
	}
	if !isNew {
		return old.toDomain(), false, nil
	}
	c.ID, c.Billing = id.Hex(), domain.BillingPending
	return c, true, nil
}

// List returns a page of conversions, newest first.
func (r *Conversions) List(ctx context.Context, f domain.ConversionFilter, page domain.PageArgs) (domain.Page[domain.Conversion], error) {
	filter := bson.M{}
	for field, id := range map[string]string{"campaignId": f.CampaignID, "participationId": f.ParticipationID} {
		if id == "" {
			continue
		}
		oid, err := primitive.ObjectIDFromHex(id)
		if err != nil {
			return domain.Page[domain.Conversion]{}, page.Validate()
		}
		filter[field] = oid
	}
	return findPage(ctx, r.c, filter, page,
		func(d *conversionDoc) primitive.ObjectID { return d.ID },
		func(d *conversionDoc) domain.Conversion { return d.toDomain() })
}
