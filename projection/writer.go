package projection

import (
	"context"
	"fmt"

	"tally/domain"
)

// This file is the writer: it reads what a batch's plan depends on, has
// Decide plan it (plan.go), and applies the plan in the documented order
// (docs/tracking.md). Every write is guarded by the batch, so running it
// again after any failure changes only what did not land. It decides
// nothing itself.

// maxLedgerRetries bounds how often a batch is planned again because a
// campaign's remaining budget changed between the read and the update (a
// brand editing the budget as the batch lands).
const maxLedgerRetries = 10

// apply runs steps 2–5 of batch b (see the package comment).
func (p *Projector) apply(ctx context.Context, b domain.Batch) error {
	keys, _ := FilterKeys(b, p.rules.Filter)
	filter, err := p.store.FilterState(ctx, b.N, keys)
	if err != nil {
		return err
	}
	ids := CampaignIDs(b)
	ledgers, err := p.store.Ledgers(ctx, ids)
	if err != nil {
		return err
	}
	// The caps' state: the day spend of the days the batch touches (in
	// each campaign's time zone, hence after the ledgers) and the
	// participations' caps and spend so far. Only the projector writes
	// them, and only after every campaign update, so a campaign the batch
	// has not reached reads them as before the batch.
	daySpend, err := p.store.CapSpend(ctx, CapKeys(b, ledgers))
	if err != nil {
		return err
	}
	caps, spent, err := p.store.ParticipationCaps(ctx, ParticipationIDs(b))
	if err != nil {
		return err
	}
	// The earning entries the batch's reversals take back (only when it
	// has reversals): their release times.
	reversed, err := p.store.Entries(ctx, ReversedEntryIDs(b))
	if err != nil {
		return err
	}
	// Bill: each campaign's update is guarded by the remaining budget its
	// delta was decided against. When one misses, the batch is planned
	// again from the ledgers as they are now, in which the campaigns
	// already updated report what they did not bill: only the missed ones
	// are decided anew.
	var plan Plan
	for attempt := 0; ; attempt++ {
		if plan, err = Decide(b, State{Ledgers: ledgers, Filter: filter, DaySpend: daySpend, Caps: caps, Spent: spent, Reversed: reversed}, p.rules); err != nil {
			return err
		}
		missed, err := p.applyCampaigns(ctx, plan)
		if err != nil {
			return err
		}
		if missed == "" {
			break
		}
		if attempt == maxLedgerRetries {
			return fmt.Errorf("campaign %s kept changing while its batch was billed", missed)
		}
		if ledgers, err = p.store.Ledgers(ctx, ids); err != nil {
			return err
		}
		if daySpend, err = p.store.CapSpend(ctx, CapKeys(b, ledgers)); err != nil {
			return err // (a time zone changed meanwhile names other days)
		}
	}
	// Sum, then the effects, then the marks that end the events' wait.
	if err := p.store.ApplyParticipations(ctx, b.N, plan.Participations); err != nil {
		return err
	}
	if err := p.store.ApplyBuckets(ctx, b.N, plan.Buckets); err != nil {
		return err
	}
	if err := p.store.ApplyCapSpend(ctx, b.N, plan.CapSpend); err != nil {
		return err
	}
	if err := p.store.InsertEntries(ctx, b.N, plan.Entries); err != nil {
		return err
	}
	if err := p.store.ApplyReleaseCounts(ctx, b.N, plan.Releases); err != nil {
		return err
	}
	if err := p.store.SaveFilterState(ctx, b.N, plan.Filter.After, plan.Filter.Before, plan.Filter.Expires); err != nil {
		return err
	}
	if err := p.recordImplied(ctx, plan); err != nil {
		return err
	}
	if err := p.store.RecordAlerts(ctx, plan.Alerts); err != nil {
		return err
	}
	if err := p.store.EnqueuePostbacks(ctx, plan.Deliveries); err != nil {
		return err
	}
	if err := p.store.MarkConversions(ctx, b.N, plan.Conversions); err != nil {
		return err
	}
	return p.store.MarkEvents(ctx, b.N, plan.Marks)
}

// applyCampaigns applies the plan's campaign updates in order, up to the
// first whose guard misses (its remaining budget changed): it returns that
// campaign's id, "" when every update landed.
func (p *Projector) applyCampaigns(ctx context.Context, plan Plan) (missed string, err error) {
	for _, c := range plan.Campaigns {
		ok, err := p.store.ApplyCampaign(ctx, plan.N, c.ID, c.Remaining, c.Delta)
		if err != nil {
			return "", err
		}
		if !ok {
			return c.ID, nil
		}
	}
	return "", nil
}

// recordImplied records the plan's implied conversions, each under its
// natural key (once, however often the batch is replayed; a real report
// of one later is a duplicate), and wakes the projector for those that are
// new: the next batch counts and bills them.
func (p *Projector) recordImplied(ctx context.Context, plan Plan) error {
	implied := false
	for _, c := range plan.Implied {
		isNew, err := p.store.RecordImplied(ctx, c)
		if err != nil {
			return fmt.Errorf("record the %s conversion %s implies: %w", c.GoalID, c.CauseID, err)
		}
		implied = implied || isNew
	}
	if implied {
		p.Notify()
	}
	return nil
}
