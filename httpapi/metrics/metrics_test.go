package metrics

import (
	"fmt"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
)

func scrape(t *testing.T, m *Metrics) string {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(rec.Body)
	if rec.Code != 200 {
		t.Fatalf("scrape: %d %s", rec.Code, body)
	}
	return string(body)
}

// TestOperationNamesFromRequests: an operation name is any string a request
// sent; it never panics, and it never makes more series than the bound.
func TestOperationNamesFromRequests(t *testing.T) {
	m := New()
	for _, name := range []string{"\xff", "a\xffb", "1abc", "has space", "Émile", "dash-ed", strings.Repeat("A", 300)} {
		m.Operation(name, "", "refused", 0)
	}
	m.Operation("GoodName_2", "query", "ok", 0)
	for i := range maxOperationNames + 50 {
		m.Operation(fmt.Sprintf("Op%d", i), "query", "ok", 0)
	}
	for i := range 500 {
		m.Operation(fmt.Sprintf("bad name %d \xff", i), "query", "refused", 0)
	}
	page := scrape(t, m)
	for _, want := range []string{
		`tally_graphql_operations_total{operation="invalid",outcome="refused",type="unknown"} 7`,
		`tally_graphql_operations_total{operation="invalid",outcome="refused",type="query"} 500`,
		`tally_graphql_operations_total{operation="GoodName_2",outcome="ok",type="query"} 1`,
		`tally_graphql_operations_total{operation="other",outcome="ok",type="query"} 51`,
	} {
		if !strings.Contains(page, want+"\n") {
			t.Errorf("want %s", want)
		}
	}
	if n := strings.Count(page, "tally_graphql_operations_total{"); n > maxOperationNames+3 {
		t.Errorf("%d operation series; the bound is %d names and other, invalid", n, maxOperationNames)
	}
	if n := len(m.names); n != maxOperationNames {
		t.Errorf("%d names kept, want %d", n, maxOperationNames)
	}
}

func TestHTTPRouteNeverPanics(t *testing.T) {
	m := New()
	m.HTTPRequest("GET /r/\xff", 200, 0)
	if page := scrape(t, m); !strings.Contains(page, `route="GET /r/`+"\uFFFD"+`"`) {
		t.Error("the route's series is missing")
	}
}
