package repository

import (
	"context"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo/options"

	"tally/domain"
)

// Backlog reads what waits for projection in the whole database, for every
// process's /readyz, metrics and lag warning. Its reads use the indexes the
// projector finds pending events by (pendingIndex: its prefix, the pending
// flag) and are bounded: a count that stops at a limit, and one
// document, the first by _id, per event collection.
type Backlog struct {
	events map[domain.EventKind]*collection
}

// NewBacklog returns the backlog reader of s; its calls are counted in
// MonitorCalls.
func NewBacklog(s *Store) *Backlog {
	return &Backlog{events: map[domain.EventKind]*collection{
		domain.EventImpression: s.monitorCollection(impressionsCollection),
		domain.EventClick:      s.monitorCollection(clicksCollection),
		domain.EventConversion: s.monitorCollection(conversionsCollection),
	}}
}

// pendingFilter is how the projector marks an event it has not projected:
// billing "pending" until it is decided; a conversion todo until its last
// status change is projected (Projection.Pending reads the same).
func pendingFilter(kind domain.EventKind) bson.M {
	if kind == domain.EventConversion {
		return bson.M{"todo": true}
	}
	return bson.M{"billing": string(domain.BillingPending)}
}

// Read counts the pending events of every kind, up to limit in all
// (Capped when there are at least that many), and finds the oldest: in
// each collection the first pending event by _id (ObjectIds grow with
// time, to the second, across processes), of which the earliest by when it
// happened: its recording, or a conversion's last status change. At most
// six store calls, three when nothing is pending. OldestAge is left to the
// caller, who knows the clock.
func (b *Backlog) Read(ctx context.Context, limit int64) (domain.Backlog, error) {
	var out domain.Backlog
	for _, kind := range kinds {
		c, filter := b.events[kind], pendingFilter(kind)
		n, err := c.CountDocuments(ctx, filter, options.Count().SetLimit(limit))
		if err != nil {
			return domain.Backlog{}, fmt.Errorf("count pending %s: %w", kind, err)
		}
		out.Pending += n
		if n == 0 {
			continue
		}
		var d struct {
			CreatedAt time.Time  `bson:"createdAt"`
			StatusAt  *time.Time `bson:"statusAt"`
		}
		err = c.FindOne(ctx, filter, options.FindOne().SetSort(bson.D{{Key: "_id", Value: 1}}).
			SetProjection(bson.M{"createdAt": 1, "statusAt": 1})).Decode(&d)
		switch {
		case isNoDocuments(err): // projected since the count
			continue
		case err != nil:
			return domain.Backlog{}, fmt.Errorf("oldest pending %s: %w", kind, err)
		}
		at := d.CreatedAt
		if kind == domain.EventConversion && d.StatusAt != nil {
			at = *d.StatusAt
		}
		if out.Oldest.IsZero() || at.Before(out.Oldest) {
			out.Oldest = at.UTC()
		}
	}
	if out.Pending >= limit {
		out.Pending, out.Capped = limit, true
	}
	return out, nil
}
