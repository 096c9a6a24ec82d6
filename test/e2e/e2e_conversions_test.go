package e2e

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"sync/atomic"
	"testing"
	"time"
)

// lifecycleCampaign is an ACTIVE campaign (cpc 1.00, budget 1000) whose
// goals have every rule: reg (AUTO, 1.00) implies ftd (REVIEW, 5.00); hold
// (HOLD 3 days, 2.00); deposit (PER_TRANSACTION, 0.50).
func (a *testApp) lifecycleCampaign(brand testUser, name string) campaignData {
	a.t.Helper()
	in := campaignInput(name)
	in["budget"], in["cpc"] = "1000.00", "1.00"
	in["goals"] = []any{
		map[string]any{"goalId": "reg", "name": "Registration", "payout": "1.00", "implies": []string{"ftd"}},
		map[string]any{"goalId": "ftd", "name": "First deposit", "payout": "5.00", "approval": "REVIEW"},
		map[string]any{"goalId": "hold", "name": "Held", "payout": "2.00", "approval": "HOLD", "holdDays": 3},
		map[string]any{"goalId": "deposit", "name": "Deposit", "payout": "0.50", "duplicates": "PER_TRANSACTION"},
	}
	c := a.mustCreateCampaign(brand, in)
	return a.mustSetStatus(brand, c.ID, "ACTIVE")
}

const conversionByClick = `query($id: ID!) { conversions(campaignId: $id, first: 50) { edges { node {
  id goalId status billing implied cause { id } charged { amount } transactionId subIds { sub1 sub2 }
  history { by from to reason } } } } }`

type lifecycleConversion struct {
	ID, GoalID, Status, Billing, TransactionID string
	Implied                                    bool
	Cause                                      *struct{ ID string }
	Charged                                    struct{ Amount string }
	SubIds                                     struct{ Sub1, Sub2 *string }
	History                                    []struct{ By, To, Reason string }
}

// conversionsOf lists a campaign's conversions as its brand, by goal.
func (a *testApp) conversionsOf(brand testUser, campaignID string) map[string][]lifecycleConversion {
	a.t.Helper()
	a.project()
	var d struct {
		Conversions struct {
			Edges []struct{ Node lifecycleConversion }
		}
	}
	a.mustDo(brand.Token, conversionByClick, map[string]any{"id": campaignID}, &d)
	out := map[string][]lifecycleConversion{}
	for _, e := range d.Conversions.Edges {
		out[e.Node.GoalID] = append(out[e.Node.GoalID], e.Node)
	}
	return out
}

const setStatusMutation = `mutation($input: SetConversionStatusInput!) { setConversionStatus(input: $input) {
  conversions { id status } failures { conversionId code message } } }`

type setStatusPayload struct {
	SetConversionStatus struct {
		Conversions []struct{ ID, Status string }
		Failures    []struct{ ConversionID, Code, Message string }
	}
}

func (a *testApp) setStatus(who testUser, status, reason string, ids ...string) setStatusPayload {
	a.t.Helper()
	var p setStatusPayload
	a.mustDo(who.Token, setStatusMutation, map[string]any{"input": map[string]any{"conversionIds": ids, "status": status, "reason": reason}}, &p)
	return p
}

// TestConversionLifecycle: a goal's approval rule, review by the brand,
// reversal, chaining, repeatable goals and sub-ids, with the money moving
// exactly once at each step, also when raced.
func TestConversionLifecycle(t *testing.T) {
	t.Parallel()
	a := mustStartApp(t)
	brand, streamer := a.mustSignUp("BRAND"), a.mustSignUp("STREAMER")
	c := a.lifecycleCampaign(brand, "Lifecycle")
	p := a.mustJoin(streamer, c.ID)
	tok := token(t, p)
	key, _ := a.mustAPIKey(brand)
	var click clickPayload
	a.mustDo("", recordClickMutation, map[string]any{"input": map[string]any{"browserSourceToken": tok, "clickId": "lc-1",
		"subIds": map[string]any{"sub1": "banner top", "sub2": "créa/2"}}}, &click)
	wantField(t, "click sub1", *click.RecordClick.Click.SubIds.Sub1, "banner top")

	// reg (AUTO) is approved and billed at once; it implies ftd (REVIEW),
	// recorded by the projector, PENDING, unbilled.
	mustOK(t, a.doWithKey(key, recordConversionMutation, conversionVars("lc-1", "reg")))
	a.project()
	got := a.conversionsOf(brand, c.ID)
	reg, ftd := got["reg"][0], got["ftd"]
	wantField(t, "reg status", reg.Status, "APPROVED")
	wantField(t, "reg billing", reg.Billing, "BILLED")
	wantField(t, "reg sub1, from its click", *reg.SubIds.Sub1, "banner top")
	if len(ftd) != 1 {
		t.Fatalf("ftd conversions: %d, want the one reg implies", len(ftd))
	}
	wantField(t, "ftd implied", ftd[0].Implied, true)
	wantField(t, "ftd cause", ftd[0].Cause.ID, reg.ID)
	wantField(t, "ftd status (REVIEW)", ftd[0].Status, "PENDING")
	wantField(t, "ftd billing", ftd[0].Billing, "PENDING")
	wantField(t, "spent: the click and reg", a.totals(brand, c.ID).Campaign.Spent.Amount, "2.00")

	// A real report of ftd is a duplicate of the implied one.
	var dup conversionPayload
	r := a.doWithKey(key, recordConversionMutation, conversionVars("lc-1", "ftd"))
	mustOK(t, r)
	mustDecode(t, r.Data, &dup)
	wantField(t, "a real report of the implied ftd is new", dup.RecordConversion.IsNew, false)

	// Twenty racing approvals move 5.00 once.
	var failures atomic.Int32
	race(t, 20, func(int) {
		if pl := a.setStatus(brand, "APPROVED", "", ftd[0].ID); len(pl.SetConversionStatus.Failures) > 0 {
			failures.Add(1)
		}
	})
	wantField(t, "racing approvals that failed (the rest found it approved)", failures.Load(), 0)
	wantField(t, "spent after approval", a.totals(brand, c.ID).Campaign.Spent.Amount, "7.00")

	// Rejected after approval: the charge goes back, once, however raced.
	race(t, 20, func(int) { a.setStatus(brand, "REJECTED", "chargeback", ftd[0].ID) })
	tt := a.totals(brand, c.ID).Campaign
	wantField(t, "spent after the reversal", tt.Spent.Amount, "2.00")
	wantField(t, "earnings after the reversal", tt.Participations.Edges[0].Node.Stats.Earnings.Amount, "2.00")
	after := a.conversionsOf(brand, c.ID)["ftd"][0]
	wantField(t, "ftd billing", after.Billing, "REVERSED")
	wantField(t, "ftd charged", after.Charged.Amount, "0.00")
	wantField(t, "ftd history", len(after.History), 3)
	wantField(t, "the rejection's reason", after.History[2].Reason, "chargeback")

	// REJECTED is final.
	pl := a.setStatus(brand, "APPROVED", "", ftd[0].ID)
	if len(pl.SetConversionStatus.Failures) != 1 || pl.SetConversionStatus.Failures[0].Code != "CONFLICT" {
		t.Errorf("approving a rejected conversion: %+v, want one CONFLICT", pl.SetConversionStatus)
	}
	a.mustFail(brand.Token, setStatusMutation, map[string]any{"input": map[string]any{"conversionIds": []string{reg.ID}, "status": "REJECTED"}},
		"BAD_USER_INPUT", "input.reason")
	other := a.mustSignUp("BRAND")
	if pl := a.setStatus(other, "REJECTED", "mine now", reg.ID); len(pl.SetConversionStatus.Failures) != 1 || pl.SetConversionStatus.Failures[0].Code != "NOT_FOUND" {
		t.Errorf("another brand: %+v, want NOT_FOUND, as for an id that does not exist", pl.SetConversionStatus)
	}

	// A repeatable goal: once per transaction id, which it needs.
	r = a.doWithKey(key, recordConversionMutation, map[string]any{"input": map[string]any{"clickId": "lc-1", "goalId": "deposit"}})
	if len(r.Errors) == 0 || r.Errors[0].Field() != "input.transactionId" {
		t.Errorf("deposit without a transaction id: %+v, want BAD_USER_INPUT on input.transactionId", r.Errors)
	}
	for _, txn := range []string{"t1", "t1", "t2"} {
		mustOK(t, a.doWithKey(key, recordConversionMutation, map[string]any{"input": map[string]any{"clickId": "lc-1", "goalId": "deposit", "transactionId": txn}}))
	}
	wantField(t, "deposits (t1 twice, t2)", len(a.conversionsOf(brand, c.ID)["deposit"]), 2)
	wantField(t, "spent with two deposits", a.totals(brand, c.ID).Campaign.Spent.Amount, "3.00")
	a.wantVerified()
}

// TestConversionHold: a HOLD goal's conversion is PENDING for its days, and
// approved when they have passed unless rejected first.
func TestConversionHold(t *testing.T) {
	t.Parallel()
	a := mustStartApp(t)
	brand, streamer := a.mustSignUp("BRAND"), a.mustSignUp("STREAMER")
	c := a.lifecycleCampaign(brand, "Held")
	tok := token(t, a.mustJoin(streamer, c.ID))
	key, _ := a.mustAPIKey(brand)
	a.mustClick(tok, "h-1")
	a.mustClick(tok, "h-2")
	mustOK(t, a.doWithKey(key, recordConversionMutation, conversionVars("h-1", "hold")))
	mustOK(t, a.doWithKey(key, recordConversionMutation, conversionVars("h-2", "hold")))
	held := a.conversionsOf(brand, c.ID)["hold"]
	wantField(t, "held conversions", len(held), 2)
	a.setStatus(brand, "REJECTED", "fraud", held[1].ID) // one rejected during the hold

	ctx := context.Background()
	a.clock.Advance(71 * time.Hour)
	brand.Token = a.tokens().issue(t, brand.ID, "BRAND") // the old one expired meanwhile
	if err := a.tracking.ReleaseHolds(ctx); err != nil {
		t.Fatal(err)
	}
	for _, cv := range a.conversionsOf(brand, c.ID)["hold"] {
		wantField(t, "before the hold ends: "+cv.ID, cv.Status != "APPROVED", true)
	}
	a.clock.Advance(2 * time.Hour)
	if err := a.tracking.ReleaseHolds(ctx); err != nil {
		t.Fatal(err)
	}
	byID := map[string]lifecycleConversion{}
	for _, cv := range a.conversionsOf(brand, c.ID)["hold"] {
		byID[cv.ID] = cv
	}
	wantField(t, "the held one once its hold ended", byID[held[0].ID].Status, "APPROVED")
	wantField(t, "its billing", byID[held[0].ID].Billing, "BILLED")
	wantField(t, "approved by", byID[held[0].ID].History[len(byID[held[0].ID].History)-1].By, "system")
	wantField(t, "the one rejected during the hold", byID[held[1].ID].Status, "REJECTED")
	wantField(t, "spent: two clicks and one held conversion", a.totals(brand, c.ID).Campaign.Spent.Amount, "4.00")
	a.wantVerified()
}

// TestConversionRaces: a PENDING conversion raced by approvals and
// rejections ends in one status, and the money matches it; reports of an
// implying goal raced against real reports of the implied one record the
// implied goal once.
func TestConversionRaces(t *testing.T) {
	t.Parallel()
	a := mustStartApp(t)
	brand, streamer := a.mustSignUp("BRAND"), a.mustSignUp("STREAMER")
	c := a.lifecycleCampaign(brand, "Raced")
	tok := token(t, a.mustJoin(streamer, c.ID))
	key, _ := a.mustAPIKey(brand)
	const clicks = 10
	for i := range clicks {
		a.mustClick(tok, fmt.Sprintf("r-%d", i))
	}
	race(t, 10*clicks, func(i int) {
		id := fmt.Sprintf("r-%d", i%clicks)
		goal := "reg" // every click's reg and ftd, ten times each, interleaved
		if (i/clicks)%2 == 1 {
			goal = "ftd"
		}
		mustOK(t, a.doWithKey(key, recordConversionMutation, conversionVars(id, goal)))
	})
	got := a.conversionsOf(brand, c.ID)
	wantField(t, "reg conversions", len(got["reg"]), clicks)
	wantField(t, "ftd conversions, implied or reported, once per click", len(got["ftd"]), clicks)

	var ids []string
	for _, cv := range got["ftd"] {
		ids = append(ids, cv.ID)
	}
	race(t, 40, func(i int) {
		if i%2 == 0 {
			a.setStatus(brand, "APPROVED", "", ids...)
		} else {
			a.setStatus(brand, "REJECTED", "raced", ids...)
		}
	})
	approved := 0
	for _, cv := range a.conversionsOf(brand, c.ID)["ftd"] {
		switch {
		case cv.Status == "APPROVED" && cv.Billing == "BILLED" && cv.Charged.Amount == "5.00":
			approved++
		case cv.Status == "REJECTED" && (cv.Billing == "REVERSED" || cv.Billing == "NOT_BILLED") && cv.Charged.Amount == "0.00":
		default:
			t.Errorf("ftd %s: %s, %s, charged %s", cv.ID, cv.Status, cv.Billing, cv.Charged.Amount)
		}
	}
	want := domain10(clicks + clicks*1 + approved*5) // clicks, regs, approved ftds
	wantField(t, "spent", a.totals(brand, c.ID).Campaign.Spent.Amount, want)
	a.wantVerified()
}

// domain10 formats whole units as Money does.
func domain10(units int) string { return fmt.Sprintf("%d.00", units) }

// TestPostbackInStatusAndTransaction: /postback takes a status and a
// transaction id, and says what it recorded.
func TestPostbackInStatusAndTransaction(t *testing.T) {
	t.Parallel()
	a := mustStartApp(t)
	brand, streamer := a.mustSignUp("BRAND"), a.mustSignUp("STREAMER")
	c := a.lifecycleCampaign(brand, "Inbound")
	tok := token(t, a.mustJoin(streamer, c.ID))
	key, _ := a.mustAPIKey(brand)
	a.mustClick(tok, "pb-1")
	type answer struct {
		IsNew                         bool
		ConversionID, Status, Billing string
		Payout                        string
	}
	send := func(params url.Values) answer {
		t.Helper()
		resp, raw := a.request(http.MethodGet, "/postback?"+params.Encode(), map[string]string{"X-Api-Key": key}, nil)
		var ans answer
		if resp.StatusCode != http.StatusOK || !mustDecode(t, raw, &ans) {
			t.Fatalf("postback %v: %d %s", params, resp.StatusCode, raw)
		}
		return ans
	}
	first := send(url.Values{"click_id": {"pb-1"}, "goal_id": {"ftd"}})
	wantField(t, "new", first.IsNew, true)
	wantField(t, "status (REVIEW)", first.Status, "PENDING")
	wantField(t, "payout", first.Payout, "5.00")
	approved := send(url.Values{"click_id": {"pb-1"}, "goal_id": {"ftd"}, "status": {"approved"}})
	wantField(t, "the partner's approval: new", approved.IsNew, false)
	wantField(t, "the partner's approval: status", approved.Status, "APPROVED")
	wantField(t, "the same conversion", approved.ConversionID, first.ConversionID)
	dep := send(url.Values{"click_id": {"pb-1"}, "goal_id": {"deposit"}, "txn_id": {"order-7"}})
	wantField(t, "a deposit by transaction id", dep.IsNew, true)
	wantField(t, "spent: the click, ftd, a deposit", a.totals(brand, c.ID).Campaign.Spent.Amount, "6.50")
	a.wantVerified()
}
