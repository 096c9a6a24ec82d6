package projection

import (
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"tally/domain"
)

// These tests state the money rules of one batch as Decide applies them:
// no store, no clock, milliseconds. The writer's races and crashes are the
// end-to-end tests' (e2e_projection_test.go, e2e_crash_test.go).

var t0 = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

const unit = domain.MicrosPerUnit

// click is a click on campaign "c1", participation "p1", streamer "s1",
// priced price, recorded at t0+i seconds.
func click(id string, i int, price domain.Micros) domain.EventRecord {
	return domain.EventRecord{ID: id, Kind: domain.EventClick, CampaignID: "c1", ParticipationID: "p1", StreamerID: "s1",
		At: t0.Add(time.Duration(i) * time.Second), Price: price, Billing: domain.BillingPending, Todo: true}
}

// conversion is a conversion of goal "reg" on c1/p1/s1, priced 1.50, in
// status, with its history since the last projection.
func conversion(id string, status domain.ConversionStatus, history ...domain.ConversionStatus) domain.EventRecord {
	e := domain.EventRecord{ID: id, Kind: domain.EventConversion, CampaignID: "c1", ParticipationID: "p1", StreamerID: "s1",
		At: t0, MoneyAt: t0, Price: 3 * unit / 2, Payout: 3 * unit / 2, Billable: true, Status: status, GoalID: "reg",
		ClickID: "clk-" + id, Todo: true, Rev: int64(len(history)) - 1}
	for i, s := range history {
		e.History = append(e.History, domain.StatusChange{At: t0.Add(time.Duration(i) * time.Minute), To: s})
	}
	return e
}

// ledger is campaign c1, ACTIVE, with remaining budget left.
func ledger(remaining domain.Micros) map[string]domain.CampaignLedger {
	return map[string]domain.CampaignLedger{"c1": {ID: "c1", Remaining: remaining, Status: domain.CampaignActive,
		Campaign: domain.Campaign{ID: "c1", Status: domain.CampaignActive}}}
}

func mustDecide(t *testing.T, b domain.Batch, st State, r Rules) Plan {
	t.Helper()
	p, err := Decide(b, st, r)
	if err != nil {
		t.Fatalf("Decide: %v", err)
	}
	again, err := Decide(b, st, r)
	if err != nil || !reflect.DeepEqual(p, again) {
		t.Fatalf("Decide is not a function of its input: %+v, then %+v (%v)", p, again, err)
	}
	return p
}

// marks is a plan's event marks as "kind billing[/invalid][/not billed reason][@cap day]: ids".
func marks(p Plan) []string {
	var out []string
	for _, m := range p.Marks {
		s := string(m.Kind) + " " + string(m.Billing)
		if m.Invalid != "" {
			s += "/" + string(m.Invalid)
		}
		if m.NotBilled != "" {
			s += "/" + string(m.NotBilled)
		}
		if m.CapDay != "" && m.CapDay != "2026-11-23" {
			s += "@" + m.CapDay
		}
		out = append(out, s+": "+strings.Join(m.IDs, ","))
	}
	return out
}

// withoutAlerts are the updates with their alerts left out: the billing
// tables' ledgers have no budget, and alerts have their own tests
// (alerts_test.go).
func withoutAlerts(us []CampaignUpdate) []CampaignUpdate {
	if us == nil {
		return nil
	}
	out := make([]CampaignUpdate, len(us))
	for i, u := range us {
		u.Delta.Alerts = nil
		out[i] = u
	}
	return out
}

func wantEqual[T any](t *testing.T, what string, got, want T) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s: got %+v, want %+v", what, got, want)
	}
}

func TestDecideBilling(t *testing.T) {
	for _, tc := range []struct {
		name      string
		events    []domain.EventRecord
		ledgers   map[string]domain.CampaignLedger
		n         int64
		campaigns []CampaignUpdate
		earnings  domain.Micros
		marks     []string
	}{{
		name:    "BudgetCoversAll",
		events:  []domain.EventRecord{click("a", 0, unit), click("b", 1, unit)},
		ledgers: ledger(10 * unit), n: 1,
		campaigns: []CampaignUpdate{{ID: "c1", Remaining: 10 * unit, Delta: domain.CampaignDelta{Counts: domain.Counts{Clicks: 2},
			Spend: 2 * unit, Invalid: map[string]domain.InvalidReason{}}}},
		earnings: 2 * unit,
		marks:    []string{"clicks billed: a,b"},
	}, {
		name:    "BudgetExhaustedMidBatch",
		events:  []domain.EventRecord{click("a", 0, unit), click("b", 1, unit), click("c", 2, unit), click("d", 3, unit/2)},
		ledgers: ledger(5 * unit / 2), n: 1,
		// a and b take 2.00 of 2.50; c (1.00) is not covered and the campaign
		// turns EXHAUSTED; d (0.50) is still covered, in event order
		campaigns: []CampaignUpdate{{ID: "c1", Remaining: 5 * unit / 2, Delta: domain.CampaignDelta{Counts: domain.Counts{Clicks: 4, NotBilled: domain.NotBilledCounts{Budget: 1}},
			Spend: 5 * unit / 2, Unbilled: []string{"c"}, Exhaust: true, Invalid: map[string]domain.InvalidReason{}}}},
		earnings: 5 * unit / 2,
		marks:    []string{"clicks billed: a,b,d", "clicks not_billed/budget: c"},
	}, {
		name:    "PausedCampaignIsNotExhausted",
		events:  []domain.EventRecord{click("a", 0, unit)},
		ledgers: map[string]domain.CampaignLedger{"c1": {ID: "c1", Remaining: 0, Status: domain.CampaignPaused}},
		n:       1,
		campaigns: []CampaignUpdate{{ID: "c1", Remaining: 0, Delta: domain.CampaignDelta{Counts: domain.Counts{Clicks: 1, NotBilled: domain.NotBilledCounts{Budget: 1}},
			Unbilled: []string{"a"}, Invalid: map[string]domain.InvalidReason{}}}},
		marks: []string{"clicks not_billed/budget: a"},
	}, {
		name:    "UnpricedIsNotBilled",
		events:  []domain.EventRecord{click("a", 0, 0)},
		ledgers: ledger(10 * unit), n: 1,
		campaigns: []CampaignUpdate{{ID: "c1", Remaining: 10 * unit, Delta: domain.CampaignDelta{Counts: domain.Counts{Clicks: 1},
			Invalid: map[string]domain.InvalidReason{}}}},
		marks: []string{"clicks not_billed: a"},
	}, {
		name:    "CampaignGone",
		events:  []domain.EventRecord{click("a", 0, unit)},
		ledgers: map[string]domain.CampaignLedger{}, n: 1,
		marks: []string{"clicks not_billed: a"},
	}, {
		name:   "ReplayDecidesAsTheFirstRun",
		events: []domain.EventRecord{click("a", 0, unit), click("b", 1, unit)},
		// batch 7 reached the campaign already and left b unbilled; its
		// remaining budget (0 now) is not decided against again
		ledgers:  map[string]domain.CampaignLedger{"c1": {ID: "c1", Remaining: 0, Status: domain.CampaignExhausted, Batch: 7, Unbilled: []string{"b"}}},
		n:        7,
		earnings: unit,
		marks:    []string{"clicks billed: a", "clicks not_billed/budget: b"},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			p := mustDecide(t, domain.Batch{N: tc.n, Events: tc.events}, State{Ledgers: tc.ledgers}, Rules{})
			wantEqual(t, "campaign updates", withoutAlerts(p.Campaigns), tc.campaigns)
			wantEqual(t, "earnings", p.Participations["p1"].Earnings, tc.earnings)
			wantEqual(t, "marks", marks(p), tc.marks)
			wantEqual(t, "participation clicks", p.Participations["p1"].Counts.Clicks, int64(len(tc.events)))
		})
	}
}

func TestDecideBuckets(t *testing.T) {
	late := click("b", 0, unit)
	late.At = t0.Add(24 * time.Hour)
	p := mustDecide(t, domain.Batch{N: 1, Events: []domain.EventRecord{click("a", 0, unit), late}}, State{Ledgers: ledger(10 * unit)}, Rules{})
	got := map[string]domain.BucketDelta{}
	for _, b := range p.Buckets {
		got[string(b.Owner.Scope)+":"+b.Day] = b
	}
	wantEqual(t, "buckets", len(p.Buckets), 6) // campaign, participation, streamer × two days
	for _, scope := range []string{"campaign", "participation", "streamer"} {
		for _, day := range []string{"2026-11-23", "2026-11-24"} {
			b := got[scope+":"+day]
			wantEqual(t, scope+" "+day+" clicks", b.Counts.Clicks, int64(1))
			wantEqual(t, scope+" "+day+" spend", b.Spend, domain.Micros(unit))
			wantEqual(t, scope+" "+day+" earnings", b.Earnings, domain.Micros(unit))
		}
	}
}

func TestDecideInvalidClicks(t *testing.T) {
	f := domain.ClickFilter{ViewerWindow: time.Hour, PerToken: 2, RateWindow: time.Minute}
	a, b, c, d := click("a", 0, unit), click("b", 1, unit), click("c", 2, unit), click("d", 3, unit)
	a.Viewer, b.Viewer, c.Viewer, d.Viewer = "v1", "v1", "v2", "v3"
	// a: valid; b: the same viewer again (DUPLICATE_VIEWER); c: the third
	// click of the minute (RATE_EXCEEDED); d: the fourth (RATE_EXCEEDED)
	batch := domain.Batch{N: 1, Events: []domain.EventRecord{a, b, c, d}}
	p := mustDecide(t, batch, State{Ledgers: ledger(10 * unit)}, Rules{Filter: f})
	wantEqual(t, "marks", marks(p), []string{"clicks billed: a", "clicks not_billed/duplicate_viewer: b", "clicks not_billed/rate_exceeded: c,d"})
	wantEqual(t, "counts", p.Campaigns[0].Delta.Counts, domain.Counts{Clicks: 1, InvalidClicks: 3})
	wantEqual(t, "spend", p.Campaigns[0].Delta.Spend, domain.Micros(unit))
	wantEqual(t, "invalid kept with the campaign", p.Campaigns[0].Delta.Invalid, map[string]domain.InvalidReason{
		"b": domain.InvalidDuplicateViewer, "c": domain.InvalidRateExceeded, "d": domain.InvalidRateExceeded})
	rate := f.RateKey(a)
	wantEqual(t, "rate window count after", p.Filter.After[rate], int64(4))
	wantEqual(t, "viewer v1's last valid click", p.Filter.After[f.ViewerKey(a)], a.At.UnixNano())

	// The state before the batch decides: v1 clicked a minute ago, so a is
	// a duplicate too; replayed from the same state, the same answers.
	keys, _ := FilterKeys(batch, f)
	wantEqual(t, "keys", keys, []string{rate, f.ViewerKey(a), f.ViewerKey(c), f.ViewerKey(d)})
	before := map[string]int64{f.ViewerKey(a): t0.Add(-time.Minute).UnixNano()}
	p = mustDecide(t, batch, State{Ledgers: ledger(10 * unit), Filter: before}, Rules{Filter: f})
	wantEqual(t, "marks from a state", marks(p), []string{"clicks not_billed/duplicate_viewer: a,b", "clicks not_billed/rate_exceeded: c,d"})
	wantEqual(t, "state before, saved for replays", p.Filter.Before[f.ViewerKey(a)], before[f.ViewerKey(a)])
}

func TestDecideConversions(t *testing.T) {
	for _, tc := range []struct {
		name      string
		event     domain.EventRecord
		remaining domain.Micros
		spend     domain.Micros
		mark      domain.ConversionMark
	}{{
		name:      "PendingMovesNoMoney",
		event:     conversion("x", domain.ConversionPending, domain.ConversionPending),
		remaining: 10 * unit,
		mark:      domain.ConversionMark{ID: "x", Billing: domain.BillingPending, Step: domain.Step{Counted: true}},
	}, {
		name:      "ApprovalBills",
		event:     conversion("x", domain.ConversionApproved, domain.ConversionApproved),
		remaining: 10 * unit, spend: 3 * unit / 2,
		mark: domain.ConversionMark{ID: "x", Charged: 3 * unit / 2, Decided: true, Billing: domain.BillingBilled,
			Step: domain.Step{Counted: true, Delta: 3 * unit / 2, CapDay: "2026-11-23"}},
	}, {
		name:      "ApprovalTheBudgetCannotCover",
		event:     conversion("x", domain.ConversionApproved, domain.ConversionApproved),
		remaining: unit,
		mark:      domain.ConversionMark{ID: "x", Decided: true, Billing: domain.BillingNotBilled, Step: domain.Step{Counted: true, Refused: domain.NotBilledBudget}},
	}, {
		name: "RejectionAfterBillingReverses",
		event: func() domain.EventRecord {
			e := conversion("x", domain.ConversionRejected, domain.ConversionPending, domain.ConversionApproved, domain.ConversionRejected)
			e.History, e.HistoryRev = e.History[2:], 2
			e.Counted, e.Decided, e.AppliedCharge, e.Billing = true, true, 3*unit/2, domain.BillingBilled
			return e
		}(),
		remaining: 0, spend: -3 * unit / 2,
		mark: domain.ConversionMark{ID: "x", Rev: 2, Decided: true, Billing: domain.BillingReversed, Step: domain.Step{Delta: -3 * unit / 2, CapDay: "2026-11-23"}},
	}, {
		name:      "ApprovedThenRejectedBeforeProjection",
		event:     conversion("x", domain.ConversionRejected, domain.ConversionPending, domain.ConversionApproved, domain.ConversionRejected),
		remaining: 10 * unit,
		mark:      domain.ConversionMark{ID: "x", Rev: 2, Billing: domain.BillingNotBilled, Step: domain.Step{Counted: true}},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			p := mustDecide(t, domain.Batch{N: 1, Events: []domain.EventRecord{tc.event}}, State{Ledgers: ledger(tc.remaining)}, Rules{})
			tc.mark.Step.CountDay, tc.mark.Step.MoneyDay = "2026-11-23", "2026-11-23"
			tc.mark.Step.MoneyAt = tc.event.OrderAt() // the quarter buckets: the step's time,
			if !tc.event.Counted {                    // and the status a first projection counts it under
				tc.mark.Step.Status = tc.event.Status
			}
			wantEqual(t, "conversion mark", p.Conversions, []domain.ConversionMark{tc.mark})
			wantEqual(t, "campaign spend", p.Campaigns[0].Delta.Spend, tc.spend)
			wantEqual(t, "streamer earnings", p.Participations["p1"].Earnings, tc.spend)
			wantEqual(t, "no impression or click marks", len(p.Marks), 0)
		})
	}
}

func TestDecideOverflow(t *testing.T) {
	// one participation's earnings from two campaigns, each within its
	// budget, past int64
	big := domain.Micros(math.MaxInt64/2 + 1)
	a, b := click("a", 0, big), click("b", 1, big)
	b.CampaignID = "c2"
	ledgers := ledger(math.MaxInt64)
	ledgers["c2"] = domain.CampaignLedger{ID: "c2", Remaining: math.MaxInt64, Status: domain.CampaignActive}
	_, err := Decide(domain.Batch{N: 1, Events: []domain.EventRecord{a, b}}, State{Ledgers: ledgers}, Rules{})
	if err == nil || !strings.Contains(err.Error(), "overflow") {
		t.Fatalf("Decide with earnings past int64: %v, want an overflow error", err)
	}
}

func TestDecideImplied(t *testing.T) {
	l := ledger(10 * unit)
	c := l["c1"]
	c.Campaign.Goals = []domain.Goal{{GoalID: "reg", Payout: unit, Implies: []string{"ftd", "dep", "gone"}},
		{GoalID: "ftd", Payout: 5 * unit, Approval: domain.ApprovalReview},
		{GoalID: "dep", Payout: unit, Duplicates: domain.PerTransaction}}
	l["c1"] = c
	first := conversion("x", domain.ConversionApproved, domain.ConversionApproved)
	again := conversion("y", domain.ConversionRejected, domain.ConversionApproved, domain.ConversionRejected)
	again.History, again.HistoryRev, again.Counted = again.History[1:], 1, true
	p := mustDecide(t, domain.Batch{N: 1, Events: []domain.EventRecord{first, again}}, State{Ledgers: l}, Rules{})
	if len(p.Implied) != 1 {
		t.Fatalf("implied: %+v, want ftd once (dep is repeatable, gone does not exist, y was projected before)", p.Implied)
	}
	got := p.Implied[0]
	wantEqual(t, "goal", got.GoalID, "ftd")
	wantEqual(t, "status (REVIEW)", got.Status, domain.ConversionPending)
	wantEqual(t, "cause", got.CauseID, "x")
	wantEqual(t, "cost", got.Cost, domain.Micros(5*unit))
	wantEqual(t, "click", got.ClickID, "clk-x")
}

// TestDecideDeliveries: one delivery per status change the batch projects,
// in order, each with its own status, whatever happened between two
// projections (issue 18.6).
func TestDecideDeliveries(t *testing.T) {
	campaign := func(onNew, onStatus bool, url string) map[string]domain.CampaignLedger {
		l := ledger(10 * unit)
		c := l["c1"]
		c.Campaign.PostbackURL, c.Campaign.Postback.OnNew, c.Campaign.Postback.OnStatus = url, onNew, onStatus
		l["c1"] = c
		return l
	}
	all := conversion("x", domain.ConversionRejected, domain.ConversionPending, domain.ConversionApproved, domain.ConversionRejected)
	sinceOne := all
	sinceOne.History, sinceOne.HistoryRev, sinceOne.Counted = all.History[1:], 1, true
	nothingNew := all
	nothingNew.History, nothingNew.HistoryRev, nothingNew.Counted = nil, 0, true
	for _, tc := range []struct {
		name    string
		event   domain.EventRecord
		ledgers map[string]domain.CampaignLedger
		want    []string // key event status
	}{
		{"EveryStepBeforeTheFirstProjection", all, campaign(true, true, "https://p.example/{status}"),
			[]string{"x:0 conversion pending", "x:1 status approved", "x:2 status rejected"}},
		{"EveryStepSinceTheLastProjection", sinceOne, campaign(true, true, "https://p.example/{status}"),
			[]string{"x:1 status approved", "x:2 status rejected"}},
		{"NothingNew", nothingNew, campaign(true, true, "https://p.example/{status}"), nil},
		{"OnlyNewConversions", all, campaign(true, false, "https://p.example/{status}"), []string{"x:0 conversion pending"}},
		{"OnlyStatusChanges", all, campaign(false, true, "https://p.example/{status}"),
			[]string{"x:1 status approved", "x:2 status rejected"}},
		{"NoTemplate", all, campaign(true, true, ""), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := mustDecide(t, domain.Batch{N: 1, Events: []domain.EventRecord{tc.event}}, State{Ledgers: tc.ledgers}, Rules{Currency: "USD"})
			var got []string
			for i, d := range p.Deliveries {
				got = append(got, d.Key+" "+d.Event+" "+d.Values["status"])
				if i > 0 && d.CreatedAt.Before(p.Deliveries[i-1].CreatedAt) {
					t.Errorf("delivery %s is dated before the step it follows", d.Key)
				}
				wantEqual(t, d.Key+" currency", d.Values["currency"], "USD")
				wantEqual(t, d.Key+" click_id", d.Values["click_id"], "clk-x")
			}
			wantEqual(t, "deliveries", got, tc.want)
		})
	}
}

// TestDecideAfterAMissedGuard: when a campaign's budget changed under its
// update, the writer reads the ledgers again and plans again. A campaign
// already updated by this batch is not decided again (what it did not
// bill comes from its ledger); the one that missed is decided against its
// new remaining budget.
func TestDecideAfterAMissedGuard(t *testing.T) {
	a, b, c := click("a", 0, unit), click("b", 1, unit), click("c", 2, unit)
	c.CampaignID = "c2"
	batch := domain.Batch{N: 5, Events: []domain.EventRecord{a, b, c}}
	first := mustDecide(t, batch, State{Ledgers: map[string]domain.CampaignLedger{
		"c1": {ID: "c1", Remaining: unit, Status: domain.CampaignActive},
		"c2": {ID: "c2", Remaining: 10 * unit, Status: domain.CampaignActive},
	}}, Rules{})
	wantEqual(t, "first plan's campaigns", []string{first.Campaigns[0].ID, first.Campaigns[1].ID}, []string{"c1", "c2"})
	// c1's update landed (b unbilled); c2's missed: its budget is now 0
	again := mustDecide(t, batch, State{Ledgers: map[string]domain.CampaignLedger{
		"c1": {ID: "c1", Remaining: 0, Status: domain.CampaignExhausted, Batch: 5, Unbilled: []string{"b"}},
		"c2": {ID: "c2", Remaining: 0, Status: domain.CampaignActive},
	}}, Rules{})
	wantEqual(t, "campaigns planned again", again.Campaigns, []CampaignUpdate{{ID: "c2", Remaining: 0,
		Delta: domain.CampaignDelta{Counts: domain.Counts{Clicks: 1, NotBilled: domain.NotBilledCounts{Budget: 1}}, Unbilled: []string{"c"}, Exhaust: true, Invalid: map[string]domain.InvalidReason{},
			Alerts: []domain.Alert{{ID: "c2:BUDGET:100:0", CampaignID: "c2", Kind: domain.AlertBudget, Threshold: 100, At: c.At}}}}})
	wantEqual(t, "marks", marks(again), []string{"clicks billed: a", "clicks not_billed/budget: b,c"})
	wantEqual(t, "earnings", again.Participations["p1"].Earnings, domain.Micros(unit))
}
