package projection

import (
	"context"
	"errors"
	"fmt"
	"sync"

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

// apply runs steps 2–5 of batch b (see the package comment). Writes that
// touch different documents and depend on nothing of each other run at
// once (the reads before planning; the sums and effects; the marks): a
// batch takes as many round trips as its longest chain, not their sum.
// The order between the groups is the documented one.
func (p *Projector) apply(ctx context.Context, b domain.Batch) error {
	keys, _ := FilterKeys(b, p.rules.Filter)
	ids := CampaignIDs(b)
	var (
		filter   map[string]int64
		ledgers  map[string]domain.CampaignLedger
		daySpend map[domain.CapSpendKey]domain.Micros
		caps     map[string]domain.ParticipationCaps
		spent    map[string]domain.Micros
		reversed map[string]domain.Entry
		subVals  map[domain.SubValuesKey][]string
	)
	// The caps' state: the day spend of the days the batch touches (in
	// each campaign's time zone, hence after the ledgers) and the
	// participations' caps and spend so far. Only the projector writes
	// them, and only after every campaign update, so a campaign the batch
	// has not reached reads them as before the batch.
	err := parallel(
		func() (err error) { filter, err = p.store.FilterState(ctx, b.N, keys); return err },
		func() (err error) {
			if ledgers, err = p.store.Ledgers(ctx, ids); err != nil {
				return err
			}
			daySpend, err = p.store.CapSpend(ctx, CapKeys(b, ledgers))
			return err
		},
		func() (err error) { caps, spent, err = p.store.ParticipationCaps(ctx, ParticipationIDs(b)); return err },
		// The earning entries the batch's reversals take back (only when
		// it has reversals): their release times.
		func() (err error) { reversed, err = p.store.Entries(ctx, ReversedEntryIDs(b)); return err },
		// The sub-id values the report buckets keep (only the projector
		// writes them; lists only grow, so a replay decides as the first
		// run).
		func() (err error) { subVals, err = p.store.SubValues(ctx, SubValueKeys(b)); return err },
	)
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
		if plan, err = Decide(b, State{Ledgers: ledgers, Filter: filter, DaySpend: daySpend, Caps: caps, Spent: spent, Reversed: reversed, SubValues: subVals}, p.rules); err != nil {
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
	// Sum and the effects, then the marks that end the events' wait.
	err = parallel(
		func() error { return p.store.ApplyParticipations(ctx, b.N, plan.Participations) },
		func() error { return p.store.ApplyBuckets(ctx, b.Part, b.N, plan.Buckets) },
		func() error { return p.store.ApplyCapSpend(ctx, b.N, plan.CapSpend) },
		func() error {
			return p.store.SaveFilterState(ctx, b.N, plan.Filter.After, plan.Filter.Before, plan.Filter.Expires)
		},
		func() error {
			// The balance counters sum the entries: both or, after a
			// crash, the replay.
			if err := p.store.InsertEntries(ctx, b.N, plan.Entries); err != nil {
				return err
			}
			return p.store.ApplyReleaseCounts(ctx, b.N, plan.Releases)
		},
		func() error {
			// The sub-id lists before the buckets that use them: verify
			// reads a value in a list as kept.
			if err := p.store.SaveSubValues(ctx, b.N, plan.SubValues); err != nil {
				return err
			}
			return p.store.ApplyQuarters(ctx, b.N, plan.Quarters)
		},
		func() error { return p.recordImplied(ctx, plan) },
		func() error {
			// An alert is stored before its webhook is enqueued.
			if err := p.store.RecordAlerts(ctx, plan.Alerts); err != nil {
				return err
			}
			return p.store.EnqueuePostbacks(ctx, plan.Deliveries)
		},
	)
	if err != nil {
		return err
	}
	return parallel(
		func() error { return p.store.MarkConversions(ctx, b.N, plan.Conversions) },
		func() error { return p.store.MarkEvents(ctx, b.N, plan.Marks) },
	)
}

// parallel runs fns at once and returns the first error of them, once all
// have returned.
func parallel(fns ...func() error) error {
	errs := make([]error, len(fns))
	var wg sync.WaitGroup
	for i, fn := range fns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = fn()
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
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
		p.Notify(plan.Implied[0].CampaignID) // every campaign of the batch is in its partition
	}
	return nil
}
