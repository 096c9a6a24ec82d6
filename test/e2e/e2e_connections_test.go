package e2e

import (
	"fmt"
	"strings"
	"testing"
)

// A connection page as the tests read it: node names (or ids), the cursors
// and the whole PageInfo.
type connPage struct {
	Edges []struct {
		Cursor string
		Node   struct{ ID, Name string }
	}
	PageInfo struct {
		HasNextPage, HasPreviousPage bool
		StartCursor, EndCursor       *string
	}
	TotalCount int
}

func (p connPage) names() string {
	var out []string
	for _, e := range p.Edges {
		out = append(out, e.Node.Name)
	}
	return strings.Join(out, " ")
}

// want checks the page's items, its PageInfo and its total; a field that
// is off is named.
func (p connPage) want(t *testing.T, label, names string, hasNext, hasPrev bool, total int) {
	t.Helper()
	wantField(t, label+" names", p.names(), names)
	wantField(t, label+" hasNextPage", p.PageInfo.HasNextPage, hasNext)
	wantField(t, label+" hasPreviousPage", p.PageInfo.HasPreviousPage, hasPrev)
	wantField(t, label+" totalCount", p.TotalCount, total)
	if n := len(p.Edges); n > 0 {
		if p.PageInfo.StartCursor == nil || *p.PageInfo.StartCursor != p.Edges[0].Cursor {
			t.Errorf("%s startCursor: got %v, want the first edge's cursor %s", label, p.PageInfo.StartCursor, p.Edges[0].Cursor)
		}
		if p.PageInfo.EndCursor == nil || *p.PageInfo.EndCursor != p.Edges[n-1].Cursor {
			t.Errorf("%s endCursor: got %v, want the last edge's cursor %s", label, p.PageInfo.EndCursor, p.Edges[n-1].Cursor)
		}
	} else if p.PageInfo.StartCursor != nil || p.PageInfo.EndCursor != nil {
		t.Errorf("%s: cursors on an empty page", label)
	}
}

const connFields = `edges { cursor node { id name } } pageInfo { hasNextPage hasPreviousPage startCursor endCursor } totalCount`

const relayCampaignsQuery = `query($first: Int, $after: String, $last: Int, $before: String) {
  campaigns(first: $first, after: $after, last: $last, before: $before) { ` + connFields + ` } }`

// TestConnectionsForwardAndBackward pages through seven campaigns (C6 is the
// newest, listed first) by threes, forward from the start and backward from
// the end, across every page boundary, and inside a window given by both
// cursors.
func TestConnectionsForwardAndBackward(t *testing.T) {
	t.Parallel()
	a := mustStartApp(t)
	brand := a.mustSignUp("BRAND")
	for i := range 7 {
		a.mustCreateCampaign(brand, campaignInput(fmt.Sprintf("C%d", i)))
	}
	a.mustCreateCampaign(a.mustSignUp("BRAND"), campaignInput("Other brand's")) // never in brand's list
	page := func(vars map[string]any) connPage {
		t.Helper()
		var data struct{ Campaigns connPage }
		a.mustDo(brand.Token, relayCampaignsQuery, vars, &data)
		return data.Campaigns
	}

	t.Run("Forward", func(t *testing.T) {
		p1 := page(map[string]any{"first": 3})
		p1.want(t, "page 1", "C6 C5 C4", true, false, 7)
		p2 := page(map[string]any{"first": 3, "after": *p1.PageInfo.EndCursor})
		p2.want(t, "page 2", "C3 C2 C1", true, true, 7)
		p3 := page(map[string]any{"first": 3, "after": *p2.PageInfo.EndCursor})
		p3.want(t, "page 3", "C0", false, true, 7)
		page(map[string]any{"first": 3, "after": *p3.PageInfo.EndCursor}).want(t, "past the end", "", false, true, 7)
	})
	t.Run("Backward", func(t *testing.T) {
		p1 := page(map[string]any{"last": 3})
		p1.want(t, "last page", "C2 C1 C0", false, true, 7)
		p2 := page(map[string]any{"last": 3, "before": *p1.PageInfo.StartCursor})
		p2.want(t, "page before", "C5 C4 C3", true, true, 7)
		p3 := page(map[string]any{"last": 3, "before": *p2.PageInfo.StartCursor})
		p3.want(t, "first page", "C6", true, false, 7)
		page(map[string]any{"last": 3, "before": *p3.PageInfo.StartCursor}).want(t, "before the start", "", true, false, 7)
	})
	t.Run("BackAndForth", func(t *testing.T) {
		// A client that went forward two pages comes back one: it sees page 1.
		p1 := page(map[string]any{"first": 3})
		p2 := page(map[string]any{"first": 3, "after": *p1.PageInfo.EndCursor})
		back := page(map[string]any{"last": 3, "before": *p2.PageInfo.StartCursor})
		back.want(t, "back to page 1", "C6 C5 C4", true, false, 7)
		// Only before, no last: the page of the default size just before it.
		page(map[string]any{"before": *p2.PageInfo.EndCursor}).want(t, "before alone", "C6 C5 C4 C3 C2", true, false, 7)
	})
	t.Run("BetweenBothCursors", func(t *testing.T) {
		all := page(map[string]any{"first": 7})
		after, before := all.Edges[0].Cursor, all.Edges[5].Cursor // C6 and C1: the window is C5…C2
		page(map[string]any{"first": 2, "after": after, "before": before}).want(t, "first 2 in the window", "C5 C4", true, true, 7)
		page(map[string]any{"last": 2, "after": after, "before": before}).want(t, "last 2 in the window", "C3 C2", true, true, 7)
		page(map[string]any{"first": 9, "after": after, "before": before}).want(t, "the whole window", "C5 C4 C3 C2", false, true, 7)
		page(map[string]any{"last": 9, "after": after, "before": before}).want(t, "the whole window backward", "C5 C4 C3 C2", true, false, 7)
	})
	t.Run("TotalCountFollowsTheFilter", func(t *testing.T) {
		var data struct{ Campaigns connPage }
		a.mustDo(brand.Token, `{ campaigns(filter: {search: "c6"}, first: 1) { `+connFields+` } }`, nil, &data)
		data.Campaigns.want(t, "search", "C6", false, false, 1)
	})
}

// TestConnectionsEveryList: campaign participations, a user's
// participations and conversions page backward with totalCount too.
func TestConnectionsEveryList(t *testing.T) {
	t.Parallel()
	a := mustStartApp(t)
	brand := a.mustSignUp("BRAND")
	camps := make([]campaignData, 3)
	for i := range camps {
		camps[i] = a.mustActiveCampaign(brand, fmt.Sprintf("C%d", i))
	}
	streamers := make([]testUser, 3)
	parts := make([]participationData, 3)
	for i := range streamers {
		streamers[i] = a.mustSignUp("STREAMER")
		parts[i] = a.mustJoin(streamers[i], camps[0].ID)
	}
	for _, c := range camps[1:] {
		a.mustJoin(streamers[0], c.ID)
	}
	for i := range 3 {
		a.mustClick(token(t, parts[0]), fmt.Sprintf("k%d", i))
		a.mustDo(brand.Token, recordConversionMutation, conversionVars(fmt.Sprintf("k%d", i), "signup"), nil)
	}
	ids := func(p connPage) string {
		var out []string
		for _, e := range p.Edges {
			out = append(out, e.Node.ID)
		}
		return strings.Join(out, " ")
	}
	const partFields = `edges { cursor node { id } } pageInfo { hasNextPage hasPreviousPage startCursor endCursor } totalCount`

	t.Run("CampaignParticipations", func(t *testing.T) {
		var data struct {
			Campaign struct{ Participations connPage }
		}
		a.mustDo(brand.Token, `query($id: ID!) { campaign(id: $id) { participations(last: 2) { `+partFields+` } } }`,
			map[string]any{"id": camps[0].ID}, &data)
		p := data.Campaign.Participations
		wantField(t, "ids", ids(p), parts[1].ID+" "+parts[0].ID)
		wantField(t, "hasPreviousPage", p.PageInfo.HasPreviousPage, true)
		wantField(t, "hasNextPage", p.PageInfo.HasNextPage, false)
		wantField(t, "totalCount", p.TotalCount, 3)
	})
	t.Run("UserParticipations", func(t *testing.T) {
		var data struct {
			Me struct{ Participations connPage }
		}
		a.mustDo(streamers[0].Token, `{ me { participations(last: 1) { `+partFields+` } } }`, nil, &data)
		p := data.Me.Participations
		wantField(t, "ids", ids(p), parts[0].ID) // the oldest of the streamer's three
		wantField(t, "hasPreviousPage", p.PageInfo.HasPreviousPage, true)
		wantField(t, "totalCount", p.TotalCount, 3)
	})
	t.Run("Conversions", func(t *testing.T) {
		q := `query($id: ID, $first: Int, $after: String, $last: Int, $before: String) {
		  conversions(participationId: $id, first: $first, after: $after, last: $last, before: $before) { ` + partFields + ` } }`
		var all, back struct{ Conversions connPage }
		a.mustDo(brand.Token, q, map[string]any{"id": parts[0].ID, "first": 3}, &all)
		wantField(t, "totalCount", all.Conversions.TotalCount, 3)
		a.mustDo(brand.Token, q, map[string]any{"id": parts[0].ID, "last": 5, "before": all.Conversions.Edges[2].Cursor}, &back)
		wantField(t, "ids before the oldest", ids(back.Conversions), ids(all.Conversions)[:strings.LastIndex(ids(all.Conversions), " ")])
		wantField(t, "hasNextPage", back.Conversions.PageInfo.HasNextPage, true)
		wantField(t, "hasPreviousPage", back.Conversions.PageInfo.HasPreviousPage, false)
	})
}

// TestConnectionArguments: the argument at fault is named, BAD_USER_INPUT.
func TestConnectionArguments(t *testing.T) {
	t.Parallel()
	a := mustStartApp(t)
	brand := a.mustSignUp("BRAND")
	c := a.mustCreateCampaign(brand, campaignInput("Only"))
	for _, tc := range []struct {
		name  string
		vars  map[string]any
		field string
	}{
		{"ErrFirstAndLast", map[string]any{"first": 2, "last": 2}, "last"},
		{"ErrLastNegative", map[string]any{"last": -1}, "last"},
		{"ErrLastOverMax", map[string]any{"last": 101}, "last"},
		{"ErrFirstOverMax", map[string]any{"first": 101}, "first"},
		{"ErrBeforeNotACursor", map[string]any{"last": 2, "before": "nope"}, "before"},
		{"ErrAfterNotACursor", map[string]any{"after": "nope", "before": "nope"}, "after"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a.in(t).mustFail(brand.Token, relayCampaignsQuery, tc.vars, "BAD_USER_INPUT", tc.field)
		})
	}
	t.Run("ErrOnNestedLists", func(t *testing.T) {
		a := a.in(t)
		a.mustFail(brand.Token, `query($id: ID!) { campaign(id: $id) { participations(first: 1, last: 1) { totalCount } } }`,
			map[string]any{"id": c.ID}, "BAD_USER_INPUT", "last")
		a.mustFail(brand.Token, `query($id: ID!) { conversions(campaignId: $id, last: 500) { totalCount } }`,
			map[string]any{"id": c.ID}, "BAD_USER_INPUT", "last")
	})
}

// TestTotalCountOnlyWhenAsked: totalCount is one more store call, paid only by
// a query that selects it (here through a fragment).
func TestTotalCountOnlyWhenAsked(t *testing.T) {
	t.Parallel()
	a := mustStartApp(t)
	admin := a.mustMakeAdmin()
	calls := func(q string) int64 {
		before := a.store.Calls()
		a.mustDo(admin.Token, q, nil, nil)
		return a.store.Calls() - before
	}
	calls(`{ me { id } }`) // the caller's user read, cached after the first on the embedded store
	without := calls(`{ campaigns(first: 2) { edges { cursor } pageInfo { hasNextPage } } }`)
	with := calls(`{ campaigns(first: 2) { ...Total edges { cursor } pageInfo { hasNextPage } } } fragment Total on CampaignConnection { totalCount }`)
	if with != without+1 {
		t.Fatalf("store calls: %d without totalCount, %d with it; want exactly one more with it", without, with)
	}
}
