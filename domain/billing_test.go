package domain

import (
	"math"
	"reflect"
	"testing"
	"time"
)

// The money rules one event at a time (Next, Outcome), one campaign's
// events at a time (Bill), and the click filter (Judge). The whole batch
// is projection.Decide's, tested in projection/plan_test.go.

const u = MicrosPerUnit

func TestAddMicros(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		a, b, sum Micros
		ok        bool
	}{
		{1, 2, 3, true},
		{-5, 2, -3, true},
		{math.MaxInt64, 0, math.MaxInt64, true},
		{math.MaxInt64, 1, 0, false},
		{math.MinInt64, -1, 0, false},
		{math.MaxInt64, math.MinInt64, -1, true},
	} {
		if sum, ok := AddMicros(tc.a, tc.b); sum != tc.sum || ok != tc.ok {
			t.Errorf("AddMicros(%d, %d) = %d, %v; want %d, %v", tc.a, tc.b, sum, ok, tc.sum, tc.ok)
		}
	}
}

func TestConversionCanBecome(t *testing.T) {
	t.Parallel()
	all := []ConversionStatus{ConversionPending, ConversionApproved, ConversionRejected}
	allowed := map[[2]ConversionStatus]bool{
		{ConversionPending, ConversionApproved}:  true,
		{ConversionPending, ConversionRejected}:  true,
		{ConversionApproved, ConversionRejected}: true,
	}
	for _, from := range all {
		for _, to := range all {
			if got := from.CanBecome(to); got != allowed[[2]ConversionStatus{from, to}] {
				t.Errorf("%s → %s allowed %v", from.Name(), to.Name(), got)
			}
		}
	}
	if got := ConversionApproved.Sources(); !reflect.DeepEqual(got, []ConversionStatus{ConversionPending}) {
		t.Errorf("sources of APPROVED: %v", got)
	}
}

func TestNextAndOutcome(t *testing.T) {
	t.Parallel()
	click := EventRecord{Kind: EventClick, Price: u}
	conv := func(status ConversionStatus, counted, decided bool, charged Micros, billing Billing) EventRecord {
		return EventRecord{Kind: EventConversion, Price: 3 * u, Status: status, Counted: counted, Decided: decided,
			AppliedCharge: charged, Billing: billing}
	}
	type next struct {
		count        bool
		bill, refund Micros
	}
	type outcome struct {
		charged Micros
		decided bool
		billing Billing
		delta   Micros
	}
	for _, tc := range []struct {
		name   string
		e      EventRecord
		billed bool // whether the budget covered the price
		next   next
		out    outcome
	}{
		{"ClickBilled", click, true, next{true, u, 0}, outcome{u, true, BillingBilled, u}},
		{"ClickBudgetShort", click, false, next{true, u, 0}, outcome{0, true, BillingNotBilled, 0}},
		{"ClickUnpriced", EventRecord{Kind: EventClick}, true, next{true, 0, 0}, outcome{0, true, BillingNotBilled, 0}},
		{"ClickInvalid", EventRecord{Kind: EventClick, Price: u, Invalid: InvalidDuplicateViewer}, true,
			next{true, 0, 0}, outcome{0, true, BillingNotBilled, 0}},
		{"ImpressionBilled", EventRecord{Kind: EventImpression, Price: 2500}, true, next{true, 2500, 0}, outcome{2500, true, BillingBilled, 2500}},
		{"ConversionPending", conv(ConversionPending, false, false, 0, BillingPending), false,
			next{true, 0, 0}, outcome{0, false, BillingPending, 0}},
		{"ConversionApproved", conv(ConversionApproved, false, false, 0, BillingPending), true,
			next{true, 3 * u, 0}, outcome{3 * u, true, BillingBilled, 3 * u}},
		{"ConversionApprovedAfterPending", conv(ConversionApproved, true, false, 0, BillingPending), true,
			next{false, 3 * u, 0}, outcome{3 * u, true, BillingBilled, 3 * u}},
		{"ConversionApprovedBudgetShort", conv(ConversionApproved, false, false, 0, BillingPending), false,
			next{true, 3 * u, 0}, outcome{0, true, BillingNotBilled, 0}},
		{"ConversionApprovedTwiceBillsOnce", conv(ConversionApproved, true, true, 3*u, BillingBilled), true,
			next{false, 0, 0}, outcome{3 * u, true, BillingBilled, 0}},
		{"ConversionRejectedAfterBilling", conv(ConversionRejected, true, true, 3*u, BillingBilled), false,
			next{false, 0, 3 * u}, outcome{0, true, BillingReversed, -3 * u}},
		{"ConversionRejectedAfterNotBilled", conv(ConversionRejected, true, true, 0, BillingNotBilled), false,
			next{false, 0, 0}, outcome{0, true, BillingNotBilled, 0}},
		{"ConversionRejectedWhilePending", conv(ConversionRejected, true, false, 0, BillingPending), false,
			next{false, 0, 0}, outcome{0, false, BillingNotBilled, 0}},
		{"ConversionReversedStaysReversed", conv(ConversionRejected, true, true, 0, BillingReversed), false,
			next{false, 0, 0}, outcome{0, true, BillingReversed, 0}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var n next
			n.count, n.bill, n.refund = tc.e.Next()
			if n != tc.next {
				t.Errorf("Next: %+v, want %+v", n, tc.next)
			}
			var o outcome
			o.charged, o.decided, o.billing, o.delta = tc.e.Outcome(tc.billed)
			if o != tc.out {
				t.Errorf("Outcome(%v): %+v, want %+v", tc.billed, o, tc.out)
			}
		})
	}
}

func TestBill(t *testing.T) {
	t.Parallel()
	click := func(id string, price Micros) EventRecord { return EventRecord{ID: id, Kind: EventClick, Price: price} }
	refund := EventRecord{ID: "r", Kind: EventConversion, Price: 2 * u, Status: ConversionRejected, Counted: true,
		Decided: true, AppliedCharge: 2 * u, Billing: BillingBilled}
	for _, tc := range []struct {
		name      string
		remaining Micros
		events    []EventRecord
		want      CampaignDelta
	}{
		{"Covered", 5 * u, []EventRecord{click("a", u), click("b", 2*u)},
			CampaignDelta{Counts: Counts{Clicks: 2}, Spend: 3 * u}},
		{"ExactlyCovered", 2 * u, []EventRecord{click("a", u), click("b", u)},
			CampaignDelta{Counts: Counts{Clicks: 2}, Spend: 2 * u}},
		{"ExhaustedMidBatch", 2 * u, []EventRecord{click("a", u), click("b", 2*u), click("c", u)},
			CampaignDelta{Counts: Counts{Clicks: 3, NotBilled: NotBilledCounts{Budget: 1}}, Spend: 2 * u, Unbilled: []string{"b"}, Exhaust: true}},
		{"NothingLeft", 0, []EventRecord{click("a", u), click("b", 0)},
			CampaignDelta{Counts: Counts{Clicks: 2, NotBilled: NotBilledCounts{Budget: 1}}, Unbilled: []string{"a"}, Exhaust: true}},
		{"InvalidIsCountedApartAndNotBilled", 5 * u, []EventRecord{{ID: "a", Kind: EventClick, Price: u, Invalid: InvalidRateExceeded}},
			CampaignDelta{Counts: Counts{InvalidClicks: 1}}},
		{"ARefundCoversWhatFollows", 0, []EventRecord{refund, click("a", u), click("b", u)},
			CampaignDelta{Counts: Counts{Clicks: 2}, Spend: 0, Unbilled: nil}},
		{"ARefundComesBackInOrder", 0, []EventRecord{click("a", u), refund},
			CampaignDelta{Counts: Counts{Clicks: 1, NotBilled: NotBilledCounts{Budget: 1}}, Spend: -2 * u, Unbilled: []string{"a"}, Exhaust: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Bill(tc.remaining, tc.events, CapState{}); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Bill(%s, …):\n got %+v\nwant %+v", tc.remaining, got, tc.want)
			}
		})
	}
}

func TestJudge(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	at := func(viewer string, d time.Duration) EventRecord {
		return EventRecord{Kind: EventClick, ParticipationID: "p1", Viewer: viewer, At: t0.Add(d)}
	}
	for _, tc := range []struct {
		name   string
		filter ClickFilter
		clicks []EventRecord
		want   []InvalidReason
	}{
		{"Off", ClickFilter{}, []EventRecord{at("v", 0), at("v", 0)}, []InvalidReason{"", ""}},
		{"SameViewerWithinTheWindow", ClickFilter{ViewerWindow: time.Hour},
			[]EventRecord{at("v", 0), at("v", 30*time.Minute), at("w", 31*time.Minute)},
			[]InvalidReason{"", InvalidDuplicateViewer, ""}},
		{"TheWindowSlidesFromTheLastValidClick", ClickFilter{ViewerWindow: time.Hour},
			[]EventRecord{at("v", 0), at("v", 59*time.Minute), at("v", 60*time.Minute), at("v", 61*time.Minute)},
			[]InvalidReason{"", InvalidDuplicateViewer, "", InvalidDuplicateViewer}},
		{"NoViewerIsNeverADuplicate", ClickFilter{ViewerWindow: time.Hour}, []EventRecord{at("", 0), at("", 0)},
			[]InvalidReason{"", ""}},
		{"RateLimitPerWindow", ClickFilter{PerToken: 2, RateWindow: time.Minute},
			[]EventRecord{at("a", 0), at("b", time.Second), at("c", 2*time.Second), at("d", time.Minute)},
			[]InvalidReason{"", "", InvalidRateExceeded, ""}},
		{"RateBeforeViewer", ClickFilter{ViewerWindow: time.Hour, PerToken: 1, RateWindow: time.Minute},
			// the second click is over the rate, so it is not the viewer's
			// last valid click: the third, in the next window, is valid
			[]EventRecord{at("v", 0), at("w", time.Second), at("w", time.Minute)},
			[]InvalidReason{"", InvalidRateExceeded, ""}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			state := map[string]int64{}
			for i, e := range tc.clicks {
				if got := tc.filter.Judge(e, state); got != tc.want[i] {
					t.Errorf("click %d: %q, want %q", i, got, tc.want[i])
				}
			}
		})
	}
	if got := (ClickFilter{ViewerWindow: time.Hour}).Judge(EventRecord{Kind: EventImpression, Viewer: "v"}, map[string]int64{}); got != "" {
		t.Errorf("an impression judged %q", got)
	}
}
