package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/primitive"

	"tally/domain"
	"tally/projection"
	"tally/repository"
)

// The test clock starts at 2026-11-23T12:00:00Z, a Monday; the default
// rotation interval is 3 minutes, so the first slot is 12:00–12:03 UTC.

func TestOverlayKeepsTheSlotsCampaignAndRotatesFairly(t *testing.T) {
	t.Parallel()
	a := mustStartApp(t)
	brand := a.mustSignUp("BRAND")
	c1 := a.mustActiveCampaign(brand, "First")
	c2 := a.mustActiveCampaign(brand, "Second")
	s := a.mustStreamerIn(c1, c2)

	first := a.mustShow(s.token(c1.ID))
	if first.Strategy != "FAIR_ROTATION" {
		t.Errorf("strategy %s, want the default FAIR_ROTATION", first.Strategy)
	}
	wantStart := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	if !first.SlotStartsAt.Equal(wantStart) || !first.SlotEndsAt.Equal(wantStart.Add(3*time.Minute)) {
		t.Errorf("slot %s–%s, want 12:00–12:03", first.SlotStartsAt, first.SlotEndsAt)
	}
	// Never shown, no impressions: the earliest joined goes first.
	if first.Campaign.ID != c1.ID {
		t.Errorf("first slot shows %s, want the earliest joined %s", first.Campaign.Name, c1.Name)
	}
	if want := "/r/" + s.token(first.Campaign.ID); !strings.HasSuffix(first.ClickURL, want) || !strings.HasPrefix(first.ClickURL, "http") {
		t.Errorf("clickUrl %q, want an absolute URL ending in %s", first.ClickURL, want)
	}
	if s.parts[first.Participation.ID] != first.Campaign.ID {
		t.Errorf("participation %s is not the streamer's in %s", first.Participation.ID, first.Campaign.ID)
	}

	// The same slot, asked again later in the slot and through the other
	// token: the same campaign.
	a.clock.Advance(2*time.Minute + 59*time.Second)
	for _, tok := range []string{s.token(c1.ID), s.token(c2.ID)} {
		if got := a.mustShow(tok); got.Campaign.ID != first.Campaign.ID || !got.SlotStartsAt.Equal(first.SlotStartsAt) {
			t.Errorf("within the slot: %s from %s, want %s from %s", got.Campaign.Name, got.SlotStartsAt, first.Campaign.Name, first.SlotStartsAt)
		}
	}

	// Each new slot chooses again: least recently shown first.
	want := []string{c2.ID, c1.ID, c2.ID}
	for i, w := range want {
		a.clock.Advance(3 * time.Minute)
		got := a.mustShow(s.token(c1.ID))
		if got.Campaign.ID != w {
			t.Errorf("slot %d shows %s, want %s", i+2, got.Campaign.Name, map[string]string{c1.ID: c1.Name, c2.ID: c2.Name}[w])
		}
		if !got.SlotStartsAt.Equal(wantStart.Add(time.Duration(i+1) * 3 * time.Minute)) {
			t.Errorf("slot %d starts %s", i+2, got.SlotStartsAt)
		}
	}
}

func TestOverlayRotationIntervalIsTheStreamers(t *testing.T) {
	t.Parallel()
	a := mustStartApp(t)
	brand := a.mustSignUp("BRAND")
	c1 := a.mustActiveCampaign(brand, "One")
	c2 := a.mustActiveCampaign(brand, "Two")
	s := a.mustStreamerIn(c1, c2)
	a.mustSettings(s.user, map[string]any{"rotationIntervalMinutes": 10})
	a.clock.Set(time.Date(2026, 11, 23, 12, 7, 0, 0, time.UTC))
	got := a.mustShow(s.token(c1.ID))
	if !got.SlotStartsAt.Equal(time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)) || got.SlotEndsAt.Sub(got.SlotStartsAt) != 10*time.Minute {
		t.Fatalf("slot %s–%s, want 12:00–12:10", got.SlotStartsAt, got.SlotEndsAt)
	}
	a.clock.Set(time.Date(2026, 11, 23, 12, 9, 59, 0, time.UTC))
	if again := a.mustShow(s.token(c2.ID)); again.Campaign.ID != got.Campaign.ID {
		t.Errorf("12:09:59 shows %s, want the slot's %s", again.Campaign.Name, got.Campaign.Name)
	}
	a.clock.Set(time.Date(2026, 11, 23, 12, 10, 0, 0, time.UTC))
	if next := a.mustShow(s.token(c1.ID)); next.Campaign.ID == got.Campaign.ID {
		t.Errorf("12:10 still shows %s; the next slot should rotate", next.Campaign.Name)
	}
}

// TestOverlayConcurrentRequestsAgree races many overlay instances (through
// every token of the streamer) on each of several slots: each slot has one
// campaign for all of them, and fair rotation still visits every campaign.
func TestOverlayConcurrentRequestsAgree(t *testing.T) {
	t.Parallel()
	a := mustStartApp(t)
	brand := a.mustSignUp("BRAND")
	var cs []campaignData
	for i := range 4 {
		cs = append(cs, a.mustActiveCampaign(brand, fmt.Sprintf("Racer %d", i)))
	}
	s := a.mustStreamerIn(cs...)
	var tokens []string
	for _, c := range cs {
		tokens = append(tokens, s.token(c.ID))
	}
	seen := map[string]int{}
	for slot := range 8 {
		const workers = 24
		got := make([]string, workers)
		errs := make([]string, workers)
		race(t, workers, func(w int) {
			r := a.do("", overlayQuery, map[string]any{"t": tokens[w%len(tokens)]})
			if len(r.Errors) > 0 || !strings.Contains(string(r.Data), `"id"`) {
				errs[w] = fmt.Sprintf("%+v %s", r.Errors, r.Data)
				return
			}
			got[w] = string(r.Data)
		})
		for w := range workers {
			if errs[w] != "" {
				t.Fatalf("slot %d worker %d: %s", slot, w, errs[w])
			}
			if got[w] != got[0] {
				t.Fatalf("slot %d: instances disagree:\n%s\n%s", slot, got[0], got[w])
			}
		}
		seen[a.mustShow(tokens[0]).Campaign.ID]++
		a.clock.Advance(3 * time.Minute)
	}
	for _, c := range cs {
		if seen[c.ID] != 2 {
			t.Errorf("%s shown in %d of 8 slots, want 2 (fair rotation over 4)", c.Name, seen[c.ID])
		}
	}
}

func TestOverlayShowsOnlyEligibleCampaigns(t *testing.T) {
	t.Parallel()
	a := mustStartApp(t)
	brand := a.mustSignUp("BRAND")
	now := a.clock.Now()
	paused := a.mustActiveCampaign(brand, "Paused")
	later := a.mustPricedCampaign(brand, "Later", map[string]any{"startsAt": now.Add(time.Hour).Format(time.RFC3339)})
	ending := a.mustPricedCampaign(brand, "Ending", map[string]any{"endsAt": now.Add(5 * time.Minute).Format(time.RFC3339)})
	left := a.mustActiveCampaign(brand, "Left")
	s := a.mustStreamerIn(paused, ending, later, left)
	a.mustSetStatus(brand, paused.ID, "PAUSED")
	for pid, cid := range s.parts {
		if cid == left.ID {
			a.mustDo(s.user.Token, `mutation($id: ID!) { leaveCampaign(participationId: $id) { id } }`, map[string]any{"id": pid}, nil)
		}
	}

	// Only "Ending" is eligible now (Later has not started).
	for range 3 {
		if got := a.mustShow(s.token(later.ID)); got.Campaign.ID != ending.ID {
			t.Fatalf("shows %s, want the only eligible campaign Ending", got.Campaign.Name)
		}
		a.clock.Advance(time.Minute)
	}
	// 12:05: Ending has ended and Later has not started: nothing.
	a.clock.Set(now.Add(5 * time.Minute))
	if got := a.overlay(s.token(later.ID)); got != nil {
		t.Fatalf("shows %s, want nothing", got.Campaign.Name)
	}
	a.clock.Set(now.Add(time.Hour))
	if got := a.mustShow(s.token(ending.ID)); got.Campaign.ID != later.ID {
		t.Fatalf("shows %s, want Later once it started", got.Campaign.Name)
	}
}

func TestOverlayPausedMidSlotIsReplacedForEveryone(t *testing.T) {
	t.Parallel()
	a := mustStartApp(t)
	brand := a.mustSignUp("BRAND")
	c1 := a.mustActiveCampaign(brand, "Goes away")
	c2 := a.mustActiveCampaign(brand, "Stays")
	s := a.mustStreamerIn(c1, c2)
	if got := a.mustShow(s.token(c2.ID)); got.Campaign.ID != c1.ID {
		t.Fatalf("shows %s first, want %s", got.Campaign.Name, c1.Name)
	}
	a.mustSetStatus(brand, c1.ID, "PAUSED")
	a.clock.Advance(time.Minute)
	got := make([]string, 16)
	race(t, len(got), func(i int) {
		r := a.do("", overlayQuery, map[string]any{"t": s.token(c2.ID)})
		got[i] = string(r.Data)
	})
	for i := range got {
		if got[i] != got[0] || !strings.Contains(got[0], c2.ID) {
			t.Fatalf("after the pause, instance %d sees %s (first saw %s); want all on %s", i, got[i], got[0], c2.Name)
		}
	}
	// The campaign's token still opens the overlay; the slot keeps its bounds.
	if again := a.mustShow(s.token(c1.ID)); again.Campaign.ID != c2.ID || !again.SlotStartsAt.Equal(time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)) {
		t.Errorf("got %s from %s", again.Campaign.Name, again.SlotStartsAt)
	}
}

func TestOverlayBlackoutPeriods(t *testing.T) {
	t.Parallel()
	a := mustStartApp(t)
	brand := a.mustSignUp("BRAND")
	c := a.mustActiveCampaign(brand, "Shown")
	s := a.mustStreamerIn(c)
	tok := s.token(c.ID)
	period := func(days []string, start, end, tz string) map[string]any {
		return map[string]any{"daysOfWeek": days, "startTime": start, "endTime": end, "timezone": tz, "reason": "test"}
	}
	cases := []struct {
		name     string
		periods  []any
		at       time.Time
		blackout bool
	}{
		// 12:00Z Monday is 07:00 in New York (EST, UTC−5).
		{"in its own zone", []any{period([]string{"MONDAY"}, "06:30", "07:30", "America/New_York")},
			time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC), true},
		{"just after it ends", []any{period([]string{"MONDAY"}, "06:30", "07:30", "America/New_York")},
			time.Date(2026, 11, 23, 12, 30, 0, 0, time.UTC), false},
		{"another day", []any{period([]string{"TUESDAY"}, "06:30", "07:30", "America/New_York")},
			time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC), false},
		// Sunday 22:00 – 02:00 Berlin covers Monday 01:30 Berlin (00:30Z).
		{"the tail after midnight", []any{period([]string{"SUNDAY"}, "22:00", "02:00", "Europe/Berlin")},
			time.Date(2026, 11, 23, 0, 30, 0, 0, time.UTC), true},
		{"not the early morning of the listed day", []any{period([]string{"MONDAY"}, "22:00", "02:00", "Europe/Berlin")},
			time.Date(2026, 11, 23, 0, 30, 0, 0, time.UTC), false},
		// Summer time: 09:00–10:00 in New York is 13:00–14:00Z in July.
		{"daylight saving time", []any{period([]string{"WEDNESDAY"}, "09:00", "10:00", "America/New_York")},
			time.Date(2026, 7, 15, 13, 30, 0, 0, time.UTC), true},
		{"any of several", []any{period([]string{"SATURDAY"}, "00:00", "23:59", "UTC"), period([]string{"MONDAY", "FRIDAY"}, "11:00", "13:00", "UTC")},
			time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC), true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := a.in(t)
			a.mustSettings(s.user, map[string]any{"blackoutPeriods": tc.periods})
			a.clock.Set(tc.at)
			got := a.overlay(tok)
			if tc.blackout != (got == nil) {
				t.Fatalf("blackout %v, want %v (overlay %+v)", got == nil, tc.blackout, got)
			}
			im := a.mustImpression(tok)
			if tc.blackout && (im.IsNew || im.Impression != nil || im.Campaign != nil) {
				t.Errorf("an impression during a blackout: %+v", im)
			}
		})
	}
}

func TestOverlayStrategies(t *testing.T) {
	t.Parallel()
	a := mustStartApp(t)
	brand := a.mustSignUp("BRAND")
	cheap := a.mustPricedCampaign(brand, "Cheap", map[string]any{"cpm": "1.00", "cpc": "0.10"})
	rich := a.mustPricedCampaign(brand, "Rich", map[string]any{"cpm": "20.00", "cpc": "0.10"})
	clicky := a.mustPricedCampaign(brand, "Clicky", map[string]any{"cpm": "1.00", "cpc": "0.10"})
	s := a.mustStreamerIn(cheap, rich, clicky)
	// Clicky has a click-through record: 5 clicks and no impressions yet.
	for i := range 5 {
		a.mustClick(s.token(clicky.ID), fmt.Sprintf("ck-%d", i))
	}
	a.project() // strategies read the counters, which follow the events once projected
	cases := []struct {
		settings map[string]any
		want     campaignData
	}{
		{map[string]any{"strategy": "HIGHEST_PAYING"}, rich},
		{map[string]any{"strategy": "PERFORMANCE"}, clicky},
		{map[string]any{"strategy": "WEIGHTED", "priorityWeights": map[string]any{"paymentRate": 1, "performance": 0, "fairness": 0}}, rich},
		{map[string]any{"strategy": "WEIGHTED", "priorityWeights": map[string]any{"paymentRate": 0, "performance": 1, "fairness": 0}}, clicky},
		{map[string]any{"strategy": "FAIR_ROTATION"}, cheap},
	}
	for i, tc := range cases {
		a.mustSettings(s.user, tc.settings)
		a.clock.Set(time.Date(2026, 11, 23, 13, 3*i, 0, 0, time.UTC)) // a fresh slot each
		got := a.mustShow(s.token(cheap.ID))
		if got.Campaign.ID != tc.want.ID || got.Strategy != tc.settings["strategy"] {
			t.Errorf("%v: %s by %s, want %s", tc.settings, got.Campaign.Name, got.Strategy, tc.want.Name)
		}
	}
}

func TestOverlayUnknownTokens(t *testing.T) {
	t.Parallel()
	a := mustStartApp(t)
	brand := a.mustSignUp("BRAND")
	c := a.mustActiveCampaign(brand, "Rotated")
	s := a.mustStreamerIn(c)
	old := s.token(c.ID)
	var pid string
	for id := range s.parts {
		pid = id
	}
	a.mustDo(s.user.Token, `mutation($id: ID!) { rotateBrowserSourceToken(participationId: $id) { id } }`, map[string]any{"id": pid}, nil)
	for _, tok := range []string{"nope", "", old} {
		a.mustFail("", overlayQuery, map[string]any{"t": tok}, "NOT_FOUND", "")
		a.mustFail("", recordImpressionMutation, map[string]any{"t": tok}, "NOT_FOUND", "")
	}
}

// TestRecordImpressionOncePerSlot races reloads of every overlay instance of
// a streamer on each of several slots: exactly one isNew per slot, and the
// counters and money are exact.
func TestRecordImpressionOncePerSlot(t *testing.T) {
	t.Parallel()
	a := mustStartApp(t)
	brand := a.mustSignUp("BRAND")
	c1 := a.mustActiveCampaign(brand, "Imp one") // cpm 2.50: 0.0025 per impression
	c2 := a.mustActiveCampaign(brand, "Imp two")
	s := a.mustStreamerIn(c1, c2)
	tokens := []string{s.token(c1.ID), s.token(c2.ID)}
	const slots, workers = 4, 32
	for slot := range slots {
		var (
			mu     sync.Mutex
			news   int
			ids    = map[string]bool{}
			failed []string
		)
		race(t, workers, func(w int) {
			r := a.do("", recordImpressionMutation, map[string]any{"t": tokens[w%2]})
			mu.Lock()
			defer mu.Unlock()
			if len(r.Errors) > 0 {
				failed = append(failed, fmt.Sprint(r.Errors))
				return
			}
			var d struct{ RecordImpression impressionPayload }
			if err := json.Unmarshal(r.Data, &d); err != nil || d.RecordImpression.Impression == nil {
				failed = append(failed, string(r.Data))
				return
			}
			if d.RecordImpression.IsNew {
				news++
			}
			ids[d.RecordImpression.Impression.ID] = true
		})
		if len(failed) > 0 {
			t.Fatalf("slot %d: %d failures, first: %s", slot, len(failed), failed[0])
		}
		if news != 1 || len(ids) != 1 {
			t.Fatalf("slot %d: %d isNew and %d impression ids, want 1 and 1", slot, news, len(ids))
		}
		a.clock.Advance(3 * time.Minute)
	}
	// Fair rotation alternates: two impressions each.
	for _, c := range []campaignData{c1, c2} {
		tot := a.totals(brand, c.ID)
		if tot.Campaign.Stats.Impressions != 2 || tot.Campaign.Spent.Amount != "0.005" {
			t.Errorf("%s: %d impressions, spent %s; want 2 and 0.005", c.Name, tot.Campaign.Stats.Impressions, tot.Campaign.Spent.Amount)
		}
		p := tot.Campaign.Participations.Edges[0].Node
		if p.Stats.Impressions != 2 || p.Stats.Earnings.Amount != "0.005" {
			t.Errorf("%s participation: %d impressions, earned %s; want 2 and 0.005", c.Name, p.Stats.Impressions, p.Stats.Earnings.Amount)
		}
	}
	var daily dailyData
	a.mustDo(s.user.Token, dailyStatsQuery, map[string]any{"scope": "STREAMER", "id": s.user.ID, "from": "2026-11-23", "to": "2026-11-23"}, &daily)
	if len(daily.DailyStats) != 1 {
		t.Fatalf("streamer's days: got %d, want 1", len(daily.DailyStats))
	}
	wantField(t, "streamer's day: impressions", daily.DailyStats[0].Impressions, 4)
	wantField(t, "streamer's day: earnings", daily.DailyStats[0].Earnings.Amount, "0.01")
}

func TestRecordImpressionBillsCPMThroughTheBudgetGuard(t *testing.T) {
	t.Parallel()
	a := mustStartApp(t)
	brand := a.mustSignUp("BRAND")
	// 0.0025 per impression; 0.006 covers two and leaves 0.001.
	c := a.mustPricedCampaign(brand, "Tight", map[string]any{"budget": "0.006"})
	s := a.mustStreamerIn(c)
	tok := s.token(c.ID)
	for i := range 3 {
		im := a.mustImpression(tok)
		if im.Impression == nil || im.Campaign == nil {
			t.Fatalf("impression %d: none recorded (impression %v, campaign %v)", i+1, im.Impression, im.Campaign)
		}
		wantField(t, fmt.Sprintf("impression %d: isNew", i+1), im.IsNew, true)
		wantField(t, fmt.Sprintf("impression %d: billing", i+1), im.Impression.Billing, "PENDING")
		wantField(t, fmt.Sprintf("impression %d: campaign", i+1), im.Campaign.ID, c.ID)
		wantField(t, fmt.Sprintf("impression %d: impression.campaign", i+1), im.Impression.Campaign.ID, c.ID)
		a.clock.Advance(3 * time.Minute)
	}
	tot := a.totals(brand, c.ID)
	if b := a.billings(domain.EventImpression); b[domain.BillingBilled] != 2 || b[domain.BillingNotBilled] != 1 {
		t.Errorf("billings %v, want 2 BILLED and the last NOT_BILLED", b)
	}
	wantField(t, "status", tot.Campaign.Status, "EXHAUSTED")
	wantField(t, "spent", tot.Campaign.Spent.Amount, "0.005")
	wantField(t, "impressions (the last unbilled)", tot.Campaign.Stats.Impressions, 3)
	if got := a.overlay(tok); got != nil {
		t.Errorf("an exhausted campaign is still shown: %+v", got)
	}
}

// TestRecordImpressionBudgetRace: many streamers' overlays bill one campaign
// at once; the budget covers exactly 7 impressions.
func TestRecordImpressionBudgetRace(t *testing.T) {
	t.Parallel()
	a := mustStartApp(t)
	brand := a.mustSignUp("BRAND")
	c := a.mustPricedCampaign(brand, "Raced", map[string]any{"budget": "0.0175"}) // 7 × 0.0025
	const streamers = 20
	var tokens []string
	for range streamers {
		tokens = append(tokens, a.mustStreamerIn(c).token(c.ID))
	}
	var (
		mu       sync.Mutex
		recorded int
		failed   []string
	)
	race(t, 3*len(tokens), func(i int) { // each streamer's page loads three times
		r := a.do("", recordImpressionMutation, map[string]any{"t": tokens[i%len(tokens)]})
		mu.Lock()
		defer mu.Unlock()
		var d struct{ RecordImpression impressionPayload }
		if len(r.Errors) > 0 || json.Unmarshal(r.Data, &d) != nil {
			failed = append(failed, fmt.Sprint(r.Errors, string(r.Data)))
			return
		}
		if d.RecordImpression.IsNew {
			recorded++
		}
	})
	if len(failed) > 0 {
		t.Fatalf("%d failures, first: %s", len(failed), failed[0])
	}
	tot := a.totals(brand, c.ID)
	billing := a.billings(domain.EventImpression)
	if billing[domain.BillingBilled] != 7 || tot.Campaign.Spent.Amount != "0.0175" || tot.Campaign.Remaining.Amount != "0.00" {
		t.Errorf("%d billed, spent %s, remaining %s; want 7, 0.0175, 0.00", billing[domain.BillingBilled], tot.Campaign.Spent.Amount, tot.Campaign.Remaining.Amount)
	}
	// Every recorded impression is counted, billed or not, and none is
	// left pending.
	if int(tot.Campaign.Stats.Impressions) != recorded || billing[domain.BillingBilled]+billing[domain.BillingNotBilled] != recorded {
		t.Errorf("%d impressions counted, %d recorded, billings %v", tot.Campaign.Stats.Impressions, recorded, billing)
	}
}

// TestVerifyRepairsImpressions: impressions count in verify and repair like
// every other event.
func TestVerifyRepairsImpressions(t *testing.T) {
	t.Parallel()
	a := mustStartApp(t)
	brand := a.mustSignUp("BRAND")
	c := a.mustActiveCampaign(brand, "Verified")
	s := a.mustStreamerIn(c)
	for range 3 {
		a.mustImpression(s.token(c.ID))
		a.clock.Advance(3 * time.Minute)
	}
	want := a.totals(brand, c.ID)
	ctx := context.Background()
	stored, err := repository.NewCampaigns(a.store).ByID(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	a.skew(domain.Counter{Kind: domain.CounterCampaign, ID: c.ID, Budget: stored.Budget, Counts: domain.Counts{Impressions: 40}})
	for pid := range s.parts {
		a.skew(domain.Counter{Kind: domain.CounterParticipation, ID: pid})
	}
	var out strings.Builder
	if _, err := projection.Repair(ctx, repository.NewProjection(a.store), a.projector, &out); err != nil {
		t.Fatal(err)
	}
	got := a.totals(brand, c.ID)
	wantField(t, "before the skew: impressions", want.Campaign.Stats.Impressions, 3)
	wantField(t, "before the skew: spent", want.Campaign.Spent.Amount, "0.0075")
	wantField(t, "after repair: impressions", got.Campaign.Stats.Impressions, want.Campaign.Stats.Impressions)
	wantField(t, "after repair: clicks", got.Campaign.Stats.Clicks, want.Campaign.Stats.Clicks)
	wantField(t, "after repair: conversions", got.Campaign.Stats.Conversions, want.Campaign.Stats.Conversions)
	wantField(t, "after repair: spent", got.Campaign.Spent.Amount, want.Campaign.Spent.Amount)
	gotP, wantP := got.Campaign.Participations.Edges[0].Node.Stats, want.Campaign.Participations.Edges[0].Node.Stats
	wantField(t, "after repair: participation impressions", gotP.Impressions, wantP.Impressions)
	wantField(t, "after repair: participation clicks", gotP.Clicks, wantP.Clicks)
	wantField(t, "after repair: participation conversions", gotP.Conversions, wantP.Conversions)
	wantField(t, "after repair: participation earnings", gotP.Earnings.Amount, wantP.Earnings.Amount)
	if t.Failed() {
		t.Logf("repair printed:\n%s", out.String())
	}
}

// TestOverlayRevealsNothingPrivate: the overlay token is in every click link
// a streamer shares, so what it opens carries only what the page shows: a
// campaign's id, name and description, and a participation's id. No money
// (budget, spend, prices, earnings), counters, or users (emails, settings),
// whoever asks.
func TestOverlayRevealsNothingPrivate(t *testing.T) {
	t.Parallel()
	a := mustStartApp(t)
	brand := a.mustSignUp("BRAND")
	c := a.mustActiveCampaign(brand, "Private")
	s := a.mustStreamerIn(c)
	vars := map[string]any{"t": s.token(c.ID)}

	t.Run("OnlyWhatThePageShows", func(t *testing.T) {
		fields := func(typ string) []string {
			var r struct {
				Type struct{ Fields []struct{ Name string } } `json:"__type"`
			}
			a.in(t).mustDo("", `query($n: String!) { __type(name: $n) { fields { name } } }`, map[string]any{"n": typ}, &r)
			var out []string
			for _, f := range r.Type.Fields {
				out = append(out, f.Name)
			}
			return out
		}
		for typ, want := range map[string]string{
			"OverlaySlot":             "campaign participation clickUrl slotStartsAt slotEndsAt strategy",
			"OverlayCampaign":         "id name description",
			"OverlayParticipation":    "id",
			"Impression":              "id billing campaign participation slotStartsAt createdAt",
			"RecordImpressionPayload": "impression campaign isNew",
		} {
			if got := strings.Join(fields(typ), " "); got != want {
				t.Errorf("%s fields: got %q, want %q", typ, got, want)
			}
		}
	})
	for _, q := range []string{
		`query($t: String!) { overlay(browserSourceToken: $t) { campaign { budget { amount } } } }`,
		`query($t: String!) { overlay(browserSourceToken: $t) { campaign { cpc { amount } cpm { amount } } } }`,
		`query($t: String!) { overlay(browserSourceToken: $t) { campaign { brand { email } } } }`,
		`query($t: String!) { overlay(browserSourceToken: $t) { participation { stats { earnings { amount } } } } }`,
		`query($t: String!) { overlay(browserSourceToken: $t) { participation { streamer { email } } } }`,
		`mutation($t: String!) { recordImpression(browserSourceToken: $t) { campaign { spent { amount } } } }`,
		`mutation($t: String!) { recordImpression(browserSourceToken: $t) { impression { participation { stats { earnings { amount } } } } } }`,
	} {
		for _, who := range []string{"", brand.Token, s.user.Token} {
			e := a.mustFail(who, q, vars, "BAD_USER_INPUT", "")
			if e.Extensions["reason"] != "GRAPHQL_VALIDATION_FAILED" {
				t.Errorf("%s: reason %v", q, e.Extensions["reason"])
			}
		}
	}
	// What the page asks for still works.
	var slot struct {
		Overlay struct {
			Campaign struct{ Name, Description string }
		}
	}
	a.mustDo("", `query($t: String!) { overlay(browserSourceToken: $t) { campaign { name description } clickUrl slotStartsAt slotEndsAt strategy } }`, vars, &slot)
	if slot.Overlay.Campaign.Name != "Private" {
		t.Errorf("overlay campaign: got %+v", slot.Overlay.Campaign)
	}
}

// TestOverlayShowsOldParticipations: a participation from the old system,
// without a token and without stats, joinedAt or lastShownAt, is a candidate
// like any other; when chosen it gets a token for its click link, and that
// token is the one its streamer sees afterwards.
func TestOverlayShowsOldParticipations(t *testing.T) {
	t.Parallel()
	a := mustStartApp(t)
	brand := a.mustSignUp("BRAND")
	current := a.mustActiveCampaign(brand, "Current")
	old := a.mustActiveCampaign(brand, "Old")
	s := a.mustStreamerIn(current)
	a.mustSetStatus(brand, current.ID, "PAUSED") // only the old one is eligible
	sid, _ := primitive.ObjectIDFromHex(s.user.ID)
	cid, _ := primitive.ObjectIDFromHex(old.ID)
	oldID := primitive.NewObjectID()
	if err := repository.SeedRaw(context.Background(), a.store, "participations",
		bson.M{"_id": oldID, "campaignId": cid, "streamerId": sid, "status": "active"}); err != nil {
		t.Fatal(err)
	}
	got := a.mustShow(s.token(current.ID))
	if got.Campaign.ID != old.ID || got.Participation.ID != oldID.Hex() {
		t.Fatalf("shows %s (%s), want the old participation", got.Campaign.Name, got.Participation.ID)
	}
	var d struct{ Participation participationData }
	a.mustDo(s.user.Token, participationQuery, map[string]any{"id": oldID.Hex()}, &d)
	if tok := token(t, d.Participation); !strings.HasSuffix(got.ClickURL, "/r/"+tok) {
		t.Errorf("clickUrl %s does not use the participation's token %s", got.ClickURL, tok)
	}
	im := a.mustImpression(s.token(current.ID))
	if im.Impression == nil {
		t.Fatal("no impression recorded")
	}
	wantField(t, "isNew", im.IsNew, true)
	wantField(t, "participation", im.Impression.Participation.ID, oldID.Hex())
	a.project()
	wantField(t, "billing once projected", a.mustImpression(s.token(current.ID)).Impression.Billing, "BILLED")
}
