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

// stateDoc is a partition's state (in partitionsCollection, _id the
// partition's number), or the one state from before partitions (_id
// projectorID, which also records how many partitions there are).
type stateDoc struct {
	ID         any       `bson:"_id"`
	Applied    int64     `bson:"applied"`
	Batch      *batchDoc `bson:"batch,omitempty"`
	Owner      string    `bson:"owner"`
	LeaseUntil time.Time `bson:"leaseUntil"`
	Partitions int       `bson:"partitions,omitempty"`
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
	Projected     string    `bson:"projected,omitempty"` // the status the quarter buckets count it under
	// the status changes not projected before, from rev HistoryRev
	History    []historyDoc `bson:"history,omitempty"`
	HistoryRev int64        `bson:"historyRev,omitempty"`
}

// readState decodes one state document (a partition's, or the one from
// before partitions) as part.
func (d stateDoc) toDomain(part int) domain.ProjectionState {
	st := domain.ProjectionState{Part: part, Applied: d.Applied, Owner: d.Owner, LeaseUntil: d.LeaseUntil.UTC()}
	if d.Batch != nil {
		b := &domain.Batch{Part: part, N: d.Batch.N, Events: make([]domain.EventRecord, len(d.Batch.Events))}
		for i, e := range d.Batch.Events {
			b.Events[i] = e.record()
		}
		st.InFlight = b
	}
	return st
}

func (e batchEventDoc) record() domain.EventRecord {
	r := domain.EventRecord{ID: e.ID.Hex(), Kind: domain.EventKind(e.Kind), CampaignID: e.CampaignID.Hex(),
		ParticipationID: e.ParticipationID.Hex(), StreamerID: e.StreamerID.Hex(), At: e.At.UTC(),
		Price: domain.Micros(e.PriceMicros), Billing: domain.BillingPending, Viewer: e.Viewer,
		Status: domain.ConversionStatus(e.Status), Rev: e.Rev, Counted: e.Counted, AppliedCharge: domain.Micros(e.ChargedMicros),
		Decided: e.Decided, MoneyAt: e.MoneyAt.UTC(), GoalID: e.GoalID, Billable: e.Billable, Todo: true,
		ClickID: e.ClickID, ExternalID: e.ExternalID, Subs: e.Subs.toDomain(), Payout: domain.Micros(e.PayoutMicros),
		Projected: domain.ConversionStatus(e.Projected)}
	if e.PrevBilling != "" {
		r.Billing = domain.Billing(e.PrevBilling)
	}
	if domain.EventKind(e.Kind) == domain.EventConversion {
		r.History, r.HistoryRev = e.history(r)
	}
	return r
}

// State reads partition part's state; a partition not set up yet has the
// zero state.
func (r *Projection) State(ctx context.Context, part int) (domain.ProjectionState, error) {
	var d stateDoc
	err := r.parts.FindOne(ctx, bson.M{"_id": part}).Decode(&d)
	if isNoDocuments(err) {
		return domain.ProjectionState{Part: part}, nil
	}
	if err != nil {
		return domain.ProjectionState{}, fmt.Errorf("read projection partition %d: %w", part, err)
	}
	return d.toDomain(part), nil
}

// Leases reads every partition's lease and last applied batch, without the
// batches in flight, in partition order (one query): what claiming looks at.
func (r *Projection) Leases(ctx context.Context) ([]domain.ProjectionState, error) {
	cur, err := r.parts.Find(ctx, bson.M{}, options.Find().SetSort(bson.D{{Key: "_id", Value: 1}}).
		SetProjection(bson.M{"owner": 1, "leaseUntil": 1, "applied": 1}))
	if err != nil {
		return nil, fmt.Errorf("read projection partitions: %w", err)
	}
	var docs []stateDoc
	if err := cur.All(ctx, &docs); err != nil {
		return nil, fmt.Errorf("decode projection partitions: %w", err)
	}
	out := make([]domain.ProjectionState, len(docs))
	for i, d := range docs {
		out[i] = d.toDomain(partOf(d.ID))
	}
	return out, nil
}

// States reads every partition's state, in partition order (one query).
// A database whose partitions are not set up yet (no release with
// partitions started on it) has one: the state from before partitions,
// as partition 0 of 1.
func (r *Projection) States(ctx context.Context) ([]domain.ProjectionState, error) {
	cur, err := r.parts.Find(ctx, bson.M{}, options.Find().SetSort(bson.D{{Key: "_id", Value: 1}}))
	if err != nil {
		return nil, fmt.Errorf("read projection partitions: %w", err)
	}
	var docs []stateDoc
	if err := cur.All(ctx, &docs); err != nil {
		return nil, fmt.Errorf("decode projection partitions: %w", err)
	}
	if len(docs) == 0 {
		var d stateDoc
		err := r.state.FindOne(ctx, bson.M{"_id": projectorID}).Decode(&d)
		if isNoDocuments(err) {
			return []domain.ProjectionState{{}}, nil
		}
		if err != nil {
			return nil, fmt.Errorf("read projector state: %w", err)
		}
		return []domain.ProjectionState{d.toDomain(0)}, nil
	}
	out := make([]domain.ProjectionState, len(docs))
	for i, d := range docs {
		out[i] = d.toDomain(partOf(d.ID))
	}
	return out, nil
}

func partOf(id any) int {
	switch v := id.(type) {
	case int32:
		return int(v)
	case int64:
		return int(v)
	case int:
		return v
	case float64:
		return int(v)
	}
	return -1
}

// Lease makes owner the holder of partition part until now+ttl, if it holds
// it already or the lease has expired: one guarded update. ok is false
// while another process holds it.
func (r *Projection) Lease(ctx context.Context, part int, owner string, now time.Time, ttl time.Duration) (ok bool, err error) {
	now = now.UTC().Truncate(time.Millisecond)
	res, err := r.parts.UpdateOne(ctx,
		bson.M{"_id": part, "$or": bson.A{bson.M{"owner": owner}, bson.M{"leaseUntil": bson.M{"$lt": now}}}},
		bson.M{"$set": bson.M{"owner": owner, "leaseUntil": now.Add(ttl)}})
	if err != nil {
		return false, fmt.Errorf("take the lease of partition %d: %w", part, err)
	}
	return res.MatchedCount == 1, nil
}

// Renew extends owner's leases of parts to now+ttl: one update of those it
// still holds.
func (r *Projection) Renew(ctx context.Context, parts []int, owner string, now time.Time, ttl time.Duration) error {
	if len(parts) == 0 {
		return nil
	}
	now = now.UTC().Truncate(time.Millisecond)
	_, err := r.parts.UpdateMany(ctx, bson.M{"_id": bson.M{"$in": parts}, "owner": owner},
		bson.M{"$set": bson.M{"leaseUntil": now.Add(ttl)}})
	if err != nil {
		return fmt.Errorf("renew partition leases: %w", err)
	}
	return nil
}

// Release gives partition part's lease up at once, if owner holds it, so
// that another process takes it at its next look rather than after the
// lease's time.
func (r *Projection) Release(ctx context.Context, part int, owner string) error {
	_, err := r.parts.UpdateOne(ctx, bson.M{"_id": part, "owner": owner},
		bson.M{"$set": bson.M{"owner": "", "leaseUntil": time.Unix(0, 0).UTC()}})
	if err != nil {
		return fmt.Errorf("release partition %d: %w", part, err)
	}
	return nil
}

// StartBatch records b as partition b.Part's batch in flight, if owner holds
// its lease, its last applied batch is still b.N−1 and no batch is in
// flight: one guarded update. ok is false otherwise (another process got
// there first).
func (r *Projection) StartBatch(ctx context.Context, owner string, b domain.Batch) (ok bool, err error) {
	doc, err := toBatchDoc(b)
	if err != nil {
		return false, err
	}
	res, err := r.parts.UpdateOne(ctx,
		bson.M{"_id": b.Part, "owner": owner, "applied": b.N - 1, "batch": bson.M{"$exists": false}},
		bson.M{"$set": bson.M{"batch": doc}})
	if err != nil {
		return false, fmt.Errorf("start batch %d of partition %d: %w", b.N, b.Part, err)
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
			Subs: toSubsDoc(e.Subs), PayoutMicros: int64(e.Payout), Projected: string(e.Projected)}
		if e.Kind == domain.EventConversion {
			events[i].PrevBilling = string(e.Billing)
			events[i].HistoryRev = e.HistoryRev
			for _, h := range e.History {
				events[i].History = append(events[i].History, historyEntry(h))
			}
		}
	}
	return batchDoc{N: b.N, Events: events}, nil
}

// FinishAndStart records that partition next.Part's batch n is applied
// everywhere and, in the same update, that next (batch n+1) is in flight,
// if owner still holds the lease: the one write between two batches. ok is
// false when it did not match (another process finished n); then nothing is
// started.
func (r *Projection) FinishAndStart(ctx context.Context, n int64, owner string, next domain.Batch) (ok bool, err error) {
	doc, err := toBatchDoc(next)
	if err != nil {
		return false, err
	}
	res, err := r.parts.UpdateOne(ctx, bson.M{"_id": next.Part, "batch.n": n, "owner": owner},
		bson.M{"$set": bson.M{"applied": n, "batch": doc}})
	if err != nil {
		return false, fmt.Errorf("finish batch %d and start %d: %w", n, next.N, err)
	}
	return res.MatchedCount == 1, nil
}

// FinishBatch records that partition part's batch n is applied everywhere:
// one guarded update, a no-op if it already is.
func (r *Projection) FinishBatch(ctx context.Context, part int, n int64) error {
	_, err := r.parts.UpdateOne(ctx, bson.M{"_id": part, "batch.n": n},
		bson.M{"$set": bson.M{"applied": n}, "$unset": bson.M{"batch": ""}})
	if err != nil {
		return fmt.Errorf("finish batch %d: %w", n, err)
	}
	return nil
}

// history is the unprojected history a batch recorded for a conversion. A
// batch recorded before batches kept it has the conversion's status then as
// its one step.
func (e batchEventDoc) history(r domain.EventRecord) ([]domain.StatusChange, int64) {
	if len(e.History) == 0 {
		return []domain.StatusChange{{At: r.OrderAt(), To: r.Status}}, r.Rev
	}
	out := make([]domain.StatusChange, len(e.History))
	for i, h := range e.History {
		out[i] = h.statusChange()
	}
	return out, e.HistoryRev
}
