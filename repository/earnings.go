package repository

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/primitive"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"

	"tally/domain"
)

// earningsCollection holds the earning entries (domain.Entry): one per
// group of billed impressions or clicks of a participation in a batch, one
// per conversion billed and one per conversion reversed. The projector
// inserts them (once each: their _id comes from the events); a payout run
// claims them (payoutId, set only where absent); a FAILED payout releases
// its own ($unset where payoutId is its id). Nothing else changes them.
const earningsCollection = "earnings"

func earningIndexes() []indexModel {
	return []indexModel{
		// A streamer's and a participation's unclaimed entries (balances).
		plainIndex("streamer_payout", bson.D{{Key: "streamerId", Value: 1}, {Key: "payoutId", Value: 1}}),
		plainIndex("participation_payout", bson.D{{Key: "participationId", Value: 1}, {Key: "payoutId", Value: 1}}),
		// A run's unclaimed released entries; a payout's claimed entries.
		plainIndex("payout_release", bson.D{{Key: "payoutId", Value: 1}, {Key: "releaseAt", Value: 1}}),
		// A streamer's entries up to a month's end (statements).
		plainIndex("streamer_at", bson.D{{Key: "streamerId", Value: 1}, {Key: "at", Value: 1}}),
		plainIndex("campaign_at", bson.D{{Key: "campaignId", Value: 1}, {Key: "at", Value: 1}}),
		// Balances: the entries released later today, the unclaimed reversals.
		plainIndex("streamer_release", bson.D{{Key: "streamerId", Value: 1}, {Key: "releaseAt", Value: 1}}),
		plainIndex("participation_release", bson.D{{Key: "participationId", Value: 1}, {Key: "releaseAt", Value: 1}}),
		plainIndex("streamer_kind_payout", bson.D{{Key: "streamerId", Value: 1}, {Key: "kind", Value: 1}, {Key: "payoutId", Value: 1}}),
		plainIndex("participation_kind_payout", bson.D{{Key: "participationId", Value: 1}, {Key: "kind", Value: 1}, {Key: "payoutId", Value: 1}}),
	}
}

type entryDoc struct {
	ID              string    `bson:"_id"`
	Kind            string    `bson:"kind"`
	ParticipationID string    `bson:"participationId"`
	CampaignID      string    `bson:"campaignId"`
	StreamerID      string    `bson:"streamerId"`
	AmountMicros    int64     `bson:"amountMicros"`
	At              time.Time `bson:"at"`
	ReleaseAt       time.Time `bson:"releaseAt"`
	Reverses        string    `bson:"reverses,omitempty"`
	FirstEvent      string    `bson:"firstEvent"`
	Events          int       `bson:"events"`
	Batch           int64     `bson:"batch"`
	PayoutID        string    `bson:"payoutId,omitempty"`
	MinEvent        string    `bson:"minEvent,omitempty"`
	MaxEvent        string    `bson:"maxEvent,omitempty"`
}

func (d entryDoc) toDomain() domain.Entry {
	return domain.Entry{ID: d.ID, Kind: domain.EntryKind(d.Kind), ParticipationID: d.ParticipationID, CampaignID: d.CampaignID,
		StreamerID: d.StreamerID, Amount: domain.Micros(d.AmountMicros), At: d.At.UTC(), ReleaseAt: d.ReleaseAt.UTC(),
		Reverses: d.Reverses, FirstEvent: d.FirstEvent, Events: d.Events, Batch: d.Batch, PayoutID: d.PayoutID,
		MinEvent: d.MinEvent, MaxEvent: d.MaxEvent}
}

func entryDocOf(e domain.Entry) entryDoc {
	return entryDoc{ID: e.ID, Kind: string(e.Kind), ParticipationID: e.ParticipationID, CampaignID: e.CampaignID,
		StreamerID: e.StreamerID, AmountMicros: int64(e.Amount), At: e.At.UTC(), ReleaseAt: e.ReleaseAt.UTC(),
		Reverses: e.Reverses, FirstEvent: e.FirstEvent, Events: e.Events, Batch: e.Batch,
		MinEvent: e.MinEvent, MaxEvent: e.MaxEvent}
}

// unclaimed matches entries no payout claims.
var unclaimed = bson.M{"$exists": false}

func findEntries(ctx context.Context, c *collection, filter bson.M) ([]domain.Entry, error) {
	cur, err := c.Find(ctx, filter)
	if err != nil {
		return nil, fmt.Errorf("find earning entries: %w", err)
	}
	var docs []entryDoc
	if err := cur.All(ctx, &docs); err != nil {
		return nil, fmt.Errorf("decode earning entries: %w", err)
	}
	out := make([]domain.Entry, len(docs))
	for i, d := range docs {
		out[i] = d.toDomain()
	}
	return out, nil
}

// Entries reads the given entries (one query), by id; absent ones are
// absent. The projector reads a batch's reversed entries with it.
func (r *Projection) Entries(ctx context.Context, ids []string) (map[string]domain.Entry, error) {
	out := map[string]domain.Entry{}
	if len(ids) == 0 {
		return out, nil
	}
	list, err := findEntries(ctx, r.earnings, bson.M{"_id": bson.M{"$in": ids}})
	if err != nil {
		return nil, err
	}
	for _, e := range list {
		out[e.ID] = e
	}
	return out, nil
}

// InsertEntries inserts a batch's earning entries: one bulk of upserts
// that only insert ($setOnInsert on the entry's _id), so a replay of the
// batch, or an entry already claimed by a payout, changes nothing.
func (r *Projection) InsertEntries(ctx context.Context, n int64, entries []domain.Entry) error {
	if len(entries) == 0 {
		return nil
	}
	models := make([]mongo.WriteModel, len(entries))
	for i, e := range entries {
		models[i] = mongo.NewUpdateOneModel().SetFilter(bson.M{"_id": e.ID}).
			SetUpdate(bson.M{"$setOnInsert": entryDocOf(e)}).SetUpsert(true)
	}
	if err := guardedUpserts(ctx, r.earnings, models); err != nil {
		return fmt.Errorf("insert the earning entries of batch %d: %w", n, err)
	}
	return nil
}

// EachEntry calls f with every earning entry (verify).
func (r *Projection) EachEntry(ctx context.Context, f func(domain.Entry) error) error {
	cur, err := r.earnings.Find(ctx, bson.M{})
	if err != nil {
		return fmt.Errorf("read earning entries: %w", err)
	}
	defer cur.Close(ctx)
	for cur.Next(ctx) {
		var d entryDoc
		if err := cur.Decode(&d); err != nil {
			return fmt.Errorf("decode earning entry: %w", err)
		}
		if err := f(d.toDomain()); err != nil {
			return err
		}
	}
	return cur.Err()
}

// EachPayout calls f with every payout (verify).
func (r *Projection) EachPayout(ctx context.Context, f func(domain.Payout) error) error {
	cur, err := r.payouts.Find(ctx, bson.M{})
	if err != nil {
		return fmt.Errorf("read payouts: %w", err)
	}
	defer cur.Close(ctx)
	for cur.Next(ctx) {
		var d payoutDoc
		if err := cur.Decode(&d); err != nil {
			return fmt.Errorf("decode payout: %w", err)
		}
		if err := f(d.toDomain()); err != nil {
			return err
		}
	}
	return cur.Err()
}

// ReleaseEntries unclaims the entries payoutID claims (verify's repair of
// a FAILED payout whose release a crash interrupted).
func (r *Projection) ReleaseEntries(ctx context.Context, payoutID string) error {
	_, err := r.earnings.UpdateMany(ctx, bson.M{"payoutId": payoutID}, bson.M{"$unset": bson.M{"payoutId": ""}})
	if err != nil {
		return fmt.Errorf("release the entries of payout %s: %w", payoutID, err)
	}
	return nil
}

// Earnings is the request side's access to the earning entries: balances
// and payout runs.
type Earnings struct {
	c      *collection
	counts *collection
	events map[domain.EventKind]*collection
}

// NewEarnings returns the earning entries' repository of s.
func NewEarnings(s *Store) *Earnings {
	return &Earnings{c: s.collection(earningsCollection), counts: s.collection(releaseCountsCollection), events: map[domain.EventKind]*collection{
		domain.EventImpression: s.collection(impressionsCollection),
		domain.EventClick:      s.collection(clicksCollection),
	}}
}

// EventsOf reads one page of the events entry e sums, newest first (the
// cursor is the event's id), each with what it moved.
//
// A group of impressions or clicks is its participation's events of that
// kind billed by its batch in its quarter hour (UTC): one query on the
// events' _id index, bounded by the group's id range (MinEvent..MaxEvent,
// within one batch's events), filtered by participation, batch and
// billing. A conversion's entry is its one conversion, moving the entry's
// amount (a payout, or minus a reversed charge). A carry sums no events.
func (r *Earnings) EventsOf(ctx context.Context, e domain.Entry, args domain.PageArgs) (domain.Page[domain.EntryEvent], error) {
	if err := args.Validate(); err != nil {
		return domain.Page[domain.EntryEvent]{}, err
	}
	kind := e.EventKindOf()
	switch kind {
	case "":
		return domain.Page[domain.EntryEvent]{}, nil
	case domain.EventConversion:
		return conversionEntryPage(e, args)
	}
	pid, err := objectID(e.ParticipationID, "participation")
	if err != nil {
		return domain.Page[domain.EntryEvent]{}, err
	}
	slot := domain.EntrySlot(e.At)
	filter := bson.M{"participationId": pid, "batch": e.Batch, "billing": string(domain.BillingBilled),
		"createdAt": bson.M{"$gte": slot, "$lt": slot.Add(15 * time.Minute)}}
	if e.MinEvent != "" && e.MaxEvent != "" {
		lo, err := objectID(e.MinEvent, "event")
		if err != nil {
			return domain.Page[domain.EntryEvent]{}, err
		}
		hi, err := objectID(e.MaxEvent, "event")
		if err != nil {
			return domain.Page[domain.EntryEvent]{}, err
		}
		filter["_id"] = bson.M{"$gte": lo, "$lte": hi}
	}
	return findPage(ctx, r.events[kind], filter, args,
		func(d *pricedEventDoc) primitive.ObjectID { return d.ID },
		func(d *pricedEventDoc) domain.EntryEvent {
			return domain.EntryEvent{ID: d.ID.Hex(), Kind: kind, At: d.CreatedAt.UTC(), Amount: domain.Micros(d.CostMicros)}
		})
}

// pricedEventDoc is what an entry's page reads of an impression or a click.
type pricedEventDoc struct {
	ID         primitive.ObjectID `bson:"_id"`
	CostMicros int64              `bson:"costMicros"`
	CreatedAt  time.Time          `bson:"createdAt"`
}

// conversionEntryPage is the page of a conversion's entry: the conversion,
// alone, on the first page.
func conversionEntryPage(e domain.Entry, args domain.PageArgs) (domain.Page[domain.EntryEvent], error) {
	var p domain.Page[domain.EntryEvent]
	oid, err := objectID(e.FirstEvent, "conversion")
	if err != nil {
		return p, err
	}
	after, hasAfter, before, hasBefore := args.Cursors()
	id := domain.Cursor(oid)
	// Newest first: a page after a cursor holds ids below it, before one above.
	if (hasAfter && bytes.Compare(id[:], after[:]) >= 0) || (hasBefore && bytes.Compare(id[:], before[:]) <= 0) {
		return p, nil
	}
	p.Items = []domain.EntryEvent{{ID: e.FirstEvent, Kind: domain.EventConversion, At: e.At, Amount: e.Amount}}
	p.Cursors = []string{id.String()}
	p.TotalCount = 1
	return p, nil
}

// UnclaimedOfStreamer are a streamer's entries no payout claims.
func (r *Earnings) UnclaimedOfStreamer(ctx context.Context, streamerID string) ([]domain.Entry, error) {
	return findEntries(ctx, r.c, bson.M{"streamerId": streamerID, "payoutId": unclaimed})
}

// UnclaimedOfParticipation are a participation's entries no payout claims.
func (r *Earnings) UnclaimedOfParticipation(ctx context.Context, participationID string) ([]domain.Entry, error) {
	return findEntries(ctx, r.c, bson.M{"participationId": participationID, "payoutId": unclaimed})
}

// OfStreamerBefore are a streamer's entries of steps before t, claimed or
// not (statements).
func (r *Earnings) OfStreamerBefore(ctx context.Context, streamerID string, t time.Time) ([]domain.Entry, error) {
	return findEntries(ctx, r.c, bson.M{"streamerId": streamerID, "at": bson.M{"$lt": t.UTC()}})
}

// OfCampaignBetween are a campaign's entries of steps in [from, to)
// (campaign statements).
func (r *Earnings) OfCampaignBetween(ctx context.Context, campaignID string, from, to time.Time) ([]domain.Entry, error) {
	return findEntries(ctx, r.c, bson.M{"campaignId": campaignID, "at": bson.M{"$gte": from.UTC(), "$lt": to.UTC()}})
}

// Released are the unclaimed entries released at instant, of every
// streamer: what a payout run may pay.
func (r *Earnings) Released(ctx context.Context, instant time.Time) ([]domain.Entry, error) {
	return findEntries(ctx, r.c, bson.M{"payoutId": unclaimed, "releaseAt": bson.M{"$lte": instant.UTC()}})
}

// ByIDs reads the given entries, by id.
func (r *Earnings) ByIDs(ctx context.Context, ids []string) (map[string]domain.Entry, error) {
	out := map[string]domain.Entry{}
	if len(ids) == 0 {
		return out, nil
	}
	list, err := findEntries(ctx, r.c, bson.M{"_id": bson.M{"$in": ids}})
	if err != nil {
		return nil, err
	}
	for _, e := range list {
		out[e.ID] = e
	}
	return out, nil
}

// ClaimedBy are the entries payoutID claims.
func (r *Earnings) ClaimedBy(ctx context.Context, payoutID string) ([]domain.Entry, error) {
	return findEntries(ctx, r.c, bson.M{"payoutId": payoutID})
}

// Claim claims for payoutID those of ids that no payout claims yet: one
// guarded update (payoutId set only where absent). Running it again claims
// nothing more; an entry another payout claimed stays that payout's.
func (r *Earnings) Claim(ctx context.Context, payoutID string, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	_, err := r.c.UpdateMany(ctx, bson.M{"_id": bson.M{"$in": ids}, "payoutId": unclaimed}, bson.M{"$set": bson.M{"payoutId": payoutID}})
	if err != nil {
		return fmt.Errorf("claim entries for payout %s: %w", payoutID, err)
	}
	return nil
}

// Release unclaims every entry payoutID claims (a FAILED payout): they are
// available again. Running it again releases nothing more.
func (r *Earnings) Release(ctx context.Context, payoutID string) error {
	_, err := r.c.UpdateMany(ctx, bson.M{"payoutId": payoutID}, bson.M{"$unset": bson.M{"payoutId": ""}})
	if err != nil {
		return fmt.Errorf("release the entries of payout %s: %w", payoutID, err)
	}
	return nil
}

// Insert inserts entries as they are, once each (verify's repair of
// entries the events give and the store lacks).
func (r *Earnings) Insert(ctx context.Context, entries []domain.Entry) error {
	for _, e := range entries {
		_, err := r.c.UpdateOne(ctx, bson.M{"_id": e.ID}, bson.M{"$setOnInsert": entryDocOf(e)}, options.Update().SetUpsert(true))
		if err != nil && !isDuplicate(err) {
			return fmt.Errorf("insert earning entry %s: %w", e.ID, err)
		}
	}
	return nil
}
