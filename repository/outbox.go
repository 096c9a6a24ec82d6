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

// The outbox: one document per outbound postback, keyed by the delivery's
// key, so that enqueueing it again (a replayed projector batch) changes
// nothing.
const outboxCollection = "postback_outbox"

// outboxIndexes: the sender finds due deliveries by state and time.
func outboxIndexes() []indexModel {
	return []indexModel{
		plainIndex("state_1_nextAt_1", bson.D{{Key: "state", Value: 1}, {Key: "nextAt", Value: 1}}),
		plainIndex("campaignId_1__id_1", bson.D{{Key: "campaignId", Value: 1}, {Key: "_id", Value: 1}}),
	}
}

// Outbox is the outbound postbacks collection.
type Outbox struct {
	c *collection
}

// NewOutbox returns the outbox of s, for the sender and the API.
func NewOutbox(s *Store) *Outbox { return &Outbox{c: s.collection(outboxCollection)} }

// newProjectorOutbox is the outbox as the projector writes it.
func newProjectorOutbox(s *Store) *Outbox { return &Outbox{c: s.projectorCollection(outboxCollection)} }

// DeliveryPending is a delivery waiting to be sent (or retried).
const DeliveryPending = "pending"

// Enqueue stores deliveries that are not stored yet: one bulk of
// $setOnInsert upserts on their keys, so a replay enqueues nothing twice.
func (r *Outbox) Enqueue(ctx context.Context, ds []domain.Delivery) error {
	if len(ds) == 0 {
		return nil
	}
	models := make([]mongo.WriteModel, len(ds))
	for i, d := range ds {
		at := d.CreatedAt.UTC().Truncate(time.Millisecond)
		models[i] = mongo.NewUpdateOneModel().SetFilter(bson.M{"_id": d.Key}).SetUpsert(true).SetUpdate(bson.M{"$setOnInsert": bson.M{
			"campaignId": d.CampaignID, "conversionId": d.ConversionID, "goalId": d.GoalID, "event": d.Event,
			"values": d.Values, "createdAt": at, "state": DeliveryPending, "nextAt": at, "attempts": int64(0),
		}})
	}
	_, err := r.c.BulkWrite(ctx, models, options.BulkWrite().SetOrdered(false))
	if err == nil || onlyDuplicates(err) {
		return nil // a duplicate is a delivery a racing upsert stored first
	}
	return fmt.Errorf("enqueue postbacks: %w", err)
}
