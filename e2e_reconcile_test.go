package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"tally/domain"
	"tally/repository"
)

// TestReconcile skews every kind of derived number — campaign counters and
// spend, participation counters and earnings, daily buckets — and records an
// event whose effects never ran (a crash between the two), then shows that
// reconcile restores exactly what the events say.
func TestReconcile(t *testing.T) {
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
	if r := a.doWithKey(key, recordConversionMutation, conversionVars("r1", "signup")); len(r.Errors) > 0 {
		t.Fatal(r.Errors)
	}
	want := a.totals(brand, c.ID)
	var wantDaily dailyData
	dv := map[string]any{"scope": "CAMPAIGN", "id": c.ID, "from": "2026-11-23", "to": "2026-11-23"}
	a.mustDo(brand.Token, dailyStatsQuery, dv, &wantDaily)

	ctx := context.Background()
	campaigns := repository.NewCampaigns(a.store)
	stored, err := campaigns.ByID(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := campaigns.SetTotals(ctx, stored, domain.CampaignStats{Clicks: 99, Conversions: 7}, 12_000_000); err != nil || !ok {
		t.Fatal(err)
	}
	if err := repository.NewParticipations(a.store).SetTotals(ctx, p.ID, domain.ParticipationStats{Clicks: 1}); err != nil {
		t.Fatal(err)
	}
	daily := repository.NewDailyStats(a.store)
	if err := daily.Replace(ctx, repository.Bucket{Owner: repository.BucketOwner{Scope: domain.ScopeCampaign, ID: c.ID}, Day: "2026-11-23"}); err != nil {
		t.Fatal(err)
	}
	if err := daily.Replace(ctx, repository.Bucket{Owner: repository.BucketOwner{Scope: domain.ScopeCampaign, ID: c.ID}, Day: "2026-11-20",
		Stat: domain.DailyStat{Clicks: 5}}); err != nil {
		t.Fatal(err)
	}
	if skewed := a.totals(brand, c.ID); skewed.Campaign.Stats.Clicks != 99 {
		t.Fatalf("the skew did not land: %+v", skewed.Campaign.Stats)
	}
	// A click stored without its effects, as after a crash: unbilled, so it
	// counts but costs nothing.
	if _, isNew, err := repository.NewClicks(a.store).Record(ctx, domain.Click{ClickID: "crashed", ParticipationID: p.ID,
		CampaignID: c.ID, StreamerID: streamer.ID, CreatedAt: time.Date(2026, 11, 23, 13, 0, 0, 0, time.UTC)}); err != nil || !isNew {
		t.Fatal(err)
	}

	var out bytes.Buffer
	if err := run(ctx, []string{"reconcile", "-mongodb-uri", "", "-data-dir", t.TempDir()}, func(string) string { return "" }, &bytes.Buffer{}); err != nil {
		t.Fatalf("reconcile command on an empty store: %v", err)
	}
	rep, err := newTracking(a.store, nil, a.clock.Now, discardLogger()).Reconcile(ctx, &out)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Changed == 0 || !strings.Contains(out.String(), "campaign "+c.ID) || !strings.Contains(out.String(), "participation "+p.ID) {
		t.Errorf("report does not say what changed:\n%s", out.String())
	}
	got := a.totals(brand, c.ID)
	want.Campaign.Stats.Clicks++ // the crashed click counts, unbilled
	want.Campaign.Participations.Edges[0].Node.Stats.Clicks++
	if got.Campaign.Stats != want.Campaign.Stats || got.Campaign.Spent != want.Campaign.Spent || got.Campaign.Remaining != want.Campaign.Remaining {
		t.Errorf("campaign: got %+v, want %+v", got.Campaign, want.Campaign)
	}
	if g, w := got.Campaign.Participations.Edges[0].Node.Stats, want.Campaign.Participations.Edges[0].Node.Stats; g != w {
		t.Errorf("participation: got %+v, want %+v", g, w)
	}
	var gotDaily dailyData
	a.mustDo(brand.Token, dailyStatsQuery, dv, &gotDaily)
	wantDaily.DailyStats[0].Clicks++
	if gotDaily.DailyStats[0] != wantDaily.DailyStats[0] {
		t.Errorf("daily: got %+v, want %+v", gotDaily.DailyStats[0], wantDaily.DailyStats[0])
	}
	var stray dailyData
	a.mustDo(brand.Token, dailyStatsQuery, map[string]any{"scope": "CAMPAIGN", "id": c.ID, "from": "2026-11-20", "to": "2026-11-20"}, &stray)
	if stray.DailyStats[0].Clicks != 0 {
		t.Errorf("a bucket no event supports was not zeroed: %+v", stray.DailyStats[0])
	}

	out.Reset()
	if rep, err := newTracking(a.store, nil, a.clock.Now, discardLogger()).Reconcile(ctx, &out); err != nil || rep.Changed != 0 {
		t.Errorf("a second run changed %d documents (err %v):\n%s", rep.Changed, err, out.String())
	}
}
