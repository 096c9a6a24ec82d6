package projection

import (
	"strconv"
	"testing"
	"time"

	"tally/domain"
)

// The alerts as Decide raises them: 80% and 100% of the budget and of the
// daily budget (per day of the campaign's time zone), 100% of a streamer's
// caps, in event order, once per key in a batch, and as the first run did
// on a replay.

// budgeted is campaign c1 of brand b1, ACTIVE, with a budget of which
// spent is spent, a daily budget (0: none), a price per click and a time
// zone.
func budgeted(budget, spent, daily, cpc domain.Micros, tz string) map[string]domain.CampaignLedger {
	return map[string]domain.CampaignLedger{"c1": {ID: "c1", Remaining: budget - spent, Status: domain.CampaignActive,
		Campaign: domain.Campaign{ID: "c1", BrandID: "b1", Status: domain.CampaignActive, Budget: budget, Spent: spent,
			DailyBudget: daily, CPC: cpc, TimeZone: tz}}}
}

// alerts are a plan's alerts as "key spent@time #seq".
func alerts(p Plan) []string {
	var out []string
	for _, a := range p.Alerts {
		out = append(out, a.ID+" "+a.Spent.String()+"@"+a.At.Format("15:04:05")+" #"+strconv.FormatInt(a.Seq, 10))
	}
	return out
}

func TestDecideAlerts(t *testing.T) {
	const n = 3
	seq := func(i int) string { return "#" + strconv.FormatInt(domain.AlertSeq(n, i), 10) }
	tokyo := time.FixedZone("JST", 9*3600)
	dayClick := func(id, local string, price domain.Micros) domain.EventRecord {
		at, err := time.ParseInLocation("2006-01-02 15:04", local, tokyo)
		if err != nil {
			t.Fatal(err)
		}
		return clickAt(id, at.UTC(), price)
	}
	caps := func(total, daily domain.Micros) map[string]domain.ParticipationCaps {
		c := domain.ParticipationCaps{}
		if total > 0 {
			c.TotalCap = microsPtr(total)
		}
		if daily > 0 {
			c.DailyCap = microsPtr(daily)
		}
		return map[string]domain.ParticipationCaps{"p1": c}
	}
	for _, tc := range []struct {
		name   string
		events []domain.EventRecord
		st     State
		want   []string
	}{{
		name:   "BelowEveryThreshold",
		events: []domain.EventRecord{click("a", 0, unit)},
		st:     State{Ledgers: budgeted(10*unit, 6*unit, 0, unit, "")},
	}, {
		name: "EightyThenAHundred",
		// 7.00 of 10.00 spent: a takes it to 8.00 (80%), c to 10.00 (100%)
		events: []domain.EventRecord{click("a", 0, unit), click("b", 1, unit), click("c", 2, unit), click("d", 3, unit)},
		st:     State{Ledgers: budgeted(10*unit, 7*unit, 0, unit, "")},
		want: []string{"c1:BUDGET:80:10000000 8.00@12:00:00 " + seq(0),
			"c1:BUDGET:100:10000000 10.00@12:00:02 " + seq(1)},
	}, {
		name: "OneEventPassesBoth",
		// 7.00 spent, a costs 3.00: 80% first, then 100%, both at a
		events: []domain.EventRecord{click("a", 0, 3*unit)},
		st:     State{Ledgers: budgeted(10*unit, 7*unit, 0, unit, "")},
		want: []string{"c1:BUDGET:80:10000000 10.00@12:00:00 " + seq(0),
			"c1:BUDGET:100:10000000 10.00@12:00:00 " + seq(1)},
	}, {
		name: "TooLittleRoomForTheCheapestPriceIsReached",
		// clicks cost 3.00: after c, 1.00 of 10.00 is left, less than a
		// click; the overlay stops choosing the campaign: reached
		events: []domain.EventRecord{click("a", 0, 3*unit), click("b", 1, 3*unit), click("c", 2, 3*unit)},
		st:     State{Ledgers: budgeted(10*unit, 0, 0, 3*unit, "")},
		want: []string{"c1:BUDGET:80:10000000 9.00@12:00:02 " + seq(0),
			"c1:BUDGET:100:10000000 9.00@12:00:02 " + seq(1)},
	}, {
		name: "ARefusalIsReached",
		// a 20.00 event against a 10.00 daily budget: refused DAILY_CAP;
		// the daily budget is reached though nothing was spent (no 80%)
		events: []domain.EventRecord{dayClick("a", "2026-11-23 10:00", 20*unit)},
		st:     State{Ledgers: budgeted(100*unit, 0, 10*unit, unit, "Asia/Tokyo")},
		want:   []string{"c1:DAILY_BUDGET:100:10000000:2026-11-23 0.00@01:00:00 " + seq(0)},
	}, {
		name: "EachDayItsOwn",
		// 10.00 a day in Tokyo, 7.00 spent on the 23rd before the batch:
		// a (23:30) reaches 80% of the 23rd; b, c (00:10, 00:20 the 24th)
		// start the 24th from 0: c reaches 80% of the 24th
		events: []domain.EventRecord{dayClick("a", "2026-11-23 23:30", unit), dayClick("b", "2026-11-24 00:10", 4*unit),
			dayClick("c", "2026-11-24 00:20", 4*unit)},
		st: State{Ledgers: budgeted(100*unit, 0, 10*unit, unit, "Asia/Tokyo"),
			DaySpend: map[domain.CapSpendKey]domain.Micros{{Scope: domain.CapSpendCampaign, ID: "c1", Day: "2026-11-23"}: 7 * unit}},
		want: []string{"c1:DAILY_BUDGET:80:10000000:2026-11-23 8.00@14:30:00 " + seq(0),
			"c1:DAILY_BUDGET:80:10000000:2026-11-24 8.00@15:20:00 " + seq(1)},
	}, {
		name: "StreamerCaps",
		// p1 may earn 3.00 in all (2.00 earned) and 2.00 a day (none
		// today): a takes the total to 3.00 (reached) and the day to 1.00;
		// b is refused by the total (the same key: one alert), not the day
		events: []domain.EventRecord{click("a", 0, unit), click("b", 1, unit)},
		st: State{Ledgers: budgeted(100*unit, 0, 0, unit, ""), Caps: caps(3*unit, 2*unit),
			Spent: map[string]domain.Micros{"p1": 2 * unit}},
		want: []string{"c1:STREAMER_CAP:100:3000000:p1 3.00@12:00:00 " + seq(0)},
	}, {
		name: "StreamerDailyCap",
		// 2.00 a day, 1.00 spent today: a reaches it, b is refused by it
		// (the same key: one alert)
		events: []domain.EventRecord{click("a", 0, unit), click("b", 1, unit)},
		st: State{Ledgers: budgeted(100*unit, 0, 0, unit, ""), Caps: caps(0, 2*unit),
			DaySpend: map[domain.CapSpendKey]domain.Micros{{Scope: domain.CapSpendParticipation, ID: "p1", Day: "2026-11-23"}: unit}},
		want: []string{"c1:STREAMER_DAILY_CAP:100:2000000:p1:2026-11-23 2.00@12:00:00 " + seq(0)},
	}, {
		name: "ARaisedBudgetAlertsAgainUnderItsOwnKey",
		// the budget was 10.00 (alerted at 80 and 100), now 20.00 with
		// 10.00 spent: 16.00 is its 80%
		events: []domain.EventRecord{click("a", 0, 6*unit)},
		st:     State{Ledgers: budgeted(20*unit, 10*unit, 0, unit, "")},
		want:   []string{"c1:BUDGET:80:20000000 16.00@12:00:00 " + seq(0)},
	}, {
		name: "AReplayRaisesWhatTheFirstRunDid",
		// the campaign is at batch n already, with its alerts kept: they
		// are the plan's, whatever its remaining budget says now
		events: []domain.EventRecord{click("a", 0, unit)},
		st: State{Ledgers: map[string]domain.CampaignLedger{"c1": {ID: "c1", Remaining: 0, Status: domain.CampaignActive, Batch: n,
			Alerts:   []domain.Alert{{ID: "c1:BUDGET:100:10000000", CampaignID: "c1", Kind: domain.AlertBudget, Threshold: 100, Limit: 10 * unit, Spent: 10 * unit, At: t0}},
			Campaign: domain.Campaign{ID: "c1", Budget: 10 * unit, Spent: 10 * unit}}}},
		want: []string{"c1:BUDGET:100:10000000 10.00@12:00:00 " + seq(0)},
	}, {
		name: "MoneyGivenBackThenSpentAgain",
		// a rejection gives 2.00 back (9.00 → 7.00), then b takes it to
		// 8.00 again: the 80% key again, once in the batch
		events: func() []domain.EventRecord {
			r := conversion("r", domain.ConversionRejected, domain.ConversionRejected)
			r.AppliedCharge, r.Counted, r.Decided = 2*unit, true, true
			return []domain.EventRecord{r, click("b", 1, unit), click("c", 2, unit)}
		}(),
		st:   State{Ledgers: budgeted(10*unit, 9*unit, 0, unit, "")},
		want: []string{"c1:BUDGET:80:10000000 8.00@12:00:01 " + seq(0)},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			p := mustDecide(t, domain.Batch{N: n, Events: tc.events}, tc.st, Rules{Currency: "USD"})
			wantEqual(t, "alerts", alerts(p), tc.want)
			for _, a := range p.Alerts {
				if a.CampaignID != "c1" {
					t.Errorf("alert %s: campaign %q", a.ID, a.CampaignID)
				}
			}
			if len(p.Deliveries) != 0 {
				t.Errorf("a campaign without an alertWebhookUrl has no webhook: got %d deliveries", len(p.Deliveries))
			}
		})
	}
}

// TestAlertWebhooks: a campaign with an alertWebhookUrl gets one delivery
// per alert, keyed by the alert, with the alert's values.
func TestAlertWebhooks(t *testing.T) {
	ledgers := budgeted(10*unit, 7*unit, 0, unit, "")
	l := ledgers["c1"]
	l.Campaign.AlertWebhookURL = "https://brand.example/alerts"
	ledgers["c1"] = l
	p := mustDecide(t, domain.Batch{N: 9, Events: []domain.EventRecord{click("a", 0, 3*unit)}}, State{Ledgers: ledgers}, Rules{Currency: "EUR"})
	var keys []string
	for _, d := range p.Deliveries {
		keys = append(keys, d.Key+" "+d.Event+" "+d.Values["kind"]+" "+d.Values["threshold"]+" "+d.Values["spent"]+" "+d.Values["currency"])
	}
	wantEqual(t, "deliveries", keys, []string{"c1:BUDGET:80:10000000 alert BUDGET 80 10.00 EUR",
		"c1:BUDGET:100:10000000 alert BUDGET 100 10.00 EUR"})
}
