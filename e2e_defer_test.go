package main

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
	text := string(raw)
	first, later := strings.Index(text, `"hasNext":true`), strings.Index(text, `"label":"later"`)
	if first < 0 || later < 0 || later < first {
		t.Fatalf("want an initial part with hasNext true, then the deferred one labelled later:\n%s", text)
	}
	if !strings.Contains(text, `"totalCount":0`) || !strings.Contains(text, `"hasNext":false`) {
		t.Errorf("the deferred fields or the last part are missing:\n%s", text)
	}
}
