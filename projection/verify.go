package projection

import (
	"context"
	"fmt"
	"io"
	"slices"
	"sort"
	"time"

	"tally/auth"
	"tally/domain"
	"tally/repository"
)

// Auditor runs verify for admins over the API.
type Auditor struct {
	Store *repository.Projection
}

// Verify is Verify for the caller: admins only (UNAUTHENTICATED without a
// user, FORBIDDEN for other roles).
func (a *Auditor) Verify(ctx context.Context) (domain.VerifyReport, error) {
	if _, err := auth.Require(ctx, domain.ActionVerify); err != nil {
		return domain.VerifyReport{}, err
	}
	return Verify(ctx, a.Store)
}

// Verify recomputes every counter — campaign counts, spend and remaining;
// participation counts and earnings; daily buckets — from the stored events
// and reports each that differs. It only reads, so it runs safely beside live
// servers: each counter is compared with the events of the batches that
// counter has reached (its projBatch), including the batch in flight, so
// projection under way is not drift.
func Verify(ctx context.Context, store *repository.Projection) (domain.VerifyReport, error) {
	rep, _, _, _, err := verify(ctx, store)
	return rep, err
}

// Repair is the repair mode, for damaged data (a counter edited by hand, a
// restore of part of the database): it first projects everything pending,
// then rewrites every counter that differs to what the events say. Run it
// only while no server is running against the database: a batch projected
// during a repair could be overwritten.
func Repair(ctx context.Context, store *repository.Projection, p *Projector, out io.Writer) (domain.VerifyReport, error) {
	if err := p.Flush(ctx); err != nil {
		return domain.VerifyReport{}, err
	}
	rep, want, quarters, money, err := verify(ctx, store)
	if err != nil || rep.OK() {
		return rep, err
	}
	states, err := store.States(ctx)
	if err != nil {
		return rep, err
	}
	applied := make([]int64, len(states))
	for i, st := range states {
		applied[i] = st.Applied
	}
	for _, line := range rep.Drift {
		fmt.Fprintln(out, line)
	}
	for _, c := range want {
		ok, err := store.Repair(ctx, c, applied)
		if err != nil {
			return rep, err
		}
		if !ok {
			fmt.Fprintf(out, "%s %s: changed while repairing; run again\n", c.Kind, c.ID)
			continue
		}
		rep.Repaired++
	}
	for _, q := range quarters {
		if err := store.RepairQuarter(ctx, q, applied[domain.PartitionOf(q.Key.CampaignID, len(applied))]); err != nil {
			return rep, err
		}
		rep.Repaired++
	}
	n, err := repairMoney(ctx, store, money, p.rules.HoldDays)
	rep.Repaired += n
	return rep, err
}

// verify returns the report and, for repair, the counters, the quarter
// buckets and the money that drifted, with the values the events give them.
func verify(ctx context.Context, store *repository.Projection) (domain.VerifyReport, []domain.Counter, []domain.QuarterDelta, moneyFix, error) {
	var rep domain.VerifyReport
	start, err := store.States(ctx)
	if err != nil {
		return rep, nil, nil, moneyFix{}, err
	}
	count := len(start)
	applied := make([]int64, count)
	for i, st := range start {
		applied[i] = st.Applied
	}
	money := newMoneyCheck(applied)
	// Counters first, then the batch in flight, then the events: a counter
	// can only be ahead of the events read after it if its batch is in
	// flight (then the in-flight batch names its events) or finished (then
	// its events are marked by the time they are read).
	counters := map[string]domain.Counter{}
	var keys []string
	err = store.EachCounter(ctx, func(c domain.Counter) error {
		counters[c.Key()] = c
		keys = append(keys, c.Key())
		return nil
	})
	if err != nil {
		return rep, nil, nil, moneyFix{}, err
	}
	qc, err := readQuarters(ctx, store)
	if err != nil {
		return rep, nil, nil, moneyFix{}, err
	}
	qc.applied = applied
	rep.Counters = len(keys) + len(qc.stored)
	states, err := store.States(ctx)
	if err != nil {
		return rep, nil, nil, moneyFix{}, err
	}
	inFlight := map[string]inFlightEvent{}
	for _, st := range states {
		if st.InFlight != nil {
			for _, e := range st.InFlight.Events {
				inFlight[e.ID] = inFlightEvent{e, st.InFlight.N}
			}
		}
	}
	want := map[string]*domain.Counter{}
	expect := func(key string, c domain.Counter) *domain.Counter {
		if want[key] == nil {
			c.Counts, c.Spend, c.Earnings = domain.Counts{}, 0, 0
			want[key] = &c
		}
		return want[key]
	}
	err = store.EachEvent(ctx, func(e domain.EventRecord) error {
		rep.Events++
		if e.Todo {
			rep.Pending++
		}
		camp := counters[string(domain.CounterCampaign)+":"+e.CampaignID]
		steps, e := stepsOf(e, inFlight, camp)
		part := domain.PartitionOf(e.CampaignID, count)
		for _, st := range steps {
			addStep(e, part, st, counters, applied[part], expect)
		}
		money.add(e, steps)
		qc.add(e, steps)
		return nil
	})
	if err != nil {
		return rep, nil, nil, moneyFix{}, err
	}
	var fix []domain.Counter
	for key := range want {
		if _, ok := counters[key]; !ok {
			keys = append(keys, key)
		}
	}
	sort.Strings(keys)
	seen := map[string]bool{}
	for _, key := range keys {
		if seen[key] {
			continue
		}
		seen[key] = true
		have, exists := counters[key]
		w := want[key]
		if w == nil {
			c := have
			c.Counts, c.Spend, c.Earnings = domain.Counts{}, 0, 0
			w = &c
		}
		var line string
		switch {
		case !exists:
			line = fmt.Sprintf("%s: missing; the events give %s", key, describe(*w))
		case have.Counts != w.Counts || have.Spend != w.Spend || have.Earnings != w.Earnings:
			line = fmt.Sprintf("%s: stored %s; the events give %s", key, describe(have), describe(*w))
		case have.Kind == domain.CounterCampaign && have.Remain != have.Budget-have.Spend:
			line = fmt.Sprintf("%s: remaining %s is not budget %s − spent %s", key, have.Remain, have.Budget, have.Spend)
		default:
			continue
		}
		rep.Drift = append(rep.Drift, line)
		fix = append(fix, *w)
	}
	lines, quarters := qc.drift()
	rep.Drift = append(rep.Drift, lines...)
	moneyDrift, mfix, err := money.check(ctx, store)
	if err != nil {
		return rep, nil, nil, mfix, err
	}
	rep.Drift = append(rep.Drift, moneyDrift...)
	return rep, fix, quarters, mfix, nil
}

// stepsOf are the projections of e that counters may include: the steps
// stored on it (for a click or an impression, the one it had, or for one
// stored before the projector, its recording), and, while the batch in
// flight holds it and its campaign has taken that batch, the step that
// batch is applying, decided as the campaign recorded.
// inFlightEvent is an event of a batch in flight, as the batch holds it,
// and the batch's number.
type inFlightEvent struct {
	e domain.EventRecord
	n int64
}

func stepsOf(e domain.EventRecord, inFlight map[string]inFlightEvent, camp domain.Counter) ([]domain.Step, domain.EventRecord) {
	var steps []domain.Step
	if e.Kind == domain.EventConversion && len(e.Steps) > 0 {
		steps = append(steps, e.Steps...)
	} else if e.Billing != domain.BillingPending || (e.Kind == domain.EventConversion && !e.Todo) {
		steps = append(steps, domain.Step{Batch: e.Batch, Counted: true, Delta: e.Charged(), CountDay: domain.Day(e.At), MoneyDay: domain.Day(e.At),
			Refused: e.NotBilled, CapDay: e.CapDay})
	}
	f, ok := inFlight[e.ID]
	snap, n := f.e, f.n
	if !ok || camp.Kind == "" || camp.Batch < n || slices.ContainsFunc(steps, func(s domain.Step) bool { return s.Batch == n }) {
		return steps, e
	}
	snap.Invalid = camp.Invalid[e.ID]
	count, bill, _ := snap.Next()
	unbilled := slices.Contains(camp.Unbilled, e.ID)
	billed := bill > 0 && snap.Invalid == "" && !unbilled
	_, _, _, delta := snap.Outcome(billed)
	if snap.Invalid != "" {
		e.Invalid = snap.Invalid
	}
	var refused domain.NotBilledReason
	if bill > 0 && snap.Invalid == "" && unbilled {
		refused = domain.NotBilledBudget
		if r, ok := camp.Capped[e.ID]; ok {
			refused = r
		}
	}
	capDay := ""
	if delta != 0 {
		loc, _ := domain.LoadTimeZone(camp.TimeZone)
		if loc == nil {
			loc = time.UTC
		}
		capDay = domain.LocalDay(snap.OrderAt(), loc)
	}
	return append(steps, domain.Step{Batch: n, Counted: count, Delta: delta, CountDay: domain.Day(snap.At), MoneyDay: domain.Day(snap.OrderAt()),
		Refused: refused, CapDay: capDay, Status: QuarterStatus(snap), MoneyAt: snap.OrderAt()}), e
}

// addStep adds one step of e (of partition part) to the counters it
// reaches: the campaign's, the participation's and the daily buckets of its
// days, each when the counter has reached the step's batch of that
// partition (steps of batch 0, from before the projector, always), or, for
// a bucket or participation not stored, when the step's batch was applied
// (applied: the partition's last, before the counters were read).
func addStep(e domain.EventRecord, part int, st domain.Step, counters map[string]domain.Counter, applied int64, expect func(string, domain.Counter) *domain.Counter) {
	type target struct {
		c            domain.Counter
		count, money bool
	}
	targets := []target{
		{domain.Counter{Kind: domain.CounterCampaign, ID: e.CampaignID}, true, true},
		{domain.Counter{Kind: domain.CounterParticipation, ID: e.ParticipationID}, true, true},
	}
	for _, o := range e.BucketOwners() {
		if st.CountDay == st.MoneyDay {
			targets = append(targets, target{domain.Counter{Kind: domain.CounterDaily, ID: o.ID, Scope: o.Scope, Day: st.CountDay}, true, true})
			continue
		}
		targets = append(targets,
			target{domain.Counter{Kind: domain.CounterDaily, ID: o.ID, Scope: o.Scope, Day: st.CountDay}, true, false},
			target{domain.Counter{Kind: domain.CounterDaily, ID: o.ID, Scope: o.Scope, Day: st.MoneyDay}, false, true})
	}
	if st.CapDay != "" {
		targets = append(targets,
			target{domain.Counter{Kind: domain.CounterCapSpend, CapScope: domain.CapSpendCampaign, ID: e.CampaignID, Day: st.CapDay}, false, true},
			target{domain.Counter{Kind: domain.CounterCapSpend, CapScope: domain.CapSpendParticipation, ID: e.ParticipationID, Day: st.CapDay}, false, true})
	}
	for _, tg := range targets {
		t := tg.c
		refusal := st.Refused != "" && t.Kind != domain.CounterCapSpend
		if (!tg.count || !st.Counted) && (!tg.money || (st.Delta == 0 && !refusal)) {
			continue
		}
		stored, exists := counters[t.Key()]
		if exists && !stored.Reached(part, st.Batch) {
			continue
		}
		if !exists && (st.Batch > applied || t.Kind == domain.CounterCampaign) {
			continue // created by a batch finished after the counters were read; or a campaign that is gone
		}
		if exists {
			t = stored
		}
		if !t.Shared() {
			t.Part = part
		}
		w := expect(t.Key(), t)
		if tg.count && st.Counted {
			w.Counts.Count(e)
		}
		if tg.money && refusal {
			w.Counts.NotBilled.Add(st.Refused)
		}
		if tg.money {
			switch t.Kind {
			case domain.CounterCampaign:
				w.Spend += st.Delta
			case domain.CounterParticipation:
				w.Earnings += st.Delta
			case domain.CounterCapSpend:
				w.Spend += st.Delta
			default:
				w.Spend += st.Delta
				w.Earnings += st.Delta
			}
		}
	}
}

func describe(c domain.Counter) string {
	s := fmt.Sprintf("impressions %d clicks %d invalid clicks %d conversions %d", c.Counts.Impressions, c.Counts.Clicks, c.Counts.InvalidClicks, c.Counts.Conversions)
	if n := c.Counts.NotBilled; n != (domain.NotBilledCounts{}) {
		s += fmt.Sprintf(" not billed: budget %d daily cap %d streamer cap %d", n.Budget, n.DailyCap, n.StreamerCap)
	}
	switch c.Kind {
	case domain.CounterCapSpend:
		return fmt.Sprintf("spend %s", c.Spend)
	case domain.CounterCampaign:
		s += fmt.Sprintf(" spent %s", c.Spend)
	case domain.CounterParticipation:
		s += fmt.Sprintf(" earnings %s", c.Earnings)
	default:
		s += fmt.Sprintf(" spend %s earnings %s", c.Spend, c.Earnings)
	}
	return s
}
