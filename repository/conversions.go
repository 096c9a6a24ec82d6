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

const conversionsCollection = "conversions"

// obsoleteConversionIndexes were replaced by the keys below.
var obsoleteConversionIndexes = []string{"clickId_1_goalId_1", "campaignId_1_clickId_1_goalId_1"}

// conversionIndexes: a conversion's natural key depends on its goal's
// duplicate rule. Once per click: onceKey = campaign:click:goal, the old
// system's click_id_1_goal_id_1 within the click's campaign (click ids are
// unique per campaign). Per transaction: txnKey = campaign:click:goal:txn.
// Each is a partial unique index on its field being a string, so a
// conversion of the other kind never collides on a missing one. Conversions
// stored before these keys carry neither; a once-per-click report finds
// them by (campaignId, clickId, goalId) with no txnKey. Lists go by
// campaign and participation; the projector finds conversions to project by
// todo; the hold release by status and holdUntil; the event export by
// campaign or participation in the order recorded (exportIndexes).
func conversionIndexes() []indexModel {
	return append([]indexModel{
		partialUniqueIndex("onceKey_1", "onceKey"),
		partialUniqueIndex("txnKey_1", "txnKey"),
		plainIndex("campaignId_1_clickId_1_goalId_1_lookup", bson.D{{Key: "campaignId", Value: 1}, {Key: "clickId", Value: 1}, {Key: "goalId", Value: 1}}),
		plainIndex("campaignId_1__id_-1", bson.D{{Key: "campaignId", Value: 1}, {Key: "_id", Value: -1}}),
		plainIndex("participationId_1__id_-1", bson.D{{Key: "participationId", Value: 1}, {Key: "_id", Value: -1}}),
		pendingIndex("todo"),
		plainIndex("status_1_holdUntil_1", bson.D{{Key: "status", Value: 1}, {Key: "holdUntil", Value: 1}}),
	}, exportIndexes()...)
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
	TransactionID   string             `bson:"transactionId,omitempty"`
	ParticipationID primitive.ObjectID `bson:"participationId"`
	CampaignID      primitive.ObjectID `bson:"campaignId"`
	StreamerID      primitive.ObjectID `bson:"streamerId"`
	Subs            subsDoc            `bson:"subs,omitempty"`
	Status          string             `bson:"status"`
	StatusAt        *time.Time         `bson:"statusAt,omitempty"`
	RejectReason    string             `bson:"rejectReason,omitempty"`
	HoldUntil       *time.Time         `bson:"holdUntil,omitempty"`
	History         []historyDoc       `bson:"history,omitempty"`
	Rev             int64              `bson:"rev"`
	Implied         bool               `bson:"implied,omitempty"`
	CauseID         string             `bson:"causeId,omitempty"`
	PayoutMicros    int64              `bson:"payoutMicros"`
	CostMicros      *int64             `bson:"costMicros"` // absent on conversions stored before the projector: the payout
	Billable        *bool              `bson:"billable"`
	Applied         appliedDoc         `bson:"applied"`
	Steps           []stepDoc          `bson:"steps,omitempty"`
	Todo            bool               `bson:"todo,omitempty"`
	CreatedAt       time.Time          `bson:"createdAt"`
	State           eventState         `bson:",inline"`
}

// appliedDoc is what the projector has applied of a conversion so far.
type appliedDoc struct {
	Batch         int64 `bson:"batch"`
	Counted       bool  `bson:"counted"`
	ChargedMicros int64 `bson:"chargedMicros"`
	Decided       bool  `bson:"decided"`
	// Rev is the status change last projected; absent on conversions
	// projected before it was kept.
	Rev *int64 `bson:"rev,omitempty"`
}

// stepDoc is one projection of a conversion (domain.Step).
type stepDoc struct {
	Batch       int64  `bson:"batch"`
	Counted     bool   `bson:"counted"`
	DeltaMicros int64  `bson:"deltaMicros"`
	CountDay    string `bson:"countDay"`
	MoneyDay    string `bson:"moneyDay"`
	Refused     string `bson:"notBilled,omitempty"`
	CapDay      string `bson:"capDay,omitempty"`
	// the quarter buckets (steps since they exist)
	Status  string    `bson:"status,omitempty"`
	MoneyAt time.Time `bson:"moneyAt,omitempty"`
}

type historyDoc struct {
	By     string    `bson:"by"`
	At     time.Time `bson:"at"`
	From   string    `bson:"from,omitempty"`
	To     string    `bson:"to"`
	Reason string    `bson:"reason,omitempty"`
}

// subsDoc are a click's sub-ids, and its conversions'.
type subsDoc struct {
	Sub1 string `bson:"sub1,omitempty"`
	Sub2 string `bson:"sub2,omitempty"`
	Sub3 string `bson:"sub3,omitempty"`
	Sub4 string `bson:"sub4,omitempty"`
	Sub5 string `bson:"sub5,omitempty"`
}

func toSubsDoc(s domain.SubIDs) subsDoc { return subsDoc{s[0], s[1], s[2], s[3], s[4]} }

func (d subsDoc) toDomain() domain.SubIDs {
	return domain.SubIDs{d.Sub1, d.Sub2, d.Sub3, d.Sub4, d.Sub5}
}

func (h historyDoc) statusChange() domain.StatusChange {
	c := domain.StatusChange{By: h.By, At: h.At.UTC(), To: domain.ConversionStatus(h.To), Reason: h.Reason}
	if h.From != "" {
		c.From = domain.ConversionStatus(h.From).Ptr()
	}
	return c
}

func historyEntry(h domain.StatusChange) historyDoc {
	d := historyDoc{By: h.By, At: h.At.UTC().Truncate(time.Millisecond), To: string(h.To), Reason: h.Reason}
	if h.From != nil {
		d.From = string(*h.From)
	}
	return d
}

// history maps stored history entries, with defaults for what an entry may
// lack (the API promises a status in every entry's to, and null, never "",
// in from): no from is the status the conversion was recorded with (nil);
// no to is the status the next entry changed from, or for the last entry
// the conversion's status now.
func history(docs []historyDoc, now domain.ConversionStatus) []domain.StatusChange {
	if len(docs) == 0 {
		return nil
	}
	out := make([]domain.StatusChange, len(docs))
	for i, h := range docs {
		out[i] = h.statusChange()
	}
	for i := range out {
		if out[i].To != "" {
			continue
		}
		out[i].To = now
		if i+1 < len(out) && out[i+1].From != nil {
			out[i].To = *out[i+1].From
		}
	}
	return out
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
	c := domain.Conversion{ID: d.ID.Hex(), ClickID: d.ClickID, GoalID: d.GoalID, ExternalID: d.ExternalID,
		TransactionID: d.TransactionID, ParticipationID: d.ParticipationID.Hex(), CampaignID: d.CampaignID.Hex(),
		StreamerID: d.StreamerID.Hex(), Subs: d.Subs.toDomain(), Status: st, StatusAt: d.CreatedAt.UTC(),
		RejectReason: d.RejectReason, HoldUntil: utcPtr(d.HoldUntil), Rev: d.Rev, Implied: d.Implied, CauseID: d.CauseID,
		Payout: domain.Micros(d.PayoutMicros), Cost: domain.Micros(cost), Charged: domain.Micros(d.Applied.ChargedMicros),
		Billing: d.State.billing(), NotBilled: domain.NotBilledReason(d.State.NotBilled), CreatedAt: d.CreatedAt.UTC()}
	if d.StatusAt != nil {
		c.StatusAt = d.StatusAt.UTC()
	}
	if d.State.Billing == "" && d.State.LegacyBilled { // stored before the projector
		c.Charged = c.Payout
	}
	c.History = history(d.History, st)
	return c
}

// conversionKey is the natural key of c under its goal's duplicate rule, as
// a filter, and the key field to store with it.
func conversionKey(cid primitive.ObjectID, c domain.Conversion, repeatable bool) (filter bson.M, field, value string) {
	base := cid.Hex() + ":" + c.ClickID + ":" + c.GoalID
	if repeatable {
		v := base + ":" + c.TransactionID
		return bson.M{"txnKey": v}, "txnKey", v
	}
	return bson.M{"campaignId": cid, "clickId": c.ClickID, "goalId": c.GoalID, "txnKey": bson.M{"$exists": false}}, "onceKey", base
}

// Record stores a conversion once per natural key — (campaign, click, goal)
// for a once-per-click goal, with the transaction id for a repeatable one —
// and reports whether this call created it: one store call, the
// conversion's only write (see recordOnce). It waits for the projector
// (todo) with its price (c.Cost) and its first history entry; the
// projector counts it and, once it is APPROVED, bills it.
func (r *Conversions) Record(ctx context.Context, c domain.Conversion, repeatable bool) (domain.Conversion, bool, error) {
	return recordConversion(ctx, r.c, r.newID, c, repeatable)
}

func recordConversion(ctx context.Context, coll *collection, newID func() primitive.ObjectID, c domain.Conversion, repeatable bool) (domain.Conversion, bool, error) {
	pid, cid, sid, err := eventOwners(c.ParticipationID, c.CampaignID, c.StreamerID)
	if err != nil {
		return domain.Conversion{}, false, fmt.Errorf("record conversion: %w", err)
	}
	c.CreatedAt = c.CreatedAt.UTC().Truncate(time.Millisecond)
	c.StatusAt = c.CreatedAt
	billable := c.Cost > 0 || c.Payout == 0
	// The first history entry is the status it is recorded with: by whom
	// (and why) the caller says, when and to what the conversion does.
	first := domain.StatusChange{At: c.CreatedAt, To: c.Status}
	if len(c.History) > 0 {
		first.By, first.Reason = c.History[0].By, c.History[0].Reason
	}
	filter, keyField, keyValue := conversionKey(cid, c, repeatable)
	insert := bson.M{
		"clickId": c.ClickID, "goalId": c.GoalID, "participationId": pid, "campaignId": cid, "streamerId": sid,
		"status": string(c.Status), "statusAt": c.StatusAt, "rev": int64(0), "payoutMicros": int64(c.Payout),
		"costMicros": int64(c.Cost), "billable": billable, "billing": string(domain.BillingPending), "todo": true,
		"applied": appliedDoc{}, "createdAt": c.CreatedAt, keyField: keyValue,
		"history": bson.A{historyEntry(first)},
	}
	for k, v := range map[string]string{"externalId": c.ExternalID, "transactionId": c.TransactionID, "causeId": c.CauseID} {
		if v != "" {
			insert[k] = v
		}
	}
	if c.Implied {
		insert["implied"] = true
	}
	if c.Subs != (domain.SubIDs{}) {
		insert["subs"] = toSubsDoc(c.Subs)
	}
	if c.HoldUntil != nil {
		insert["holdUntil"] = c.HoldUntil.UTC().Truncate(time.Millisecond)
	}
	var old conversionDoc
	id, isNew, err := recordOnce(ctx, coll, filter, insert, newID, &old)
	if err != nil {
		return domain.Conversion{}, false, fmt.Errorf("record conversion: %w", err)
	}
	if !isNew {
		return old.toDomain(), false, nil
	}
	c.ID, c.Billing = id.Hex(), domain.BillingPending
	c.History = history([]historyDoc{historyEntry(first)}, c.Status) // as stored, as a read returns it
	return c, true, nil
}

// ByID returns a conversion; NOT_FOUND when there is none.
func (r *Conversions) ByID(ctx context.Context, id string) (domain.Conversion, error) {
	oid, err := objectID(id, "conversion")
	if err != nil {
		return domain.Conversion{}, err
	}
	var d conversionDoc
	err = r.c.FindOne(ctx, bson.M{"_id": oid}).Decode(&d)
	if isNoDocuments(err) {
		return domain.Conversion{}, domain.Errorf(domain.ENOTFOUND, "conversion %q not found", id)
	}
	if err != nil {
		return domain.Conversion{}, fmt.Errorf("find conversion: %w", err)
	}
	return d.toDomain(), nil
}

// ByIDs returns conversions by id; the missing are absent from the map.
func (r *Conversions) ByIDs(ctx context.Context, ids []string) (map[string]domain.Conversion, error) {
	cur, err := r.c.Find(ctx, bson.M{"_id": bson.M{"$in": objectIDs(ids)}})
	if err != nil {
		return nil, fmt.Errorf("find conversions: %w", err)
	}
	var docs []conversionDoc
	if err := cur.All(ctx, &docs); err != nil {
		return nil, fmt.Errorf("decode conversions: %w", err)
	}
	out := make(map[string]domain.Conversion, len(docs))
	for i := range docs {
		out[docs[i].ID.Hex()] = docs[i].toDomain()
	}
	return out, nil
}

// SetStatus changes a conversion's status as one guarded update: only while
// its status is one it may change from (domain.ConversionStatus.CanBecome),
// recording the change in its history and leaving it for the projector
// (todo, rev+1), which moves the money. CONFLICT, with the status it has,
// when it may not; NOT_FOUND when there is none.
func (r *Conversions) SetStatus(ctx context.Context, id string, change domain.StatusChange) (domain.Conversion, error) {
	oid, err := objectID(id, "conversion")
	if err != nil {
		return domain.Conversion{}, err
	}
	from := change.To.Sources()
	names := make(bson.A, len(from))
	for i, s := range from {
		names[i] = string(s)
	}
	at := change.At.UTC().Truncate(time.Millisecond)
	set := bson.M{"status": string(change.To), "statusAt": at, "todo": true}
	if change.To == domain.ConversionRejected {
		set["rejectReason"] = change.Reason
	}
	var d conversionDoc
	err = r.c.FindOneAndUpdate(ctx, bson.M{"_id": oid, "status": bson.M{"$in": names}},
		bson.M{"$set": set, "$inc": bson.M{"rev": int64(1)}, "$unset": bson.M{"holdUntil": ""},
			"$push": bson.M{"history": historyEntry(change)}},
		options.FindOneAndUpdate().SetReturnDocument(options.After)).Decode(&d)
	if err == nil {
		return d.toDomain(), nil
	}
	if !isNoDocuments(err) {
		return domain.Conversion{}, fmt.Errorf("set conversion status: %w", err)
	}
	now, err := r.ByID(ctx, id)
	if err != nil {
		return domain.Conversion{}, err
	}
	return now, domain.Errorf(domain.ECONFLICT, "the conversion is %s and cannot become %s", now.Status.Name(), change.To.Name())
}

// ReleaseHolds approves every PENDING conversion whose hold ended by now,
// as the system: one updateMany, each conversion guarded by its status, so
// a rejection that came first wins. It reports how many it approved.
func (r *Conversions) ReleaseHolds(ctx context.Context, now time.Time) (int64, error) {
	now = now.UTC().Truncate(time.Millisecond)
	res, err := r.c.UpdateMany(ctx,
		bson.M{"status": string(domain.ConversionPending), "holdUntil": bson.M{"$lte": now}},
		bson.M{"$set": bson.M{"status": string(domain.ConversionApproved), "statusAt": now, "todo": true},
			"$inc": bson.M{"rev": int64(1)}, "$unset": bson.M{"holdUntil": ""},
			"$push": bson.M{"history": historyEntry(domain.StatusChange{By: "system", At: now, From: domain.ConversionPending.Ptr(),
				To: domain.ConversionApproved, Reason: "the goal's hold ended"})}})
	if err != nil {
		return 0, fmt.Errorf("release held conversions: %w", err)
	}
	return res.ModifiedCount, nil
}

// List returns a page of conversions, newest first, narrowed by f.
func (r *Conversions) List(ctx context.Context, f domain.ConversionFilter, page domain.PageArgs) (domain.Page[domain.Conversion], error) {
	filter := bson.M{}
	for field, id := range map[string]string{"campaignId": f.CampaignID, "participationId": f.ParticipationID, "streamerId": f.StreamerID} {
		if id == "" {
			continue
		}
		oid, err := primitive.ObjectIDFromHex(id)
		if err != nil {
			return domain.Page[domain.Conversion]{}, page.Validate()
		}
		filter[field] = oid
	}
	if f.Status != "" {
		filter["status"] = string(f.Status)
	}
	if f.GoalID != "" {
		filter["goalId"] = f.GoalID
	}
	for i, v := range f.Subs {
		if v != "" {
			filter[fmt.Sprintf("subs.sub%d", i+1)] = v
		}
	}
	created := bson.M{}
	if f.From != nil {
		created["$gte"] = f.From.UTC()
	}
	if f.To != nil {
		created["$lt"] = f.To.UTC()
	}
	if len(created) > 0 {
		filter["createdAt"] = created
	}
	return findPage(ctx, r.c, filter, page,
		func(d *conversionDoc) primitive.ObjectID { return d.ID },
		func(d *conversionDoc) domain.Conversion { return d.toDomain() })
}
