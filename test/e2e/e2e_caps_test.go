package e2e

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"tally/domain"
	"tally/projection"
	"tally/repository"
)

// The caps end to end (docs/money.md): a campaign's daily budget, counted in
// its time zone, and a streamer's cap, each raced by many distinct clicks
// while the projector runs; never overshot, the rest recorded NOT_BILLED
// with the reason, the overlay stops choosing the capped campaign, and
// verify finds every cap's spend in the events.

const capsMutation = `mutation($id: ID!, $input: ParticipationCapsInput!) {
  setParticipationCaps(participationId: $id, input: $input) { id caps { totalCap { amount } dailyCap { amount } } } }`

// notBilledOf counts a campaign's stored clicks by billing and reason:
// "BILLED", or "NOT_BILLED/<reason>".
func (a *testApp) notBilledOf(campaignID string) map[string]int {
	a.t.Helper()
	out := map[string]int{}
	err := repository.NewProjection(a.store).EachEvent(context.Background(), func(e domain.EventRecord) error {
		if e.Kind != domain.EventClick || e.CampaignID != campaignID {
			return nil
		}
		key := e.Billing.Name()
		if e.NotBilled != "" {
			key += "/" + enumOf(e.NotBilled)
		}
		out[key]++
		return nil
	})
	if err != nil {
		a.t.Fatal(err)
	}
	return out
}

func enumOf(r domain.NotBilledReason) string {
	switch r {
	case domain.NotBilledDailyCap:
		return "DAILY_CAP"
	case domain.NotBilledStreamerCap:
		return "STREAMER_CAP"
	}
	return "BUDGET"
}

type capStats struct {
	Campaign struct {
		DailyBudget *struct{ Amount string }
		TimeZone    string
		Spent       struct{ Amount string }
		Stats       struct {
			Clicks    int
			NotBilled struct{ Budget, DailyCap, StreamerCap int }
		}
	}
	DailyStats []struct {
		Date      string
		Clicks    int
		NotBilled struct{ DailyCap, StreamerCap int }
		Spend     struct{ Amount string }
	}
}

func (a *testApp) capStats(brand testUser, campaignID, from, to string) capStats {
	a.t.Helper()
	a.project()
	var d capStats
	a.mustDo(brand.Token, `query($id: ID!, $from: String!, $to: String!) {
	  campaign(id: $id) { dailyBudget { amount } timeZone spent { amount } stats { clicks notBilled { budget dailyCap streamerCap } } }
	  dailyStats(scope: CAMPAIGN, id: $id, from: $from, to: $to) { date clicks notBilled { dailyCap streamerCap } spend { amount } } }`,
		map[string]any{"id": campaignID, "from": from, "to": to}, &d)
	return d
}

// clickReason asks for a click again (the same clickId answers the stored
// click) and returns its billing and notBilledReason.
func (a *testApp) clickReason(tok, clickID string) (billing string, reason *string) {
	a.t.Helper()
	var p struct {
		RecordClick struct {
			Click struct {
				Billing         string
				NotBilledReason *string
			}
		}
	}
	a.mustDo("", `mutation($input: RecordClickInput!) { recordClick(input: $input) { click { billing notBilledReason } } }`,
		map[string]any{"input": map[string]any{"browserSourceToken": tok, "clickId": clickID}}, &p)
	return p.RecordClick.Click.Billing, p.RecordClick.Click.NotBilledReason
}

// TestDailyCapRacedByDistinctClicks: a daily budget of 20 clicks in New
// York's day, raced by 200 distinct clicks: exactly 20 billed, 180 not
// billed with DAILY_CAP; the overlay stops choosing the campaign; at 04:59
// UTC the next morning it is still that day in New York, at 05:00 a new day
// starts fresh and the overlay chooses the campaign again.
func TestDailyCapRacedByDistinctClicks(t *testing.T) {
	t.Parallel()
	a := mustStartApp(t) // the clock: 2026-11-23 12:00 UTC, 07:00 in New York
	brand := a.mustSignUp("BRAND")
	capped := a.mustPricedCampaign(brand, "Capped daily", map[string]any{"budget": "1000.00", "cpc": "0.25", "cpm": "0",
		"dailyBudget": "5.00", "timeZone": "America/New_York"})
	other := a.mustPricedCampaign(brand, "Uncapped", map[string]any{"budget": "1000.00", "cpc": "0.25", "cpm": "0"})
	s := a.mustStreamerIn(capped, other)
	tok := s.token(capped.ID)

	first := a.mustShow(tok).Campaign.ID
	wantField(t, "the overlay's first choice (never shown, joined first)", first, capped.ID)

	race(t, 200, func(i int) { a.mustClick(tok, fmt.Sprintf("day1-%03d", i)) })
	a.project()
	got := a.notBilledOf(capped.ID)
	wantField(t, "billed on the first day", got["BILLED"], 20)
	wantField(t, "not billed with DAILY_CAP", got["NOT_BILLED/DAILY_CAP"], 180)
	d := a.capStats(brand, capped.ID, "2026-11-23", "2026-11-23")
	wantField(t, "timeZone", d.Campaign.TimeZone, "America/New_York")
	wantField(t, "dailyBudget", d.Campaign.DailyBudget.Amount, "5.00")
	wantField(t, "spent", d.Campaign.Spent.Amount, "5.00")
	wantField(t, "clicks counted", d.Campaign.Stats.Clicks, 200)
	wantField(t, "stats.notBilled.dailyCap", d.Campaign.Stats.NotBilled.DailyCap, 180)
	wantField(t, "the day's notBilled.dailyCap", d.DailyStats[0].NotBilled.DailyCap, 180)
	refused := 0
	for i := range 200 {
		if billing, reason := a.clickReason(tok, fmt.Sprintf("day1-%03d", i)); billing == "NOT_BILLED" && reason != nil && *reason == "DAILY_CAP" {
			refused++
		}
	}
	wantField(t, "clicks answering NOT_BILLED with notBilledReason DAILY_CAP", refused, 180)

	// The stored slot's campaign is capped now: the overlay chooses again.
	wantField(t, "the overlay once the day's budget is spent", a.mustShow(tok).Campaign.ID, other.ID)

	// 04:59 UTC on the 24th is 23:59 on the 23rd in New York: still capped.
	a.clock.Set(time.Date(2026, 11, 24, 4, 59, 0, 0, time.UTC))
	a.mustClick(tok, "late-evening")
	a.project()
	billing, reason := a.clickReason(tok, "late-evening")
	if billing != "NOT_BILLED" || reason == nil || *reason != "DAILY_CAP" {
		t.Errorf("a click at 23:59 in New York: %s %v, want NOT_BILLED DAILY_CAP", billing, reason)
	}
	wantField(t, "the overlay at 23:59 in New York", a.mustShow(tok).Campaign.ID, other.ID)

	// 05:00 UTC is midnight in New York: a new day, fresh.
	a.clock.Set(time.Date(2026, 11, 24, 5, 0, 0, 0, time.UTC))
	wantField(t, "the overlay the next day", a.mustShow(tok).Campaign.ID, capped.ID)
	race(t, 30, func(i int) { a.mustClick(tok, fmt.Sprintf("day2-%03d", i)) })
	a.project()
	got = a.notBilledOf(capped.ID)
	wantField(t, "billed over both days", got["BILLED"], 40)
	wantField(t, "not billed over both days", got["NOT_BILLED/DAILY_CAP"], 180+1+10)
	wantField(t, "spent over both days", a.capStats(brand, capped.ID, "2026-11-24", "2026-11-24").Campaign.Spent.Amount, "10.00")
	a.wantVerified()

	// verify recomputes each day's cap spend from the events: a skewed
	// counter is drift, and the repair restores what the events say.
	day := domain.Counter{Kind: domain.CounterCapSpend, CapScope: domain.CapSpendCampaign, ID: capped.ID, Day: "2026-11-23"}
	skewed := day
	skewed.Spend = 4_000_000
	a.skew(skewed)
	rep := a.mustVerify()
	if len(rep.Drift) != 1 || !strings.Contains(rep.Drift[0], day.Key()) || !strings.Contains(rep.Drift[0], "the events give spend 5.00") {
		t.Errorf("drift after skewing %s: %q", day.Key(), rep.Drift)
	}
	var out bytes.Buffer
	if rep, err := projection.Repair(context.Background(), repository.NewProjection(a.store), a.projector, &out); err != nil || rep.Repaired != 1 {
		t.Errorf("repair: %+v, %v\n%s", rep, err, out.String())
	}
	a.wantVerified()
}

// TestStreamerCapRacedByDistinctClicks: the brand caps one streamer at 20
// clicks in all; 200 distinct clicks race: exactly 20 billed, 180 not billed
// with STREAMER_CAP, while another streamer on the same campaign is billed;
// the capped streamer's overlay stops choosing the campaign, and a raised
// cap brings it back. Only the campaign's brand or an admin sets caps.
func TestStreamerCapRacedByDistinctClicks(t *testing.T) {
	t.Parallel()
	a := mustStartApp(t)
	brand, stranger := a.mustSignUp("BRAND"), a.mustSignUp("BRAND")
	c := a.mustPricedCampaign(brand, "Capped streamer", map[string]any{"budget": "1000.00", "cpc": "0.25", "cpm": "0"})
	s1, s2 := a.mustStreamerIn(c), a.mustStreamerIn(c)
	var p1 string
	for id := range s1.parts {
		p1 = id
	}
	tok1, tok2 := s1.token(c.ID), s2.token(c.ID)

	t.Run("WhoMaySetCaps", func(t *testing.T) {
		a := a.in(t)
		in := map[string]any{"totalCap": "5.00"}
		a.mustFail(s1.user.Token, capsMutation, map[string]any{"id": p1, "input": in}, "FORBIDDEN", "")
		a.mustFail(stranger.Token, capsMutation, map[string]any{"id": p1, "input": in}, "NOT_FOUND", "")
		a.mustFail(brand.Token, capsMutation, map[string]any{"id": p1, "input": map[string]any{"totalCap": "1000000001"}}, "BAD_USER_INPUT", "input.totalCap")
		admin := a.mustMakeAdmin()
		a.mustDo(admin.Token, capsMutation, map[string]any{"id": p1, "input": map[string]any{"dailyCap": "1.00"}}, nil)
	})
	var set struct {
		SetParticipationCaps struct {
			Caps struct{ TotalCap, DailyCap *struct{ Amount string } }
		}
	}
	a.mustDo(brand.Token, capsMutation, map[string]any{"id": p1, "input": map[string]any{"totalCap": "5.00", "dailyCap": nil}}, &set)
	if caps := set.SetParticipationCaps.Caps; caps.TotalCap == nil || caps.TotalCap.Amount != "5.00" || caps.DailyCap != nil {
		t.Fatalf("caps: %+v, want a total of 5.00 and no daily cap", caps)
	}

	race(t, 200, func(i int) { a.mustClick(tok1, fmt.Sprintf("s1-%03d", i)) })
	a.mustClick(tok2, "s2-000")
	a.project()
	got := a.notBilledOf(c.ID)
	wantField(t, "billed (20 of the capped streamer, 1 of the other)", got["BILLED"], 21)
	wantField(t, "not billed with STREAMER_CAP", got["NOT_BILLED/STREAMER_CAP"], 180)
	wantField(t, "stats.notBilled.streamerCap", a.capStats(brand, c.ID, "2026-11-23", "2026-11-23").Campaign.Stats.NotBilled.StreamerCap, 180)
	var part struct {
		Participation struct {
			Stats struct {
				Earnings  struct{ Amount string }
				NotBilled struct{ StreamerCap int }
			}
		}
	}
	a.mustDo(s1.user.Token, `query($id: ID!) { participation(id: $id) { stats { earnings { amount } notBilled { streamerCap } } } }`,
		map[string]any{"id": p1}, &part)
	wantField(t, "the capped streamer's earnings", part.Participation.Stats.Earnings.Amount, "5.00")
	wantField(t, "the capped streamer's notBilled.streamerCap", part.Participation.Stats.NotBilled.StreamerCap, 180)

	if s := a.overlay(tok1); s != nil {
		t.Errorf("the capped streamer's overlay shows %s, want nothing", s.Campaign.Name)
	}
	wantField(t, "the other streamer's overlay", a.mustShow(tok2).Campaign.ID, c.ID)

	// A raised cap brings the campaign back, for exactly 4 more clicks.
	a.mustDo(brand.Token, capsMutation, map[string]any{"id": p1, "input": map[string]any{"totalCap": "6.00"}}, nil)
	wantField(t, "the overlay after the cap is raised", a.mustShow(tok1).Campaign.ID, c.ID)
	race(t, 10, func(i int) { a.mustClick(tok1, fmt.Sprintf("s1-more-%d", i)) })
	a.project()
	got = a.notBilledOf(c.ID)
	wantField(t, "billed after the raise", got["BILLED"], 25)
	wantField(t, "not billed after the raise", got["NOT_BILLED/STREAMER_CAP"], 186)
	a.wantVerified()
}

// TestCampaignTimeZoneIsValidated: a time zone must be an IANA name.
func TestCampaignTimeZoneIsValidated(t *testing.T) {
	t.Parallel()
	a := mustStartApp(t)
	brand := a.mustSignUp("BRAND")
	in := campaignInput("Zoned")
	in["timeZone"] = "Mars/Olympus_Mons"
	a.mustFail(brand.Token, createCampaignMutation, map[string]any{"input": in}, "BAD_USER_INPUT", "input.timeZone")
	c := a.mustCreateCampaign(brand, campaignInput("Zoned"))
	var d struct{ Campaign struct{ TimeZone string } }
	a.mustDo(brand.Token, `query($id: ID!) { campaign(id: $id) { timeZone } }`, map[string]any{"id": c.ID}, &d)
	wantField(t, "the default time zone", d.Campaign.TimeZone, "UTC")
	a.mustFail(brand.Token, updateCampaignMutation, map[string]any{"id": c.ID, "input": map[string]any{"timeZone": "Local"}}, "BAD_USER_INPUT", "input.timeZone")
	a.mustFail(brand.Token, updateCampaignMutation, map[string]any{"id": c.ID, "input": map[string]any{"dailyBudget": "1000000001"}}, "BAD_USER_INPUT", "input.dailyBudget")
}

// TestCapsSurviveFaults fails the k-th store call of a projection pass, for
// every k, before the call runs and after it has landed, while a daily
// budget and a streamer cap are being reached: after each failure the next
// pass finishes the batch, verify finds every cap's spend in the events, and
// in the end exactly the caps were billed, each refusal with its reason.
func TestCapsSurviveFaults(t *testing.T) {
	t.Parallel()
	a, setFault := mustStartFaultyApp(t, withManualProjection())
	brand := a.mustSignUp("BRAND")
	c := a.mustPricedCampaign(brand, "Capped faults", map[string]any{"budget": "1000.00", "cpc": "1.00", "cpm": "0", "dailyBudget": "7.00"})
	s1, s2 := a.mustStreamerIn(c), a.mustStreamerIn(c)
	for id := range s1.parts {
		a.mustDo(brand.Token, capsMutation, map[string]any{"id": id, "input": map[string]any{"totalCap": "3.00"}}, nil)
	}
	rounds := failEveryCall(t, a, setFault, func(round int) {
		// s1's click first (event order: the same instant, then the id)
		a.mustClick(s1.token(c.ID), fmt.Sprintf("cap-fault-%d-1", round))
		a.mustClick(s2.token(c.ID), fmt.Sprintf("cap-fault-%d-2", round))
	})
	a.project()
	// Rounds 1–3 bill both clicks (s1 reaches 3.00); round 4 refuses s1's
	// (STREAMER_CAP) and bills s2's: the day's 7.00. Every later click is
	// refused by the daily budget, which comes first.
	got := a.notBilledOf(c.ID)
	wantField(t, "billed", got["BILLED"], 7)
	wantField(t, "STREAMER_CAP", got["NOT_BILLED/STREAMER_CAP"], 1)
	wantField(t, "DAILY_CAP", got["NOT_BILLED/DAILY_CAP"], 2*rounds-8)
	wantField(t, "spent", a.capStats(brand, c.ID, "2026-11-23", "2026-11-23").Campaign.Spent.Amount, "7.00")
	a.wantVerified()
}
