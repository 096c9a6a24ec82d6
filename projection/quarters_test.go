package projection

import (
	"fmt"
	"testing"
	"time"

	"tally/domain"
)

// quarter returns the delta of the bucket named like k (its level, and for
// a sub-id the value or other) at the quarter of at, zero when absent.
func quarterOf(p Plan, level domain.QuarterLevel, at time.Time, match func(domain.QuarterKey) bool) domain.QuarterCounts {
	for _, q := range p.Quarters {
		if q.Key.Level == level && q.Key.At.Equal(domain.Quarter(at)) && (match == nil || match(q.Key)) {
			return q.Counts
		}
	}
	return domain.QuarterCounts{}
}

func TestQuartersCountAndMoney(t *testing.T) {
	t.Run("ClicksInTheirQuarter", func(t *testing.T) {
		e1, e2 := click("k1", 0, unit/4), click("k2", 0, unit/4)
		e2.At = t0.Add(14*time.Minute + 59*time.Second) // same quarter
		e3 := click("k3", 0, unit/4)
		e3.At = t0.Add(15 * time.Minute) // the next
		p := mustDecide(t, domain.Batch{N: 1, Events: []domain.EventRecord{e1, e2, e3}}, State{Ledgers: ledger(10 * unit)}, Rules{})
		wantEqual(t, "first quarter", quarterOf(p, domain.LevelCampaign, t0, nil), domain.QuarterCounts{Clicks: 2, Spend: unit / 2, Earnings: unit / 2})
		wantEqual(t, "second quarter", quarterOf(p, domain.LevelParticipation, e3.At, nil), domain.QuarterCounts{Clicks: 1, Spend: unit / 4, Earnings: unit / 4})
	})
	t.Run("ApprovalMovesTheStatusWhereRecordedAndTheMoneyWhenApproved", func(t *testing.T) {
		e := conversion("x", domain.ConversionApproved, domain.ConversionPending, domain.ConversionApproved)
		e.History, e.HistoryRev = e.History[1:], 1
		e.Counted, e.Projected = true, domain.ConversionPending
		e.MoneyAt = t0.Add(3 * time.Hour)
		p := mustDecide(t, domain.Batch{N: 2, Events: []domain.EventRecord{e}}, State{Ledgers: ledger(10 * unit)}, Rules{})
		wantEqual(t, "recorded quarter", quarterOf(p, domain.LevelGoal, t0, nil), domain.QuarterCounts{Pending: -1, Approved: 1})
		wantEqual(t, "approval's quarter", quarterOf(p, domain.LevelGoal, e.MoneyAt, nil), domain.QuarterCounts{Spend: 3 * unit / 2, Earnings: 3 * unit / 2})
		wantEqual(t, "the step's status", p.Conversions[0].Step.Status, domain.ConversionApproved)
	})
	t.Run("ConversionCountedBeforeTheBucketsStaysOut", func(t *testing.T) {
		e := conversion("x", domain.ConversionApproved, domain.ConversionPending, domain.ConversionApproved)
		e.History, e.HistoryRev = e.History[1:], 1
		e.Counted = true // Projected "": counted before the quarter buckets existed
		p := mustDecide(t, domain.Batch{N: 2, Events: []domain.EventRecord{e}}, State{Ledgers: ledger(10 * unit)}, Rules{})
		wantEqual(t, "only the money", quarterOf(p, domain.LevelCampaign, t0, nil), domain.QuarterCounts{Spend: 3 * unit / 2, Earnings: 3 * unit / 2})
		wantEqual(t, "no status on the step", p.Conversions[0].Step.Status, domain.ConversionStatus(""))
	})
}

// TestSubValuesBound: a campaign keeps the first MaxSubValues values of a
// sub-id, in event order; the rest count as other; a replay that reads the
// lists the first run saved decides the same.
func TestSubValuesBound(t *testing.T) {
	key := domain.SubValuesKey{CampaignID: "c1", Sub: 2}
	var before []string
	for i := range domain.MaxSubValues - 1 {
		before = append(before, fmt.Sprintf("old%d", i))
	}
	sub := func(id, v string, i int) domain.EventRecord {
		e := click(id, i, 0)
		e.Subs[1] = v
		return e
	}
	b := domain.Batch{N: 5, Events: []domain.EventRecord{sub("k1", "old3", 0), sub("k2", "new1", 1), sub("k3", "new2", 2), sub("k4", "new1", 3)}}
	first := mustDecide(t, b, State{Ledgers: ledger(unit), SubValues: map[domain.SubValuesKey][]string{key: before}}, Rules{})
	replay := mustDecide(t, b, State{Ledgers: ledger(unit), SubValues: first.SubValues}, Rules{})
	for name, p := range map[string]Plan{"first run": first, "replay": replay} {
		value := func(v string) func(domain.QuarterKey) bool {
			return func(k domain.QuarterKey) bool { return !k.Other && k.Value == v }
		}
		wantEqual(t, name+": old3", quarterOf(p, domain.LevelSub, t0, value("old3")).Clicks, 1)
		wantEqual(t, name+": new1 (the 100th value, kept)", quarterOf(p, domain.LevelSub, t0, value("new1")).Clicks, 2)
		wantEqual(t, name+": new2 (beyond, other)", quarterOf(p, domain.LevelSub, t0, func(k domain.QuarterKey) bool { return k.Other }).Clicks, 1)
	}
	wantEqual(t, "the list saved", len(first.SubValues[key]), domain.MaxSubValues)
	wantEqual(t, "the replay saves nothing new", len(replay.SubValues), 0)
}
