package e2e

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"

	"tally/domain"
	"tally/projection"
	"tally/repository"
	"tally/server"
)

// skew overwrites one counter document with wrong values, as damaged data
// would have it (its batch mark left as it is).
func (a *testApp) skew(c domain.Counter) {
	a.t.Helper()
	proj := repository.NewProjection(a.store)
	c.Part = -1
	if ok, err := proj.Repair(context.Background(), c, nil); err != nil || !ok {
		a.t.Fatalf("skew %s %s: ok %v, err %v", c.Kind, c.ID, ok, err)
	}
}

// mustVerify runs verify and fails t on a store error.
func (a *testApp) mustVerify() domain.VerifyReport {
	a.t.Helper()
	rep, err := projection.Verify(context.Background(), repository.NewProjection(a.store))
	if err != nil {
		a.t.Fatalf("verify: %v", err)
	}
	return rep
}

// TestVerify: once projected, every counter is what the events say; damage
// to any kind of counter — campaign counts and spend, participation counts
// and earnings, a daily bucket, a stray bucket — is reported, and the repair
// mode restores exactly what the events say.
func TestVerify(t *testing.T) {
	t.Parallel()
	a := mustStartApp(t)
	brand := a.mustSignUp("BRAND")
	streamer := a.mustSignUp("STREAMER")
	c := a.mustActiveCampaign(brand, "Drifting") // cpc 0.25, goal signup 1.50
	p := a.mustJoin(streamer, c.ID)
	tok := token(t, p)
	key, _ := a.mustAPIKey(brand)
	for _, id := range []string{"r1", "r2", "r3"} {
		a.mustClick(tok, id)
	}
	mustOK(t, a.doWithKey(key, recordConversionMutation, conversionVars("r1", "signup")))
	want := a.totals(brand, c.ID) // projected
	var wantDaily dailyData
	dv := map[string]any{"scope": "CAMPAIGN", "id": c.ID, "from": "2026-11-23", "to": "2026-11-23"}
	a.mustDo(brand.Token, dailyStatsQuery, dv, &wantDaily)

	if rep := a.mustVerify(); !rep.OK() || rep.Events != 4 || rep.Pending != 0 {
		t.Fatalf("before the damage: %+v, want 4 events and no drift", rep)
	}

	ctx := context.Background()
	stored, err := repository.NewCampaigns(a.store).ByID(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	a.skew(domain.Counter{Kind: domain.CounterCampaign, ID: c.ID, Budget: stored.Budget, Counts: domain.Counts{Clicks: 99, Conversions: 7}, Spend: 12_000_000})
	a.skew(domain.Counter{Kind: domain.CounterParticipation, ID: p.ID, Counts: domain.Counts{Clicks: 1}})
	a.skew(domain.Counter{Kind: domain.CounterDaily, Scope: domain.ScopeCampaign, ID: c.ID, Day: "2026-11-23"})
	a.skew(domain.Counter{Kind: domain.CounterDaily, Scope: domain.ScopeCampaign, ID: c.ID, Day: "2026-11-20", Counts: domain.Counts{Clicks: 5}})
	if skewed := a.totals(brand, c.ID); skewed.Campaign.Stats.Clicks != 99 {
		t.Fatalf("the skew did not land: %+v", skewed.Campaign.Stats)
	}

	rep := a.mustVerify()
	report := strings.Join(rep.Drift, "\n")
	if len(rep.Drift) != 4 {
		t.Errorf("drift: %d lines, want 4 (campaign, participation, two buckets):\n%s", len(rep.Drift), report)
	}
	for _, want := range []string{"campaign:" + c.ID, "participation:" + p.ID, "daily:campaign:" + c.ID + ":2026-11-23", "daily:campaign:" + c.ID + ":2026-11-20"} {
		if !strings.Contains(report, want) {
			t.Errorf("the report does not name %s:\n%s", want, report)
		}
	}

	var out bytes.Buffer
	if rep, err := projection.Repair(ctx, repository.NewProjection(a.store), a.projector, &out); err != nil || rep.Repaired != 4 {
		t.Fatalf("repair: %+v, err %v, want 4 counters rewritten\n%s", rep, err, out.String())
	}
	got := a.totals(brand, c.ID)
	if got.Campaign.Stats != want.Campaign.Stats {
		t.Errorf("campaign stats: got %+v, want %+v", got.Campaign.Stats, want.Campaign.Stats)
	}
	if got.Campaign.Spent != want.Campaign.Spent || got.Campaign.Remaining != want.Campaign.Remaining {
		t.Errorf("campaign money: got spent %s remaining %s, want %s and %s", got.Campaign.Spent, got.Campaign.Remaining, want.Campaign.Spent, want.Campaign.Remaining)
	}
	if g, w := got.Campaign.Participations.Edges[0].Node.Stats, want.Campaign.Participations.Edges[0].Node.Stats; g != w {
		t.Errorf("participation: got %+v, want %+v", g, w)
	}
	var gotDaily dailyData
	a.mustDo(brand.Token, dailyStatsQuery, dv, &gotDaily)
	if gotDaily.DailyStats[0] != wantDaily.DailyStats[0] {
		t.Errorf("daily: got %+v, want %+v", gotDaily.DailyStats[0], wantDaily.DailyStats[0])
	}
	var stray dailyData
	a.mustDo(brand.Token, dailyStatsQuery, map[string]any{"scope": "CAMPAIGN", "id": c.ID, "from": "2026-11-20", "to": "2026-11-20"}, &stray)
	if stray.DailyStats[0].Clicks != 0 {
		t.Errorf("a bucket no event supports was not zeroed: %+v", stray.DailyStats[0])
	}
	if rep := a.mustVerify(); !rep.OK() {
		t.Errorf("after the repair: drift\n%s", strings.Join(rep.Drift, "\n"))
	}
}

// TestVerifyCommand: `tally verify` on a store with nothing in it passes,
// and an unknown argument is refused.
func TestVerifyCommand(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	env := func(string) string { return "" }
	var out bytes.Buffer
	if err := server.Run(ctx, []string{"verify", "-mongodb-uri", "", "-data-dir", t.TempDir()}, env, &out); err != nil {
		t.Fatalf("verify on an empty store: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "verified 0 events") {
		t.Errorf("verify printed %q, want a summary", out.String())
	}
	if err := server.Run(ctx, []string{"verify", "-data-dir", t.TempDir(), "now"}, env, &out); err == nil || !strings.Contains(err.Error(), "usage: tally verify") {
		t.Errorf("verify now: err %v, want the usage", err)
	}
}

// TestVerifyQuery: admins run verify over the API, beside live traffic;
// nobody else may.
func TestVerifyQuery(t *testing.T) {
	t.Parallel()
	a := mustStartApp(t)
	admin := a.mustMakeAdmin()
	brand, streamer := a.mustSignUp("BRAND"), a.mustSignUp("STREAMER")
	c := a.mustActiveCampaign(brand, "Checked")
	tok := token(t, a.mustJoin(streamer, c.ID))
	for i := range 5 {
		a.mustClick(tok, fmt.Sprintf("v%d", i))
	}
	a.project()
	const q = `{ verify { ok events pending counters drift } }`
	var d struct {
		Verify struct {
			OK                        bool `json:"ok"`
			Events, Pending, Counters int
			Drift                     []string
		}
	}
	a.mustDo(admin.Token, q, nil, &d)
	wantField(t, "ok", d.Verify.OK, true)
	wantField(t, "events", d.Verify.Events, 5)
	wantField(t, "drift lines", len(d.Verify.Drift), 0)
	a.mustFail(brand.Token, q, nil, "FORBIDDEN", "")
	a.mustFail("", q, nil, "UNAUTHENTICATED", "")
}
