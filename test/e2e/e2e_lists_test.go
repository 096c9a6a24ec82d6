package e2e

import (
	"fmt"
	"testing"
)

const campaignsQuery = `query($filter: CampaignFilter, $first: Int, $after: String) {
  campaigns(filter: $filter, first: $first, after: $after) {
    edges { cursor node { id name status brand { id } } }
    pageInfo { hasNextPage endCursor } } }`

type campaignsPage struct {
	Campaigns struct {
		Edges []struct {
			Cursor string
			Node   struct{ ID, Name, Status string }
		}
		PageInfo struct {
			HasNextPage bool
			EndCursor   *string
		}
	}
}

func (p campaignsPage) names() []string {
	var out []string
	for _, e := range p.Campaigns.Edges {
		out = append(out, e.Node.Name)
	}
	return out
}

func TestCampaignsList(t *testing.T) {
	t.Parallel()
	a := mustStartApp(t)
	brand := a.mustSignUp("BRAND")
	other := a.mustSignUp("BRAND")
	streamer := a.mustSignUp("STREAMER")
	admin := a.mustMakeAdmin()
	a.mustActiveCampaign(brand, "Summer Sale")
	a.mustCreateCampaign(brand, campaignInput("Winter Draft"))
	a.mustActiveCampaign(other, "Spring Things")

	list := func(who testUser, vars map[string]any) campaignsPage {
		t.Helper()
		var p campaignsPage
		a.mustDo(who.Token, campaignsQuery, vars, &p)
		return p
	}
	t.Run("StreamerSeesActiveOnly", func(t *testing.T) {
		if got := fmt.Sprint(list(streamer, nil).names()); got != "[Spring Things Summer Sale]" {
			t.Errorf("got %s", got)
		}
		if got := list(streamer, map[string]any{"filter": map[string]any{"status": "DRAFT"}}).names(); len(got) != 0 {
			t.Errorf("drafts leaked to a streamer: %v", got)
		}
	})
	t.Run("BrandSeesOwnOnly", func(t *testing.T) {
		if got := fmt.Sprint(list(brand, nil).names()); got != "[Winter Draft Summer Sale]" {
			t.Errorf("got %s", got)
		}
		if got := list(brand, map[string]any{"filter": map[string]any{"brandId": other.ID}}).names(); len(got) != 0 {
			t.Errorf("another brand's campaigns leaked: %v", got)
		}
		if got := fmt.Sprint(list(brand, map[string]any{"filter": map[string]any{"status": "DRAFT"}}).names()); got != "[Winter Draft]" {
			t.Errorf("status filter: got %s", got)
		}
	})
	t.Run("AdminSeesAll", func(t *testing.T) {
		if got := len(list(admin, nil).names()); got != 3 {
			t.Errorf("got %d campaigns, want 3", got)
		}
		if got := fmt.Sprint(list(admin, map[string]any{"filter": map[string]any{"brandId": other.ID}}).names()); got != "[Spring Things]" {
			t.Errorf("got %s", got)
		}
	})
	t.Run("SearchByWordPrefixes", func(t *testing.T) {
		cases := map[string]string{"sum": "[Summer Sale]", "SALE summ": "[Summer Sale]", "s": "[Spring Things Summer Sale]", "things spr": "[Spring Things]", "xyz": "[]", "sale winter": "[]"}
		for q, want := range cases {
			if got := fmt.Sprint(list(admin, map[string]any{"filter": map[string]any{"search": q}}).names()); got != want {
				t.Errorf("search %q: got %s, want %s", q, got, want)
			}
		}
	})
	t.Run("ErrUnauthenticated", func(t *testing.T) {
		a := a.in(t)
		a.mustFail("", campaignsQuery, nil, "UNAUTHENTICATED", "")
	})
	t.Run("ErrBadPageArguments", func(t *testing.T) {
		a := a.in(t)
		a.mustFail(admin.Token, campaignsQuery, map[string]any{"first": 101}, "BAD_USER_INPUT", "first")
		a.mustFail(admin.Token, campaignsQuery, map[string]any{"first": -1}, "BAD_USER_INPUT", "first")
		a.mustFail(admin.Token, campaignsQuery, map[string]any{"after": "not-a-cursor"}, "BAD_USER_INPUT", "after")
	})
}

// TestPaginationWithInserts pages through a brand's campaigns while new ones
// are created between pages: every campaign that existed at the start is seen
// exactly once, in order, and the new ones never shift later pages.
func TestPaginationWithInserts(t *testing.T) {
	t.Parallel()
	a := mustStartApp(t)
	brand := a.mustSignUp("BRAND")
	var want []string
	for i := range 7 {
		name := fmt.Sprintf("C%d", i)
		a.mustCreateCampaign(brand, campaignInput(name))
		want = append([]string{name}, want...) // newest first
	}
	var got []string
	after := any(nil)
	for page := 0; ; page++ {
		var p campaignsPage
		a.mustDo(brand.Token, campaignsQuery, map[string]any{"first": 3, "after": after}, &p)
		got = append(got, p.names()...)
		a.mustCreateCampaign(brand, campaignInput(fmt.Sprintf("New%d", page)))
		if !p.Campaigns.PageInfo.HasNextPage {
			if p.Campaigns.PageInfo.EndCursor == nil && len(p.Campaigns.Edges) > 0 {
				t.Fatal("no endCursor on a non-empty page")
			}
			break
		}
		after = *p.Campaigns.PageInfo.EndCursor
		if page > 5 {
			t.Fatal("pagination does not end")
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}

// TestStoreCallsDoNotGrowWithPageSize: participation.campaign,
// participation.streamer and campaign.brand are batched per request, so a
// page of many costs the same store calls as a page of few.
func TestStoreCallsDoNotGrowWithPageSize(t *testing.T) {
	a := mustStartApp(t)
	streamer := a.mustSignUp("STREAMER")
	for i := range 12 {
		brand := a.mustSignUp("BRAND")
		c := a.mustActiveCampaign(brand, fmt.Sprintf("Batch %d", i))
		a.mustJoin(streamer, c.ID)
	}
	const q = `query($n: Int) { me { participations(first: $n) { edges { node {
	  id campaign { name brand { displayName } } streamer { displayName } } } } } }`
	calls := func(n int) int64 {
		before := a.store.Calls()
		var data struct {
			Me struct{ Participations struct{ Edges []any } }
		}
		a.mustDo(streamer.Token, q, map[string]any{"n": n}, &data)
		if got := len(data.Me.Participations.Edges); got != n {
			t.Fatalf("got %d edges, want %d", got, n)
		}
		return a.store.Calls() - before
	}
	small, large := calls(2), calls(12)
	// the caller's user (the session check, which me and the streamer
	// batch reuse) + participations page + campaigns batch + brands batch
	// Batches that fire close together may merge, so the count can drop to
	// 4, but it never grows with the page.
	if small > 5 || large > 5 {
		t.Fatalf("store calls: %d for 2 items, %d for 12; want at most 5 for both", small, large)
	}

	admin := a.mustMakeAdmin()
	const cq = `query($n: Int) { campaigns(first: $n) { edges { node { name brand { displayName } } } } }`
	ccalls := func(n int) int64 {
		before := a.store.Calls()
		a.mustDo(admin.Token, cq, map[string]any{"n": n}, nil)
		return a.store.Calls() - before
	}
	// the caller's user (the session check) + campaigns page + brands batch
	if s, l := ccalls(2), ccalls(12); s > 3 || l > 3 {
		t.Fatalf("campaigns: %d store calls for 2, %d for 12; want at most 3 for both", s, l)
	}
}
