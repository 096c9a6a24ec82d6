package e2e

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/primitive"

	"tally/repository"
)

func TestCreateCampaign(t *testing.T) {
	t.Parallel()
	a := mustStartApp(t)
	brand := a.mustSignUp("BRAND")

	t.Run("OK", func(t *testing.T) {
		a := a.in(t)
		c := a.mustCreateCampaign(brand, campaignInput("Summer Sale"))
		wantField(t, "status", c.Status, "DRAFT")
		wantField(t, "name", c.Name, "Summer Sale")
		wantField(t, "brand.id", c.Brand.ID, brand.ID)
		wantField(t, "budget.amount", c.Budget.Amount, "100.00")
		wantField(t, "budget.currency", c.Budget.Currency, "USD")
		wantField(t, "remaining.amount", c.Remaining.Amount, "100.00")
		wantField(t, "spent.amount", c.Spent.Amount, "0.00")
		wantField(t, "cpm.amount", c.CPM.Amount, "2.50")
		wantField(t, "cpc.amount", c.CPC.Amount, "0.25")
		wantField(t, "len(goals)", len(c.Goals), 1)
		if len(c.Goals) == 1 {
			wantField(t, "goals[0].goalId", c.Goals[0].GoalID, "signup")
			wantField(t, "goals[0].payout.amount", c.Goals[0].Payout.Amount, "1.50")
		}
		if c.PostbackURL == nil || !strings.Contains(*c.PostbackURL, "{click_id}") {
			t.Errorf("postbackUrl: got %v", c.PostbackURL)
		}
		wantField(t, "stats.impressions", c.Stats.Impressions, 0)
		wantField(t, "stats.clicks", c.Stats.Clicks, 0)
		wantField(t, "stats.conversions", c.Stats.Conversions, 0)
	})
	t.Run("MicroPrecision", func(t *testing.T) {
		a := a.in(t)
		in := campaignInput("Precise")
		in["budget"], in["cpc"] = "0.000001", "12"
		c := a.mustCreateCampaign(brand, in)
		wantField(t, "budget.amount", c.Budget.Amount, "0.000001")
		wantField(t, "cpc.amount", c.CPC.Amount, "12.00")
	})
	t.Run("ErrUnauthenticated", func(t *testing.T) {
		a := a.in(t)
		a.mustFail("", createCampaignMutation, map[string]any{"input": campaignInput("x")}, "UNAUTHENTICATED", "")
	})
	t.Run("ErrStreamerForbidden", func(t *testing.T) {
		a := a.in(t)
		a.mustFail(a.mustSignUp("STREAMER").Token, createCampaignMutation, map[string]any{"input": campaignInput("x")}, "FORBIDDEN", "")
	})
	t.Run("ErrAdminForbidden", func(t *testing.T) {
		a := a.in(t)
		a.mustFail(a.mustMakeAdmin().Token, createCampaignMutation, map[string]any{"input": campaignInput("x")}, "FORBIDDEN", "")
	})

	invalid := []struct {
		name  string
		set   map[string]any
		field string
	}{
		{"ErrNameEmpty", map[string]any{"name": "  "}, "input.name"},
		{"ErrNameTooLong", map[string]any{"name": strings.Repeat("n", 121)}, "input.name"},
		{"ErrLandingURLRelative", map[string]any{"landingUrl": "/offer"}, "input.landingUrl"},
		{"ErrLandingURLNotHTTP", map[string]any{"landingUrl": "ftp://example.com/x"}, "input.landingUrl"},
		{"ErrPostbackURLMalformed", map[string]any{"postbackUrl": "http//nohost"}, "input.postbackUrl"},
		{"ErrBudgetNegative", map[string]any{"budget": "-1.00"}, "input.budget"},
		{"ErrBudgetMalformed", map[string]any{"budget": "1.2.3"}, "input.budget"},
		{"ErrBudgetTooPrecise", map[string]any{"budget": "0.0000001"}, "input.budget"},
		{"ErrBudgetExponent", map[string]any{"budget": 1e-7}, "input.budget"},
		{"ErrCPCNegative", map[string]any{"cpc": "-0.01"}, "input.cpc"},
		{"ErrPayoutNegative", map[string]any{"goals": []any{map[string]any{"goalId": "g", "name": "G", "payout": "-1"}}}, "input.goals[0].payout"},
		{"ErrGoalIDRepeated", map[string]any{"goals": []any{
			map[string]any{"goalId": "g", "name": "G", "payout": "1"}, map[string]any{"goalId": "g", "name": "H", "payout": "2"}}}, "input.goals"},
		{"ErrGoalIDCharacters", map[string]any{"goals": []any{map[string]any{"goalId": "a b", "name": "G", "payout": "1"}}}, "input.goals[0].goalId"},
		{"ErrEndsBeforeStarts", map[string]any{"startsAt": "2026-12-01T00:00:00Z", "endsAt": "2026-11-01T00:00:00Z"}, "input.endsAt"},
	}
	for _, tc := range invalid {
		t.Run(tc.name, func(t *testing.T) {
			a := a.in(t)
			in := campaignInput("Invalid")
			for k, v := range tc.set {
				in[k] = v
			}
			e := a.mustFail(brand.Token, createCampaignMutation, map[string]any{"input": in}, "BAD_USER_INPUT", tc.field)
			if e.Message == "" {
				t.Error("empty message")
			}
		})
	}
}

func TestUpdateCampaign(t *testing.T) {
	t.Parallel()
	a := mustStartApp(t)
	brand := a.mustSignUp("BRAND")
	other := a.mustSignUp("BRAND")
	streamer := a.mustSignUp("STREAMER")
	admin := a.mustMakeAdmin()

	t.Run("OwnerChangesOnlyGivenFields", func(t *testing.T) {
		a := a.in(t)
		c := a.mustCreateCampaign(brand, campaignInput("Before"))
		var data struct{ UpdateCampaign campaignData }
		a.mustDo(brand.Token, updateCampaignMutation, map[string]any{"id": c.ID, "input": map[string]any{"name": "After", "cpc": "0.40"}}, &data)
		u := data.UpdateCampaign
		wantField(t, "name", u.Name, "After")
		wantField(t, "cpc.amount", u.CPC.Amount, "0.40")
		wantField(t, "cpm.amount", u.CPM.Amount, "2.50")
		wantField(t, "budget.amount", u.Budget.Amount, "100.00")
		wantField(t, "status", u.Status, "DRAFT")
	})
	t.Run("BudgetChangeKeepsRemaining", func(t *testing.T) {
		a := a.in(t)
		c := a.mustCreateCampaign(brand, campaignInput("Budget"))
		var data struct{ UpdateCampaign campaignData }
		a.mustDo(brand.Token, updateCampaignMutation, map[string]any{"id": c.ID, "input": map[string]any{"budget": "250.5"}}, &data)
		wantField(t, "budget.amount", data.UpdateCampaign.Budget.Amount, "250.50")
		wantField(t, "remaining.amount", data.UpdateCampaign.Remaining.Amount, "250.50")
	})
	t.Run("AdminMayUpdate", func(t *testing.T) {
		a := a.in(t)
		c := a.mustCreateCampaign(brand, campaignInput("Admin"))
		a.mustSetStatus(admin, c.ID, "ACTIVE")
	})
	t.Run("ErrOtherBrandCannotSeeIt", func(t *testing.T) {
		a := a.in(t)
		c := a.mustCreateCampaign(brand, campaignInput("Mine"))
		a.mustFail(other.Token, updateCampaignMutation, map[string]any{"id": c.ID, "input": map[string]any{"name": "Theirs"}}, "NOT_FOUND", "")
		active := a.mustActiveCampaign(brand, "Mine and active")
		a.mustFail(other.Token, updateCampaignMutation, map[string]any{"id": active.ID, "input": map[string]any{"name": "Theirs"}}, "NOT_FOUND", "")
	})
	t.Run("ErrStreamerForbidden", func(t *testing.T) {
		a := a.in(t)
		c := a.mustActiveCampaign(brand, "Active")
		a.mustFail(streamer.Token, updateCampaignMutation, map[string]any{"id": c.ID, "input": map[string]any{"name": "x"}}, "FORBIDDEN", "")
	})
	t.Run("ErrUnauthenticated", func(t *testing.T) {
		a := a.in(t)
		c := a.mustCreateCampaign(brand, campaignInput("Anon"))
		a.mustFail("", updateCampaignMutation, map[string]any{"id": c.ID, "input": map[string]any{"name": "x"}}, "UNAUTHENTICATED", "")
	})
	t.Run("ErrNotFound", func(t *testing.T) {
		a := a.in(t)
		a.mustFail(brand.Token, updateCampaignMutation, map[string]any{"id": primitive.NewObjectID().Hex(), "input": map[string]any{"name": "x"}}, "NOT_FOUND", "")
		a.mustFail(brand.Token, updateCampaignMutation, map[string]any{"id": "nonsense", "input": map[string]any{"name": "x"}}, "NOT_FOUND", "")
	})
	t.Run("ErrInvalidField", func(t *testing.T) {
		a := a.in(t)
		c := a.mustCreateCampaign(brand, campaignInput("Invalid"))
		a.mustFail(brand.Token, updateCampaignMutation, map[string]any{"id": c.ID, "input": map[string]any{"landingUrl": "nope"}}, "BAD_USER_INPUT", "input.landingUrl")
		a.mustFail(brand.Token, updateCampaignMutation, map[string]any{"id": c.ID, "input": map[string]any{"endsAt": "2020-01-01T00:00:00Z", "startsAt": "2021-01-01T00:00:00Z"}}, "BAD_USER_INPUT", "input.endsAt")
	})

	t.Run("Transitions", func(t *testing.T) {
		a := a.in(t)
		steps := []struct {
			to, want, code string
		}{
			{"PAUSED", "", "CONFLICT"}, // DRAFT → PAUSED
			{"ACTIVE", "ACTIVE", ""},
			{"ACTIVE", "", "CONFLICT"}, // already ACTIVE
			{"PAUSED", "PAUSED", ""},
			{"PAUSED", "", "CONFLICT"},
			{"ACTIVE", "ACTIVE", ""},
			{"EXHAUSTED", "", "BAD_USER_INPUT"}, // the system's to set
			{"DRAFT", "", "BAD_USER_INPUT"},
			{"ENDED", "ENDED", ""},
			{"ACTIVE", "", "CONFLICT"}, // ENDED is final
			{"PAUSED", "", "CONFLICT"},
		}
		c := a.mustCreateCampaign(brand, campaignInput("Lifecycle"))
		current := "DRAFT"
		for i, s := range steps {
			vars := map[string]any{"id": c.ID, "input": map[string]any{"status": s.to}}
			if s.code == "" {
				if got := a.mustSetStatus(brand, c.ID, s.to).Status; got != s.want {
					t.Fatalf("step %d %s→%s: got %s", i, current, s.to, got)
				}
				current = s.want
				continue
			}
			field := ""
			if s.code == "BAD_USER_INPUT" {
				field = "input.status"
			}
			e := a.mustFail(brand.Token, updateCampaignMutation, vars, s.code, field)
			if s.code == "CONFLICT" && !strings.Contains(e.Message, current) {
				t.Errorf("step %d: the message should name the current status %s: %q", i, current, e.Message)
			}
		}
	})
	t.Run("ErrActivateWithoutBudget", func(t *testing.T) {
		a := a.in(t)
		in := campaignInput("Broke")
		in["budget"] = "0"
		c := a.mustCreateCampaign(brand, in)
		a.mustFail(brand.Token, updateCampaignMutation, map[string]any{"id": c.ID, "input": map[string]any{"status": "ACTIVE"}}, "BAD_USER_INPUT", "input.budget")
		var data struct{ UpdateCampaign campaignData }
		a.mustDo(brand.Token, updateCampaignMutation, map[string]any{"id": c.ID, "input": map[string]any{"status": "ACTIVE", "budget": "5"}}, &data)
		wantField(t, "status", data.UpdateCampaign.Status, "ACTIVE")
		wantField(t, "remaining.amount", data.UpdateCampaign.Remaining.Amount, "5.00")
	})

	// Many requests race to pause the same active campaign: the guarded
	// update lets exactly one win; every other one is CONFLICT.
	t.Run("ConcurrentPausesExactlyOneWins", func(t *testing.T) {
		a := a.in(t)
		c := a.mustActiveCampaign(brand, "Pause race")
		const n = 24
		var won atomic.Int32
		race(t, n, func(int) {
			r := a.do(brand.Token, updateCampaignMutation, map[string]any{"id": c.ID, "input": map[string]any{"status": "PAUSED"}})
			if len(r.Errors) == 0 {
				won.Add(1)
			} else if r.Errors[0].Code() != "CONFLICT" {
				t.Errorf("unexpected: %+v", r.Errors)
			}
		})
		if won.Load() != 1 {
			t.Fatalf("got %d successful pauses, want exactly 1", won.Load())
		}
	})
	// Pauses and ends race: ACTIVE→PAUSED then PAUSED→ENDED may both land,
	// or ACTIVE→ENDED alone; ENDED then refuses everything. Never more.
	t.Run("ConcurrentMixedTransitions", func(t *testing.T) {
		a := a.in(t)
		c := a.mustActiveCampaign(brand, "Mixed race")
		const n = 24
		var won, conflicts atomic.Int32
		race(t, n, func(i int) {
			to := "PAUSED"
			if i%2 == 1 {
				to = "ENDED"
			}
			r := a.do(brand.Token, updateCampaignMutation, map[string]any{"id": c.ID, "input": map[string]any{"status": to}})
			switch {
			case len(r.Errors) == 0:
				won.Add(1)
			case r.Errors[0].Code() == "CONFLICT":
				conflicts.Add(1)
			default:
				t.Errorf("unexpected: %+v", r.Errors)
			}
		})
		if w := won.Load(); w < 1 || w > 2 || w+conflicts.Load() != n {
			t.Fatalf("got %d winners and %d conflicts of %d", w, conflicts.Load(), n)
		}
		var data struct{ Campaign campaignData }
		a.mustDo(brand.Token, `query($id: ID!) { campaign(id: $id) { status } }`, map[string]any{"id": c.ID}, &data)
		if data.Campaign.Status != "ENDED" && data.Campaign.Status != "PAUSED" {
			t.Fatalf("status %s", data.Campaign.Status)
		}
	})
	t.Run("ConcurrentBudgetChangesKeepRemainingExact", func(t *testing.T) {
		a := a.in(t)
		c := a.mustCreateCampaign(brand, campaignInput("Budget race"))
		race(t, 12, func(i int) {
			r := a.do(brand.Token, updateCampaignMutation, map[string]any{"id": c.ID, "input": map[string]any{"budget": fmt.Sprintf("%d.00", 200+i)}})
			if len(r.Errors) > 0 && r.Errors[0].Code() != "CONFLICT" {
				t.Errorf("unexpected: %+v", r.Errors)
			}
		})
		var data struct{ Campaign campaignData }
		a.mustDo(brand.Token, `query($id: ID!) { campaign(id: $id) { `+campaignFields+` } }`, map[string]any{"id": c.ID}, &data)
		if got := data.Campaign; got.Budget.Amount != got.Remaining.Amount || !strings.HasPrefix(got.Budget.Amount, "2") {
			t.Fatalf("budget %q and remaining %q disagree", got.Budget.Amount, got.Remaining.Amount)
		}
	})
}

func TestJoinCampaign(t *testing.T) {
	t.Parallel()
	a := mustStartApp(t)
	brand := a.mustSignUp("BRAND")
	streamer := a.mustSignUp("STREAMER")
	active := a.mustActiveCampaign(brand, "Joinable")

	t.Run("OK", func(t *testing.T) {
		a := a.in(t)
		p := a.mustJoin(streamer, active.ID)
		tok := token(t, p)
		wantField(t, "status", p.Status, "ACTIVE")
		wantField(t, "campaign.id", p.Campaign.ID, active.ID)
		wantField(t, "streamer.id", p.Streamer.ID, streamer.ID)
		wantField(t, "len(browserSourceToken)", len(tok), 43)
		if strings.ContainsAny(tok, "+/=") {
			t.Errorf("token is not URL-safe: %q", tok)
		}
		if p.OverlayURL == nil || *p.OverlayURL != "http://localhost:8080/overlay/"+tok {
			t.Errorf("overlayUrl: got %v", p.OverlayURL)
		}
		wantField(t, "stats.earnings.amount", p.Stats.Earnings.Amount, "0.00")
		wantField(t, "stats.earnings.currency", p.Stats.Earnings.Currency, "USD")
		again := a.mustJoin(streamer, active.ID)
		if again.ID != p.ID || token(t, again) != tok {
			t.Errorf("joining again: got %s/%s, want %s/%s", again.ID, token(t, again), p.ID, tok)
		}
	})
	t.Run("ErrNotActive", func(t *testing.T) {
		a := a.in(t)
		draft := a.mustCreateCampaign(brand, campaignInput("Draft"))
		a.mustFail(streamer.Token, joinMutation, map[string]any{"id": draft.ID}, "NOT_FOUND", "")
		paused := a.mustActiveCampaign(brand, "Soon paused")
		s2 := a.mustSignUp("STREAMER")
		a.mustJoin(s2, paused.ID)
		a.mustSetStatus(brand, paused.ID, "PAUSED")
		a.mustFail(s2.Token, joinMutation, map[string]any{"id": paused.ID}, "CONFLICT", "")
	})
	t.Run("ErrBrandForbidden", func(t *testing.T) {
		a := a.in(t)
		a.mustFail(brand.Token, joinMutation, map[string]any{"id": active.ID}, "FORBIDDEN", "")
	})
	t.Run("ErrAdminForbidden", func(t *testing.T) {
		a := a.in(t)
		a.mustFail(a.mustMakeAdmin().Token, joinMutation, map[string]any{"id": active.ID}, "FORBIDDEN", "")
	})
	t.Run("ErrUnauthenticated", func(t *testing.T) {
		a := a.in(t)
		a.mustFail("", joinMutation, map[string]any{"id": active.ID}, "UNAUTHENTICATED", "")
	})
	// Many concurrent joins by one streamer yield one participation; the
	// unique campaign × streamer index arbitrates and no client sees E11000.
	t.Run("ConcurrentJoinsYieldOne", func(t *testing.T) {
		a := a.in(t)
		s := a.mustSignUp("STREAMER")
		c := a.mustActiveCampaign(brand, "Crowded")
		const n = 24
		ids := make([]string, n)
		race(t, n, func(i int) {
			r := a.do(s.Token, `mutation($id: ID!) { joinCampaign(campaignId: $id) { id } }`, map[string]any{"id": c.ID})
			if len(r.Errors) > 0 {
				t.Errorf("join %d: %+v", i, r.Errors)
				return
			}
			ids[i] = string(r.Data)
		})
		for i := range ids {
			if ids[i] != ids[0] {
				t.Fatalf("join %d returned %s, join 0 %s", i, ids[i], ids[0])
			}
		}
		var data struct {
			Me struct {
				Participations struct {
					Edges []struct{ Node struct{ ID string } }
				}
			}
		}
		a.mustDo(s.Token, `{ me { participations(first: 100) { edges { node { id } } } } }`, nil, &data)
		if n := len(data.Me.Participations.Edges); n != 1 {
			t.Fatalf("got %d participations, want 1", n)
		}
	})
}

const participationQuery = `query($id: ID!) { participation(id: $id) { ` + participationFields + ` } }`

func TestParticipationVisibilityAndTokens(t *testing.T) {
	t.Parallel()
	a := mustStartApp(t)
	brand := a.mustSignUp("BRAND")
	otherBrand := a.mustSignUp("BRAND")
	streamer := a.mustSignUp("STREAMER")
	otherStreamer := a.mustSignUp("STREAMER")
	admin := a.mustMakeAdmin()
	c := a.mustActiveCampaign(brand, "Visible")
	p := a.mustJoin(streamer, c.ID)
	parts := repository.NewParticipations(a.store)
	ctx := context.Background()

	get := func(t *testing.T, who testUser) participationData {
		t.Helper()
		var data struct{ Participation participationData }
		a.in(t).mustDo(who.Token, participationQuery, map[string]any{"id": p.ID}, &data)
		return data.Participation
	}
	t.Run("StreamerSeesToken", func(t *testing.T) {
		if got := get(t, streamer); got.BrowserSourceToken == nil || *got.BrowserSourceToken != token(t, p) {
			t.Errorf("got %v", got.BrowserSourceToken)
		}
	})
	t.Run("AdminSeesToken", func(t *testing.T) {
		if got := get(t, admin); got.BrowserSourceToken == nil {
			t.Error("admin sees no token")
		}
	})
	t.Run("BrandSeesParticipationButNotToken", func(t *testing.T) {
		got := get(t, brand)
		wantField(t, "id", got.ID, p.ID)
		if got.BrowserSourceToken != nil {
			t.Errorf("browserSourceToken: got %q, want null", *got.BrowserSourceToken)
		}
		if got.OverlayURL != nil {
			t.Errorf("overlayUrl: got %q, want null", *got.OverlayURL)
		}
	})
	t.Run("ErrOthersNotFound", func(t *testing.T) {
		a := a.in(t)
		a.mustFail(otherBrand.Token, participationQuery, map[string]any{"id": p.ID}, "NOT_FOUND", "")
		a.mustFail(otherStreamer.Token, participationQuery, map[string]any{"id": p.ID}, "NOT_FOUND", "")
		a.mustFail("", participationQuery, map[string]any{"id": p.ID}, "UNAUTHENTICATED", "")
	})

	const rotate = `mutation($id: ID!) { rotateBrowserSourceToken(participationId: $id) { id browserSourceToken } }`
	const leave = `mutation($id: ID!) { leaveCampaign(participationId: $id) { id status browserSourceToken leftAt } }`
	t.Run("RotateReplacesTokenAtOnce", func(t *testing.T) {
		a := a.in(t)
		old := token(t, get(t, streamer))
		var data struct {
			RotateBrowserSourceToken struct{ BrowserSourceToken string }
		}
		a.mustDo(streamer.Token, rotate, map[string]any{"id": p.ID}, &data)
		fresh := data.RotateBrowserSourceToken.BrowserSourceToken
		if fresh == "" || fresh == old {
			t.Fatalf("rotation kept the token %q", old)
		}
		if _, err := parts.ByToken(ctx, old); err == nil {
			t.Error("the old token still works")
		}
		if got, err := parts.ByToken(ctx, fresh); err != nil || got.ID != p.ID {
			t.Errorf("the new token does not work: %v", err)
		}
	})
	t.Run("ErrRotateByOthers", func(t *testing.T) {
		a := a.in(t)
		a.mustFail(brand.Token, rotate, map[string]any{"id": p.ID}, "FORBIDDEN", "")
		a.mustFail(otherStreamer.Token, rotate, map[string]any{"id": p.ID}, "NOT_FOUND", "")
		a.mustFail("", rotate, map[string]any{"id": p.ID}, "UNAUTHENTICATED", "")
	})
	// Concurrent rotations all succeed, and exactly one token — the last
	// written — works afterwards.
	t.Run("ConcurrentRotationsLeaveOneToken", func(t *testing.T) {
		a := a.in(t)
		const n = 16
		tokens := make([]string, n)
		race(t, n, func(i int) {
			var data struct {
				RotateBrowserSourceToken struct{ BrowserSourceToken string }
			}
			r := a.do(streamer.Token, rotate, map[string]any{"id": p.ID})
			if len(r.Errors) > 0 {
				t.Errorf("rotation %d: %+v", i, r.Errors)
				return
			}
			if mustDecode(t, r.Data, &data) {
				tokens[i] = data.RotateBrowserSourceToken.BrowserSourceToken
			}
		})
		working := 0
		for _, tok := range tokens {
			if _, err := parts.ByToken(ctx, tok); err == nil {
				working++
			}
		}
		if working != 1 {
			t.Fatalf("%d of %d rotated tokens work, want exactly 1", working, n)
		}
	})
	t.Run("LeaveRevokesToken", func(t *testing.T) {
		a := a.in(t)
		s := a.mustSignUp("STREAMER")
		mine := a.mustJoin(s, c.ID)
		a.mustFail(brand.Token, leave, map[string]any{"id": mine.ID}, "FORBIDDEN", "")
		var data struct {
			LeaveCampaign struct {
				Status             string
				BrowserSourceToken *string
				LeftAt             *string
			}
		}
		a.mustDo(s.Token, leave, map[string]any{"id": mine.ID}, &data)
		l := data.LeaveCampaign
		wantField(t, "status", l.Status, "LEFT")
		if l.BrowserSourceToken != nil {
			t.Errorf("browserSourceToken: got %q, want null", *l.BrowserSourceToken)
		}
		if l.LeftAt == nil {
			t.Error("leftAt: got null, want the time")
		}
		if _, err := parts.ByToken(ctx, token(t, mine)); err == nil {
			t.Error("a left participation's token still works")
		}
		a.mustDo(s.Token, leave, map[string]any{"id": mine.ID}, nil) // leaving twice is harmless
		a.mustFail(s.Token, rotate, map[string]any{"id": mine.ID}, "CONFLICT", "")
		back := a.mustJoin(s, c.ID)
		wantField(t, "rejoined id", back.ID, mine.ID)
		wantField(t, "rejoined status", back.Status, "ACTIVE")
		if token(t, back) == token(t, mine) {
			t.Errorf("rejoining kept the old token %q", token(t, mine))
		}
	})
}

// TestLegacyParticipations: participations from the old system have no
// token — some no field, some null. Many coexist (the partial index never
// sees them), and each gets a token when its streamer first asks.
func TestLegacyParticipations(t *testing.T) {
	t.Parallel()
	a := mustStartApp(t)
	brand := a.mustSignUp("BRAND")
	streamer := a.mustSignUp("STREAMER")
	sid, _ := primitive.ObjectIDFromHex(streamer.ID)
	var docs []any
	var ids []primitive.ObjectID
	for i := range 4 {
		c := a.mustActiveCampaign(brand, fmt.Sprintf("Old %d", i))
		cid, _ := primitive.ObjectIDFromHex(c.ID)
		id := primitive.NewObjectID()
		ids = append(ids, id)
		d := bson.M{"_id": id, "campaignId": cid, "streamerId": sid, "status": "active"}
		if i%2 == 1 {
			d["browserSourceToken"] = nil
		}
		docs = append(docs, d)
	}
	if err := repository.SeedRaw(context.Background(), a.store, "participations", docs...); err != nil {
		t.Fatalf("old participations must coexist: %v", err)
	}
	t.Run("BrandDoesNotMintToken", func(t *testing.T) {
		a := a.in(t)
		var data struct{ Participation participationData }
		a.mustDo(brand.Token, participationQuery, map[string]any{"id": ids[0].Hex()}, &data)
		if data.Participation.BrowserSourceToken != nil {
			t.Errorf("got %v", *data.Participation.BrowserSourceToken)
		}
	})
	seen := map[string]bool{}
	for i, id := range ids {
		var first, second struct{ Participation participationData }
		a.mustDo(streamer.Token, participationQuery, map[string]any{"id": id.Hex()}, &first)
		a.mustDo(streamer.Token, participationQuery, map[string]any{"id": id.Hex()}, &second)
		tok := token(t, first.Participation)
		if token(t, second.Participation) != tok {
			t.Errorf("participation %d: token changed between reads", i)
		}
		if first.Participation.OverlayURL == nil || !strings.HasSuffix(*first.Participation.OverlayURL, tok) {
			t.Errorf("participation %d: overlayUrl %v does not carry token", i, first.Participation.OverlayURL)
		}
		if seen[tok] {
			t.Errorf("token %q given twice", tok)
		}
		seen[tok] = true
		if first.Participation.JoinedAt == "" {
			t.Errorf("participation %d: no joinedAt", i)
		}
	}
}
