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

// exportIndexes let the event export read a campaign's (or one
// participation's) clicks and conversions in the order they were recorded,
// a page at a time, from where the last page ended: an index range scan
// of (owner, createdAt, _id) that starts at the cursor and stops after the
// page, however large the collection. Both event collections declare them.
func exportIndexes() []indexModel {
	return []indexModel{
		plainIndex("campaignId_1_createdAt_1__id_1", bson.D{{Key: "campaignId", Value: 1}, {Key: "createdAt", Value: 1}, {Key: "_id", Value: 1}}),
		plainIndex("participationId_1_createdAt_1__id_1", bson.D{{Key: "participationId", Value: 1}, {Key: "createdAt", Value: 1}, {Key: "_id", Value: 1}}),
	}
}

// EventExport reads a campaign's events for the export, one page at a time.
type EventExport struct {
	clicks, conversions *collection
}

// NewEventExport returns the export's reader of s.
func NewEventExport(s *Store) *EventExport {
	return &EventExport{clicks: s.collection(clicksCollection), conversions: s.collection(conversionsCollection)}
}

// ExportCursor is where a page of the export starts: after the event
// recorded at At with id ID. The zero cursor starts at the range's start.
type ExportCursor struct {
	At time.Time
	ID string
}

// exportFilter selects req's events of one collection recorded in
// [req.From, req.To) and after the cursor, in the index's order.
func exportFilter(req domain.ExportRequest, after ExportCursor) (bson.M, error) {
	owner, id := "campaignId", req.CampaignID
	if req.ParticipationID != "" {
		owner, id = "participationId", req.ParticipationID
	}
	oid, err := primitive.ObjectIDFromHex(id)
	if err != nil {
		return nil, fmt.Errorf("export: malformed %s %q", owner, id)
	}
	created := bson.M{"$gte": req.From.UTC(), "$lt": req.To.UTC()}
	filter := bson.M{owner: oid, "createdAt": created}
	if after.ID != "" {
		aid, err := primitive.ObjectIDFromHex(after.ID)
		if err != nil {
			return nil, fmt.Errorf("export: malformed cursor id %q", after.ID)
		}
		// (createdAt, _id) > (at, id), as two tight index ranges: a later
		// time, or the cursor's very millisecond with a greater id.
		at := after.At.UTC()
		filter["$or"] = bson.A{bson.M{"createdAt": bson.M{"$gt": at}}, bson.M{"createdAt": at, "_id": bson.M{"$gt": aid}}}
	}
	if req.ParticipationID != "" {
		cid, err := primitive.ObjectIDFromHex(req.CampaignID)
		if err != nil {
			return nil, fmt.Errorf("export: malformed campaignId %q", req.CampaignID)
		}
		filter["campaignId"] = cid // implied by the participation; said anyway
	}
	return filter, nil
}

var exportSort = bson.D{{Key: "createdAt", Value: 1}, {Key: "_id", Value: 1}}

// ClicksPage returns at most n of req's clicks after the cursor, oldest
// first: one store call.
func (e *EventExport) ClicksPage(ctx context.Context, req domain.ExportRequest, after ExportCursor, n int) ([]domain.Click, error) {
	filter, err := exportFilter(req, after)
	if err != nil {
		return nil, err
	}
	cur, err := e.clicks.Find(ctx, filter, options.Find().SetSort(exportSort).SetLimit(int64(n)).
		SetProjection(bson.M{"viewer": 0}))
	if err != nil {
		return nil, fmt.Errorf("export clicks: %w", err)
	}
	var docs []clickDoc
	if err := cur.All(ctx, &docs); err != nil {
		return nil, fmt.Errorf("export clicks: decode: %w", err)
	}
	out := make([]domain.Click, len(docs))
	for i := range docs {
		out[i] = docs[i].toDomain()
	}
	return out, nil
}

// ConversionsPage returns at most n of req's conversions after the cursor,
// oldest first: one store call. Their history and projection steps are
// not read (the export shows neither).
func (e *EventExport) ConversionsPage(ctx context.Context, req domain.ExportRequest, after ExportCursor, n int) ([]domain.Conversion, error) {
	filter, err := exportFilter(req, after)
	if err != nil {
		return nil, err
	}
	cur, err := e.conversions.Find(ctx, filter, options.Find().SetSort(exportSort).SetLimit(int64(n)).
		SetProjection(bson.M{"history": 0, "steps": 0}))
	if err != nil {
		return nil, fmt.Errorf("export conversions: %w", err)
	}
	var docs []conversionDoc
	if err := cur.All(ctx, &docs); err != nil {
		return nil, fmt.Errorf("export conversions: decode: %w", err)
	}
	out := make([]domain.Conversion, len(docs))
	for i := range docs {
		out[i] = docs[i].toDomain()
	}
	return out, nil
}
