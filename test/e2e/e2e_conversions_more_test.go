package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/primitive"

	"tally/domain"
	"tally/repository"
)

// quietCampaign is an ACTIVE campaign (cpc 0.25, budget 100) with no
// postback URL, whose goals are auto (AUTO, 1.00) and held (HOLD 3 days,
// 2.00).
func (a *testApp) quietCampaign(brand testUser, name string) campaignData {
	a.t.Helper()
	in := campaignInput(name)
	delete(in, "postbackUrl")
	in["goals"] = []any{
		map[string]any{"goalId": "auto", "name": "Auto", "payout": "1.00"},
		map[string]any{"goalId": "held", "name": "Held", "payout": "2.00", "approval": "HOLD", "holdDays": 3},
	}
	c := a.mustCreateCampaign(brand, in)
	return a.mustSetStatus(brand, c.ID, "ACTIVE")
}

// recordedConversion is recordConversion's answer with the fields these
// tests read.
const recordConversionHistoryMutation = `mutation($input: RecordConversionInput!) { recordConversion(input: $input) {
  isNew conversion { id status billing holdUntil history { by at from to reason } } } }`

type historyEntry struct {
	By, At string
	From   *string
	To     string
	Reason *string
}

type recordedConversion struct {
	RecordConversion struct {
		IsNew      bool
		Conversion struct {
			ID, Status, Billing string
			HoldUntil           *string
			History             []historyEntry
		}
	}
}

const conversionsWithHistory = `query($id: ID!) { conversions(campaignId: $id, first: 50) { edges { node {
  id goalId status billing holdUntil history { by at from to reason } } } } }`

type listedConversion struct {
	ID, GoalID, Status, Billing string
	HoldUntil                   *string
	History                     []historyEntry
}

// listConversions lists a campaign's conversions as who, by id, once the
// projector has caught up.
func (a *testApp) listConversions(who testUser, campaignID string) map[string]listedConversion {
	a.t.Helper()
	a.project()
	var d struct {
		Conversions struct {
			Edges []struct{ Node listedConversion }
		}
	}
	a.mustDo(who.Token, conversionsWithHistory, map[string]any{"id": campaignID}, &d)
	out := map[string]listedConversion{}
	for _, e := range d.Conversions.Edges {
		out[e.Node.ID] = e.Node
	}
	return out
}

// TestPartnerPendingIsTheStartingStatus: a partner's PENDING, by
// recordConversion or /postback, is the status a new conversion starts in,
// whatever the goal's approval; the goal's hold still runs; a later status
// change approves it and only then moves money.
func TestPartnerPendingIsTheStartingStatus(t *testing.T) {
	t.Parallel()
	a := mustStartApp(t)
	brand, streamer := a.mustSignUp("BRAND"), a.mustSignUp("STREAMER")
	c := a.quietCampaign(brand, "Pending")
	tok := token(t, a.mustJoin(streamer, c.ID))
	key, _ := a.mustAPIKey(brand)
	for _, id := range []string{"p-gql", "p-pb", "p-held", "p-none"} {
		a.mustClick(tok, id)
	}

	// recordConversion with PENDING on an AUTO goal.
	var gql recordedConversion
	r := a.doWithKey(key, recordConversionHistoryMutation, map[string]any{"input": map[string]any{
		"clickId": "p-gql", "goalId": "auto", "status": "PENDING"}})
	mustOK(t, r)
	mustDecode(t, r.Data, &gql)
	wantField(t, "recordConversion(status: PENDING): new", gql.RecordConversion.IsNew, true)
	wantField(t, "recordConversion(status: PENDING) on an AUTO goal: status", gql.RecordConversion.Conversion.Status, "PENDING")

	// /postback with status=pending on the same goal.
	send := func(params url.Values) (id, status string) {
		t.Helper()
		resp, raw := a.request(http.MethodGet, "/postback?"+params.Encode(), map[string]string{"X-Api-Key": key}, nil)
		var ans struct{ ConversionID, Status string }
		if resp.StatusCode != http.StatusOK || !mustDecode(t, raw, &ans) {
			t.Fatalf("postback %v: %d %s", params, resp.StatusCode, raw)
		}
		return ans.ConversionID, ans.Status
	}
	pbID, pbStatus := send(url.Values{"click_id": {"p-pb"}, "goal_id": {"auto"}, "status": {"pending"}})
	wantField(t, "/postback?status=pending on an AUTO goal: status", pbStatus, "PENDING")

	// PENDING on a HOLD goal: the hold runs.
	var held recordedConversion
	r = a.doWithKey(key, recordConversionHistoryMutation, map[string]any{"input": map[string]any{
		"clickId": "p-held", "goalId": "held", "status": "PENDING"}})
	mustOK(t, r)
	mustDecode(t, r.Data, &held)
	wantField(t, "PENDING on a HOLD goal: status", held.RecordConversion.Conversion.Status, "PENDING")
	if held.RecordConversion.Conversion.HoldUntil == nil {
		t.Error("PENDING on a HOLD goal: no holdUntil; the goal's hold must still run")
	}

	// No status: the goal's rule, as before.
	var none recordedConversion
	r = a.doWithKey(key, recordConversionHistoryMutation, map[string]any{"input": map[string]any{"clickId": "p-none", "goalId": "auto"}})
	mustOK(t, r)
	mustDecode(t, r.Data, &none)
	wantField(t, "no status on an AUTO goal", none.RecordConversion.Conversion.Status, "APPROVED")

	// Projected: the PENDING ones stay PENDING and unbilled.
	got := a.listConversions(brand, c.ID)
	for _, id := range []string{gql.RecordConversion.Conversion.ID, pbID, held.RecordConversion.Conversion.ID} {
		wantField(t, id+" status once projected", got[id].Status, "PENDING")
		wantField(t, id+" billing once projected", got[id].Billing, "PENDING")
	}
	wantField(t, "the unreported one", got[none.RecordConversion.Conversion.ID].Billing, "BILLED")
	wantField(t, "spent: four clicks and the approved one", a.totals(brand, c.ID).Campaign.Spent.Amount, "2.00")

	// Then the brand approves one, the partner the other: money moves.
	if pl := a.setStatus(brand, "APPROVED", "", gql.RecordConversion.Conversion.ID); len(pl.SetConversionStatus.Failures) > 0 {
		t.Fatalf("approving the partner's PENDING: %+v", pl.SetConversionStatus.Failures)
	}
	if id, status := send(url.Values{"click_id": {"p-pb"}, "goal_id": {"auto"}, "status": {"approved"}}); id != pbID || status != "APPROVED" {
		t.Errorf("the partner's approval: %s %s, want %s APPROVED", id, status, pbID)
	}
	got = a.listConversions(brand, c.ID)
	wantField(t, "approved by the brand: billing", got[gql.RecordConversion.Conversion.ID].Billing, "BILLED")
	wantField(t, "approved by the partner: billing", got[pbID].Billing, "BILLED")
	wantField(t, "spent after both approvals", a.totals(brand, c.ID).Campaign.Spent.Amount, "4.00")

	// The hold releases the held one when its days have passed.
	a.clock.Advance(73 * time.Hour)
	if err := a.tracking.ReleaseHolds(context.Background()); err != nil {
		t.Fatal(err)
	}
	brand.Token = a.tokens().issue(t, brand.ID, "BRAND") // the old one expired meanwhile
	wantField(t, "the held one after its hold", a.listConversions(brand, c.ID)[held.RecordConversion.Conversion.ID].Status, "APPROVED")
	a.wantVerified()
}

// wantHistorySchema fails unless every entry of h keeps the schema: to is a
// ConversionStatus, from is null for the first entry and a status after it.
func wantHistorySchema(t *testing.T, what string, h []historyEntry) {
	t.Helper()
	statuses := []string{"PENDING", "APPROVED", "REJECTED"}
	if len(h) == 0 {
		t.Errorf("%s: no history", what)
		return
	}
	for i, e := range h {
		if !slices.Contains(statuses, e.To) {
			t.Errorf("%s: history[%d].to = %q, not a ConversionStatus", what, i, e.To)
		}
		switch {
		case i == 0 && e.From != nil:
			t.Errorf("%s: history[0].from = %q, want null", what, *e.From)
		case i > 0 && (e.From == nil || !slices.Contains(statuses, *e.From)):
			t.Errorf("%s: history[%d].from = %v, want a ConversionStatus", what, i, e.From)
		}
		if e.At == "" || e.By == "" {
			t.Errorf("%s: history[%d] = %+v, want by and at", what, i, e)
		}
	}
}

// TestConversionHistoryKeepsTheSchema: the isNew answer's history, every
// read's, and the reads of documents an older Tally stored with "" in to
// and from, give a status in every to and null in the first from.
func TestConversionHistoryKeepsTheSchema(t *testing.T) {
	t.Parallel()
	a := mustStartApp(t)
	brand, streamer := a.mustSignUp("BRAND"), a.mustSignUp("STREAMER")
	c := a.quietCampaign(brand, "History")
	p := a.mustJoin(streamer, c.ID)
	tok := token(t, p)
	key, keyID := a.mustAPIKey(brand)
	a.mustClick(tok, "h-1")

	var rec recordedConversion
	r := a.doWithKey(key, recordConversionHistoryMutation, map[string]any{"input": map[string]any{"clickId": "h-1", "goalId": "auto"}})
	mustOK(t, r)
	mustDecode(t, r.Data, &rec)
	conv := rec.RecordConversion.Conversion
	wantField(t, "new", rec.RecordConversion.IsNew, true)
	wantHistorySchema(t, "the isNew answer", conv.History)
	wantField(t, "the isNew answer: history[0].to", conv.History[0].To, "APPROVED")
	wantField(t, "the isNew answer: history[0].by", conv.History[0].By, "apiKey:"+keyID)

	// The answer to a repeat, and a list, say the same.
	var again recordedConversion
	r = a.doWithKey(key, recordConversionHistoryMutation, map[string]any{"input": map[string]any{"clickId": "h-1", "goalId": "auto"}})
	mustOK(t, r)
	mustDecode(t, r.Data, &again)
	wantField(t, "repeat: new", again.RecordConversion.IsNew, false)
	wantHistorySchema(t, "the repeat's answer", again.RecordConversion.Conversion.History)
	wantField(t, "the same first entry, at", again.RecordConversion.Conversion.History[0].At, conv.History[0].At)
	a.setStatus(brand, "REJECTED", "fraud", conv.ID)
	listed := a.listConversions(brand, c.ID)[conv.ID]
	wantHistorySchema(t, "after a rejection", listed.History)
	if len(listed.History) != 2 || *listed.History[1].From != "APPROVED" || listed.History[1].To != "REJECTED" {
		t.Errorf("history after a rejection: %+v, want APPROVED → REJECTED second", listed.History)
	}

	// Documents as an older Tally stored them: "" in to and from.
	old := a.mustSignUp("BRAND")
	oc := a.quietCampaign(old, "Old documents")
	op := a.mustJoin(streamer, oc.ID)
	oid := func(hex string) primitive.ObjectID {
		id, err := primitive.ObjectIDFromHex(hex)
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	at := a.clock.Now().UTC().Truncate(time.Millisecond)
	doc := func(clickID, status string, history ...bson.M) bson.M {
		hist := bson.A{}
		for _, h := range history {
			hist = append(hist, h)
		}
		return bson.M{"_id": primitive.NewObjectID(), "clickId": clickID, "goalId": "auto", "participationId": oid(op.ID),
			"campaignId": oid(oc.ID), "streamerId": oid(streamer.ID), "status": status, "statusAt": at, "rev": int64(len(history) - 1),
			"payoutMicros": int64(1_000_000), "createdAt": at, "history": hist}
	}
	only := doc("old-1", "approved", bson.M{"by": "apiKey:old", "at": at, "from": "", "to": ""})
	two := doc("old-2", "rejected", bson.M{"by": "apiKey:old", "at": at, "from": "", "to": ""},
		bson.M{"by": "user:old", "at": at, "from": "pending", "to": "rejected", "reason": "fraud"})
	if err := repository.SeedRaw(context.Background(), a.store, "conversions", only, two); err != nil {
		t.Fatal(err)
	}
	got := a.listConversions(old, oc.ID)
	onlyID, twoID := only["_id"].(primitive.ObjectID).Hex(), two["_id"].(primitive.ObjectID).Hex()
	wantHistorySchema(t, "an old document, one entry", got[onlyID].History)
	wantField(t, "an old entry's to: the status now", got[onlyID].History[0].To, "APPROVED")
	wantHistorySchema(t, "an old document, two entries", got[twoID].History)
	wantField(t, "an old first entry's to: what the next changed from", got[twoID].History[0].To, "PENDING")
}

// TestFieldErrorsForEveryMutation: every mutation that takes an input,
// sent with two invalid fields, answers two BAD_USER_INPUT errors, each
// naming its field. The table must cover every such mutation the schema
// has, so a new one cannot be forgotten.
func TestFieldErrorsForEveryMutation(t *testing.T) {
	t.Parallel()
	a := mustStartApp(t)
	brand, streamer := a.mustSignUp("BRAND"), a.mustSignUp("STREAMER")
	c := a.quietCampaign(brand, "Fields")
	joined := a.mustJoin(streamer, c.ID)
	tok := token(t, joined)
	long := strings.Repeat("x", 101)
	admin := a.mustMakeAdmin()
	cases := []struct {
		mutation, token, query string
		vars                   map[string]any
		fields                 []string
	}{
		{"signUp", "", `mutation($input: SignUpInput!) { signUp(input: $input) { token } }`,
			map[string]any{"input": map[string]any{"email": "not-an-email", "password": "short", "displayName": "X", "role": "BRAND"}},
			[]string{"input.email", "input.password"}},
		{"logIn", "", `mutation($input: LogInInput!) { logIn(input: $input) { token } }`,
			map[string]any{"input": map[string]any{"email": "", "password": ""}},
			[]string{"input.email", "input.password"}},
		{"changePassword", streamer.Token, `mutation($input: ChangePasswordInput!) { changePassword(input: $input) { token } }`,
			map[string]any{"input": map[string]any{"currentPassword": "", "newPassword": "short"}},
			[]string{"input.currentPassword", "input.newPassword"}},
		{"updateCampaignSelectionSettings", streamer.Token, `mutation($input: UpdateCampaignSelectionSettingsInput!) { updateCampaignSelectionSettings(input: $input) { id } }`,
			map[string]any{"input": map[string]any{"rotationIntervalMinutes": 0, "priorityWeights": map[string]any{"paymentRate": 1, "performance": 1, "fairness": 1}}},
			[]string{"input.rotationIntervalMinutes", "input.priorityWeights"}},
		{"createCampaign", brand.Token, `mutation($input: CreateCampaignInput!) { createCampaign(input: $input) { id } }`,
			map[string]any{"input": map[string]any{"name": "", "landingUrl": "not a url", "budget": "10.00"}},
			[]string{"input.name", "input.landingUrl"}},
		{"updateCampaign", brand.Token, `mutation($id: ID!, $input: UpdateCampaignInput!) { updateCampaign(id: $id, input: $input) { id } }`,
			map[string]any{"id": c.ID, "input": map[string]any{"name": "", "landingUrl": "not a url"}},
			[]string{"input.name", "input.landingUrl"}},
		{"setCampaignPostback", brand.Token, `mutation($id: ID!, $input: CampaignPostbackInput!) { setCampaignPostback(campaignId: $id, input: $input) { id } }`,
			map[string]any{"id": c.ID, "input": map[string]any{"url": "https://p.example.com/?x={nope}", "goalUrls": []any{map[string]any{"goalId": "missing", "url": "https://p.example.com/"}}}},
			[]string{"input.url", "input.goalUrls[0].goalId"}},
		{"recordClick", "", `mutation($input: RecordClickInput!) { recordClick(input: $input) { isNew } }`,
			map[string]any{"input": map[string]any{"browserSourceToken": tok, "clickId": "not a click id", "subIds": map[string]any{"sub1": long}}},
			[]string{"input.clickId", "input.subIds.sub1"}},
		{"recordConversion", brand.Token, `mutation($input: RecordConversionInput!) { recordConversion(input: $input) { isNew } }`,
			map[string]any{"input": map[string]any{"clickId": "not a click id", "goalId": "not a goal id!"}},
			[]string{"input.clickId", "input.goalId"}},
		{"setConversionStatus", brand.Token, `mutation($input: SetConversionStatusInput!) { setConversionStatus(input: $input) { failures { code } } }`,
			map[string]any{"input": map[string]any{"conversionIds": []string{}, "status": "REJECTED"}},
			[]string{"input.conversionIds", "input.reason"}},
		{"setParticipationCaps", brand.Token, `mutation($id: ID!, $input: ParticipationCapsInput!) { setParticipationCaps(participationId: $id, input: $input) { id } }`,
			map[string]any{"id": joined.ID, "input": map[string]any{"totalCap": "1000000001", "dailyCap": "1000000001"}},
			[]string{"input.totalCap", "input.dailyCap"}},
		{"runPayouts", admin.Token, `mutation($input: RunPayoutsInput!) { runPayouts(input: $input) { key } }`,
			map[string]any{"input": map[string]any{"key": "not a key"}},
			[]string{"input.key"}}, // its only field
		{"markPayout", admin.Token, `mutation($input: MarkPayoutInput!) { markPayout(id: "run:x", input: $input) { id } }`,
			map[string]any{"input": map[string]any{"status": "PENDING", "reference": strings.Repeat("r", 201)}},
			[]string{"input.status", "input.reference"}},
		{"createApiKey", brand.Token, `mutation($input: CreateApiKeyInput!) { createApiKey(input: $input) { key } }`,
			map[string]any{"input": map[string]any{"name": "", "scopes": []string{}}},
			[]string{"input.name", "input.scopes"}},
	}

	// Every mutation with an input argument is in the table.
	var schema struct {
		Schema struct {
			MutationType struct {
				Fields []struct {
					Name string
					Args []struct{ Name string }
				}
			}
		} `json:"__schema"`
	}
	a.mustDo("", `{ __schema { mutationType { fields { name args { name } } } } }`, nil, &schema)
	for _, f := range schema.Schema.MutationType.Fields {
		takesInput := slices.ContainsFunc(f.Args, func(arg struct{ Name string }) bool { return arg.Name == "input" })
		covered := slices.ContainsFunc(cases, func(c struct {
			mutation, token, query string
			vars                   map[string]any
			fields                 []string
		}) bool {
			return c.mutation == f.Name
		})
		if takesInput && !covered {
			t.Errorf("mutation %s takes an input and has no case here", f.Name)
		}
	}

	for _, tc := range cases {
		t.Run(tc.mutation, func(t *testing.T) {
			r := a.in(t).do(tc.token, tc.query, tc.vars)
			var got []string
			for _, e := range r.Errors {
				if e.Code() != "BAD_USER_INPUT" {
					t.Errorf("error %+v: code %q, want BAD_USER_INPUT", e, e.Code())
				}
				if len(e.Path) == 0 || e.Path[0] != tc.mutation {
					t.Errorf("error %+v: path %v, want [%s]", e, e.Path, tc.mutation)
				}
				got = append(got, e.Field())
			}
			if !slices.Equal(got, tc.fields) {
				raw, _ := json.Marshal(r.Errors)
				t.Errorf("fields %q, want %q, once each (errors %s)", got, tc.fields, raw)
			}
		})
	}
}

// TestOtherBrandsLearnNothingByID: an id of another brand's conversion,
// click, participation or postback delivery gets the same answer as an id
// that does not exist; who may see the thing but not change it (the
// participation's streamer) is FORBIDDEN.
func TestOtherBrandsLearnNothingByID(t *testing.T) {
	t.Parallel()
	a := mustStartApp(t)
	brand, streamer, other := a.mustSignUp("BRAND"), a.mustSignUp("STREAMER"), a.mustSignUp("BRAND")
	c := a.quietCampaign(brand, "Mine")
	p := a.mustJoin(streamer, c.ID)
	a.mustClick(token(t, p), "secret-click")
	key, _ := a.mustAPIKey(brand)
	otherKey, _ := a.mustAPIKey(other)
	var rec recordedConversion
	r := a.doWithKey(key, recordConversionHistoryMutation, map[string]any{"input": map[string]any{"clickId": "secret-click", "goalId": "auto"}})
	mustOK(t, r)
	mustDecode(t, r.Data, &rec)
	convID, missing := rec.RecordConversion.Conversion.ID, primitive.NewObjectID().Hex()

	t.Run("setConversionStatus", func(t *testing.T) {
		a := a.in(t)
		failure := func(who testUser, id string) string {
			pl := a.setStatus(who, "REJECTED", "mine now", id)
			if len(pl.SetConversionStatus.Failures) != 1 {
				t.Fatalf("%s: %+v, want one failure", id, pl.SetConversionStatus)
			}
			return pl.SetConversionStatus.Failures[0].Code
		}
		wantField(t, "another brand, an id that does not exist", failure(other, missing), "NOT_FOUND")
		wantField(t, "another brand, an id that exists", failure(other, convID), "NOT_FOUND")
		wantField(t, "its streamer, who may see it", failure(streamer, convID), "FORBIDDEN")
	})
	t.Run("recordConversion", func(t *testing.T) {
		a := a.in(t)
		for _, click := range []string{"secret-click", "never-clicked"} {
			a.mustFail(other.Token, recordConversionMutation, conversionVars(click, "auto"), "NOT_FOUND", "")
			r := a.doWithKey(otherKey, recordConversionMutation, conversionVars(click, "auto"))
			if len(r.Errors) != 1 || r.Errors[0].Code() != "NOT_FOUND" {
				t.Errorf("another brand's key, click %s: %+v, want NOT_FOUND", click, r.Errors)
			}
			resp, raw := a.request(http.MethodGet, "/postback?"+url.Values{"click_id": {click}, "goal_id": {"auto"}}.Encode(),
				map[string]string{"X-Api-Key": otherKey}, nil)
			wantField(t, "/postback with another brand's key, click "+click+": "+string(raw), resp.StatusCode, http.StatusNotFound)
		}
		a.mustFail(streamer.Token, recordConversionMutation, conversionVars("secret-click", "auto"), "FORBIDDEN", "")
	})
	t.Run("postbackDelivery", func(t *testing.T) {
		a := a.in(t)
		a.enqueue(c.ID, convID+":0")
		const q = `query($k: ID!) { postbackDelivery(key: $k) { key } }`
		const replay = `mutation($k: ID!) { replayPostback(key: $k) { key } }`
		for _, k := range []string{convID + ":0", missing + ":0"} {
			a.mustFail("", q, map[string]any{"k": k}, "UNAUTHENTICATED", "")
			a.mustFail(other.Token, q, map[string]any{"k": k}, "NOT_FOUND", "")
			a.mustFail(streamer.Token, q, map[string]any{"k": k}, "NOT_FOUND", "")
			a.mustFail("", replay, map[string]any{"k": k}, "UNAUTHENTICATED", "")
			a.mustFail(other.Token, replay, map[string]any{"k": k}, "NOT_FOUND", "")
		}
	})
	t.Run("participationAndNode", func(t *testing.T) {
		a := a.in(t)
		for _, id := range []string{p.ID, missing} {
			a.mustFail(other.Token, `query($id: ID!) { participation(id: $id) { id } }`, map[string]any{"id": id}, "NOT_FOUND", "")
			a.mustFail(other.Token, `query($id: ID!) { conversions(participationId: $id) { edges { node { id } } } }`, map[string]any{"id": id}, "NOT_FOUND", "")
			a.mustFail(other.Token, dailyStatsQuery, map[string]any{"scope": "PARTICIPATION", "id": id, "from": "2026-11-01", "to": "2026-11-02"}, "NOT_FOUND", "")
		}
		partGID := a.globalID(streamer, `query($id: ID!) { participation(id: $id) { globalId } }`, p.ID)
		for _, gid := range []string{partGID, domain.GlobalID(domain.NodeParticipation, missing)} {
			if n := a.node(other, gid); n != nil {
				t.Errorf("node(id) as another brand: %+v, want null", n)
			}
		}
	})
}
