package repository

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/primitive"
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
		// a campaign's deliveries, newest first (the deliveries query)
		plainIndex("campaignId_1_seq_-1", bson.D{{Key: "campaignId", Value: 1}, {Key: "seq", Value: -1}}),
		// replays and resumes of a campaign's failed or held deliveries
		plainIndex("campaignId_1_state_1", bson.D{{Key: "campaignId", Value: 1}, {Key: "state", Value: 1}}),
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
const DeliveryPending = string(domain.DeliveryPendingState)

// Enqueue stores deliveries that are not stored yet: one unordered bulk of
// inserts keyed by the deliveries' keys, so a replay enqueues nothing twice
// (a duplicate key is a delivery stored before, left as it is). Inserts, not
// $setOnInsert upserts: on FerretDB an upsert that races another one on the
// same key can, on its conflict path, write its insert document over the one
// stored, resetting a delivery a sender had meanwhile claimed to pending (so
// it would be sent twice); an insert never changes a stored document.
func (r *Outbox) Enqueue(ctx context.Context, ds []domain.Delivery) error {
	if len(ds) == 0 {
		return nil
	}
	models := make([]mongo.WriteModel, len(ds))
	for i, d := range ds {
		at := d.CreatedAt.UTC().Truncate(time.Millisecond)
		models[i] = mongo.NewInsertOneModel().SetDocument(bson.M{"_id": d.Key,
			"campaignId": d.CampaignID, "conversionId": d.ConversionID, "goalId": d.GoalID, "event": d.Event,
			"values": d.Values, "createdAt": at, "state": DeliveryPending, "nextAt": at, "attempts": int64(0),
			"retries": int64(0), "seq": primitive.NewObjectID(),
		})
	}
	_, err := r.c.BulkWrite(ctx, models, options.BulkWrite().SetOrdered(false))
	if err == nil || onlyDuplicates(err) || onlyDuplicateWrites(err) {
		return nil // a duplicate is a delivery stored before, or by a racing enqueue
	}
	return fmt.Errorf("enqueue postbacks: %w", err)
}

// onlyDuplicateWrites is onlyDuplicates for the embedded engine's answer to
// an unordered bulk, a bare mongo.WriteErrors.
func onlyDuplicateWrites(err error) bool {
	var wes mongo.WriteErrors
	if !errors.As(err, &wes) || len(wes) == 0 {
		return false
	}
	for _, we := range wes {
		if !isDuplicate(mongo.WriteException{WriteErrors: mongo.WriteErrors{we}}) {
			return false
		}
	}
	return true
}

// outboxDoc is one delivery as stored. The attempt log is a subdocument of
// MaxAttemptLog slots ("a00"…"a19", attempt n in slot (n-1) mod
// MaxAttemptLog), so that recording an attempt is one $set that keeps it
// bounded on every engine (the embedded one has no $push with $slice).
type outboxDoc struct {
	ID           string                `bson:"_id"`
	Seq          primitive.ObjectID    `bson:"seq"`
	CampaignID   string                `bson:"campaignId"`
	ConversionID string                `bson:"conversionId"`
	GoalID       string                `bson:"goalId"`
	Event        string                `bson:"event"`
	Values       map[string]string     `bson:"values"`
	CreatedAt    time.Time             `bson:"createdAt"`
	State        string                `bson:"state"`
	NextAt       time.Time             `bson:"nextAt"`
	Attempts     int64                 `bson:"attempts"`
	Retries      int64                 `bson:"retries"`
	Claim        string                `bson:"claim,omitempty"`
	Log          map[string]attemptDoc `bson:"log,omitempty"`
	DeliveredAt  *time.Time            `bson:"deliveredAt,omitempty"`
	LastError    string                `bson:"lastError,omitempty"`
}

type attemptDoc struct {
	N          int64     `bson:"n"`
	At         time.Time `bson:"at"`
	StatusCode int       `bson:"statusCode"`
	LatencyMs  int64     `bson:"latencyMs"`
	Response   string    `bson:"response"`
	Error      string    `bson:"error,omitempty"`
}

func (d *outboxDoc) toDomain() domain.OutboxEntry {
	e := domain.OutboxEntry{
		Delivery: domain.Delivery{Key: d.ID, CampaignID: d.CampaignID, ConversionID: d.ConversionID, GoalID: d.GoalID,
			Event: d.Event, Values: d.Values, CreatedAt: d.CreatedAt.UTC()},
		State: domain.DeliveryState(d.State), NextAt: d.NextAt.UTC(), Attempts: d.Attempts, Retries: d.Retries,
		Log: make([]domain.Attempt, 0, len(d.Log)), DeliveredAt: utcPtr(d.DeliveredAt), LastError: d.LastError,
	}
	if e.Values == nil {
		e.Values = map[string]string{}
	}
	for _, a := range d.Log {
		e.Log = append(e.Log, domain.Attempt{N: a.N, At: a.At.UTC(), StatusCode: a.StatusCode,
			Latency: time.Duration(a.LatencyMs) * time.Millisecond, Response: a.Response, Error: a.Error})
	}
	slices.SortFunc(e.Log, func(a, b domain.Attempt) int { return cmp.Compare(a.N, b.N) })
	return e
}

func ms(t time.Time) time.Time { return t.UTC().Truncate(time.Millisecond) }

// Claim takes the oldest due delivery for one attempt: a pending one whose
// time has come, or a sending one whose claim expired (its sender stopped or
// crashed). One guarded FindOneAndUpdate makes it sending, due again only at
// now+lease (the claim's expiry), with a fresh claim token, and counts the
// attempt; so two senders never hold one delivery at once. ok is false when
// nothing is due. The token guards every later write of this attempt.
func (r *Outbox) Claim(ctx context.Context, now time.Time, lease time.Duration, token string) (e domain.OutboxEntry, ok bool, err error) {
	var doc outboxDoc
	err = r.c.FindOneAndUpdate(ctx,
		bson.M{"state": bson.M{"$in": bson.A{DeliveryPending, string(domain.DeliverySending)}}, "nextAt": bson.M{"$lte": ms(now)}},
		bson.M{"$set": bson.M{"state": string(domain.DeliverySending), "nextAt": ms(now.Add(lease)), "claim": token},
			"$inc": bson.M{"attempts": int64(1), "retries": int64(1)}},
		options.FindOneAndUpdate().SetSort(bson.D{{Key: "nextAt", Value: 1}}).SetReturnDocument(options.After),
	).Decode(&doc)
	if isNoDocuments(err) {
		return domain.OutboxEntry{}, false, nil
	}
	if err != nil {
		return domain.OutboxEntry{}, false, fmt.Errorf("claim postback: %w", err)
	}
	return doc.toDomain(), true, nil
}

// Outcome is how a claimed attempt ended, for Settle.
type Outcome struct {
	State domain.DeliveryState
	// NextAt is when a pending delivery is due again.
	NextAt time.Time
	// Attempt is the attempt made; nil when none was (a held or skipped
	// delivery), and then the claim's count is given back.
	Attempt *domain.Attempt
	Now     time.Time
}

// Settle records the outcome of the claim token on delivery key: one update
// guarded by the token, so a sender whose claim expired and was taken over
// writes nothing. ok is false then.
func (r *Outbox) Settle(ctx context.Context, key, token string, o Outcome) (ok bool, err error) {
	set := bson.M{"state": string(o.State), "nextAt": ms(o.NextAt)}
	update := bson.M{"$set": set, "$unset": bson.M{"claim": ""}}
	if a := o.Attempt; a != nil {
		slot := fmt.Sprintf("log.a%02d", (a.N-1)%domain.MaxAttemptLog)
		set[slot] = attemptDoc{N: a.N, At: ms(a.At), StatusCode: a.StatusCode, LatencyMs: a.Latency.Milliseconds(),
			Response: a.Response, Error: a.Error}
		set["lastError"] = a.Error
	} else {
		update["$inc"] = bson.M{"attempts": int64(-1), "retries": int64(-1)}
	}
	if o.State == domain.DeliveryDelivered {
		set["deliveredAt"] = ms(o.Now)
	}
	res, err := r.c.UpdateOne(ctx, bson.M{"_id": key, "claim": token, "state": string(domain.DeliverySending)}, update)
	if err != nil {
		return false, fmt.Errorf("settle postback: %w", err)
	}
	return res.MatchedCount == 1, nil
}

// Get returns one delivery; NOT_FOUND when there is none.
func (r *Outbox) Get(ctx context.Context, key string) (domain.OutboxEntry, error) {
	var doc outboxDoc
	err := r.c.FindOne(ctx, bson.M{"_id": key}).Decode(&doc)
	if isNoDocuments(err) {
		return domain.OutboxEntry{}, domain.Errorf(domain.ENOTFOUND, "postback delivery %q not found", key)
	}
	if err != nil {
		return domain.OutboxEntry{}, fmt.Errorf("find postback: %w", err)
	}
	return doc.toDomain(), nil
}

// List returns one page of a campaign's deliveries, newest first, in one
// state or all ("").
func (r *Outbox) List(ctx context.Context, campaignID string, state domain.DeliveryState, page domain.PageArgs) (domain.Page[domain.OutboxEntry], error) {
	filter := bson.M{"campaignId": campaignID}
	if state != "" {
		filter["state"] = string(state)
	}
	return findPageBy(ctx, r.c, "seq", filter, page,
		func(d *outboxDoc) primitive.ObjectID { return d.Seq },
		func(d *outboxDoc) domain.OutboxEntry { return d.toDomain() })
}

// Replay makes delivery key due now with a fresh run of the retry ladder,
// whatever became of it (the partner deduplicates by its Idempotency-Key);
// CONFLICT while a sender holds it, NOT_FOUND when there is none.
func (r *Outbox) Replay(ctx context.Context, key string, now time.Time) (domain.OutboxEntry, error) {
	var doc outboxDoc
	err := r.c.FindOneAndUpdate(ctx, bson.M{"_id": key, "state": bson.M{"$ne": string(domain.DeliverySending)}},
		bson.M{"$set": bson.M{"state": DeliveryPending, "nextAt": ms(now), "retries": int64(0)}},
		options.FindOneAndUpdate().SetReturnDocument(options.After)).Decode(&doc)
	if err == nil {
		return doc.toDomain(), nil
	}
	if !isNoDocuments(err) {
		return domain.OutboxEntry{}, fmt.Errorf("replay postback: %w", err)
	}
	if _, err := r.Get(ctx, key); err != nil {
		return domain.OutboxEntry{}, err
	}
	return domain.OutboxEntry{}, domain.Errorf(domain.ECONFLICT, "the delivery is being sent right now; try again in a moment")
}

// Requeue makes every delivery of a campaign in state from due now with a
// fresh run of the ladder (one updateMany): from failed for a replay of the
// failed ones, from held when postbacks are enabled again. It returns how
// many it requeued.
func (r *Outbox) Requeue(ctx context.Context, campaignID string, from domain.DeliveryState, now time.Time) (int64, error) {
	res, err := r.c.UpdateMany(ctx, bson.M{"campaignId": campaignID, "state": string(from)},
		bson.M{"$set": bson.M{"state": DeliveryPending, "nextAt": ms(now), "retries": int64(0)}})
	if err != nil {
		return 0, fmt.Errorf("requeue postbacks: %w", err)
	}
	return res.ModifiedCount, nil
}

// NewSenderRepos returns the outbox and the campaigns as the postback sender
// uses them: counted apart from requests and the projector (SenderCalls).
func NewSenderRepos(s *Store) (*Outbox, *Campaigns) {
	return &Outbox{c: s.senderCollection(outboxCollection)}, &Campaigns{c: s.senderCollection(campaignsCollection)}
}
