package repository

import (
	"context"
	"encoding/binary"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/primitive"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"

	"tally/domain"
)

// The alerts: one document per alert, keyed by its natural key
// (domain.AlertKey, which begins with its campaign's id), written by the
// projector only. Recording one again (a replayed batch, or a later batch
// crossing the same threshold) changes nothing.
const alertsCollection = "alerts"

// alertsIndexes: a campaign's alerts in order (the list, newest first; the
// subscription, oldest first from a cursor).
func alertsIndexes() []indexModel {
	return []indexModel{
		plainIndex("campaignId_1_seq_-1", bson.D{{Key: "campaignId", Value: 1}, {Key: "seq", Value: -1}}),
	}
}

// alertDoc is an alert as stored, and as a campaign's ledger keeps the
// alerts of its last batch (projAlerts). seq is the alert's Seq packed into
// the first 8 bytes of an ObjectID, so that the lists' cursors (12 bytes,
// compared bytewise on every engine) serve it as they serve ids.
type alertDoc struct {
	ID              string             `bson:"_id"`
	CampaignID      string             `bson:"campaignId"`
	BrandID         string             `bson:"brandId"`
	Kind            string             `bson:"kind"`
	Threshold       int                `bson:"threshold"`
	LimitMicros     int64              `bson:"limitMicros"`
	SpentMicros     int64              `bson:"spentMicros"`
	Day             string             `bson:"day,omitempty"`
	ParticipationID string             `bson:"participationId,omitempty"`
	StreamerID      string             `bson:"streamerId,omitempty"`
	At              time.Time          `bson:"at"`
	Seq             primitive.ObjectID `bson:"seq"`
}

// seqID packs an alert's Seq into an ObjectID, as its cursor
// (domain.SeqCursor).
func seqID(seq int64) primitive.ObjectID { return primitive.ObjectID(domain.SeqCursor(seq)) }

func alertDocOf(a domain.Alert) alertDoc {
	return alertDoc{ID: a.ID, CampaignID: a.CampaignID, BrandID: a.BrandID, Kind: string(a.Kind), Threshold: a.Threshold,
		LimitMicros: int64(a.Limit), SpentMicros: int64(a.Spent), Day: a.Day, ParticipationID: a.ParticipationID,
		StreamerID: a.StreamerID, At: ms(a.At), Seq: seqID(a.Seq)}
}

func (d *alertDoc) toDomain() domain.Alert {
	return domain.Alert{ID: d.ID, CampaignID: d.CampaignID, BrandID: d.BrandID, Kind: domain.AlertKind(d.Kind),
		Threshold: d.Threshold, Limit: domain.Micros(d.LimitMicros), Spent: domain.Micros(d.SpentMicros), Day: d.Day,
		ParticipationID: d.ParticipationID, StreamerID: d.StreamerID, At: d.At.UTC(),
		Seq: int64(binary.BigEndian.Uint64(d.Seq[:8]))}
}

// RecordAlerts stores the alerts that are not stored yet: one unordered
// bulk of inserts keyed by the alerts' natural keys, a duplicate key being
// an alert stored before (by a first run of the batch, or by an earlier
// batch), left as it is. Inserts rather than $setOnInsert upserts for the
// reason Outbox.Enqueue gives: an insert never changes a stored document,
// on any engine.
func (r *Projection) RecordAlerts(ctx context.Context, alerts []domain.Alert) error {
	if len(alerts) == 0 {
		return nil
	}
	models := make([]mongo.WriteModel, len(alerts))
	for i, a := range alerts {
		models[i] = mongo.NewInsertOneModel().SetDocument(alertDocOf(a))
	}
	_, err := r.alerts.BulkWrite(ctx, models, options.BulkWrite().SetOrdered(false))
	if err == nil || onlyDuplicates(err) || onlyDuplicateWrites(err) {
		return nil
	}
	return fmt.Errorf("record alerts: %w", err)
}

// Alerts is the alerts collection as the API reads it.
type Alerts struct {
	c *collection
}

// NewAlerts returns the alerts of s.
func NewAlerts(s *Store) *Alerts { return &Alerts{c: s.collection(alertsCollection)} }

// List returns one page of a campaign's alerts, newest first.
func (r *Alerts) List(ctx context.Context, campaignID string, page domain.PageArgs) (domain.Page[domain.Alert], error) {
	return findPageBy(ctx, r.c, "seq", bson.M{"campaignId": campaignID}, page,
		func(d *alertDoc) primitive.ObjectID { return d.Seq },
		func(d *alertDoc) domain.Alert { return d.toDomain() })
}

// Since returns up to limit of a campaign's alerts whose Seq is at least
// from, oldest first.
func (r *Alerts) Since(ctx context.Context, campaignID string, from int64, limit int) ([]domain.Alert, error) {
	cur, err := r.c.Find(ctx, bson.M{"campaignId": campaignID, "seq": bson.M{"$gte": seqID(from)}},
		options.Find().SetSort(bson.D{{Key: "seq", Value: 1}}).SetLimit(int64(limit)))
	if err != nil {
		return nil, fmt.Errorf("find alerts: %w", err)
	}
	var docs []alertDoc
	if err := cur.All(ctx, &docs); err != nil {
		return nil, fmt.Errorf("decode alerts: %w", err)
	}
	out := make([]domain.Alert, len(docs))
	for i := range docs {
		out[i] = docs[i].toDomain()
	}
	return out, nil
}
