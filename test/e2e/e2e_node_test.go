package e2e

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"tally/domain"
)

const nodeQuery = `query($id: ID!) { node(id: $id) { __typename globalId
  ... on Campaign { id name status } ... on Participation { id } ... on User { id displayName } } }`

type nodeData struct {
	Typename string `json:"__typename"`
	GlobalID string
	ID       string
	Name     string
}

// node asks node(id:) as who; nil when the answer is null.
func (a *testApp) node(who testUser, gid string) *nodeData {
	a.t.Helper()
	var data struct{ Node *nodeData }
	a.mustDo(who.Token, nodeQuery, map[string]any{"id": gid}, &data)
	return data.Node
}

func (a *testApp) globalID(who testUser, query, id string) string {
	a.t.Helper()
	var data map[string]struct{ GlobalID string }
	a.mustDo(who.Token, query, map[string]any{"id": id}, &data)
	for _, v := range data {
		return v.GlobalID
	}
	a.t.Fatalf("no globalId in the answer to %s", query)
	return ""
}

// TestNode: node(id:) and nodes(ids:) show each object exactly as its own
// query does, and answer null alike for what does not exist and for what the
// caller may not see.
func TestNode(t *testing.T) {
	t.Parallel()
	a := mustStartApp(t)
	brand, otherBrand := a.mustSignUp("BRAND"), a.mustSignUp("BRAND")
	streamer, otherStreamer := a.mustSignUp("STREAMER"), a.mustSignUp("STREAMER")
	admin := a.mustMakeAdmin()
	draft := a.mustCreateCampaign(brand, campaignInput("Secret draft"))
	active := a.mustActiveCampaign(brand, "Live one")
	part := a.mustJoin(streamer, active.ID)

	draftGID := a.globalID(brand, `query($id: ID!) { campaign(id: $id) { globalId } }`, draft.ID)
	activeGID := a.globalID(brand, `query($id: ID!) { campaign(id: $id) { globalId } }`, active.ID)
	partGID := a.globalID(streamer, `query($id: ID!) { participation(id: $id) { globalId } }`, part.ID)
	var me struct{ Me struct{ GlobalID string } }
	a.mustDo(streamer.Token, `{ me { globalId } }`, nil, &me)
	userGID := me.Me.GlobalID
	unknownGID := domain.GlobalID(domain.NodeCampaign, "65a1b2c3d4e5f60718293a4b")

	t.Run("GlobalIDsAreOpaqueAndDistinctFromID", func(t *testing.T) {
		for _, g := range []string{draftGID, activeGID, partGID, userGID} {
			if g == "" || strings.Contains(g, ":") || g == draft.ID || g == active.ID || g == part.ID || g == streamer.ID {
				t.Errorf("global id %q is empty, readable or a plain id", g)
			}
		}
	})
	t.Run("RoundTrip", func(t *testing.T) {
		for _, tc := range []struct {
			who          testUser
			gid, typ, id string
		}{
			{brand, draftGID, "Campaign", draft.ID},
			{streamer, activeGID, "Campaign", active.ID},
			{streamer, partGID, "Participation", part.ID},
			{brand, partGID, "Participation", part.ID},
			{streamer, userGID, "User", streamer.ID},
			{admin, draftGID, "Campaign", draft.ID},
			{admin, userGID, "User", streamer.ID},
		} {
			n := a.in(t).node(tc.who, tc.gid)
			if n == nil {
				t.Errorf("%s %s: got null", tc.typ, tc.id)
				continue
			}
			wantField(t, tc.id+" __typename", n.Typename, tc.typ)
			wantField(t, tc.id+" id", n.ID, tc.id)
			wantField(t, tc.id+" globalId", n.GlobalID, tc.gid)
		}
	})
	t.Run("NullWhereTheOwnQueryRefuses", func(t *testing.T) {
		a := a.in(t)
		for _, tc := range []struct {
			name string
			who  testUser
			gid  string
		}{
			{"AnotherBrandsDraft", otherBrand, draftGID},
			{"AStreamerAndADraft", streamer, draftGID},
			{"AnotherStreamersParticipation", otherStreamer, partGID},
			{"AnotherBrandAndAParticipation", otherBrand, partGID},
			{"AnotherUser", otherStreamer, userGID},
			{"ABrandAndItsStreamer", brand, userGID},
			{"Unknown", brand, unknownGID},
		} {
			r := a.do(tc.who.Token, nodeQuery, map[string]any{"id": tc.gid})
			// Exactly the answer for an id that does not exist: no error, no hint.
			if len(r.Errors) != 0 || string(r.Data) != `{"node":null}` {
				t.Errorf("%s: got data %s, errors %+v; want {\"node\":null} and no error", tc.name, r.Data, r.Errors)
			}
		}
		// The campaign's own query refuses the other brand the same way.
		a.mustFail(otherBrand.Token, `query($id: ID!) { campaign(id: $id) { id } }`, map[string]any{"id": draft.ID}, "NOT_FOUND", "")
	})
	t.Run("ErrUnauthenticated", func(t *testing.T) {
		a.in(t).mustFail("", nodeQuery, map[string]any{"id": activeGID}, "UNAUTHENTICATED", "")
	})
	t.Run("ErrNotAGlobalID", func(t *testing.T) {
		a := a.in(t)
		for _, bad := range []string{active.ID, "not base64!", domain.GlobalID("Conversion", active.ID), domain.GlobalID(domain.NodeCampaign, "")} {
			a.mustFail(brand.Token, nodeQuery, map[string]any{"id": bad}, "BAD_USER_INPUT", "id")
		}
	})
	t.Run("Nodes", func(t *testing.T) {
		const q = `query($ids: [ID!]!) { nodes(ids: $ids) { __typename ... on Campaign { id } ... on Participation { id } } }`
		var data struct {
			Nodes []*struct {
				Typename string `json:"__typename"`
				ID       string
			}
		}
		a.mustDo(otherBrand.Token, q, map[string]any{"ids": []string{activeGID, draftGID, partGID, unknownGID, activeGID}}, &data)
		var got []string
		for _, n := range data.Nodes {
			if n == nil {
				got = append(got, "null")
			} else {
				got = append(got, n.Typename+":"+n.ID)
			}
		}
		// otherBrand may not see brand's campaigns at all, nor the participation.
		wantField(t, "nodes as another brand", strings.Join(got, " "), "null null null null null")
		a.mustDo(brand.Token, q, map[string]any{"ids": []string{activeGID, draftGID, partGID, unknownGID}}, &data)
		got = nil
		for _, n := range data.Nodes {
			if n == nil {
				got = append(got, "null")
			} else {
				got = append(got, n.Typename+":"+n.ID)
			}
		}
		wantField(t, "nodes as the brand", strings.Join(got, " "),
			fmt.Sprintf("Campaign:%s Campaign:%s Participation:%s null", active.ID, draft.ID, part.ID))
	})
	t.Run("ErrNodesBounded", func(t *testing.T) {
		a := a.in(t)
		many := make([]string, domain.MaxNodes+1)
		for i := range many {
			many[i] = activeGID
		}
		a.mustFail(brand.Token, `query($ids: [ID!]!) { nodes(ids: $ids) { globalId } }`, map[string]any{"ids": many}, "BAD_USER_INPUT", "ids")
		a.mustFail(brand.Token, `query($ids: [ID!]!) { nodes(ids: $ids) { globalId } }`, map[string]any{"ids": []string{activeGID, "junk"}}, "BAD_USER_INPUT", "ids[1]")
		var ok struct{ Nodes []json.RawMessage }
		a.mustDo(brand.Token, `query($ids: [ID!]!) { nodes(ids: $ids) { globalId } }`, map[string]any{"ids": many[:domain.MaxNodes]}, &ok)
		wantField(t, "nodes at the limit", len(ok.Nodes), domain.MaxNodes)
	})
}
