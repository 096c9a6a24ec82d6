package repository

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/primitive"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"

	"tally/domain"
)

// markChunk is how many events one update of MarkEvents marks at most: a
// bigger group is marked by several updates at once, which a server engine
// runs on several cores.
const markChunk = 64

// MarkEvents records batch n's decisions on its impressions and clicks: one
// updateMany per group (per markChunk events of it, at once), each
// matching only events still pending.
func (r *Projection) MarkEvents(ctx context.Context, n int64, groups []domain.EventMarks) error {
	type chunk struct {
		g   domain.EventMarks
		ids []primitive.ObjectID
	}
	var chunks []chunk
	for _, g := range groups {
		oids, err := parseObjectIDs(g.IDs)
		if err != nil {
			return err
		}
		for len(oids) > 0 {
			k := min(len(oids), markChunk)
			chunks = append(chunks, chunk{g, oids[:k]})
			oids = oids[k:]
		}
	}
	errs := make([]error, len(chunks))
	var wg sync.WaitGroup
	for i, c := range chunks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			g := c.g
			set := bson.M{"billing": string(g.Billing), "batch": n, "quarters": true}
			if g.Invalid != "" {
				set["invalid"] = string(g.Invalid)
			}
			if g.NotBilled != "" {
				set["notBilled"] = string(g.NotBilled)
			}
			if g.CapDay != "" {
				set["capDay"] = g.CapDay
			}
			if _, err := r.events[g.Kind].UpdateMany(ctx,
				bson.M{"_id": bson.M{"$in": c.ids}, "billing": string(domain.BillingPending)}, bson.M{"$set": set}); err != nil {
				errs[i] = fmt.Errorf("mark batch %d %s: %w", n, g.Kind, err)
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// MarkConversions records batch n's steps on its conversions: one bulk of
// two updates each — the state (with the rev projected, so that the next
// batch delivers every change after it) and the step, only while batch n
// has not reached the conversion (so a replay pushes no step twice); and the end of
// its wait for the projector, only while its status is still the one
// projected (a change meanwhile leaves it waiting for the next batch).
func (r *Projection) MarkConversions(ctx context.Context, n int64, marks []domain.ConversionMark) error {
	models := make([]mongo.WriteModel, 0, 2*len(marks))
	for _, m := range marks {
		oid, err := objectID(m.ID, "conversion")
		if err != nil {
			return err
		}
		rev := m.Rev
		set := bson.M{"applied": appliedDoc{Batch: n, Counted: true, ChargedMicros: int64(m.Charged), Decided: m.Decided, Rev: &rev},
			"billing": string(m.Billing), "batch": n}
		if m.Step.Refused != "" {
			set["notBilled"] = string(m.Step.Refused)
		}
		models = append(models,
			mongo.NewUpdateOneModel().SetFilter(bson.M{"_id": oid, "applied.batch": notApplied(n)}).SetUpdate(bson.M{
				"$set": set,
				"$push": bson.M{"steps": stepDoc{Batch: n, Counted: m.Step.Counted, DeltaMicros: int64(m.Step.Delta),
					CountDay: m.Step.CountDay, MoneyDay: m.Step.MoneyDay, Refused: string(m.Step.Refused), CapDay: m.Step.CapDay,
					Status: string(m.Step.Status), MoneyAt: m.Step.MoneyAt}}}),
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

// EnqueuePostbacks stores a batch's outbound postbacks in the outbox (see
// Outbox.Enqueue): idempotent, so a replayed batch enqueues nothing twice.
func (r *Projection) EnqueuePostbacks(ctx context.Context, ds []domain.Delivery) error {
	return r.outbox.Enqueue(ctx, ds)
}
