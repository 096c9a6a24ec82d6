package repository

import (
	"context"
	"fmt"
	"sort"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/primitive"
	"go.mongodb.org/mongo-driver/mongo/options"

	"tally/domain"
)

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
	CapDay          string             `bson:"capDay,omitempty"`
	Quarters        bool               `bson:"quarters,omitempty"`
	State           eventState         `bson:",inline"`
	// conversions
	GoalID   string       `bson:"goalId"`
	Status   string       `bson:"status"`
	StatusAt *time.Time   `bson:"statusAt"`
	Rev      int64        `bson:"rev"`
	Todo     bool         `bson:"todo"`
	Billable *bool        `bson:"billable"`
	Applied  appliedDoc   `bson:"applied"`
	Steps    []stepDoc    `bson:"steps"`
	ClickID  string       `bson:"clickId"`
	External string       `bson:"externalId"`
	Subs     subsDoc      `bson:"subs"`
	History  []historyDoc `bson:"history"`
}

func (d *eventDoc) record(kind domain.EventKind) domain.EventRecord {
	price := d.PayoutMicros
	if d.CostMicros != nil {
		price = *d.CostMicros
	}
	e := domain.EventRecord{ID: d.ID.Hex(), Kind: kind, CampaignID: d.CampaignID.Hex(),
		ParticipationID: d.ParticipationID.Hex(), StreamerID: d.StreamerID.Hex(), At: d.CreatedAt.UTC(),
		Price: domain.Micros(price), Billing: d.State.billing(), Batch: d.State.Batch,
		Viewer: d.Viewer, Invalid: domain.InvalidReason(d.Invalid), NotBilled: domain.NotBilledReason(d.State.NotBilled), CapDay: d.CapDay, Todo: d.State.Billing == string(domain.BillingPending),
		Subs: d.Subs.toDomain(), Quarters: d.Quarters}
	if kind != domain.EventConversion {
		return e
	}
	e.Todo = d.Todo
	e.Status = domain.ConversionStatus(d.Status)
	if e.Status == "" {
		e.Status = domain.ConversionApproved
	}
	e.Rev, e.GoalID, e.Billable = d.Rev, d.GoalID, d.Billable == nil || *d.Billable
	e.ClickID, e.ExternalID, e.Payout = d.ClickID, d.External, domain.Micros(d.PayoutMicros)
	e.Counted, e.AppliedCharge, e.Decided = d.Applied.Counted, domain.Micros(d.Applied.ChargedMicros), d.Applied.Decided
	e.MoneyAt = e.At
	if d.StatusAt != nil {
		e.MoneyAt = d.StatusAt.UTC()
	}
	for _, st := range d.Steps {
		e.Steps = append(e.Steps, domain.Step{Batch: st.Batch, Counted: st.Counted, Delta: domain.Micros(st.DeltaMicros),
			CountDay: st.CountDay, MoneyDay: st.MoneyDay, Refused: domain.NotBilledReason(st.Refused), CapDay: st.CapDay,
			Status: domain.ConversionStatus(st.Status), MoneyAt: st.MoneyAt.UTC()})
		if st.Status != "" {
			e.Projected = domain.ConversionStatus(st.Status)
		}
	}
	if d.Applied.Batch == 0 && !d.Todo && d.State.Billing != string(domain.BillingPending) {
		// projected before conversions had steps (or before the projector):
		// one step, as a click's
		e.Counted, e.Decided = true, true
		e.AppliedCharge = e.Charged()
	}
	e.History, e.HistoryRev = d.unprojected(e)
	return e
}

// unprojected is the part of a conversion's history the projector has not
// projected yet, and the rev of its first entry: every change after the
// rev last projected (applied.rev), or the whole history before its first
// projection. A conversion projected before applied.rev was kept, or whose
// history does not match its rev, has its current status as its one new
// step, as the projector saw it then.
func (d *eventDoc) unprojected(e domain.EventRecord) ([]domain.StatusChange, int64) {
	from := int64(0)
	if e.Counted {
		from = d.Rev
		if d.Applied.Rev != nil {
			from = *d.Applied.Rev + 1
		}
	}
	if from > d.Rev {
		return nil, 0 // nothing changed since the last projection
	}
	if int64(len(d.History)) != d.Rev+1 {
		return []domain.StatusChange{{At: e.OrderAt(), To: e.Status}}, d.Rev
	}
	// The entries as a read gives them (history: an entry without to has
	// the next one's from, the last the status now), from the first new one.
	return history(d.History, e.Status)[from:], from
}

// pending returns up to limit pending events of every kind matching and,
// in event order (At, then ID): one indexed query per event collection.
func (r *Projection) pending(ctx context.Context, and bson.M, limit int) ([]domain.EventRecord, error) {
	var out []domain.EventRecord
	for _, kind := range kinds {
		filter := bson.M{"billing": string(domain.BillingPending)}
		if kind == domain.EventConversion {
			filter = bson.M{"todo": true}
		}
		for k, v := range and {
			filter[k] = v
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
