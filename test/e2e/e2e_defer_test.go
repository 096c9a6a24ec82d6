package e2e

import (
	"net/http"
	"strings"
	"testing"
)

// TestDeferIsIncremental: a query with @defer, sent as Apollo Client sends
// it (Accept: multipart/mixed), is answered in parts: the initial payload
// first, the deferred fragment after it. gqlgen defers what a resolver
// answers (here participations, a store read); fields read off the object
// already in hand come with the initial payload.
func TestDeferIsIncremental(t *testing.T) {
	t.Parallel()
	a := mustStartApp(t)
	u := a.mustSignUp("STREAMER")
	body := gqlBody(`{ me { id ... @defer(label: "later") { displayName participations(first: 5) { totalCount } } } }`)
	resp, raw := a.request(http.MethodPost, "/query", map[string]string{"Content-Type": "application/json",
		"Accept": "multipart/mixed;deferSpec=20220824, application/json", "Authorization": "Bearer " + u.Token}, strings.NewReader(body))
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "multipart/mixed") {
		t.Fatalf("status %d, Content-Type %q: %s", resp.StatusCode, resp.Header.Get("Content-Type"), raw)
	}
	if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control %q on an authenticated answer, want no-store", cc)
	}
	text := string(raw)
	first, later := strings.Index(text, `"hasNext":true`), strings.Index(text, `"label":"later"`)
	if first < 0 || later < 0 || later < first {
		t.Fatalf("want an initial part with hasNext true, then the deferred one labelled later:\n%s", text)
	}
	if !strings.Contains(text, `"totalCount":0`) || !strings.Contains(text, `"hasNext":false`) {
		t.Errorf("the deferred fields or the last part are missing:\n%s", text)
	}
}

// TestDeferInOneAnswer: a client that does not ask for incremental delivery
// (plain JSON, as curl or graphql-request send) still gets every field it
// selected under @defer, in one answer, in the selection's order, inside
// lists too.
func TestDeferInOneAnswer(t *testing.T) {
	t.Parallel()
	a := mustStartApp(t)
	brand := a.mustSignUp("BRAND")
	a.mustActiveCampaign(brand, "First")
	a.mustActiveCampaign(brand, "Second")

	r := a.do(brand.Token, `{ me { id ... @defer(label: "later") { displayName participations(first: 5) { totalCount } } role } }`, nil)
	if len(r.Errors) > 0 {
		t.Fatalf("errors: %+v", r.Errors)
	}
	want := `{"me":{"id":"` + brand.ID + `","displayName":"User BRAND","participations":{"totalCount":0},"role":"BRAND"}}`
	if got := string(r.Data); got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}

	r = a.do(brand.Token, `{ campaigns(first: 5) { edges { node { name ... @defer { brand { displayName } stats { clicks } } } } } }`, nil)
	if len(r.Errors) > 0 {
		t.Fatalf("errors: %+v", r.Errors)
	}
	var data struct {
		Campaigns struct {
			Edges []struct {
				Node struct {
					Name  string
					Brand *struct{ DisplayName string }
					Stats *struct{ Clicks int }
				}
			}
		}
	}
	mustDecode(t, r.Data, &data)
	if len(data.Campaigns.Edges) != 2 {
		t.Fatalf("want 2 campaigns: %s", r.Data)
	}
	for _, e := range data.Campaigns.Edges {
		if e.Node.Brand == nil || e.Node.Brand.DisplayName != "User BRAND" || e.Node.Stats == nil {
			t.Errorf("a deferred field is missing from %s: %s", e.Node.Name, r.Data)
		}
	}
}
