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

// ExportCursor is where a read of the export starts: at From, and among
// the events recorded at exactly From, after the id After ("" for all of
// them).
type ExportCursor struct {
	From  time.Time
	After string
}

// exportFilter selects req's events of one collection recorded in
// [cursor, until), in the index's order.
func exportFilter(req domain.ExportRequest, cursor ExportCursor, until time.Time) (bson.M, error) {
	owner, id := "campaignId", req.CampaignID
	if req.ParticipationID != "" {
		owner, id = "participationId", req.ParticipationID
	}
	oid, err := primitive.ObjectIDFromHex(id)
	if err != nil {
		return nil, fmt.Errorf("export: malformed %s %q", owner, id)
	}
	from := cursor.From.UTC()
	filter := bson.M{owner: oid, "createdAt": bson.M{"$gte": from, "$lt": until.UTC()}}
	if cursor.After != "" {
		aid, err := primitive.ObjectIDFromHex(cursor.After)
		if err != nil {
			return nil, fmt.Errorf("export: malformed cursor id %q", cursor.After)
		}
		// (createdAt, _id) > (from, after), as two tight index ranges: a
		// later time, or that very millisecond with a greater id.
		filter["$or"] = bson.A{bson.M{"createdAt": bson.M{"$gt": from}}, bson.M{"createdAt": from, "_id": bson.M{"$gt": aid}}}
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

// ClicksPage returns at most n of req's clicks recorded from the cursor
// until until (exclusive), oldest first: one store call.
func (e *EventExport) ClicksPage(ctx context.Context, req domain.ExportRequest, cursor ExportCursor, until time.Time, n int) ([]domain.Click, error) {
	filter, err := exportFilter(req, cursor, until)
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

// ConversionsPage returns at most n of req's conversions recorded from the
// cursor until until (exclusive), oldest first: one store call. Their
// history and projection steps are not read (the export shows neither).
func (e *EventExport) ConversionsPage(ctx context.Context, req domain.ExportRequest, cursor ExportCursor, until time.Time, n int) ([]domain.Conversion, error) {
	filter, err := exportFilter(req, cursor, until)
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

// Clicks returns a scan of req's clicks, n a page.
func (e *EventExport) Clicks(req domain.ExportRequest, n int) *ExportScan[domain.Click] {
	return newExportScan(req, n, e.ClicksPage, func(c domain.Click) (time.Time, string) { return c.CreatedAt, c.ID })
}

// Conversions returns a scan of req's conversions, n a page.
func (e *EventExport) Conversions(req domain.ExportRequest, n int) *ExportScan[domain.Conversion] {
	return newExportScan(req, n, e.ConversionsPage, func(c domain.Conversion) (time.Time, string) { return c.CreatedAt, c.ID })
}

// ExportScan reads one kind of an export's events in order, a page at a
// time, each page one store call of at most n events over a bounded
// window of time.
//
// The window is what keeps a page's cost to about a page on every engine.
// MongoDB walks the index in order and stops after n entries whatever the
// range; FerretDB (DocumentDB on PostgreSQL) reads every entry of the
// query's range from the index and sorts them before the limit, so a page
// read over the rest of the whole range would cost the rest of the range,
// and an export of n events n²/page. So each read covers [cursor, cursor +
// window): a read that comes back full halves the window (the events are
// dense there), one that comes back short has exhausted it, and the next
// starts where it ended with the window doubled (sparse stretches cost a
// few reads, a logarithm of their length).
type ExportScan[T any] struct {
	req    domain.ExportRequest
	n      int
	read   func(ctx context.Context, req domain.ExportRequest, cursor ExportCursor, until time.Time, n int) ([]T, error)
	key    func(T) (time.Time, string)
	cursor ExportCursor
	window time.Duration
	done   bool
}

// exportWindow is the first read's window of time; exportMinWindow the
// smallest (the stored times' precision).
// exportMaxWindow bounds it above, well past the longest export.
const (
	exportWindow    = time.Hour
	exportMinWindow = time.Millisecond
	exportMaxWindow = (domain.MaxExportDays + 2) * 24 * time.Hour
)

func newExportScan[T any](req domain.ExportRequest, n int, read func(context.Context, domain.ExportRequest, ExportCursor, time.Time, int) ([]T, error),
	key func(T) (time.Time, string)) *ExportScan[T] {
	return &ExportScan[T]{req: req, n: max(n, 1), read: read, key: key, cursor: ExportCursor{From: req.From}, window: exportWindow}
}

// Next returns the next events in order: at most a page, at least one
// until the scan is over, when it returns none.
func (s *ExportScan[T]) Next(ctx context.Context) ([]T, error) {
	for !s.done {
		until := s.req.To
		if end := s.cursor.From.Add(s.window); end.Before(until) {
			until = end
		}
		page, err := s.read(ctx, s.req, s.cursor, until, s.n)
		if err != nil {
			return nil, err
		}
		if len(page) == s.n { // there may be more before until
			at, id := s.key(page[len(page)-1])
			s.cursor = ExportCursor{From: at, After: id}
			s.window = max(s.window/2, exportMinWindow)
			return page, nil
		}
		// [cursor, until) is exhausted.
		s.cursor = ExportCursor{From: until}
		s.done = !until.Before(s.req.To)
		s.window = min(2*s.window, exportMaxWindow)
		if len(page) > 0 {
			return page, nil
		}
	}
	return nil, nil
}
