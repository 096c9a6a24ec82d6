package e2e

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"tally/domain"
	"tally/projection"
	"tally/repository"
	"tally/repository/repotest"
)

// withProjector sets the projector's knobs.
func withProjector(o projection.Options) appOption { return func(s *startOptions) { s.Projector = o } }

// mustBudgetCampaign creates and activates a campaign with a cpc of 1.00,
// a signup goal paying 0.50 and the given budget.
func (a *testApp) mustBudgetCampaign(brand testUser, name, budget string) campaignData {
	a.t.Helper()
	in := campaignInput(name)
	in["budget"], in["cpc"] = budget, "1.00"
	in["goals"] = []any{map[string]any{"goalId": "signup", "name": "Sign-up", "payout": "0.50"}}
	c := a.mustCreateCampaign(brand, in)
	return a.mustSetStatus(brand, c.ID, "ACTIVE")
}

// wantVerified fails t unless every counter is what the events say and
// nothing is left pending.
func (a *testApp) wantVerified() {
	a.t.Helper()
	a.project()
	rep := a.mustVerify()
	if !rep.OK() {
		a.t.Errorf("verify: drift\n%s", strings.Join(rep.Drift, "\n"))
	}
	wantField(a.t, "pending events", rep.Pending, 0)
}

// tally counts a race's answers: how many said isNew, how many failed.
type tally struct{ isNew, errs atomic.Int32 }

// click records a click by GraphQL on app and counts the answer.
func (n *tally) click(t testing.TB, app *testApp, tok, clickID string) {
	r := app.do("", recordClickMutation, map[string]any{"input": map[string]any{"browserSourceToken": tok, "clickId": clickID}})
	var p clickPayload
	if len(r.Errors) > 0 || !mustDecode(t, r.Data, &p) {
		n.errs.Add(1)
		return
	}
	if p.RecordClick.IsNew {
		n.isNew.Add(1)
	}
}

// want checks the race's counts: no failure, wantNew isNew answers.
func (n *tally) want(t testing.TB, wantNew int) {
	t.Helper()
	wantField(t, "errors", n.errs.Load(), 0)
	wantField(t, "isNew answers", int(n.isNew.Load()), wantNew)
}

// TestProjectionRaces races the record paths through the real handler; once
// projected, counters and money are exact.
func TestProjectionRaces(t *testing.T) {
	t.Parallel()
	t.Run("IdenticalClicks", func(t *testing.T) {
		t.Parallel()
		a := mustStartApp(t)
		brand, streamer := a.mustSignUp("BRAND"), a.mustSignUp("STREAMER")
		c := a.mustBudgetCampaign(brand, "Same click", "100.00")
		tok := token(t, a.mustJoin(streamer, c.ID))
		var n tally
		race(t, 500, func(int) { n.click(t, a, tok, "same") })
		n.want(t, 1)
		tt := a.totals(brand, c.ID).Campaign
		wantField(t, "clicks", tt.Stats.Clicks, 1)
		wantField(t, "spent", tt.Spent.Amount, "1.00")
		wantField(t, "earnings", tt.Participations.Edges[0].Node.Stats.Earnings.Amount, "1.00")
		a.wantVerified()
	})
	t.Run("IdenticalConversionsGraphQLAndPostback", func(t *testing.T) {
		t.Parallel()
		a := mustStartApp(t)
		brand, streamer := a.mustSignUp("BRAND"), a.mustSignUp("STREAMER")
		c := a.mustBudgetCampaign(brand, "Same conversion", "100.00")
		tok := token(t, a.mustJoin(streamer, c.ID))
		key, _ := a.mustAPIKey(brand)
		a.mustClick(tok, "conv-click")
		postback := "/postback?" + url.Values{"click_id": {"conv-click"}, "goal_id": {"signup"}}.Encode()
		var isNew, errs atomic.Int32
		race(t, 500, func(i int) {
			switch i % 3 {
			case 0:
				resp, raw := a.request(http.MethodGet, postback, map[string]string{"X-Api-Key": key}, nil)
				var body struct{ IsNew bool }
				if resp.StatusCode != http.StatusOK || !mustDecode(t, raw, &body) {
					errs.Add(1)
					return
				}
				if body.IsNew {
					isNew.Add(1)
				}
			default:
				var r gqlResponse
				if i%3 == 1 {
					r = a.doWithKey(key, recordConversionMutation, conversionVars("conv-click", "signup"))
				} else {
					r = a.do(brand.Token, recordConversionMutation, conversionVars("conv-click", "signup"))
				}
				var p conversionPayload
				if len(r.Errors) > 0 || !mustDecode(t, r.Data, &p) {
					errs.Add(1)
					return
				}
				if p.RecordConversion.IsNew {
					isNew.Add(1)
				}
			}
		})
		wantField(t, "errors", errs.Load(), 0)
		wantField(t, "isNew answers", isNew.Load(), 1)
		tt := a.totals(brand, c.ID).Campaign
		wantField(t, "conversions", tt.Stats.Conversions, 1)
		wantField(t, "spent (one click, one conversion)", tt.Spent.Amount, "1.50")
		a.wantVerified()
	})
	t.Run("BudgetFitsN", func(t *testing.T) {
		t.Parallel()
		const n = 20
		a := mustStartApp(t)
		brand, streamer := a.mustSignUp("BRAND"), a.mustSignUp("STREAMER")
		c := a.mustBudgetCampaign(brand, "Fits twenty", fmt.Sprintf("%d.00", n))
		p := a.mustJoin(streamer, c.ID)
		tok := token(t, p)
		var clicks tally
		race(t, 10*n, func(i int) { clicks.click(t, a, tok, fmt.Sprintf("fit-%d", i)) })
		clicks.want(t, 10*n)
		tt := a.totals(brand, c.ID).Campaign
		billing := a.billings(domain.EventClick)
		wantField(t, "BILLED clicks", billing[domain.BillingBilled], n)
		wantField(t, "NOT_BILLED clicks", billing[domain.BillingNotBilled], 9*n)
		wantField(t, "clicks counted", tt.Stats.Clicks, 10*n)
		wantField(t, "spent", tt.Spent.Amount, fmt.Sprintf("%d.00", n))
		wantField(t, "remaining", tt.Remaining.Amount, "0.00")
		wantField(t, "status", tt.Status, "EXHAUSTED")
		wantField(t, "streamer earnings", tt.Participations.Edges[0].Node.Stats.Earnings.Amount, fmt.Sprintf("%d.00", n))
		var d dailyData
		a.mustDo(brand.Token, dailyStatsQuery, map[string]any{"scope": "CAMPAIGN", "id": c.ID, "from": "2026-11-23", "to": "2026-11-23"}, &d)
		wantField(t, "daily spend", d.DailyStats[0].Spend.Amount, fmt.Sprintf("%d.00", n))
		wantField(t, "daily clicks", d.DailyStats[0].Clicks, 10*n)
		a.wantVerified()
	})
}

// TestProjectorSurvivesFaults fails the k-th store call of a projection
// pass, for every k, both before the call runs and after it has landed (a
// timeout that hides a success). After each failure the next pass finishes
// the batch: verify finds no drift and the money is exact.
func TestProjectorSurvivesFaults(t *testing.T) {
	t.Parallel()
	a, setFault := mustStartFaultyApp(t, withManualProjection())
	brand, streamer := a.mustSignUp("BRAND"), a.mustSignUp("STREAMER")
	c := a.mustBudgetCampaign(brand, "Faulty", "10000.00")
	tok := token(t, a.mustJoin(streamer, c.ID))
	key, _ := a.mustAPIKey(brand)
	rounds := failEveryCall(t, a, setFault, func(round int) {
		a.mustClick(tok, fmt.Sprintf("fault-%d-a", round))
		// a new sub-id value every round: the report's value lists are written (and replayed) too
		a.mustDo("", recordClickMutation, map[string]any{"input": map[string]any{"browserSourceToken": tok,
			"clickId": fmt.Sprintf("fault-%d-b", round), "subIds": map[string]any{"sub1": fmt.Sprintf("v%d", round)}}}, nil)
		mustOK(t, a.doWithKey(key, recordConversionMutation, conversionVars(fmt.Sprintf("fault-%d-a", round), "signup")))
	})
	tt := a.totals(brand, c.ID).Campaign
	wantField(t, "clicks", tt.Stats.Clicks, 2*rounds)
	wantField(t, "conversions", tt.Stats.Conversions, rounds)
	wantField(t, "spent (2 clicks at 1.00 and a conversion at 0.50 a round)", tt.Spent.Amount, domain.Micros(int64(rounds)*2_500_000).String())
	wantField(t, "earnings", tt.Participations.Edges[0].Node.Stats.Earnings.Amount, tt.Spent.Amount)
	a.wantVerified()
}

// failEveryCall fails the k-th store call of a projection pass, for every k
// (before the call runs, then after it has landed), until k is past the
// last call of a pass. Each round first records its events (record(round)),
// then drains with the fault armed; the next pass must finish the batch and
// verify must find no drift. It returns how many rounds recorded events.
func failEveryCall(t *testing.T, a *testApp, setFault func(repository.Fault), record func(round int)) int {
	t.Helper()
	ctx := context.Background()
	rounds := 0
	for _, after := range []bool{false, true} {
		for k := 1; ; k++ {
			rounds++
			record(rounds)
			var calls atomic.Int64
			var hit atomic.Bool
			setFault(func(op string, isAfter bool) error {
				if isAfter != after || calls.Add(1) != int64(k) {
					return nil
				}
				hit.Store(true)
				if after {
					return fmt.Errorf("injected timeout after %s landed: %w", op, context.DeadlineExceeded)
				}
				return fmt.Errorf("injected failure of %s", op)
			})
			_ = a.projector.DrainAll(ctx) // reported, or absorbed (a failed bucket bulk is redone bucket by bucket)
			setFault(nil)
			if !hit.Load() {
				if k < 10 {
					t.Fatalf("after=%v: a pass made only %d store calls", after, k-1)
				}
				break // k is past the last call of a pass
			}
			a.project()
			if rep := a.mustVerify(); !rep.OK() {
				t.Fatalf("after=%v k=%d: drift\n%s", after, k, strings.Join(rep.Drift, "\n"))
			}
		}
	}
	t.Logf("%d rounds, a fault injected at every store call of a pass", rounds)
	return rounds
}

// TestEventWriteFaults: when the one write of a record request fails, the
// caller gets a coded error and nothing is half-done; when it lands but the
// answer is lost, a retry finds it (isNew false) and it counts once.
func TestEventWriteFaults(t *testing.T) {
	t.Parallel()
	a, setFault := mustStartFaultyApp(t)
	brand, streamer := a.mustSignUp("BRAND"), a.mustSignUp("STREAMER")
	c := a.mustBudgetCampaign(brand, "Write faults", "100.00")
	tok := token(t, a.mustJoin(streamer, c.ID))
	failUpsert := func(after bool) {
		setFault(func(op string, isAfter bool) error {
			if op == "findAndModify" && isAfter == after {
				return errors.New("injected store failure")
			}
			return nil
		})
	}
	vars := func(id string) map[string]any {
		return map[string]any{"input": map[string]any{"browserSourceToken": tok, "clickId": id}}
	}

	failUpsert(false)
	r := a.do("", recordClickMutation, vars("lost-before"))
	setFault(nil)
	if len(r.Errors) == 0 {
		t.Fatal("a failed event write answered without an error")
	}
	wantField(t, "error code", r.Errors[0].Code(), "INTERNAL_SERVER_ERROR")
	if strings.Contains(r.Errors[0].Message, "injected") {
		t.Errorf("the store's error text reached the client: %q", r.Errors[0].Message)
	}
	wantField(t, "a retry is new (nothing was stored)", a.mustClick(tok, "lost-before").RecordClick.IsNew, true)

	failUpsert(true)
	r = a.do("", recordClickMutation, vars("lost-answer"))
	setFault(nil)
	if len(r.Errors) == 0 {
		t.Fatal("a lost answer came back without an error")
	}
	wantField(t, "a retry finds it", a.mustClick(tok, "lost-answer").RecordClick.IsNew, false)

	tt := a.totals(brand, c.ID).Campaign
	wantField(t, "clicks", tt.Stats.Clicks, 2)
	wantField(t, "spent", tt.Spent.Amount, "2.00")
	a.wantVerified()
}

// TestTwoProjectors: two servers on one database record and project at
// once, with leases short enough to change hands mid-run. On MongoDB they
// are two clients of one database, as two processes would be; on the
// embedded engine two apps share the one store. The result is exact.
func TestTwoProjectors(t *testing.T) {
	t.Parallel()
	opts := repotest.Options(t)
	first := repotest.MustOpenWith(t, opts)
	second := first
	if opts.URI != "" {
		second = repotest.MustOpenWith(t, opts)
	}
	fast := func(owner string) appOption {
		return withProjector(projection.Options{Owner: owner, LeaseTTL: 40 * time.Millisecond, Poll: 20 * time.Millisecond, BatchSize: 16})
	}
	a := mustStartAppOn(t, first, fast("one"))
	b := mustStartAppOn(t, second, fast("two"))
	brand, streamer := a.mustSignUp("BRAND"), a.mustSignUp("STREAMER")
	const n = 30 // the budget covers 30 clicks at 1.00
	c := a.mustBudgetCampaign(brand, "Two servers", fmt.Sprintf("%d.00", n))
	tok := token(t, a.mustJoin(streamer, c.ID))
	var clicks tally
	race(t, 200, func(i int) {
		app := a
		if i%2 == 1 {
			app = b
		}
		clicks.click(t, app, tok, fmt.Sprintf("two-%d", i%100))
	})
	clicks.want(t, 100)
	b.project()
	tt := a.totals(brand, c.ID).Campaign
	wantField(t, "clicks", tt.Stats.Clicks, 100)
	wantField(t, "spent", tt.Spent.Amount, fmt.Sprintf("%d.00", n))
	wantField(t, "BILLED clicks", a.billings(domain.EventClick)[domain.BillingBilled], n)
	a.wantVerified()
	if _, err := repository.NewProjection(first).States(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// clickAs records a click with a given user agent (the viewer is a hash of
// the client address, the same for every test request, and the agent).
func (a *testApp) clickAs(agent, tok, clickID string) clickPayload {
	a.t.Helper()
	var p clickPayload
	r := a.doHeaders(map[string]string{"User-Agent": agent}, recordClickMutation,
		map[string]any{"input": map[string]any{"browserSourceToken": tok, "clickId": clickID}})
	mustOK(a.t, r)
	mustDecode(a.t, r.Data, &p)
	return p
}

// TestInvalidTrafficIsCountedNotBilled: a viewer's clicks on one
// participation are billed once per window, however they race; clicks past
// the per-token rate are invalid; invalid clicks are counted apart, recorded
// with their reason, and never billed.
func TestInvalidTrafficIsCountedNotBilled(t *testing.T) {
	t.Parallel()
	a := mustStartApp(t, withEnv(map[string]string{"CLICK_VIEWER_WINDOW": "24h", "CLICK_LIMIT_PER_TOKEN": "30/1m"}))
	brand, streamer := a.mustSignUp("BRAND"), a.mustSignUp("STREAMER")
	c := a.mustBudgetCampaign(brand, "Filtered", "1000.00")
	tok := token(t, a.mustJoin(streamer, c.ID))

	t.Run("SameViewerRacingIsBilledOnce", func(t *testing.T) {
		a := a.in(t)
		race(t, 20, func(i int) { a.clickAs("viewer-one", tok, fmt.Sprintf("same-viewer-%d", i)) })
		a.project()
		var billed, dup int
		for i := range 20 {
			switch got := a.clickAs("viewer-one", tok, fmt.Sprintf("same-viewer-%d", i)).RecordClick.Click; {
			case got.Billing == "BILLED":
				billed++
			case got.Billing == "NOT_BILLED" && got.InvalidReason == "DUPLICATE_VIEWER":
				dup++
			default:
				t.Errorf("click %d: billing %s, reason %q", i, got.Billing, got.InvalidReason)
			}
		}
		wantField(t, "billed", billed, 1)
		wantField(t, "DUPLICATE_VIEWER", dup, 19)
	})
	t.Run("AnotherViewerIsBilled", func(t *testing.T) {
		a := a.in(t)
		a.clickAs("viewer-two", tok, "other-viewer")
		a.project()
		wantField(t, "billing", a.clickAs("viewer-two", tok, "other-viewer").RecordClick.Click.Billing, "BILLED")
	})
	t.Run("PastTheRateIsInvalid", func(t *testing.T) {
		a := a.in(t)
		// 21 clicks so far in this minute; 15 more from distinct viewers:
		// 9 fit under 30, 6 do not.
		for i := range 15 {
			a.clickAs(fmt.Sprintf("rate-viewer-%d", i), tok, fmt.Sprintf("rate-%d", i))
		}
		a.project()
		wantField(t, "rate-exceeded clicks", a.reasons()[domain.InvalidRateExceeded], 6)
	})
	a.project()
	tt := a.totals(brand, c.ID).Campaign
	reasons := a.reasons()
	invalid := reasons[domain.InvalidDuplicateViewer] + reasons[domain.InvalidRateExceeded]
	wantField(t, "invalid clicks", invalid, 25)
	wantField(t, "valid clicks", tt.Stats.Clicks, 36-25)
	wantField(t, "spent (only the valid ones)", tt.Spent.Amount, "11.00")
	var d struct {
		Campaign struct {
			Stats          struct{ InvalidClicks int }
			Participations struct {
				Edges []struct {
					Node struct{ Stats struct{ InvalidClicks int } }
				}
			}
		}
		DailyStats []struct{ InvalidClicks int }
	}
	a.mustDo(brand.Token, `query($id: ID!) { campaign(id: $id) { stats { invalidClicks } participations(first: 1) { edges { node { stats { invalidClicks } } } } }
	  dailyStats(scope: CAMPAIGN, id: $id, from: "2026-11-23", to: "2026-11-23") { invalidClicks } }`, map[string]any{"id": c.ID}, &d)
	wantField(t, "the brand's invalidClicks", d.Campaign.Stats.InvalidClicks, 25)
	wantField(t, "the participation's invalidClicks", d.Campaign.Participations.Edges[0].Node.Stats.InvalidClicks, 25)
	wantField(t, "the day's invalidClicks", d.DailyStats[0].InvalidClicks, 25)
	a.wantVerified()
}

// reasons counts the stored clicks by invalid reason.
func (a *testApp) reasons() map[domain.InvalidReason]int {
	a.t.Helper()
	out := map[domain.InvalidReason]int{}
	err := repository.NewProjection(a.store).EachEvent(context.Background(), func(e domain.EventRecord) error {
		if e.Kind == domain.EventClick && e.Invalid != "" {
			out[e.Invalid]++
		}
		return nil
	})
	if err != nil {
		a.t.Fatal(err)
	}
	return out
}
