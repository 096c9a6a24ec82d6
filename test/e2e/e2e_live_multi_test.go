package e2e

import (
	"net/http"
	"testing"
)

// TestLiveUpdatesOnAProcessThatDoesNotProject: two servers on one
// database; a projects, b never does. Dashboards subscribed on b, over
// graphql-transport-ws and over SSE, get the update of a click recorded
// through a and projected by a: every process follows the batches applied
// in the database, not only its own projector's.
func TestLiveUpdatesOnAProcessThatDoesNotProject(t *testing.T) {
	t.Parallel()
	stores := oneDatabase(t)
	a := mustStartAppOn(t, stores[0], withManualProjection())
	b := mustStartAppOn(t, stores[1], withManualProjection())
	brand, streamer := a.mustSignUp("BRAND"), a.mustSignUp("STREAMER")
	c := a.mustActiveCampaign(brand, "Live elsewhere")
	p := a.mustJoin(streamer, c.ID)

	ws, err := b.dialWS(t, http.Header{"Authorization": {"Bearer " + brand.Token}}, nil)
	if err != nil {
		t.Fatalf("brand connection to b refused: %v", err)
	}
	ws.subscribe("c", campaignStatsSubscription, map[string]any{"id": c.ID})
	var cs liveCampaign
	ws.mustNext("c", &cs)
	wantField(t, "initial campaign clicks on b", cs.CampaignStats.Stats.Clicks, 0)
	sse := b.sse(t, streamer.Token, participationStatsSubscription, map[string]any{"id": p.ID})
	var ps liveParticipation
	sse.mustNext(&ps)
	wantField(t, "initial participation clicks on b", ps.ParticipationStats.Stats.Clicks, 0)

	for i, want := range []int{1, 2} {
		a.mustClick(token(t, p), []string{"elsewhere-1", "elsewhere-2"}[i])
		a.project() // a applies the batch; b's projector never runs
		ws.mustNext("c", &cs)
		wantField(t, "campaign clicks pushed by b", cs.CampaignStats.Stats.Clicks, want)
		sse.mustNext(&ps)
		wantField(t, "participation clicks pushed by b", ps.ParticipationStats.Stats.Clicks, want)
	}
	wantField(t, "spent pushed by b", cs.CampaignStats.Spent.Amount, "0.50")
	wantField(t, "earnings pushed by b", ps.ParticipationStats.Stats.Earnings.Amount, "0.50")
}
