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

// recordOnce is the exactly-once primitive of every tracked event (design
// pattern 2): one FindOneAndUpdate on the event's natural key with
// $setOnInsert, upsert, returning the document as it was before. No document
// before means this call created it: isNew is exact, never inferred.
//
// A concurrent upsert of the same key can still lose the insert race with a
// duplicate-key error (MongoDB retries only some shapes of upsert itself;
// the embedded engine reports uniqueness as a plain error). It is retried
// once with a fresh _id: the retry matches the winner's document and reports
// isNew false. A client never sees E11000.
//
// insert must hold every field of the new document but _id; old receives the
// existing document when isNew is false.
func recordOnce(ctx context.Context, c *collection, key bson.M, insert bson.M, newID func() primitive.ObjectID, old any) (id primitive.ObjectID, isNew bool, err error) {
	// Racers in this process on the same key take turns (keyLocks): the
	// first inserts, the others match. Only racers in other processes meet
	// in the store, where FerretDB answers a lost race with a deadlock as
	// often as with a duplicate key (see isTransient).
	//
	// On the embedded engine a matched upsert is still a full commit (a
	// copy of the collection, and on the file store a rewrite and fsync of
	// the file), where a read is a scan: a repeat is looked up first and
	// writes nothing. On MongoDB a matched upsert writes nothing already, and
	// one round trip beats two. Either way the upsert alone decides isNew.
	defer c.keys.lock(c.Name(), key)()
	if c.embedded {
		switch err = c.FindOne(ctx, key).Decode(old); {
		case err == nil:
			return primitive.NilObjectID, false, nil
		case !isNoDocuments(err):
			return primitive.NilObjectID, false, err
		}
	}
	for attempt := 0; attempt < 2; attempt++ {
		id = newID()
		doc := bson.M{"_id": id}
		for k, v := range insert {
			doc[k] = v
		}
		if cid, ok := insert["campaignId"].(primitive.ObjectID); ok && c.parts != nil && c.parts.Load() > 0 {
			// the event's projection partition (an event stored without
			// one is given it by the projector: AdoptStrays)
			doc["part"] = domain.PartitionOf(cid.Hex(), int(c.parts.Load()))
		}
		err = c.FindOneAndUpdate(ctx, key, bson.M{"$setOnInsert": doc},
			options.FindOneAndUpdate().SetUpsert(true).SetReturnDocument(options.Before)).Decode(old)
		switch {
		case isNoDocuments(err):
			return id, true, nil
		case err == nil:
			return primitive.NilObjectID, false, nil
		case isDuplicate(err):
			continue
		default:
			return primitive.NilObjectID, false, err
		}
	}
	return primitive.NilObjectID, false, fmt.Errorf("record event: duplicate key twice: %w", err)
}

// eventOwners parses the participation, campaign and streamer ids that every
// event document (and a slot) refers to.
func eventOwners(participationID, campaignID, streamerID string) (pid, cid, sid primitive.ObjectID, err error) {
	var errs [3]error
	pid, errs[0] = primitive.ObjectIDFromHex(participationID)
	cid, errs[1] = primitive.ObjectIDFromHex(campaignID)
	sid, errs[2] = primitive.ObjectIDFromHex(streamerID)
	if errs[0] != nil || errs[1] != nil || errs[2] != nil {
		return pid, cid, sid, fmt.Errorf("malformed participation, campaign or streamer id")
	}
	return pid, cid, sid, nil
}

// eventState is how far the projector has taken an event (see package
// projection): its billing, "pending" from the request that recorded it
// until the projector decides it, and the batch that applied it. Documents
// stored before the projector carry a billed flag instead and no batch;
// their effects were applied as they were recorded.
type eventState struct {
	Billing      string `bson:"billing,omitempty"`
	Batch        int64  `bson:"batch,omitempty"`
	LegacyBilled bool   `bson:"billed,omitempty"`
	NotBilled    string `bson:"notBilled,omitempty"` // the money rule that refused its price
}

func (s eventState) billing() domain.Billing {
	if s.Billing == "" {
		if s.LegacyBilled {
			return domain.BillingBilled
		}
		return domain.BillingNotBilled
	}
	return domain.Billing(s.Billing)
}

// pendingIndex lets each projection partition find its own pending events
// oldest first (impressions and clicks by billing, conversions by todo),
// and anyone count the pending events of all partitions (its prefix); every
// event collection declares it. It replaced flag_1__id_1 (one index fewer
// to keep on each event's write: on a server engine every index of a
// document is written again when the document is).
func pendingIndex(flag string) indexModel {
	return plainIndex(flag+"_1_part_1__id_1", bson.D{{Key: flag, Value: 1}, {Key: "part", Value: 1}, {Key: "_id", Value: 1}})
}

// obsoletePendingIndexes are the pending indexes from before partitions.
var obsoletePendingIndexes = map[string][]string{clicksCollection: {"billing_1__id_1"},
	impressionsCollection: {"billing_1__id_1"}, conversionsCollection: {"todo_1__id_1"}}

const clicksCollection = "clicks"

// clickIndexes: (campaignId, clickId) is the idempotency key of a click —
// scoped to the campaign, so that an id a caller chooses can never block
// another tenant's click with the same id; a conversion finds its click by
// clickId among the campaigns its caller manages; the event export reads a
// campaign's or a participation's in the order recorded (exportIndexes).
func clickIndexes() []indexModel {
	return append([]indexModel{
		uniqueIndex("campaignId_1_clickId_1", bson.D{{Key: "campaignId", Value: 1}, {Key: "clickId", Value: 1}}),
		plainIndex("clickId_1_campaignId_1", bson.D{{Key: "clickId", Value: 1}, {Key: "campaignId", Value: 1}}),
		pendingIndex("billing"),
	}, exportIndexes()...)
}

// obsoleteClickIndexes were replaced by the campaign-scoped key: the global
// unique clickId let one tenant squat another's click ids.
var obsoleteClickIndexes = []string{"clickId_1", "campaignId_1"}

// Clicks is the clicks collection.
type Clicks struct {
	c     *collection
	newID func() primitive.ObjectID
}

// NewClicks returns the clicks repository of s.
func NewClicks(s *Store) *Clicks {
	return &Clicks{c: s.collection(clicksCollection), newID: primitive.NewObjectID}
}

type clickDoc struct {
	ID              primitive.ObjectID `bson:"_id"`
	ClickID         string             `bson:"clickId"`
	ParticipationID primitive.ObjectID `bson:"participationId"`
	CampaignID      primitive.ObjectID `bson:"campaignId"`
	StreamerID      primitive.ObjectID `bson:"streamerId"`
	CostMicros      int64              `bson:"costMicros"`
	CreatedAt       time.Time          `bson:"createdAt"`
	Viewer          string             `bson:"viewer,omitempty"`
	Invalid         string             `bson:"invalid,omitempty"`
	Subs            subsDoc            `bson:"subs,omitempty"`
	State           eventState         `bson:",inline"`
}

func (d *clickDoc) toDomain() domain.Click {
	return domain.Click{ID: d.ID.Hex(), ClickID: d.ClickID, ParticipationID: d.ParticipationID.Hex(),
		CampaignID: d.CampaignID.Hex(), StreamerID: d.StreamerID.Hex(), Viewer: d.Viewer, Subs: d.Subs.toDomain(),
		Invalid: domain.InvalidReason(d.Invalid), Billing: d.State.billing(), NotBilled: domain.NotBilledReason(d.State.NotBilled),
		Cost: domain.Micros(d.CostMicros), CreatedAt: d.CreatedAt.UTC()}
}

// Record stores a click once per (CampaignID, ClickID) and reports whether this call
// created it: one store call, the click's only write (see recordOnce). A new
// click is PENDING with its price (c.Cost) until the projector bills it or
// not. When the click already exists it is returned as stored.
func (r *Clicks) Record(ctx context.Context, c domain.Click) (domain.Click, bool, error) {
	pid, cid, sid, err := eventOwners(c.ParticipationID, c.CampaignID, c.StreamerID)
	if err != nil {
		return domain.Click{}, false, fmt.Errorf("record click: %w", err)
	}
	c.CreatedAt = c.CreatedAt.UTC().Truncate(time.Millisecond)
	var old clickDoc
	insert := bson.M{
		"clickId": c.ClickID, "participationId": pid, "campaignId": cid, "streamerId": sid,
		"billing": string(domain.BillingPending), "costMicros": int64(c.Cost), "createdAt": c.CreatedAt,
	}
	if c.Viewer != "" {
		insert["viewer"] = c.Viewer
	}
	if c.Subs != (domain.SubIDs{}) {
		insert["subs"] = toSubsDoc(c.Subs)
	}
	id, isNew, err := recordOnce(ctx, r.c, bson.M{"campaignId": cid, "clickId": c.ClickID}, insert, r.newID, &old)
	if err != nil {
		return domain.Click{}, false, fmt.Errorf("record click: %w", err)
	}
	if !isNew {
		return old.toDomain(), false, nil
	}
	c.ID, c.Billing = id.Hex(), domain.BillingPending
	return c, true, nil
}

// WithClickID returns the clicks with a click id, one per campaign that has
// it, at most limit; NOT_FOUND when there is none.
func (r *Clicks) WithClickID(ctx context.Context, clickID string, limit int) ([]domain.Click, error) {
	cur, err := r.c.Find(ctx, bson.M{"clickId": clickID}, options.Find().SetLimit(int64(limit)))
	if err != nil {
		return nil, fmt.Errorf("find click: %w", err)
	}
	var docs []clickDoc
	if err := cur.All(ctx, &docs); err != nil {
		return nil, fmt.Errorf("decode clicks: %w", err)
	}
	if len(docs) == 0 {
		return nil, domain.Errorf(domain.ENOTFOUND, "click %q not found", clickID)
	}
	out := make([]domain.Click, len(docs))
	for i := range docs {
		out[i] = docs[i].toDomain()
	}
	return out, nil
}

// each streams every document of c through fn without loading the whole
// collection.
func each[D any](ctx context.Context, c *collection, fn func(*D) error) error {
	cur, err := c.Find(ctx, bson.M{}, options.Find().SetSort(bson.D{{Key: "_id", Value: 1}}))
	if err != nil {
		return fmt.Errorf("scan %s: %w", c.Name(), err)
	}
	defer cur.Close(ctx)
	for cur.Next(ctx) {
		var d D
		if err := cur.Decode(&d); err != nil {
			return fmt.Errorf("decode %s: %w", c.Name(), err)
		}
		if err := fn(&d); err != nil {
			return err
		}
	}
	return cur.Err()
}
