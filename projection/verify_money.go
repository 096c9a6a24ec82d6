package projection

import (
	"cmp"
	"context"
	"fmt"
	"sort"
	"time"

	"tally/domain"
	"tally/repository"
)

// The money after billing, verified: every earning entry recomputed from
// the events' steps (the same rule as Plan.earn: the billed impressions and
// the billed clicks of a participation in a batch and a quarter hour as one
// entry each, from
// its first event; a conversion's approval and its reversal one entry
// each), and every payout from the entries it claims. Only batches applied
// before verify started are compared (a later batch's entries may be
// written before its events are marked, or the other way round).

// moneyCheck gathers, while verify reads the events, the entries they give.
type moneyCheck struct {
	applied []int64 // each partition's last applied batch
	want    map[string]*domain.Entry
	first   map[string]time.Time // entry id → its group's first event time (impressions and clicks)
	groups  map[moneyGroup]string
}

type moneyGroup struct {
	participation string
	kind          domain.EventKind
	batch         int64
	slot          time.Time
}

func newMoneyCheck(applied []int64) *moneyCheck {
	return &moneyCheck{applied: applied, want: map[string]*domain.Entry{}, first: map[string]time.Time{}, groups: map[moneyGroup]string{}}
}

// appliedOf is the last batch applied, before verify started, by the
// partition of campaign id: an entry is written by its campaign's
// partition, whose batch numbers are its own.
func (m *moneyCheck) appliedOf(campaignID string) int64 {
	return appliedOf(m.applied, campaignID)
}

// appliedOf is applied's mark of campaign id's partition.
func appliedOf(applied []int64, campaignID string) int64 {
	return applied[domain.PartitionOf(campaignID, len(applied))]
}

// add adds the entries of e's steps applied by batches up to its
// partition's applied.
func (m *moneyCheck) add(e domain.EventRecord, steps []domain.Step) {
	applied := m.appliedOf(e.CampaignID)
	for _, st := range steps {
		if st.Delta == 0 || st.Batch > applied {
			continue
		}
		at := stepTime(e, st)
		entry := domain.Entry{Kind: domain.EntryEarning, ParticipationID: e.ParticipationID, CampaignID: e.CampaignID,
			StreamerID: e.StreamerID, Amount: st.Delta, At: at, FirstEvent: e.ID, Events: 1, Batch: st.Batch}
		if e.Kind == domain.EventConversion {
			entry.ID = domain.ConversionEntryID(e.ID, st.Delta < 0)
			if st.Delta < 0 {
				entry.Kind, entry.Reverses = domain.EntryReversal, domain.ConversionEntryID(e.ID, false)
			}
			if w := m.want[entry.ID]; w != nil {
				w.Amount += st.Delta // (a conversion bills and reverses once each: never reached)
				continue
			}
			m.want[entry.ID] = &entry
			continue
		}
		g := moneyGroup{e.ParticipationID, e.Kind, st.Batch, domain.EntrySlot(at)}
		id, ok := m.groups[g]
		if !ok {
			entry.ID = domain.EarningEntryID(e.Kind, e.ID)
			entry.Spans(e.ID)
			m.groups[g] = entry.ID
			m.want[entry.ID] = &entry
			m.first[entry.ID] = e.At
			continue
		}
		w := m.want[id]
		w.Amount += st.Delta
		w.Events++
		w.Spans(e.ID)
		if e.At.Before(m.first[id]) || (e.At.Equal(m.first[id]) && e.ID < w.FirstEvent) {
			// an earlier event of the same batch: the group is named after it
			delete(m.want, id)
			w.ID, w.FirstEvent = domain.EarningEntryID(e.Kind, e.ID), e.ID
			m.want[w.ID] = w
			m.groups[g] = w.ID
			m.first[w.ID] = e.At
		}
		if at.After(w.At) {
			w.At = at
		}
	}
}

// stepTime is when a step moved money, as far as the event still says: its
// recording for an impression or a click; for a conversion the start of
// the step's day (its last step: its status time).
func stepTime(e domain.EventRecord, st domain.Step) time.Time {
	if e.Kind != domain.EventConversion {
		return e.At.UTC()
	}
	if day, err := time.Parse("2006-01-02", st.MoneyDay); err == nil && day.Format("2006-01-02") != domain.Day(e.OrderAt()) {
		return day
	}
	return e.OrderAt().UTC()
}

// moneyFix is what repair may fix: entries the events give and the store
// lacks (inserted, released after their campaign's hold from their step),
// and FAILED payouts whose entries are still claimed (released).
type moneyFix struct {
	missing []domain.Entry
	release []string
	counts  bool    // balance counters differ from their entries: recounted after the missing entries are in
	applied []int64 // the batches verify compared, by partition
}

// check compares the stored entries and payouts with what the events give
// and returns the drift, one line each.
func (m *moneyCheck) check(ctx context.Context, store *repository.Projection) ([]string, moneyFix, error) {
	var drift []string
	var fix moneyFix
	stored := map[string]domain.Entry{}
	claimed := map[string][]domain.Entry{}
	err := store.EachEntry(ctx, func(e domain.Entry) error {
		stored[e.ID] = e
		if e.PayoutID != "" {
			claimed[e.PayoutID] = append(claimed[e.PayoutID], e)
		}
		return nil
	})
	if err != nil {
		return nil, fix, err
	}
	payouts := map[string]domain.Payout{}
	if err := store.EachPayout(ctx, func(p domain.Payout) error { payouts[p.ID] = p; return nil }); err != nil {
		return nil, fix, err
	}
	countDrift, _, err := recount(ctx, store, m.applied, stored)
	if err != nil {
		return nil, fix, err
	}
	drift = append(drift, countDrift...)
	fix.counts, fix.applied = len(countDrift) > 0, m.applied
	for _, id := range sortedKeys(m.want) {
		w := m.want[id]
		have, ok := stored[id]
		switch {
		case !ok:
			drift = append(drift, fmt.Sprintf("earning %s: missing; the events give %s of participation %s", id, w.Amount, w.ParticipationID))
			fix.missing = append(fix.missing, *w)
		case have.Amount != w.Amount || have.ParticipationID != w.ParticipationID:
			drift = append(drift, fmt.Sprintf("earning %s: stored %s of participation %s; the events give %s of participation %s",
				id, have.Amount, have.ParticipationID, w.Amount, w.ParticipationID))
		}
	}
	carries := map[string]domain.Micros{}
	for _, id := range sortedKeys(stored) {
		e := stored[id]
		switch {
		case e.Kind == domain.EntryCarry:
			carries[e.FirstEvent] += e.Amount
		case e.Batch <= m.appliedOf(e.CampaignID) && m.want[id] == nil:
			drift = append(drift, fmt.Sprintf("earning %s: stored %s of participation %s; no event gives it", id, e.Amount, e.ParticipationID))
		}
		if e.PayoutID != "" {
			if _, ok := payouts[e.PayoutID]; !ok {
				drift = append(drift, fmt.Sprintf("earning %s: claimed by payout %s, which does not exist", id, e.PayoutID))
			}
		}
	}
	for _, id := range sortedKeys(payouts) {
		p := payouts[id]
		if p.Carry > 0 && p.Status != domain.PayoutClaiming {
			out, in := domain.CarryEntries(p)
			if _, ok := stored[out.ID]; !ok {
				drift = append(drift, fmt.Sprintf("payout %s: its carry %s is not stored", id, p.Carry))
			} else if _, ok := stored[in.ID]; !ok {
				drift = append(drift, fmt.Sprintf("payout %s: its carry %s is not carried forward", id, p.Carry))
			}
		}
		if carries[id] != 0 {
			drift = append(drift, fmt.Sprintf("payout %s: its carry entries sum to %s, not zero", id, carries[id]))
		}
		switch p.Status {
		case domain.PayoutClaiming:
			// its run is under way; the run finishes it
		case domain.PayoutFailed:
			if n := len(claimed[id]); n > 0 {
				drift = append(drift, fmt.Sprintf("payout %s: FAILED, yet it still claims %d entries", id, n))
				fix.release = append(fix.release, id)
			}
		default:
			amount, parts := domain.PayoutParts(claimed[id])
			if amount != p.Amount || !sameParts(parts, p.Parts) {
				drift = append(drift, fmt.Sprintf("payout %s: amount %s; the entries it claims sum to %s", id, p.Amount, amount))
			}
		}
	}
	return drift, fix, nil
}

func sameParts(a, b []domain.PayoutPart) bool {
	sum := map[string]domain.Micros{}
	for _, p := range a {
		sum[p.ParticipationID] += p.Amount
	}
	for _, p := range b {
		sum[p.ParticipationID] -= p.Amount
	}
	for _, v := range sum {
		if v != 0 {
			return false
		}
	}
	return true
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// repairMoney applies fix: the missing entries, released after their
// campaign's hold period (holdDays for one without its own) from their
// step, a reversal when what it reverses is; the FAILED payouts' claims
// released.
func repairMoney(ctx context.Context, store *repository.Projection, fix moneyFix, holdDays int) (int, error) {
	if len(fix.missing) > 0 {
		ids := map[string]bool{}
		for _, e := range fix.missing {
			ids[e.CampaignID] = true
		}
		ledgers, err := store.Ledgers(ctx, sortedKeys(ids))
		if err != nil {
			return 0, err
		}
		release := map[string]time.Time{}
		entries := make([]domain.Entry, len(fix.missing))
		for i, e := range fix.missing {
			e.ReleaseAt = domain.ReleaseAt(e.At, domain.HoldDaysOf(ledgers[e.CampaignID].Campaign, holdDays))
			release[e.ID] = e.ReleaseAt
			entries[i] = e
		}
		originals, err := store.Entries(ctx, reversedOf(entries))
		if err != nil {
			return 0, err
		}
		for i, e := range entries {
			if e.Kind != domain.EntryReversal {
				continue
			}
			if o, ok := originals[e.Reverses]; ok {
				entries[i].ReleaseAt = o.ReleaseAt
			} else if t, ok := release[e.Reverses]; ok {
				entries[i].ReleaseAt = t
			}
		}
		slicesSortByID(entries)
		if err := store.InsertEntries(ctx, 0, entries); err != nil {
			return 0, err
		}
	}
	for _, id := range fix.release {
		if err := store.ReleaseEntries(ctx, id); err != nil {
			return 0, err
		}
	}
	counted := 0
	if fix.counts || len(fix.missing) > 0 {
		stored := map[string]domain.Entry{}
		if err := store.EachEntry(ctx, func(e domain.Entry) error { stored[e.ID] = e; return nil }); err != nil {
			return 0, err
		}
		_, set, err := recount(ctx, store, fix.applied, stored)
		if err != nil {
			return 0, err
		}
		for _, c := range set {
			if err := store.SetReleaseCount(ctx, c); err != nil {
				return 0, err
			}
		}
		counted = len(set)
	}
	return len(fix.missing) + len(fix.release) + counted, nil
}

// recount recomputes the balance counters from the stored entries of the
// batches up to applied, each partition's (domain.ReleaseCounts) and compares them with the
// counters no later batch has reached (a later batch may be writing its
// entries and counters): the drift, one line each, and the counters as
// they should be.
func recount(ctx context.Context, store *repository.Projection, applied []int64, entries map[string]domain.Entry) ([]string, []domain.ReleaseCount, error) {
	var list []domain.Entry
	for _, e := range entries {
		if e.Batch <= appliedOf(applied, e.CampaignID) {
			list = append(list, e)
		}
	}
	want := map[string]domain.ReleaseCount{}
	for _, c := range domain.ReleaseCounts(list) {
		want[c.Key()] = c
	}
	have := map[string]domain.ReleaseCount{}
	later := map[string]bool{}
	err := store.EachReleaseCount(ctx, func(c repository.StoredReleaseCount) error {
		if c.ProjBatch > appliedOf(applied, c.CampaignID) {
			later[c.Key()] = true
			return nil
		}
		have[c.Key()] = c.ReleaseCount
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	keys := map[string]bool{}
	for k := range want {
		keys[k] = true
	}
	for k := range have {
		keys[k] = true
	}
	var drift []string
	var set []domain.ReleaseCount
	for _, k := range sortedKeys(keys) {
		if later[k] {
			continue
		}
		w, h := want[k], have[k]
		if w.Amount == h.Amount && w.Reversals == h.Reversals {
			continue
		}
		drift = append(drift, fmt.Sprintf("balance counter %s: stored %s (%d reversals); its entries sum to %s (%d reversals)", k, h.Amount, h.Reversals, w.Amount, w.Reversals))
		if w.ParticipationID == "" {
			w = h
			w.Amount, w.Reversals = 0, 0
		}
		set = append(set, w)
	}
	return drift, set, nil
}

func reversedOf(entries []domain.Entry) []string {
	var ids []string
	for _, e := range entries {
		if e.Kind == domain.EntryReversal {
			ids = append(ids, e.Reverses)
		}
	}
	return ids
}

func slicesSortByID(entries []domain.Entry) {
	sort.Slice(entries, func(i, j int) bool { return cmp.Less(entries[i].ID, entries[j].ID) })
}
