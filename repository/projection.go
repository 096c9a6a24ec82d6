package repository

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/primitive"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"

	"tally/domain"
)

// The projector's store access (see package projection). Every update here
// is guarded by the batch number it applies, so a replay of a batch — after
// a crash, a timeout, or by a second process — changes nothing:
//
//   - a counter document (campaign, participation, daily bucket) carries
//     projBatch, the last batch applied to it, and an update for batch N only
//     matches while projBatch < N;
//   - a campaign also keeps projUnbilled, the events of its last batch it
//     could not bill, so a replay decides exactly as the first run did;
//   - an event is marked with its billing and batch only while it is pending.
//
// No update spans two documents and none needs a transaction.

const projectorCollection = "projector"

// projectorID is the _id of the one state document.
const projectorID = "projector"

// notApplied matches a counter document that batch n has not yet reached,
// including documents older than the projector (no projBatch).
func notApplied(n int64) bson.M { return bson.M{"$not": bson.M{"$gte": n}} }

// Projection is the projector's view of the store: the event collections,
// the counter documents and the projector's state document.
type Projection struct {
	events         map[domain.EventKind]*collection
	campaigns      *collection
	participations *collection
	daily          *collection
	state          *collection
	filters        *collection
	outbox         *Outbox
}

// NewProjection returns the projection repository of s.
func NewProjection(s *Store) *Projection {
	return &Projection{
		events: map[domain.EventKind]*collection{
			domain.EventImpression: s.projectorCollection(impressionsCollection),
			domain.EventClick:      s.projectorCollection(clicksCollection),
			domain.EventConversion: s.projectorCollection(conversionsCollection),
		},
		campaigns:      s.projectorCollection(campaignsCollection),
		participations: s.projectorCollection(participationsCollection),
		daily:          s.projectorCollection(dailyStatsCollection),
		state:          s.projectorCollection(projectorCollection),
		filters:        s.projectorCollection(clickFiltersCollection),
		outbox:         newProjectorOutbox(s),
	}
}

// kinds is the fixed order the event collections are read in.
var kinds = []domain.EventKind{domain.EventImpression, domain.EventClick, domain.EventConversion}

// eventDoc is what every event document holds that the projector needs.
type eventDoc struct {
	ID              primitive.ObjectID `bson:"_id"`
	ParticipationID primitive.ObjectID `bson:"participationId"`
	CampaignID      primitive.ObjectID `bson:"campaignId"`
	StreamerID      primitive.ObjectID `bson:"streamerId"`
	CostMicros      *int64             `bson:"costMicros"`
	PayoutMicros    int64              `bson:"payoutMicros"` // conversions older than costMicros
	CreatedAt       time.Time          `bson:"createdAt"`
	Viewer          string             `bson:"viewer,omitempty"`
	Invalid         string             `bson:"invalid,omitempty"`
	State           eventState         `bson:",inline"`
	// conversions
	GoalID   string     `bson:"goalId"`
	Status   string     `bson:"status"`
	StatusAt *time.Time `bson:"statusAt"`
	Rev      int64      `bson:"rev"`
	Todo     bool       `bson:"todo"`
	Billable *bool      `bson:"billable"`
	Applied  appliedDoc `bson:"applied"`
	Steps    []stepDoc  `bson:"steps"`
	ClickID  string     `bson:"clickId"`
	External string     `bson:"externalId"`
	Subs     subsDoc    `bson:"subs"`
}

func (d *eventDoc) record(kind domain.EventKind) domain.EventRecord {
	price := d.PayoutMicros
	if d.CostMicros != nil {
		price = *d.CostMicros
	}
	e := domain.EventRecord{ID: d.ID.Hex(), Kind: kind, CampaignID: d.CampaignID.Hex(),
		ParticipationID: d.ParticipationID.Hex(), StreamerID: d.StreamerID.Hex(), At: d.CreatedAt.UTC(),
		Price: domain.Micros(price), Billing: d.State.billing(), Batch: d.State.Batch,
		Viewer: d.Viewer, Invalid: domain.InvalidReason(d.Invalid), Todo: d.State.Billing == string(domain.BillingPending)}
	if kind != domain.EventConversion {
		return e
	}
	e.Todo = d.Todo
	e.Status = domain.ConversionStatus(d.Status)
	if e.Status == "" {
		e.Status = domain.ConversionApproved
	}
	e.Rev, e.GoalID, e.Billable = d.Rev, d.GoalID, d.Billable == nil || *d.Billable
	e.ClickID, e.ExternalID, e.Subs, e.Payout = d.ClickID, d.External, d.Subs.toDomain(), domain.Micros(d.PayoutMicros)
	e.Counted, e.AppliedCharge, e.Decided = d.Applied.Counted, domain.Micros(d.Applied.ChargedMicros), d.Applied.Decided
	e.MoneyAt = e.At
	if d.StatusAt != nil {
		e.MoneyAt = d.StatusAt.UTC()
	}
	for _, st := range d.Steps {
		e.Steps = append(e.Steps, domain.Step{Batch: st.Batch, Counted: st.Counted, Delta: domain.Micros(st.DeltaMicros),
			CountDay: st.CountDay, MoneyDay: st.MoneyDay})
	}
	if d.Applied.Batch == 0 && !d.Todo && d.State.Billing != string(domain.BillingPending) {
		// projected before conversions had steps (or before the projector):
		// one step, as a click's
		e.Counted, e.Decided = true, true
		e.AppliedCharge = e.Charged()
	}
	return e
}

// Pending returns up to limit pending events of every kind, in event order
// (At, then ID): one indexed query per event collection.
func (r *Projection) Pending(ctx context.Context, limit int) ([]domain.EventRecord, error) {
	var out []domain.EventRecord
	for _, kind := range kinds {
		filter := bson.M{"billing": string(domain.BillingPending)}
		if kind == domain.EventConversion {
			filter = bson.M{"todo": true}
		}
		cur, err := r.events[kind].Find(ctx, filter, options.Find().SetSort(bson.D{{Key: "_id", Value: 1}}).SetLimit(int64(limit)))
		if err != nil {
			return nil, fmt.Errorf("find pending %s: %w", kind, err)
		}
		var docs []eventDoc
		if err := cur.All(ctx, &docs); err != nil {
			return nil, fmt.Errorf("decode pending %s: %w", kind, err)
		}
		for i := range docs {
			out = append(out, docs[i].record(kind))
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if a, b := out[i].OrderAt(), out[j].OrderAt(); !a.Equal(b) {
			return a.Before(b)
		}
		return out[i].ID < out[j].ID
	})
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

// EachEvent calls fn with every stored event of every kind; verify uses it.
func (r *Projection) EachEvent(ctx context.Context, fn func(domain.EventRecord) error) error {
	for _, kind := range kinds {
		if err := each(ctx, r.events[kind], func(d *eventDoc) error { return fn(d.record(kind)) }); err != nil {
			return err
		}
	}
	return nil
}

type stateDoc struct {
	ID         string    `bson:"_id"`
	Applied    int64     `bson:"applied"`
	Batch      *batchDoc `bson:"batch,omitempty"`
	Owner      string    `bson:"owner"`
	LeaseUntil time.Time `bson:"leaseUntil"`
}

type batchDoc struct {
	N      int64           `bson:"n"`
	Events []batchEventDoc `bson:"events"`
}

type batchEventDoc struct {
	ID              primitive.ObjectID `bson:"id"`
	Kind            string             `bson:"kind"`
	CampaignID      primitive.ObjectID `bson:"campaignId"`
	ParticipationID primitive.ObjectID `bson:"participationId"`
	StreamerID      primitive.ObjectID `bson:"streamerId"`
	At              time.Time          `bson:"at"`
	PriceMicros     int64              `bson:"priceMicros"`
	Viewer          string             `bson:"viewer,omitempty"`
	// conversions: the step to take, from what was applied before
	Status        string    `bson:"status,omitempty"`
	Rev           int64     `bson:"rev,omitempty"`
	Counted       bool      `bson:"counted,omitempty"`
	ChargedMicros int64     `bson:"chargedMicros,omitempty"`
	Decided       bool      `bson:"decided,omitempty"`
	MoneyAt       time.Time `bson:"moneyAt,omitempty"`
	GoalID        string    `bson:"goalId,omitempty"`
	Billable      bool      `bson:"billable,omitempty"`
	PrevBilling   string    `bson:"prevBilling,omitempty"`
	ClickID       string    `bson:"clickId,omitempty"`
	ExternalID    string    `bson:"externalId,omitempty"`
	Subs          subsDoc   `bson:"subs,omitempty"`
	PayoutMicros  int64     `bson:"payoutMicros,omitempty"`
}

// State reads the projector's state; a store that never projected has the
// zero state.
func (r *Projection) State(ctx context.Context) (domain.ProjectionState, error) {
	var d stateDoc
	err := r.state.FindOne(ctx, bson.M{"_id": projectorID}).Decode(&d)
	if isNoDocuments(err) {
		return domain.ProjectionState{}, nil
	}
	if err != nil {
		return domain.ProjectionState{}, fmt.Errorf("read projector state: %w", err)
	}
	st := domain.ProjectionState{Applied: d.Applied, Owner: d.Owner, LeaseUntil: d.LeaseUntil.UTC()}
	if d.Batch != nil {
		b := &domain.Batch{N: d.Batch.N, Events: make([]domain.EventRecord, len(d.Batch.Events))}
		for i, e := range d.Batch.Events {
			b.Events[i] = domain.EventRecord{ID: e.ID.Hex(), Kind: domain.EventKind(e.Kind), CampaignID: e.CampaignID.Hex(),
				ParticipationID: e.ParticipationID.Hex(), StreamerID: e.StreamerID.Hex(), At: e.At.UTC(),
				Price: domain.Micros(e.PriceMicros), Billing: domain.BillingPending, Viewer: e.Viewer,
				Status: domain.ConversionStatus(e.Status), Rev: e.Rev, Counted: e.Counted, AppliedCharge: domain.Micros(e.ChargedMicros),
				Decided: e.Decided, MoneyAt: e.MoneyAt.UTC(), GoalID: e.GoalID, Billable: e.Billable, Todo: true,
				ClickID: e.ClickID, ExternalID: e.ExternalID, Subs: e.Subs.toDomain(), Payout: domain.Micros(e.PayoutMicros)}
			if e.PrevBilling != "" {
				b.Events[i].Billing = domain.Billing(e.PrevBilling)
			}
		}
		st.InFlight = b
	}
	return st, nil
}

// Lease makes owner the projecting process until now+ttl, if it holds the
// lease already or the lease has expired: one upsert. ok is false while
// another process holds it.
func (r *Projection) Lease(ctx context.Context, owner string, now time.Time, ttl time.Duration) (ok bool, err error) {
	now = now.UTC().Truncate(time.Millisecond)
	_, err = r.state.UpdateOne(ctx,
		bson.M{"_id": projectorID, "$or": bson.A{bson.M{"owner": owner}, bson.M{"leaseUntil": bson.M{"$lt": now}}}},
		bson.M{"$set": bson.M{"owner": owner, "leaseUntil": now.Add(ttl)}, "$setOnInsert": bson.M{"applied": int64(0)}},
		options.Update().SetUpsert(true))
	if isDuplicate(err) {
		return false, nil // the document exists and another process holds the lease
	}
	if err != nil {
		return false, fmt.Errorf("take projector lease: %w", err)
	}
	return true, nil
}

// StartBatch records b as the batch in flight, if owner holds the lease, the
// last applied batch is still b.N−1 and no batch is in flight: one guarded
// update. ok is false otherwise (another process got there first).
func (r *Projection) StartBatch(ctx context.Context, owner string, b domain.Batch) (ok bool, err error) {
	doc, err := toBatchDoc(b)
	if err != nil {
		return false, err
	}
	res, err := r.state.UpdateOne(ctx,
		bson.M{"_id": projectorID, "owner": owner, "applied": b.N - 1, "batch": bson.M{"$exists": false}},
		bson.M{"$set": bson.M{"batch": doc}})
	if err != nil {
		return false, fmt.Errorf("start batch %d: %w", b.N, err)
	}
	return res.MatchedCount == 1, nil
}

func toBatchDoc(b domain.Batch) (batchDoc, error) {
	var err error
	events := make([]batchEventDoc, len(b.Events))
	for i, e := range b.Events {
		var oids [4]primitive.ObjectID
		for j, hex := range []string{e.ID, e.CampaignID, e.ParticipationID, e.StreamerID} {
			if oids[j], err = primitive.ObjectIDFromHex(hex); err != nil {
				return batchDoc{}, fmt.Errorf("start batch: malformed id %q", hex)
			}
		}
		events[i] = batchEventDoc{ID: oids[0], Kind: string(e.Kind), CampaignID: oids[1], ParticipationID: oids[2],
			StreamerID: oids[3], At: e.At, PriceMicros: int64(e.Price), Viewer: e.Viewer,
			Status: string(e.Status), Rev: e.Rev, Counted: e.Counted, ChargedMicros: int64(e.AppliedCharge), Decided: e.Decided,
			MoneyAt: e.MoneyAt, GoalID: e.GoalID, Billable: e.Billable, ClickID: e.ClickID, ExternalID: e.ExternalID,
			Subs: toSubsDoc(e.Subs), PayoutMicros: int64(e.Payout)}
		if e.Kind == domain.EventConversion {
			events[i].PrevBilling = string(e.Billing)
		}
	}
	return batchDoc{N: b.N, Events: events}, nil
}

// FinishAndStart records that batch n is applied everywhere and, in the
// same update, that next (batch n+1) is in flight, if owner still holds the
// lease: the one write between two batches. ok is false when it did not
// match (another process finished n); then nothing is started.
func (r *Projection) FinishAndStart(ctx context.Context, n int64, owner string, next domain.Batch) (ok bool, err error) {
	doc, err := toBatchDoc(next)
	if err != nil {
		return false, err
	}
	res, err := r.state.UpdateOne(ctx, bson.M{"_id": projectorID, "batch.n": n, "owner": owner},
		bson.M{"$set": bson.M{"applied": n, "batch": doc}})
	if err != nil {
		return false, fmt.Errorf("finish batch %d and start %d: %w", n, next.N, err)
	}
	return res.MatchedCount == 1, nil
}

// FinishBatch records that batch n is applied everywhere: one guarded
// update, a no-op if it already is.
func (r *Projection) FinishBatch(ctx context.Context, n int64) error {
	_, err := r.state.UpdateOne(ctx, bson.M{"_id": projectorID, "batch.n": n},
		bson.M{"$set": bson.M{"applied": n}, "$unset": bson.M{"batch": ""}})
	if err != nil {
		return fmt.Errorf("finish batch %d: %w", n, err)
	}
	return nil
}

type ledgerDoc struct {
	ID              primitive.ObjectID   `bson:"_id"`
	RemainingMicros int64                `bson:"remainingMicros"`
	Status          string               `bson:"status"`
	ProjBatch       int64                `bson:"projBatch"`
	ProjUnbilled    []primitive.ObjectID `bson:"projUnbilled"`
	ProjInvalid     []invalidDoc         `bson:"projInvalid"`
}

// invalidDoc is a click a batch judged invalid traffic, kept on its
// campaign with the batch's other decisions.
type invalidDoc struct {
	ID     primitive.ObjectID `bson:"id"`
	Reason string             `bson:"reason"`
}

func invalidDocs(m map[string]domain.InvalidReason) ([]invalidDoc, error) {
	out := make([]invalidDoc, 0, len(m))
	for id, r := range m {
		oid, err := primitive.ObjectIDFromHex(id)
		if err != nil {
			return nil, fmt.Errorf("malformed id %q", id)
		}
		out = append(out, invalidDoc{ID: oid, Reason: string(r)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID.Hex() < out[j].ID.Hex() })
	return out, nil
}

func invalidMap(docs []invalidDoc) map[string]domain.InvalidReason {
	m := make(map[string]domain.InvalidReason, len(docs))
	for _, d := range docs {
		m[d.ID.Hex()] = domain.InvalidReason(d.Reason)
	}
	return m
}

func (d *ledgerDoc) toDomain() domain.CampaignLedger {
	status, _ := domain.ParseCampaignStatus(d.Status)
	l := domain.CampaignLedger{ID: d.ID.Hex(), Remaining: domain.Micros(d.RemainingMicros), Status: status, Batch: d.ProjBatch,
		Invalid: invalidMap(d.ProjInvalid)}
	for _, id := range d.ProjUnbilled {
		l.Unbilled = append(l.Unbilled, id.Hex())
	}
	return l
}

// Ledgers reads what billing needs of the given campaigns, by id: one query.
// A campaign that no longer exists is absent from the map.
func (r *Projection) Ledgers(ctx context.Context, ids []string) (map[string]domain.CampaignLedger, error) {
	oids, err := parseObjectIDs(ids)
	if err != nil {
		return nil, err
	}
	cur, err := r.campaigns.Find(ctx, bson.M{"_id": bson.M{"$in": oids}})
	if err != nil {
		return nil, fmt.Errorf("read campaign ledgers: %w", err)
	}
	var raws []bson.Raw
	if err := cur.All(ctx, &raws); err != nil {
		return nil, fmt.Errorf("decode campaign ledgers: %w", err)
	}
	out := make(map[string]domain.CampaignLedger, len(raws))
	for _, raw := range raws {
		var ld ledgerDoc
		var cd campaignDoc
		if err := bson.Unmarshal(raw, &ld); err != nil {
			return nil, fmt.Errorf("decode campaign ledger: %w", err)
		}
		if err := bson.Unmarshal(raw, &cd); err != nil {
			return nil, fmt.Errorf("decode campaign: %w", err)
		}
		l := ld.toDomain()
		l.Campaign = cd.toDomain()
		out[l.ID] = l
	}
	return out, nil
}

// ApplyCampaign applies batch n's delta to a campaign, decided against
// remaining: one update that matches only while the campaign's remaining
// budget is still exactly remaining (so a concurrent budget change makes the
// caller decide again, and a spend never overshoots), batch n has not
// reached it, and — to turn it EXHAUSTED — it is ACTIVE. ok is false when it
// did not match; the caller reads the ledger again.
func (r *Projection) ApplyCampaign(ctx context.Context, n int64, id string, remaining domain.Micros, d domain.CampaignDelta) (ok bool, err error) {
	oid, err := objectID(id, "campaign")
	if err != nil {
		return false, err
	}
	unbilled, err := parseObjectIDs(d.Unbilled)
	if err != nil {
		return false, err
	}
	invalid, err := invalidDocs(d.Invalid)
	if err != nil {
		return false, err
	}
	filter := bson.M{"_id": oid, "remainingMicros": int64(remaining), "projBatch": notApplied(n)}
	set := bson.M{"projBatch": n, "projUnbilled": unbilled, "projInvalid": invalid}
	if d.Exhaust {
		filter["status"] = string(domain.CampaignActive)
		set["status"] = string(domain.CampaignExhausted)
	}
	inc := countsInc("stats.", d.Counts)
	if d.Spend != 0 {
		inc["spentMicros"] = int64(d.Spend)
		inc["remainingMicros"] = -int64(d.Spend)
	}
	update := bson.M{"$set": set}
	if len(inc) > 0 {
		update["$inc"] = inc
	}
	res, err := r.campaigns.UpdateOne(ctx, filter, update)
	if err != nil {
		return false, fmt.Errorf("apply batch %d to campaign: %w", n, err)
	}
	return res.MatchedCount == 1, nil
}

// invalidClicksField is the counter of invalid traffic, beside clicks.
const invalidClicksField = "invalidClicks"

// countsInc is the $inc of counts under prefix, without zero counters.
func countsInc(prefix string, c domain.Counts) bson.M {
	inc := bson.M{}
	for field, v := range map[string]int64{string(domain.EventImpression): c.Impressions, string(domain.EventClick): c.Clicks,
		invalidClicksField: c.InvalidClicks, string(domain.EventConversion): c.Conversions} {
		if v != 0 {
			inc[prefix+field] = v
		}
	}
	return inc
}

// ApplyParticipations applies batch n's deltas to participations, by id:
// one bulk write of guarded updates (a participation batch n already reached
// does not match and is left alone).
func (r *Projection) ApplyParticipations(ctx context.Context, n int64, deltas map[string]domain.ParticipationDelta) error {
	models := make([]mongo.WriteModel, 0, len(deltas))
	for id, d := range deltas {
		oid, err := objectID(id, "participation")
		if err != nil {
			return err
		}
		inc := countsInc("stats.", d.Counts)
		if d.Earnings != 0 {
			inc["stats.earningsMicros"] = int64(d.Earnings)
		}
		update := bson.M{"$set": bson.M{"projBatch": n}}
		if len(inc) > 0 {
			update["$inc"] = inc
		}
		models = append(models, mongo.NewUpdateOneModel().SetFilter(bson.M{"_id": oid, "projBatch": notApplied(n)}).SetUpdate(update))
	}
	if len(models) == 0 {
		return nil
	}
	if _, err := r.participations.BulkWrite(ctx, models, options.BulkWrite().SetOrdered(false)); err != nil {
		return fmt.Errorf("apply batch %d to participations: %w", n, err)
	}
	return nil
}

// ApplyBuckets applies batch n's deltas to daily buckets: one bulk write of
// guarded upserts. A bucket batch n already reached does not match, so its
// upsert collides with the bucket's own _id: that duplicate-key error means
// "already applied" and is not an error.
func (r *Projection) ApplyBuckets(ctx context.Context, n int64, deltas []domain.BucketDelta) error {
	models := make([]mongo.WriteModel, 0, len(deltas))
	for _, d := range deltas {
		inc := countsInc("", d.Counts)
		if d.Spend != 0 {
			inc["spendMicros"] = int64(d.Spend)
		}
		if d.Earnings != 0 {
			inc["earningsMicros"] = int64(d.Earnings)
		}
		update := bson.M{"$set": bson.M{"projBatch": n, "scope": string(d.Owner.Scope), "ownerId": d.Owner.ID, "day": d.Day}}
		if len(inc) > 0 {
			update["$inc"] = inc
		}
		models = append(models, mongo.NewUpdateOneModel().
			SetFilter(bson.M{"_id": bucketID(d.Owner.Scope, d.Owner.ID, d.Day), "projBatch": notApplied(n)}).
			SetUpdate(update).SetUpsert(true))
	}
	if len(models) == 0 {
		return nil
	}
	if err := guardedUpserts(ctx, r.daily, models); err != nil {
		return fmt.Errorf("apply batch %d to daily stats: %w", n, err)
	}
	return nil
}

// guardedUpserts runs upserts guarded by a batch (see ApplyBuckets) as one
// unordered bulk, where a duplicate key means "already applied". Engines
// differ in how a bulk reports a failed upsert, so on any other error it
// applies them one by one and judges each error alone.
func guardedUpserts(ctx context.Context, c *collection, models []mongo.WriteModel) error {
	_, err := c.BulkWrite(ctx, models, options.BulkWrite().SetOrdered(false))
	if err == nil || onlyDuplicates(err) {
		return nil
	}
	for _, m := range models {
		u := m.(*mongo.UpdateOneModel)
		if _, err := c.UpdateOne(ctx, u.Filter, u.Update, options.Update().SetUpsert(true)); err != nil && !isDuplicate(err) {
			return err
		}
	}
	return nil
}

// onlyDuplicates reports a bulk write whose every failure is a duplicate key.
func onlyDuplicates(err error) bool {
	var bwe mongo.BulkWriteException
	if !errors.As(err, &bwe) || len(bwe.WriteErrors) == 0 || bwe.WriteConcernError != nil {
		return false
	}
	for _, we := range bwe.WriteErrors {
		if !isDuplicate(mongo.WriteException{WriteErrors: mongo.WriteErrors{we.WriteError}}) {
			return false
		}
	}
	return true
}

// Mark is a group of a batch's events that end up alike.
type Mark struct {
	Billing domain.Billing
	Invalid domain.InvalidReason
	IDs     []string
}

// MarkEvents records batch n's decisions on its events of kind: one
// updateMany per group, each matching only events still pending.
func (r *Projection) MarkEvents(ctx context.Context, n int64, kind domain.EventKind, groups []Mark) error {
	for _, g := range groups {
		if len(g.IDs) == 0 {
			continue
		}
		oids, err := parseObjectIDs(g.IDs)
		if err != nil {
			return err
		}
		set := bson.M{"billing": string(g.Billing), "batch": n}
		if g.Invalid != "" {
			set["invalid"] = string(g.Invalid)
		}
		_, err = r.events[kind].UpdateMany(ctx,
			bson.M{"_id": bson.M{"$in": oids}, "billing": string(domain.BillingPending)}, bson.M{"$set": set})
		if err != nil {
			return fmt.Errorf("mark batch %d %s: %w", n, kind, err)
		}
	}
	return nil
}

// ConversionMark is what batch n applied of one conversion: its state after
// the step, and the step.
type ConversionMark struct {
	ID      string
	Rev     int64 // the status change the batch projected
	Charged domain.Micros
	Decided bool
	Billing domain.Billing
	Step    domain.Step
}

// MarkConversions records batch n's steps on its conversions: one bulk of
// two updates each — the state and the step, only while batch n has not
// reached the conversion (so a replay pushes no step twice); and the end of
// its wait for the projector, only while its status is still the one
// projected (a change meanwhile leaves it waiting for the next batch).
func (r *Projection) MarkConversions(ctx context.Context, n int64, marks []ConversionMark) error {
	models := make([]mongo.WriteModel, 0, 2*len(marks))
	for _, m := range marks {
		oid, err := objectID(m.ID, "conversion")
		if err != nil {
			return err
		}
		models = append(models,
			mongo.NewUpdateOneModel().SetFilter(bson.M{"_id": oid, "applied.batch": notApplied(n)}).SetUpdate(bson.M{
				"$set": bson.M{"applied": appliedDoc{Batch: n, Counted: true, ChargedMicros: int64(m.Charged), Decided: m.Decided},
					"billing": string(m.Billing), "batch": n},
				"$push": bson.M{"steps": stepDoc{Batch: n, Counted: m.Step.Counted, DeltaMicros: int64(m.Step.Delta),
					CountDay: m.Step.CountDay, MoneyDay: m.Step.MoneyDay}}}),
			mongo.NewUpdateOneModel().SetFilter(bson.M{"_id": oid, "rev": m.Rev, "todo": true}).
				SetUpdate(bson.M{"$unset": bson.M{"todo": ""}}))
	}
	if len(models) == 0 {
		return nil
	}
	if _, err := r.events[domain.EventConversion].BulkWrite(ctx, models, options.BulkWrite().SetOrdered(false)); err != nil {
		return fmt.Errorf("mark batch %d conversions: %w", n, err)
	}
	return nil
}

// RecordImplied records a conversion a goal implies, as a conversion report
// would (the same natural key, so once however often the batch is
// replayed, and a later real report of it is a duplicate). isNew is false
// when it exists already.
func (r *Projection) RecordImplied(ctx context.Context, c domain.Conversion) (isNew bool, err error) {
	_, isNew, err = recordConversion(ctx, r.events[domain.EventConversion], primitive.NewObjectID, c, false)
	return isNew, err
}

// The click filter's state (domain.ClickFilter): one document per key — a
// participation's click count in one rate window, a viewer's last valid
// click on a participation — kept by the projector with updates guarded by
// the batch, each with its value from before that batch, so that a replay
// judges as the first run did. Documents expire once their window has
// passed.
const clickFiltersCollection = "click_filters"

func clickFilterIndexes() []indexModel {
	return []indexModel{{Keys: bson.D{{Key: "expiresAt", Value: 1}},
		Options: options.Index().SetName("expiresAt_ttl").SetExpireAfterSeconds(0)}}
}

type filterDoc struct {
	ID    string `bson:"_id"`
	Value int64  `bson:"value"`
	Batch int64  `bson:"batch"`
	Prev  int64  `bson:"prev"`
}

// FilterState reads the click filter's state for keys as it was before
// batch n: one query.
func (r *Projection) FilterState(ctx context.Context, n int64, keys []string) (map[string]int64, error) {
	out := map[string]int64{}
	if len(keys) == 0 {
		return out, nil
	}
	cur, err := r.filters.Find(ctx, bson.M{"_id": bson.M{"$in": keys}})
	if err != nil {
		return nil, fmt.Errorf("read click filter state: %w", err)
	}
	var docs []filterDoc
	if err := cur.All(ctx, &docs); err != nil {
		return nil, fmt.Errorf("decode click filter state: %w", err)
	}
	for _, d := range docs {
		if d.Batch >= n {
			out[d.ID] = d.Prev
		} else {
			out[d.ID] = d.Value
		}
	}
	return out, nil
}

// SaveFilterState stores the click filter's state after batch n (before:
// as FilterState read it), each document kept until expires[key]: one bulk
// of guarded upserts; a document batch n already reached collides on its
// _id, which means it is saved.
func (r *Projection) SaveFilterState(ctx context.Context, n int64, after, before map[string]int64, expires map[string]time.Time) error {
	models := make([]mongo.WriteModel, 0, len(after))
	for k, v := range after {
		models = append(models, mongo.NewUpdateOneModel().SetFilter(bson.M{"_id": k, "batch": notApplied(n)}).SetUpsert(true).
			SetUpdate(bson.M{"$set": bson.M{"value": v, "prev": before[k], "batch": n, "expiresAt": expires[k].UTC()}}))
	}
	if len(models) == 0 {
		return nil
	}
	if err := guardedUpserts(ctx, r.filters, models); err != nil {
		return fmt.Errorf("save click filter state: %w", err)
	}
	return nil
}

// parseObjectIDs parses hex ids; a malformed one is an error.
func parseObjectIDs(ids []string) ([]primitive.ObjectID, error) {
	out := make([]primitive.ObjectID, len(ids))
	for i, id := range ids {
		oid, err := primitive.ObjectIDFromHex(id)
		if err != nil {
			return nil, fmt.Errorf("malformed id %q", id)
		}
		out[i] = oid
	}
	return out, nil
}

type counterDoc struct {
	ID              any                  `bson:"_id"`
	InvalidClicks   int64                `bson:"invalidClicks"` // daily buckets; campaigns and participations keep it in stats
	Stats           statsDoc             `bson:"stats"`
	SpentMicros     int64                `bson:"spentMicros"`
	BudgetMicros    int64                `bson:"budgetMicros"`
	RemainingMicros int64                `bson:"remainingMicros"`
	ProjBatch       int64                `bson:"projBatch"`
	ProjUnbilled    []primitive.ObjectID `bson:"projUnbilled"`
	ProjInvalid     []invalidDoc         `bson:"projInvalid"`
	// daily buckets keep their counters at the top level
	Scope          string `bson:"scope"`
	OwnerID        string `bson:"ownerId"`
	Day            string `bson:"day"`
	Impressions    int64  `bson:"impressions"`
	Clicks         int64  `bson:"clicks"`
	Conversions    int64  `bson:"conversions"`
	SpendMicros    int64  `bson:"spendMicros"`
	EarningsMicros int64  `bson:"earningsMicros"`
}

// EachCounter calls fn with every counter document: campaigns, then
// participations, then daily buckets. Verify uses it.
func (r *Projection) EachCounter(ctx context.Context, fn func(domain.Counter) error) error {
	err := each(ctx, r.campaigns, func(d *counterDoc) error {
		c := domain.Counter{Kind: domain.CounterCampaign, ID: hexID(d.ID), Spend: domain.Micros(d.SpentMicros),
			Budget: domain.Micros(d.BudgetMicros), Remain: domain.Micros(d.RemainingMicros), Batch: d.ProjBatch,
			Counts:  domain.Counts{Impressions: d.Stats.Impressions, Clicks: d.Stats.Clicks, InvalidClicks: d.Stats.InvalidClicks, Conversions: d.Stats.Conversions},
			Invalid: invalidMap(d.ProjInvalid)}
		for _, id := range d.ProjUnbilled {
			c.Unbilled = append(c.Unbilled, id.Hex())
		}
		return fn(c)
	})
	if err == nil {
		err = each(ctx, r.participations, func(d *counterDoc) error {
			return fn(domain.Counter{Kind: domain.CounterParticipation, ID: hexID(d.ID), Earnings: domain.Micros(d.Stats.EarningsMicros),
				Batch: d.ProjBatch, Counts: domain.Counts{Impressions: d.Stats.Impressions, Clicks: d.Stats.Clicks, InvalidClicks: d.Stats.InvalidClicks, Conversions: d.Stats.Conversions}})
		})
	}
	if err == nil {
		err = each(ctx, r.daily, func(d *counterDoc) error {
			return fn(domain.Counter{Kind: domain.CounterDaily, ID: d.OwnerID, Scope: domain.StatsScope(d.Scope), Day: d.Day,
				Spend: domain.Micros(d.SpendMicros), Earnings: domain.Micros(d.EarningsMicros), Batch: d.ProjBatch,
				Counts: domain.Counts{Impressions: d.Impressions, Clicks: d.Clicks, InvalidClicks: d.InvalidClicks, Conversions: d.Conversions}})
		})
	}
	return err
}

func hexID(id any) string {
	if oid, ok := id.(primitive.ObjectID); ok {
		return oid.Hex()
	}
	return fmt.Sprint(id)
}

// Repair overwrites one counter document with recomputed values: the repair
// mode of verify, for damaged data, run while no server projects. A
// campaign keeps remaining = budget − spent in the same update, guarded by
// the budget it was recomputed against (ok is false if it changed).
func (r *Projection) Repair(ctx context.Context, c domain.Counter, batch int64) (ok bool, err error) {
	counts := bson.M{"impressions": c.Counts.Impressions, "clicks": c.Counts.Clicks, invalidClicksField: c.Counts.InvalidClicks, "conversions": c.Counts.Conversions}
	var res *mongo.UpdateResult
	switch c.Kind {
	case domain.CounterCampaign:
		oid, err := objectID(c.ID, "campaign")
		if err != nil {
			return false, err
		}
		res, err = r.campaigns.UpdateOne(ctx, bson.M{"_id": oid, "budgetMicros": int64(c.Budget)}, bson.M{"$set": bson.M{
			"stats.impressions": counts["impressions"], "stats.clicks": counts["clicks"], "stats.conversions": counts["conversions"],
			"stats." + invalidClicksField: counts[invalidClicksField],
			"spentMicros":                 int64(c.Spend), "remainingMicros": int64(c.Budget - c.Spend), "projBatch": batch, "projUnbilled": bson.A{},
		}})
		if err != nil {
			return false, fmt.Errorf("repair campaign: %w", err)
		}
	case domain.CounterParticipation:
		oid, err := objectID(c.ID, "participation")
		if err != nil {
			return false, err
		}
		res, err = r.participations.UpdateOne(ctx, bson.M{"_id": oid}, bson.M{"$set": bson.M{
			"stats.impressions": counts["impressions"], "stats.clicks": counts["clicks"], "stats.conversions": counts["conversions"],
			"stats." + invalidClicksField: counts[invalidClicksField],
			"stats.earningsMicros":        int64(c.Earnings), "projBatch": batch,
		}})
		if err != nil {
			return false, fmt.Errorf("repair participation: %w", err)
		}
	default:
		set := bson.M{"scope": string(c.Scope), "ownerId": c.ID, "day": c.Day, "spendMicros": int64(c.Spend),
			"earningsMicros": int64(c.Earnings), "projBatch": batch}
		for k, v := range counts {
			set[k] = v
		}
		res, err = r.daily.UpdateOne(ctx, bson.M{"_id": bucketID(c.Scope, c.ID, c.Day)}, bson.M{"$set": set}, options.Update().SetUpsert(true))
		if err != nil {
			return false, fmt.Errorf("repair daily stats: %w", err)
		}
		return true, nil
	}
	return res.MatchedCount == 1, nil
}

// EnqueuePostbacks stores a batch's outbound postbacks in the outbox (see
// Outbox.Enqueue): idempotent, so a replayed batch enqueues nothing twice.
func (r *Projection) EnqueuePostbacks(ctx context.Context, ds []domain.Delivery) error {
	return r.outbox.Enqueue(ctx, ds)
}
