package e2e

import (
	"strings"
	"testing"
)

// TestPrivateFieldsThroughTheExecutor: wherever a User is reached — a
// campaign's brand, a participation's streamer, by alias, fragment, inline
// fragment on Node, @defer or a batch — its @private fields are null for
// everyone but the user themself (and admins), and present for them.
func TestPrivateFieldsThroughTheExecutor(t *testing.T) {
	t.Parallel()
	a := mustStartApp(t)
	brand := a.mustSignUp("BRAND")
	c := a.mustActiveCampaign(brand, "Private")
	streamer := a.mustSignUp("STREAMER")
	a.mustJoin(streamer, c.ID)
	gid := a.globalID(brand, `query($id: ID!) { campaign(id: $id) { globalId } }`, c.ID)

	const private = `email campaignSelectionStrategy campaignRotationSettings { preferredStrategy }`
	const nulls = `"email":null,"campaignSelectionStrategy":null,"campaignRotationSettings":null`
	for _, tc := range []struct {
		name, token, query string
		vars               map[string]any
		hidden             string // the email that must not appear
		want               []string
	}{
		{"a campaign's brand, to a streamer", streamer.Token,
			`query($id: ID!) { campaign(id: $id) { brand { ` + private + ` } } }`, map[string]any{"id": c.ID}, brand.Email, []string{nulls}},
		{"by alias", streamer.Token,
			`query($id: ID!) { campaign(id: $id) { b: brand { e: email s: campaignSelectionStrategy } } }`, map[string]any{"id": c.ID}, brand.Email,
			[]string{`"e":null,"s":null`}},
		{"through a fragment", streamer.Token,
			`query($id: ID!) { campaign(id: $id) { brand { ...P } } } fragment P on User { ` + private + ` }`, map[string]any{"id": c.ID}, brand.Email,
			[]string{nulls}},
		{"through node(id:) and ... on Campaign", streamer.Token,
			`query($id: ID!) { node(id: $id) { ... on Campaign { brand { ` + private + ` } } } }`, map[string]any{"id": gid}, brand.Email,
			[]string{nulls}},
		{"under @defer", streamer.Token,
			`query($id: ID!) { campaign(id: $id) { id ... @defer { brand { ` + private + ` } } } }`, map[string]any{"id": c.ID}, brand.Email,
			[]string{nulls}},
		{"a participation's streamer, to the brand", brand.Token,
			`query($id: ID!) { campaign(id: $id) { participations(first: 5) { edges { node { streamer { ` + private + ` } } } } } }`,
			map[string]any{"id": c.ID}, streamer.Email, []string{nulls}},
		{"the brand's own campaign's brand, to the brand", brand.Token,
			`query($id: ID!) { campaign(id: $id) { brand { email campaignSelectionStrategy } } }`, map[string]any{"id": c.ID}, "",
			[]string{`"email":"` + brand.Email + `"`, `"campaignSelectionStrategy":"FAIR_ROTATION"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := a.do(tc.token, tc.query, tc.vars)
			if len(r.Errors) > 0 {
				t.Fatalf("errors: %+v", r.Errors)
			}
			data := string(r.Data)
			if tc.hidden != "" && strings.Contains(data, tc.hidden) {
				t.Fatalf("the other user's email is in the answer: %s", data)
			}
			for _, w := range tc.want {
				if !strings.Contains(data, w) {
					t.Errorf("want %s in %s", w, data)
				}
			}
		})
	}
}
