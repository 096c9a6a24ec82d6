package projection

import (
	"testing"
	"time"

	"tally/domain"
)

// The caps as Decide applies them: a campaign's daily budget (the day in
// its time zone) and a streamer's total and daily caps, decided in event
// order beside the budget, never overshot.

// capped is campaign c1, ACTIVE, with remaining budget, a daily budget and
// a time zone.
func capped(remaining, daily domain.Micros, tz string) map[string]domain.CampaignLedger {
	return map[string]domain.CampaignLedger{"c1": {ID: "c1", Remaining: remaining, Status: domain.CampaignActive,
		Campaign: domain.Campaign{ID: "c1", Status: domain.CampaignActive, DailyBudget: daily, TimeZone: tz}}}
}

func clickAt(id string, at time.Time, price domain.Micros) domain.EventRecord {
	e := click(id, 0, price)
	e.At = at
	return e
}

func microsPtr(m domain.Micros) *domain.Micros { return &m }

// capSpend is a plan's cap counters as "scope:id:day amount".
func capSpend(p Plan) []string {
	var out []string
	for _, d := range p.CapSpend {
		out = append(out, d.Key.String()+" "+d.Spend.String())
	}
	return out
}

func TestDecideCaps(t *testing.T) {
	utc := func(s string) time.Time {
		at, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return at
	}
	total := func(pid string, cap domain.Micros) map[string]domain.ParticipationCaps {
		return map[string]domain.ParticipationCaps{pid: {TotalCap: microsPtr(cap)}}
	}
	for _, tc := range []struct {
		name     string
		events   []domain.EventRecord
		st       State
		marks    []string
		capSpend []string
		counts   domain.NotBilledCounts
	}{{
		name: "DailyCapHitMidBatch",
		// 1.00 of the day's 3.00 spent before: a and b fit, c does not, d
		// (0.50) does not either (2.50 + 1.00 > 3.00 … 3.00 − 3.00 = 0 < 0.50)
		events: []domain.EventRecord{click("a", 0, unit), click("b", 1, unit), click("c", 2, unit), click("d", 3, unit/2)},
		st: State{Ledgers: capped(100*unit, 3*unit, ""),
			DaySpend: map[domain.CapSpendKey]domain.Micros{{Scope: domain.CapSpendCampaign, ID: "c1", Day: "2026-11-23"}: unit}},
		marks:    []string{"clicks billed: a,b", "clicks not_billed/daily_cap: c,d"},
		capSpend: []string{"campaign:c1:2026-11-23 2.00", "participation:p1:2026-11-23 2.00"},
		counts:   domain.NotBilledCounts{DailyCap: 2},
	}, {
		name: "ACheaperEventStillFits",
		// 2.50 of 3.00 after a: b (1.00) is refused, c (0.50) fits exactly
		events:   []domain.EventRecord{click("a", 0, 5*unit/2), click("b", 1, unit), click("c", 2, unit/2)},
		st:       State{Ledgers: capped(100*unit, 3*unit, "")},
		marks:    []string{"clicks billed: a,c", "clicks not_billed/daily_cap: b"},
		capSpend: []string{"campaign:c1:2026-11-23 3.00", "participation:p1:2026-11-23 3.00"},
		counts:   domain.NotBilledCounts{DailyCap: 1},
	}, {
		name: "DayBoundaryInTheCampaignsTimeZone",
		// Tokyo is UTC+9: 14:59Z is 23:59 on the 23rd, 15:00Z is 00:00 on
		// the 24th. One click a day: a and b are billed (two days), c is not.
		events: []domain.EventRecord{clickAt("a", utc("2026-11-23T14:59:00Z"), unit), clickAt("b", utc("2026-11-23T15:00:00Z"), unit),
			clickAt("c", utc("2026-11-23T15:01:00Z"), unit)},
		st:       State{Ledgers: capped(100*unit, unit, "Asia/Tokyo")},
		marks:    []string{"clicks billed: a", "clicks billed@2026-11-24: b", "clicks not_billed/daily_cap: c"},
		capSpend: []string{"campaign:c1:2026-11-23 1.00", "participation:p1:2026-11-23 1.00", "campaign:c1:2026-11-24 1.00", "participation:p1:2026-11-24 1.00"},
		counts:   domain.NotBilledCounts{DailyCap: 1},
	}, {
		name: "TheDayDaylightSavingEnds",
		// In Berlin 25 October 2026 lasts 25 hours, 22:00Z on the 24th to
		// 23:00Z on the 25th: b, 24½ hours after a, is still that day.
		events: []domain.EventRecord{clickAt("a", utc("2026-10-24T22:00:00Z"), unit), clickAt("b", utc("2026-10-25T22:30:00Z"), unit),
			clickAt("c", utc("2026-10-25T23:00:00Z"), unit)},
		st:       State{Ledgers: capped(100*unit, unit, "Europe/Berlin")},
		marks:    []string{"clicks billed@2026-10-25: a", "clicks not_billed/daily_cap: b", "clicks billed@2026-10-26: c"},
		capSpend: []string{"campaign:c1:2026-10-25 1.00", "participation:p1:2026-10-25 1.00", "campaign:c1:2026-10-26 1.00", "participation:p1:2026-10-26 1.00"},
		counts:   domain.NotBilledCounts{DailyCap: 1},
	}, {
		name:   "AtTheCapNothingMore",
		events: []domain.EventRecord{click("a", 0, unit)},
		st: State{Ledgers: capped(100*unit, 3*unit, ""),
			DaySpend: map[domain.CapSpendKey]domain.Micros{{Scope: domain.CapSpendCampaign, ID: "c1", Day: "2026-11-23"}: 3 * unit}},
		marks:  []string{"clicks not_billed/daily_cap: a"},
		counts: domain.NotBilledCounts{DailyCap: 1},
	}, {
		name:   "ARaisedCapBringsItBack",
		events: []domain.EventRecord{click("a", 0, unit)},
		st: State{Ledgers: capped(100*unit, 4*unit, ""),
			DaySpend: map[domain.CapSpendKey]domain.Micros{{Scope: domain.CapSpendCampaign, ID: "c1", Day: "2026-11-23"}: 3 * unit}},
		marks:    []string{"clicks billed: a"},
		capSpend: []string{"campaign:c1:2026-11-23 1.00", "participation:p1:2026-11-23 1.00"},
	}, {
		name: "StreamerTotalCap",
		// p1 may spend 2.00 in all and has spent 1.00: a fits, b does not;
		// p2 has no cap
		events: func() []domain.EventRecord {
			c := click("c", 2, unit)
			c.ParticipationID = "p2"
			return []domain.EventRecord{click("a", 0, unit), click("b", 1, unit), c}
		}(),
		st:       State{Ledgers: capped(100*unit, 0, ""), Caps: total("p1", 2*unit), Spent: map[string]domain.Micros{"p1": unit}},
		marks:    []string{"clicks billed: a,c", "clicks not_billed/streamer_cap: b"},
		capSpend: []string{"campaign:c1:2026-11-23 2.00", "participation:p1:2026-11-23 1.00", "participation:p2:2026-11-23 1.00"},
		counts:   domain.NotBilledCounts{StreamerCap: 1},
	}, {
		name:   "StreamerDailyCap",
		events: []domain.EventRecord{click("a", 0, unit), click("b", 1, unit)},
		st: State{Ledgers: capped(100*unit, 0, ""), Caps: map[string]domain.ParticipationCaps{"p1": {DailyCap: microsPtr(unit), TotalCap: microsPtr(50 * unit)}},
			DaySpend: map[domain.CapSpendKey]domain.Micros{{Scope: domain.CapSpendParticipation, ID: "p1", Day: "2026-11-22"}: unit}},
		marks:    []string{"clicks billed: a", "clicks not_billed/streamer_cap: b"},
		capSpend: []string{"campaign:c1:2026-11-23 1.00", "participation:p1:2026-11-23 1.00"},
		counts:   domain.NotBilledCounts{StreamerCap: 1},
	}, {
		name: "PrecedenceBudgetThenDailyThenStreamer",
		// all three refuse a: BUDGET (and the campaign turns EXHAUSTED)
		events: []domain.EventRecord{click("a", 0, unit)},
		st:     State{Ledgers: capped(0, unit/2, ""), Caps: total("p1", 0)},
		marks:  []string{"clicks not_billed/budget: a"},
		counts: domain.NotBilledCounts{Budget: 1},
	}, {
		name:   "PrecedenceDailyThenStreamer",
		events: []domain.EventRecord{click("a", 0, unit)},
		st:     State{Ledgers: capped(100*unit, unit/2, ""), Caps: total("p1", 0)},
		marks:  []string{"clicks not_billed/daily_cap: a"},
		counts: domain.NotBilledCounts{DailyCap: 1},
	}, {
		name:   "PrecedenceStreamerLast",
		events: []domain.EventRecord{click("a", 0, unit)},
		st:     State{Ledgers: capped(100*unit, 0, ""), Caps: total("p1", 0)},
		marks:  []string{"clicks not_billed/streamer_cap: a"},
		counts: domain.NotBilledCounts{StreamerCap: 1},
	}, {
		name: "ARefundMakesRoom",
		// a rejection gives 1.50 back to today's spend (at the cap before):
		// the click after it fits
		events: func() []domain.EventRecord {
			r := conversion("r", domain.ConversionRejected, domain.ConversionRejected)
			r.Counted, r.Decided, r.AppliedCharge, r.Billing = true, true, 3*unit/2, domain.BillingBilled
			return []domain.EventRecord{r, click("a", 1, unit)}
		}(),
		st: State{Ledgers: capped(100*unit, 3*unit, ""),
			DaySpend: map[domain.CapSpendKey]domain.Micros{{Scope: domain.CapSpendCampaign, ID: "c1", Day: "2026-11-23"}: 3 * unit}},
		marks:    []string{"clicks billed: a"},
		capSpend: []string{"campaign:c1:2026-11-23 -0.50", "participation:p1:2026-11-23 -0.50"},
	}, {
		name:   "ReplayMarksAsTheFirstRun",
		events: []domain.EventRecord{click("a", 0, unit), click("b", 1, unit), click("c", 2, unit)},
		// batch 1 reached the campaign: b was refused by the daily budget, c
		// by the budget; the state now (spend after the batch) is not
		// decided against again
		st: State{Ledgers: map[string]domain.CampaignLedger{"c1": {ID: "c1", Status: domain.CampaignExhausted, Batch: 1,
			Unbilled: []string{"b", "c"}, Capped: map[string]domain.NotBilledReason{"b": domain.NotBilledDailyCap},
			Campaign: domain.Campaign{ID: "c1", DailyBudget: unit}}},
			DaySpend: map[domain.CapSpendKey]domain.Micros{{Scope: domain.CapSpendCampaign, ID: "c1", Day: "2026-11-23"}: unit}},
		marks:    []string{"clicks billed: a", "clicks not_billed/daily_cap: b", "clicks not_billed/budget: c"},
		capSpend: []string{"campaign:c1:2026-11-23 1.00", "participation:p1:2026-11-23 1.00"},
		counts:   domain.NotBilledCounts{Budget: 1, DailyCap: 1},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			p := mustDecide(t, domain.Batch{N: 1, Events: tc.events}, tc.st, Rules{})
			wantEqual(t, "marks", marks(p), tc.marks)
			wantEqual(t, "cap spend", capSpend(p), tc.capSpend)
			wantEqual(t, "participation's refusals", p.Participations["p1"].Counts.NotBilled, tc.counts)
			if len(p.Campaigns) == 1 {
				d := p.Campaigns[0].Delta
				wantEqual(t, "campaign's refusals", d.Counts.NotBilled, tc.counts)
				for _, id := range d.Unbilled {
					_, isCap := d.Capped[id]
					wantEqual(t, "event "+id+" refused by a cap is kept with its reason", isCap, tc.counts.Budget == 0)
				}
			}
			var bucketRefusals domain.NotBilledCounts
			for _, b := range p.Buckets {
				if b.Owner.Scope == domain.ScopeCampaign {
					bucketRefusals.Budget += b.Counts.NotBilled.Budget
					bucketRefusals.DailyCap += b.Counts.NotBilled.DailyCap
					bucketRefusals.StreamerCap += b.Counts.NotBilled.StreamerCap
				}
			}
			wantEqual(t, "the day's refusals", bucketRefusals, tc.counts)
		})
	}
}

// TestCapKeys: the counters the writer reads are the days of the batch's
// steps in each campaign's time zone.
func TestCapKeys(t *testing.T) {
	a := clickAt("a", time.Date(2026, 11, 23, 23, 30, 0, 0, time.UTC), unit)
	keys := CapKeys(domain.Batch{Events: []domain.EventRecord{a}}, capped(unit, unit, "Asia/Kolkata"))
	wantEqual(t, "keys", keys, []domain.CapSpendKey{{Scope: domain.CapSpendCampaign, ID: "c1", Day: "2026-11-24"},
		{Scope: domain.CapSpendParticipation, ID: "p1", Day: "2026-11-24"}})
	wantEqual(t, "a campaign gone has none", len(CapKeys(domain.Batch{Events: []domain.EventRecord{a}}, nil)), 0)
}
