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

// markBilled records on an event that its cost was taken from its campaign's
// budget: one $set of the billed fields.
func markBilled(ctx context.Context, c *collection, kind, id string, billed bson.M) error {
	oid, err := objectID(id, kind)
	if err != nil {
		return err
	}
	if _, err := c.UpdateOne(ctx, bson.M{"_id": oid}, bson.M{"$set": billed}); err != nil {
		return fmt.Errorf("mark %s billed: %w", kind, err)
	}
	return nil
}

// EventCounter is the one place that turns an event into counter paths.
func counterPath(kind domain.EventKind) string { return "stats." + string(kind) }

const clicksCollection = "clicks"

// clickIndexes: clickId is the idempotency key of a click; reconcile walks a
// campaign's and a participation's clicks.
func clickIndexes() []indexModel {
	return []indexModel{
		uniqueIndex("clickId_1", bson.D{{Key: "clickId", Value: 1}}),
		plainIndex("campaignId_1", bson.D{{Key: "campaignId", Value: 1}}),
	}
}

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
	Billed          bool               `bson:"billed"`
	CostMicros      int64              `bson:"costMicros"`
	CreatedAt       time.Time          `bson:"createdAt"`
}

func (d *clickDoc) toDomain() domain.Click {
	return domain.Click{ID: d.ID.Hex(), ClickID: d.ClickID, ParticipationID: d.ParticipationID.Hex(),
		CampaignID: d.CampaignID.Hex(), StreamerID: d.StreamerID.Hex(), Billed: d.Billed,
		Cost: domain.Micros(d.CostMicros), CreatedAt: d.CreatedAt.UTC()}
}

// Record stores a click once per ClickID and reports whether this call
// created it (one store call; see recordOnce). A new click starts unbilled;
// MarkBilled records the spend once the budget guard has taken it. When the
// click already exists it is returned as stored.
func (r *Clicks) Record(ctx context.Context, c domain.Click) (domain.Click, bool, error) {
	pid, cid, sid, err := eventOwners(c.ParticipationID, c.CampaignID, c.StreamerID)
	if err != nil {
		return domain.Click{}, false, fmt.Errorf("record click: %w", err)
	}
	c.CreatedAt = c.CreatedAt.UTC().Truncate(time.Millisecond)
	var old clickDoc
	id, isNew, err := recordOnce(ctx, r.c, bson.M{"clickId": c.ClickID}, bson.M{
		"clickId": c.ClickID, "participationId": pid, "campaignId": cid, "streamerId": sid,
		"billed": false, "costMicros": int64(0), "createdAt": c.CreatedAt,
	}, r.newID, &old)
	if err != nil {
		return domain.Click{}, false, fmt.Errorf("record click: %w", err)
	}
	if !isNew {
		return old.toDomain(), false, nil
	}
	c.ID, c.Billed, c.Cost = id.Hex(), false, 0
	return c, true, nil
}

// MarkBilled records that a click's cost was taken from its campaign's budget.
func (r *Clicks) MarkBilled(ctx context.Context, id string, cost domain.Micros) error {
	return markBilled(ctx, r.c, "click", id, bson.M{"billed": true, "costMicros": int64(cost)})
}

// ByClickID returns a click by its idempotency key; NOT_FOUND when there is
// none.
func (r *Clicks) ByClickID(ctx context.Context, clickID string) (domain.Click, error) {
	var doc clickDoc
	err := r.c.FindOne(ctx, bson.M{"clickId": clickID}).Decode(&doc)
	if isNoDocuments(err) {
		return domain.Click{}, domain.Errorf(domain.ENOTFOUND, "click %q not found", clickID)
	}
	if err != nil {
		return domain.Click{}, fmt.Errorf("find click: %w", err)
	}
	return doc.toDomain(), nil
}

// Each calls fn with every click, in _id order; reconcile uses it.
func (r *Clicks) Each(ctx context.Context, fn func(domain.Click) error) error {
	return each(ctx, r.c, func(d *clickDoc) error { return fn(d.toDomain()) })
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
