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
	Projected     string    `bson:"projected,omitempty"` // the status the quarter buckets count it under
	// the status changes not projected before, from rev HistoryRev
	History    []historyDoc `bson:"history,omitempty"`
	HistoryRev int64        `bson:"historyRev,omitempty"`
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
				ClickID: e.ClickID, ExternalID: e.ExternalID, Subs: e.Subs.toDomain(), Payout: domain.Micros(e.PayoutMicros),
				Projected: domain.ConversionStatus(e.Projected)}
			if e.PrevBilling != "" {
				b.Events[i].Billing = domain.Billing(e.PrevBilling)
			}
			if domain.EventKind(e.Kind) == domain.EventConversion {
				b.Events[i].History, b.Events[i].HistoryRev = e.history(b.Events[i])
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
