package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"tally/repository"
	"tally/repository/repotest"
)

func TestRecordClick(t *testing.T) {
	t.Parallel()
	a := mustStartApp(t)
	brand := a.mustSignUp("BRAND")
	streamer := a.mustSignUp("STREAMER")
	c := a.mustActiveCampaign(brand, "Clicky") // cpc 0.25, budget 100
	p := a.mustJoin(streamer, c.ID)
	tok := token(t, p)

	t.Run("NewThenRepeat", func(t *testing.T) {
		a := a.in(t)
		first := a.mustClick(tok, "click-1").RecordClick
		if !first.IsNew || first.Click.Billing != "PENDING" || first.Click.Billed || first.Click.ClickID != "click-1" ||
			first.Click.Participation.ID != p.ID || first.Click.Campaign.ID != c.ID {
			t.Fatalf("first: got %+v, want new and PENDING", first)
		}
		a.project()
		again := a.mustClick(tok, "click-1").RecordClick
		if again.IsNew || again.Click.ID != first.Click.ID || again.Click.Billing != "BILLED" || !again.Click.Billed {
			t.Fatalf("again: got %+v, want the same click, BILLED once projected", again)
		}
		tt := a.totals(brand, c.ID).Campaign
		if tt.Stats.Clicks != 1 || tt.Spent.Amount != "0.25" || tt.Remaining.Amount != "99.75" {
			t.Errorf("campaign: got %+v", tt)
		}
		if ps := tt.Participations.Edges[0].Node.Stats; ps.Clicks != 1 || ps.Earnings.Amount != "0.25" {
			t.Errorf("participation: got %+v", ps)
		}
		var d dailyData
		for _, scope := range []struct{ scope, id, who string }{{"CAMPAIGN", c.ID, "brand"}, {"PARTICIPATION", p.ID, "streamer"}, {"STREAMER", streamer.ID, "streamer"}} {
			who := brand
			if scope.who == "streamer" {
				who = streamer
			}
			a.mustDo(who.Token, dailyStatsQuery, map[string]any{"scope": scope.scope, "id": scope.id, "from": "2026-11-22", "to": "2026-11-24"}, &d)
			if len(d.DailyStats) != 3 || d.DailyStats[1].Date != "2026-11-23" || d.DailyStats[1].Clicks != 1 ||
				d.DailyStats[1].Spend.Amount != "0.25" || d.DailyStats[0].Clicks != 0 || d.DailyStats[2].Clicks != 0 {
				t.Errorf("%s daily stats: got %+v", scope.scope, d.DailyStats)
			}
		}
	})
	t.Run("GeneratedClickID", func(t *testing.T) {
		a := a.in(t)
		x, y := a.mustClick(tok, "").RecordClick, a.mustClick(tok, "").RecordClick
		if !x.IsNew || !y.IsNew || x.Click.ClickID == y.Click.ClickID || len(x.Click.ClickID) < 16 {
			t.Errorf("got %q and %q", x.Click.ClickID, y.Click.ClickID)
		}
	})
	t.Run("ErrUnknownToken", func(t *testing.T) {
		a := a.in(t)
		a.mustFail("", recordClickMutation, map[string]any{"input": map[string]any{"browserSourceToken": "nope"}}, "NOT_FOUND", "")
	})
	t.Run("ErrClickIDMalformed", func(t *testing.T) {
		a := a.in(t)
		for _, id := range []string{"has space", strings.Repeat("x", 65), "ünï"} {
			a.mustFail("", recordClickMutation, map[string]any{"input": map[string]any{"browserSourceToken": tok, "clickId": id}}, "BAD_USER_INPUT", "input.clickId")
		}
	})
	t.Run("ErrClickIDOfAnotherParticipation", func(t *testing.T) {
		a := a.in(t)
		other := a.mustJoin(a.mustSignUp("STREAMER"), c.ID)
		a.mustClick(tok, "shared-id")
		a.mustFail("", recordClickMutation, map[string]any{"input": map[string]any{"browserSourceToken": token(t, other), "clickId": "shared-id"}}, "CONFLICT", "")
	})
	t.Run("PausedCampaignRecordsButNeverBills", func(t *testing.T) {
		a := a.in(t)
		pc := a.mustActiveCampaign(brand, "Paused")
		pp := a.mustJoin(streamer, pc.ID)
		a.mustSetStatus(brand, pc.ID, "PAUSED")
		if got := a.mustClick(token(t, pp), "paused-1").RecordClick; !got.IsNew {
			t.Errorf("got %+v, want new", got)
		}
		a.project()
		if got := a.mustClick(token(t, pp), "paused-1").RecordClick; got.Click.Billing != "NOT_BILLED" {
			t.Errorf("billing: got %s, want NOT_BILLED", got.Click.Billing)
		}
		if tt := a.totals(brand, pc.ID).Campaign; tt.Stats.Clicks != 1 || tt.Spent.Amount != "0.00" {
			t.Errorf("campaign: got %+v", tt)
		}
	})
	t.Run("LeftParticipationTokenIsNotFound", func(t *testing.T) {
		a := a.in(t)
		s := a.mustSignUp("STREAMER")
		lp := a.mustJoin(s, c.ID)
		a.mustDo(s.Token, `mutation($id: ID!) { leaveCampaign(participationId: $id) { id } }`, map[string]any{"id": lp.ID}, nil)
		a.mustFail("", recordClickMutation, map[string]any{"input": map[string]any{"browserSourceToken": token(t, lp)}}, "NOT_FOUND", "")
	})
}

func TestClickRedirect(t *testing.T) {
	t.Parallel()
	a := mustStartApp(t)
	brand := a.mustSignUp("BRAND")
	streamer := a.mustSignUp("STREAMER")
	in := campaignInput("Redirect")
	in["landingUrl"] = "https://shop.example.com/offer?src=tally&click={click_id}"
	c := a.mustCreateCampaign(brand, in)
	a.mustSetStatus(brand, c.ID, "ACTIVE")
	tok := token(t, a.mustJoin(streamer, c.ID))
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

	t.Run("RecordsAndRedirects", func(t *testing.T) {
		seen := map[string]bool{}
		for range 3 {
			resp, err := noFollow.Get(a.srv.URL + "/r/" + tok)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusFound {
				t.Fatalf("status %d", resp.StatusCode)
			}
			loc, err := url.Parse(resp.Header.Get("Location"))
			if err != nil || loc.Host != "shop.example.com" || loc.Query().Get("src") != "tally" {
				t.Fatalf("Location %q", resp.Header.Get("Location"))
			}
			id := loc.Query().Get("click")
			if id == "" || seen[id] {
				t.Fatalf("click id %q (seen before: %v)", id, seen[id])
			}
			seen[id] = true
			if resp.Header.Get("Referrer-Policy") != "no-referrer" || !strings.Contains(resp.Header.Get("Cache-Control"), "no-store") {
				t.Errorf("headers: %v", resp.Header)
			}
			if _, err := repository.NewClicks(a.store).WithClickID(context.Background(), id, 1); err != nil {
				t.Errorf("click %q not recorded: %v", id, err)
			}
		}
		if got := a.totals(brand, c.ID).Campaign.Stats.Clicks; got != 3 {
			t.Errorf("clicks: got %d, want 3", got)
		}
	})
	t.Run("UnknownTokenIs404Page", func(t *testing.T) {
		resp, err := noFollow.Get(a.srv.URL + "/r/unknown-token")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
			t.Errorf("got %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
		}
	})
}

func TestRecordConversion(t *testing.T) {
	t.Parallel()
	a := mustStartApp(t)
	brand := a.mustSignUp("BRAND")
	otherBrand := a.mustSignUp("BRAND")
	streamer := a.mustSignUp("STREAMER")
	admin := a.mustMakeAdmin()
	c := a.mustActiveCampaign(brand, "Converts") // goal signup pays 1.50
	p := a.mustJoin(streamer, c.ID)
	tok := token(t, p)
	key, keyID := a.mustAPIKey(brand)
	otherKey, _ := a.mustAPIKey(otherBrand)
	for i := range 6 {
		a.mustClick(tok, fmt.Sprintf("c%d", i))
	}

	t.Run("WithAPIKeyThenRepeat", func(t *testing.T) {
		a := a.in(t)
		r := a.doWithKey(key, recordConversionMutation, conversionVars("c0", "signup"))
		if len(r.Errors) > 0 {
			t.Fatalf("errors: %+v", r.Errors)
		}
		var first conversionPayload
		mustDecode(t, r.Data, &first)
		conv := first.RecordConversion
		if !conv.IsNew || conv.Conversion.Billing != "PENDING" || conv.Conversion.Payout.Amount != "1.50" || conv.Conversion.Status != "APPROVED" ||
			conv.Conversion.Participation.ID != p.ID || conv.Conversion.ExternalID == nil || *conv.Conversion.ExternalID != "ext-c0" {
			t.Fatalf("got %+v", conv)
		}
		a.project()
		var again conversionPayload
		mustDecode(t, a.doWithKey(key, recordConversionMutation, conversionVars("c0", "signup")).Data, &again)
		if again.RecordConversion.IsNew || again.RecordConversion.Conversion.ID != conv.Conversion.ID || again.RecordConversion.Conversion.Billing != "BILLED" {
			t.Fatalf("again: got %+v, want the same conversion, BILLED once projected", again.RecordConversion)
		}
		tt := a.totals(brand, c.ID).Campaign
		if tt.Stats.Conversions != 1 || tt.Spent.Amount != "3.00" { // 6 clicks × 0.25 + 1.50
			t.Errorf("campaign: got %+v", tt)
		}
		if e := tt.Participations.Edges[0].Node.Stats.Earnings.Amount; e != "3.00" {
			t.Errorf("earnings: got %s", e)
		}
	})
	t.Run("BrandAndAdminMayRecord", func(t *testing.T) {
		a := a.in(t)
		var x conversionPayload
		a.mustDo(brand.Token, recordConversionMutation, conversionVars("c1", "signup"), &x)
		a.mustDo(admin.Token, recordConversionMutation, conversionVars("c2", "signup"), &x)
		if !x.RecordConversion.IsNew {
			t.Error("admin's conversion is not new")
		}
	})
	t.Run("ErrOthersForbidden", func(t *testing.T) {
		a := a.in(t)
		// Another brand may not see the click: NOT_FOUND, as for a click
		// that does not exist. Its streamer may see it: FORBIDDEN.
		a.mustFail(otherBrand.Token, recordConversionMutation, conversionVars("c3", "signup"), "NOT_FOUND", "")
		a.mustFail(streamer.Token, recordConversionMutation, conversionVars("c3", "signup"), "FORBIDDEN", "")
		r := a.doWithKey(otherKey, recordConversionMutation, conversionVars("c3", "signup"))
		if len(r.Errors) == 0 || r.Errors[0].Code() != "NOT_FOUND" {
			t.Errorf("another brand's key: got %+v", r)
		}
		a.mustFail("", recordConversionMutation, conversionVars("c3", "signup"), "UNAUTHENTICATED", "")
	})
	t.Run("ErrUnknownClick", func(t *testing.T) {
		a := a.in(t)
		a.mustFail(brand.Token, recordConversionMutation, conversionVars("never-clicked", "signup"), "NOT_FOUND", "")
	})
	t.Run("ErrUnknownGoal", func(t *testing.T) {
		a := a.in(t)
		a.mustFail(brand.Token, recordConversionMutation, conversionVars("c3", "purchase"), "BAD_USER_INPUT", "input.goalId")
	})
	t.Run("ErrInvalidInput", func(t *testing.T) {
		a := a.in(t)
		a.mustFail(brand.Token, recordConversionMutation, conversionVars("bad id", "signup"), "BAD_USER_INPUT", "input.clickId")
		a.mustFail(brand.Token, recordConversionMutation, map[string]any{"input": map[string]any{"clickId": "c3", "goalId": "signup", "externalId": strings.Repeat("e", 129)}}, "BAD_USER_INPUT", "input.externalId")
	})
	t.Run("RevokedKeyStopsAtOnce", func(t *testing.T) {
		a := a.in(t)
		k2, id2 := a.mustAPIKey(brand)
		var rev struct{ RevokeApiKey struct{ RevokedAt *string } }
		a.mustFail(otherBrand.Token, `mutation($id: ID!) { revokeApiKey(id: $id) { revokedAt } }`, map[string]any{"id": id2}, "NOT_FOUND", "")
		a.mustDo(brand.Token, `mutation($id: ID!) { revokeApiKey(id: $id) { revokedAt } }`, map[string]any{"id": id2}, &rev)
		if rev.RevokeApiKey.RevokedAt == nil {
			t.Error("no revokedAt")
		}
		r := a.doWithKey(k2, recordConversionMutation, conversionVars("c4", "signup"))
		if r.Status != http.StatusUnauthorized || len(r.Errors) == 0 || r.Errors[0].Code() != "UNAUTHENTICATED" {
			t.Errorf("revoked key: got %d %+v", r.Status, r.Errors)
		}
		_ = keyID
	})
	t.Run("ConversionsList", func(t *testing.T) {
		a := a.in(t)
		// Its own campaign, so that it runs alone as well as after the others.
		c := a.mustActiveCampaign(brand, "Listed")
		p := a.mustJoin(streamer, c.ID)
		for i := range 3 {
			id := fmt.Sprintf("list-%d", i)
			a.mustClick(token(t, p), id)
			mustOK(t, a.doWithKey(key, recordConversionMutation, conversionVars(id, "signup")))
		}
		var d struct {
			Conversions struct {
				Edges []struct{ Node struct{ ClickID string } }
			}
		}
		a.mustDo(brand.Token, `query($id: ID!) { conversions(campaignId: $id) { edges { node { clickId } } } }`, map[string]any{"id": c.ID}, &d)
		if len(d.Conversions.Edges) != 3 {
			t.Errorf("brand sees %d conversions, want 3", len(d.Conversions.Edges))
		}
		a.mustDo(streamer.Token, `query($id: ID!) { conversions(participationId: $id) { edges { node { clickId } } } }`, map[string]any{"id": p.ID}, &d)
		if len(d.Conversions.Edges) != 3 {
			t.Errorf("streamer sees %d conversions, want 3", len(d.Conversions.Edges))
		}
		a.mustFail(streamer.Token, `query($id: ID!) { conversions(campaignId: $id) { edges { node { clickId } } } }`, map[string]any{"id": c.ID}, "FORBIDDEN", "")
		a.mustFail(brand.Token, `{ conversions { edges { node { clickId } } } }`, nil, "BAD_USER_INPUT", "campaignId")
	})
}

func TestAPIKeys(t *testing.T) {
	t.Parallel()
	a := mustStartApp(t)
	brand := a.mustSignUp("BRAND")
	const create = `mutation($input: CreateApiKeyInput!) { createApiKey(input: $input) { key apiKey { id name scopes createdAt lastUsedAt revokedAt } } }`
	t.Run("OK", func(t *testing.T) {
		a := a.in(t)
		var d struct {
			CreateApiKey struct {
				Key    string
				ApiKey struct {
					ID, Name   string
					Scopes     []string
					LastUsedAt *string
				}
			}
		}
		a.mustDo(brand.Token, create, map[string]any{"input": map[string]any{"name": " partner ", "scopes": []string{"CONVERSIONS_WRITE"}}}, &d)
		k := d.CreateApiKey
		if !strings.HasPrefix(k.Key, "tly_") || len(k.Key) < 40 || k.ApiKey.Name != "partner" || fmt.Sprint(k.ApiKey.Scopes) != "[CONVERSIONS_WRITE]" || k.ApiKey.LastUsedAt != nil {
			t.Errorf("got %+v", k)
		}
	})
	t.Run("ErrStreamerForbidden", func(t *testing.T) {
		a := a.in(t)
		a.mustFail(a.mustSignUp("STREAMER").Token, create, map[string]any{"input": map[string]any{"name": "x", "scopes": []string{"CONVERSIONS_WRITE"}}}, "FORBIDDEN", "")
		a.mustFail("", create, map[string]any{"input": map[string]any{"name": "x", "scopes": []string{"CONVERSIONS_WRITE"}}}, "UNAUTHENTICATED", "")
	})
	t.Run("ErrInvalid", func(t *testing.T) {
		a := a.in(t)
		a.mustFail(brand.Token, create, map[string]any{"input": map[string]any{"name": "", "scopes": []string{"CONVERSIONS_WRITE"}}}, "BAD_USER_INPUT", "input.name")
		a.mustFail(brand.Token, create, map[string]any{"input": map[string]any{"name": "x", "scopes": []string{}}}, "BAD_USER_INPUT", "input.scopes")
	})
	t.Run("ErrUnknownKeyOnQuery", func(t *testing.T) {
		a := a.in(t)
		r := a.doWithKey("tly_nonsense", `{ __typename }`, nil)
		if r.Status != http.StatusUnauthorized || len(r.Errors) == 0 || r.Errors[0].Code() != "UNAUTHENTICATED" {
			t.Errorf("got %d %+v", r.Status, r.Errors)
		}
	})
}

func TestPostback(t *testing.T) {
	t.Parallel()
	a := mustStartApp(t)
	brand := a.mustSignUp("BRAND")
	streamer := a.mustSignUp("STREAMER")
	c := a.mustActiveCampaign(brand, "Postbacks")
	tok := token(t, a.mustJoin(streamer, c.ID))
	key, _ := a.mustAPIKey(brand)
	a.mustClick(tok, "pb-1")
	a.mustClick(tok, "pb-2")

	type answer struct {
		IsNew        bool   `json:"isNew"`
		ConversionID string `json:"conversionId"`
		Error        struct {
			Code, Message, Field string
		} `json:"error"`
	}
	get := func(t *testing.T, params url.Values, headers map[string]string) (int, answer) {
		t.Helper()
		resp, raw := a.in(t).request(http.MethodGet, "/postback?"+params.Encode(), headers, nil)
		var ans answer
		if !mustDecode(t, raw, &ans) {
			t.Fatalf("not JSON (%d): %s", resp.StatusCode, raw)
		}
		return resp.StatusCode, ans
	}
	t.Run("GETWithKeyParamThenRepeat", func(t *testing.T) {
		q := url.Values{"click_id": {"pb-1"}, "goal_id": {"signup"}, "external_id": {"order-9"}, "key": {key}}
		status, first := get(t, q, nil)
		if status != 200 || !first.IsNew || first.ConversionID == "" {
			t.Fatalf("got %d %+v", status, first)
		}
		status, again := get(t, q, nil)
		if status != 200 || again.IsNew || again.ConversionID != first.ConversionID {
			t.Fatalf("again: got %d %+v", status, again)
		}
	})
	t.Run("POSTFormWithHeader", func(t *testing.T) {
		form := url.Values{"click_id": {"pb-2"}, "goal_id": {"signup"}}
		resp, raw := a.in(t).request(http.MethodPost, "/postback", map[string]string{"X-Api-Key": key, "Content-Type": "application/x-www-form-urlencoded"}, strings.NewReader(form.Encode()))
		var ans answer
		mustDecode(t, raw, &ans)
		if resp.StatusCode != 200 || !ans.IsNew {
			t.Fatalf("got %d %s", resp.StatusCode, raw)
		}
	})
	t.Run("Errors", func(t *testing.T) {
		cases := []struct {
			name   string
			q      url.Values
			status int
			code   string
			field  string
		}{
			{"NoKey", url.Values{"click_id": {"pb-1"}, "goal_id": {"signup"}}, 401, "UNAUTHENTICATED", ""},
			{"BadKey", url.Values{"click_id": {"pb-1"}, "goal_id": {"signup"}, "key": {"tly_wrong"}}, 401, "UNAUTHENTICATED", ""},
			{"UnknownClick", url.Values{"click_id": {"nope"}, "goal_id": {"signup"}, "key": {key}}, 404, "NOT_FOUND", ""},
			{"UnknownGoal", url.Values{"click_id": {"pb-1"}, "goal_id": {"buy"}, "key": {key}}, 400, "BAD_USER_INPUT", "goal_id"},
			{"MissingClick", url.Values{"goal_id": {"signup"}, "key": {key}}, 400, "BAD_USER_INPUT", "click_id"},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				status, ans := get(t, tc.q, nil)
				if status != tc.status || ans.Error.Code != tc.code || ans.Error.Field != tc.field || ans.Error.Message == "" {
					t.Errorf("got %d %+v", status, ans)
				}
				if m := ans.Error.Message; strings.Contains(m, "clickId") || strings.Contains(m, "goalId") {
					t.Errorf("message %q names recordConversion's input, not the parameter as sent", m)
				}
			})
		}
	})
	// A partner's server reads {"error": {...}} whatever went wrong: an
	// oversized body and a method other than GET or POST too, not the
	// GraphQL shape /query answers them with, nor a plain-text page.
	t.Run("ErrorShapeOutsideTheHandler", func(t *testing.T) {
		form := "click_id=pb-1&goal_id=signup&external_id=" + strings.Repeat("x", 70<<10)
		cases := []struct {
			name, method string
			body         io.Reader
			status       int
		}{
			{"BodyOverLimit", http.MethodPost, strings.NewReader(form), http.StatusRequestEntityTooLarge},
			{"ChunkedBodyOverLimit", http.MethodPost, io.MultiReader(strings.NewReader(form)), http.StatusRequestEntityTooLarge},
			{"PUT", http.MethodPut, strings.NewReader("click_id=pb-1"), http.StatusMethodNotAllowed},
			{"DELETE", http.MethodDelete, nil, http.StatusMethodNotAllowed},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				resp, raw := a.in(t).request(tc.method, "/postback", map[string]string{"X-Api-Key": key, "Content-Type": "application/x-www-form-urlencoded"}, tc.body)
				var ans answer
				if !mustDecode(t, raw, &ans) || resp.StatusCode != tc.status || ans.Error.Code != "BAD_USER_INPUT" || ans.Error.Message == "" {
					t.Errorf("got %d %s; want %d and {\"error\": {\"code\": \"BAD_USER_INPUT\", ...}}", resp.StatusCode, raw, tc.status)
				}
			})
		}
	})
}

// TestTrackingConcurrency is the heart of the suite: through the real HTTP
// handler, many goroutines send the same clicks and conversions many times
// each. Exactly one call per key says isNew, no call errs, counters and money
// are exact, and a budget that covers only some events is spent exactly and
// never exceeded.
func TestTrackingConcurrency(t *testing.T) {
	t.Parallel()
	a := mustStartApp(t)
	brand := a.mustSignUp("BRAND")
	streamer := a.mustSignUp("STREAMER")
	key, _ := a.mustAPIKey(brand)
	const (
		keys    = 30 // distinct click ids
		repeats = 6  // each sent this often, concurrently
		billed  = 18 // the budget covers this many clicks
	)
	in := campaignInput("Stampede")
	in["budget"], in["cpc"] = fmt.Sprintf("%d.00", billed), "1.00" // exactly 18 clicks
	in["goals"] = []any{map[string]any{"goalId": "signup", "name": "Sign-up", "payout": "0.50"}}
	c := a.mustCreateCampaign(brand, in)
	a.mustSetStatus(brand, c.ID, "ACTIVE")
	p := a.mustJoin(streamer, c.ID)
	tok := token(t, p)

	var newClicks, errs atomic.Int32
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range keys * repeats {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			r := a.do("", recordClickMutation, map[string]any{"input": map[string]any{"browserSourceToken": tok, "clickId": fmt.Sprintf("k%d", i%keys)}})
			if len(r.Errors) > 0 {
				errs.Add(1)
				t.Errorf("click: %+v", r.Errors)
				return
			}
			var pl clickPayload
			mustDecode(t, r.Data, &pl)
			if pl.RecordClick.IsNew {
				newClicks.Add(1)
			}
		}()
	}
	close(start)
	wg.Wait()
	if newClicks.Load() != keys || errs.Load() != 0 {
		t.Fatalf("clicks: %d isNew (want %d), %d errors", newClicks.Load(), keys, errs.Load())
	}
	a.project()
	billedClicks := 0
	for i := range keys {
		if a.mustClick(tok, fmt.Sprintf("k%d", i)).RecordClick.Click.Billing == "BILLED" {
			billedClicks++
		}
	}
	if billedClicks != billed {
		t.Fatalf("clicks: %d BILLED once projected, want %d", billedClicks, billed)
	}
	tt := a.totals(brand, c.ID).Campaign
	if tt.Stats.Clicks != keys || tt.Spent.Amount != fmt.Sprintf("%d.00", billed) || tt.Remaining.Amount != "0.00" || tt.Status != "EXHAUSTED" {
		t.Fatalf("campaign after clicks: %+v", tt)
	}
	if ps := tt.Participations.Edges[0].Node.Stats; ps.Clicks != keys || ps.Earnings.Amount != fmt.Sprintf("%d.00", billed) {
		t.Fatalf("participation after clicks: %+v", ps)
	}

	// Raise the budget for exactly 4 conversions of 0.50, reactivate, and
	// race every click's conversion, each reported many times by the
	// partner's key and the brand alike.
	a.mustDo(brand.Token, updateCampaignMutation, map[string]any{"id": c.ID, "input": map[string]any{"budget": fmt.Sprintf("%d.00", billed+2), "status": "ACTIVE"}}, nil)
	var newConv atomic.Int32
	start = make(chan struct{})
	for i := range keys * repeats {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			vars := conversionVars(fmt.Sprintf("k%d", i%keys), "signup")
			var r gqlResponse
			if i%2 == 0 {
				r = a.doWithKey(key, recordConversionMutation, vars)
			} else {
				r = a.do(brand.Token, recordConversionMutation, vars)
			}
			if len(r.Errors) > 0 {
				errs.Add(1)
				t.Errorf("conversion: %+v", r.Errors)
				return
			}
			var pl conversionPayload
			mustDecode(t, r.Data, &pl)
			if pl.RecordConversion.IsNew {
				newConv.Add(1)
			}
		}()
	}
	close(start)
	wg.Wait()
	if newConv.Load() != keys || errs.Load() != 0 {
		t.Fatalf("conversions: %d isNew (want %d), %d errors", newConv.Load(), keys, errs.Load())
	}
	a.project()
	billedConv := 0
	for i := range keys {
		var pl conversionPayload
		a.mustDo(brand.Token, recordConversionMutation, conversionVars(fmt.Sprintf("k%d", i), "signup"), &pl)
		if pl.RecordConversion.Conversion.Billing == "BILLED" {
			billedConv++
		}
	}
	if billedConv != 4 {
		t.Fatalf("conversions: %d BILLED once projected, want 4", billedConv)
	}
	tt = a.totals(brand, c.ID).Campaign
	want := fmt.Sprintf("%d.00", billed+2)
	if tt.Stats.Conversions != keys || tt.Spent.Amount != want || tt.Remaining.Amount != "0.00" || tt.Status != "EXHAUSTED" {
		t.Fatalf("campaign after conversions: %+v", tt)
	}
	if ps := tt.Participations.Edges[0].Node.Stats; ps.Conversions != keys || ps.Earnings.Amount != want {
		t.Fatalf("participation after conversions: %+v", ps)
	}
	var d dailyData
	a.mustDo(brand.Token, dailyStatsQuery, map[string]any{"scope": "CAMPAIGN", "id": c.ID, "from": "2026-11-23", "to": "2026-11-23"}, &d)
	if s := d.DailyStats[0]; s.Clicks != keys || s.Conversions != keys || s.Spend.Amount != want {
		t.Fatalf("daily: %+v", s)
	}
}

func TestDailyStatsAccess(t *testing.T) {
	t.Parallel()
	a := mustStartApp(t)
	brand := a.mustSignUp("BRAND")
	streamer := a.mustSignUp("STREAMER")
	other := a.mustSignUp("STREAMER")
	c := a.mustActiveCampaign(brand, "Stats")
	p := a.mustJoin(streamer, c.ID)
	vars := func(scope, id, from, to string) map[string]any {
		return map[string]any{"scope": scope, "id": id, "from": from, "to": to}
	}
	a.mustFail(streamer.Token, dailyStatsQuery, vars("CAMPAIGN", c.ID, "2026-11-01", "2026-11-02"), "FORBIDDEN", "")
	a.mustFail(other.Token, dailyStatsQuery, vars("PARTICIPATION", p.ID, "2026-11-01", "2026-11-02"), "NOT_FOUND", "")
	a.mustFail(other.Token, dailyStatsQuery, vars("STREAMER", streamer.ID, "2026-11-01", "2026-11-02"), "FORBIDDEN", "")
	a.mustFail("", dailyStatsQuery, vars("STREAMER", streamer.ID, "2026-11-01", "2026-11-02"), "UNAUTHENTICATED", "")
	a.mustFail(brand.Token, dailyStatsQuery, vars("CAMPAIGN", c.ID, "2026-13-01", "2026-11-02"), "BAD_USER_INPUT", "from")
	a.mustFail(brand.Token, dailyStatsQuery, vars("CAMPAIGN", c.ID, "2026-11-03", "2026-11-02"), "BAD_USER_INPUT", "to")
	a.mustFail(brand.Token, dailyStatsQuery, vars("CAMPAIGN", c.ID, "2025-01-01", "2026-11-02"), "BAD_USER_INPUT", "to")
	var d dailyData
	a.mustDo(brand.Token, dailyStatsQuery, vars("PARTICIPATION", p.ID, "2026-11-01", "2026-11-30"), &d)
	if len(d.DailyStats) != 30 {
		t.Errorf("got %d days, want 30", len(d.DailyStats))
	}
}

// TestClickIDsAreScopedToTheCampaign: an id a caller chooses is unique
// within its campaign, so nobody can squat another tenant's future click
// ids; a conversion finds the click among the campaigns its caller manages.
func TestClickIDsAreScopedToTheCampaign(t *testing.T) {
	t.Parallel()
	a := mustStartApp(t)
	brandA, brandB := a.mustSignUp("BRAND"), a.mustSignUp("BRAND")
	squatter, streamer := a.mustSignUp("STREAMER"), a.mustSignUp("STREAMER")
	ca, cb := a.mustActiveCampaign(brandA, "A"), a.mustActiveCampaign(brandB, "B")
	tokA := token(t, a.mustJoin(squatter, ca.ID))
	tokB := token(t, a.mustJoin(streamer, cb.ID))
	keyA, _ := a.mustAPIKey(brandA)
	keyB, _ := a.mustAPIKey(brandB)

	wantField(t, "the squatter's click is new", a.mustClick(tokA, "order-1001").RecordClick.IsNew, true)
	b := a.mustClick(tokB, "order-1001").RecordClick
	wantField(t, "B's click with the same id is new", b.IsNew, true)
	wantField(t, "B's click is B's", b.Click.Campaign.ID, cb.ID)

	var conv conversionPayload
	r := a.doWithKey(keyB, recordConversionMutation, conversionVars("order-1001", "signup"))
	mustOK(t, r)
	mustDecode(t, r.Data, &conv)
	wantField(t, "B's conversion is on B's click", conv.RecordConversion.Conversion.Campaign.ID, cb.ID)
	r = a.doWithKey(keyA, recordConversionMutation, conversionVars("order-1001", "signup"))
	mustOK(t, r)
	mustDecode(t, r.Data, &conv)
	wantField(t, "A's conversion is on A's click", conv.RecordConversion.Conversion.Campaign.ID, ca.ID)
	wantField(t, "A's is new too", conv.RecordConversion.IsNew, true)

	// The same brand's two campaigns with the same custom id: ambiguous.
	ca2 := a.mustActiveCampaign(brandA, "A2")
	tokA2 := token(t, a.mustJoin(squatter, ca2.ID))
	a.mustClick(tokA, "dup-id")
	a.mustClick(tokA2, "dup-id")
	a.mustFail("", recordConversionMutation, conversionVars("dup-id", "signup"), "UNAUTHENTICATED", "")
	r = a.doWithKey(keyA, recordConversionMutation, conversionVars("dup-id", "signup"))
	if len(r.Errors) == 0 || r.Errors[0].Code() != "BAD_USER_INPUT" || r.Errors[0].Field() != "input.clickId" {
		t.Errorf("ambiguous click id: %+v, want BAD_USER_INPUT on input.clickId", r.Errors)
	}
	// Another brand's click only: NOT_FOUND, as for an id no campaign has.
	r = a.doWithKey(keyB, recordConversionMutation, conversionVars("dup-id", "signup"))
	if len(r.Errors) == 0 || r.Errors[0].Code() != "NOT_FOUND" {
		t.Errorf("another brand's click: %+v, want NOT_FOUND", r.Errors)
	}
}

// TestReplacedIndexesAreDropped: a store an older Tally indexed (a global
// unique clickId) is re-indexed at start-up, so the old index cannot keep
// blocking ids across campaigns.
func TestReplacedIndexesAreDropped(t *testing.T) {
	t.Parallel()
	store := repotest.MustOpen(t)
	ctx := context.Background()
	if err := repository.SeedIndex(ctx, store, "clicks", "clickId_1", true, "clickId"); err != nil {
		t.Fatal(err)
	}
	if err := store.EnsureIndexes(ctx); err != nil {
		t.Fatal(err)
	}
	a := mustStartAppOn(t, store)
	brand := a.mustSignUp("BRAND")
	s1, s2 := a.mustSignUp("STREAMER"), a.mustSignUp("STREAMER")
	t1 := token(t, a.mustJoin(s1, a.mustActiveCampaign(brand, "One").ID))
	t2 := token(t, a.mustJoin(s2, a.mustActiveCampaign(brand, "Two").ID))
	a.mustClick(t1, "same-id")
	wantField(t, "the same id in another campaign is new", a.mustClick(t2, "same-id").RecordClick.IsNew, true)
}
