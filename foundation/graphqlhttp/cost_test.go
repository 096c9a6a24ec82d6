package httpapi

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/parser"
	"github.com/vektah/gqlparser/v2/validator"

	"tally/graph"
)

func mustOperation(t *testing.T, q string) *ast.QueryDocument {
	t.Helper()
	doc, err := parser.ParseQuery(&ast.Source{Input: q})
	if err != nil {
		t.Fatal(err)
	}
	if errs := validator.Validate(graph.NewExecutableSchema(graph.Config{}).Schema(), doc); len(errs) > 0 {
		t.Fatal(errs)
	}
	return doc
}

func TestCostOf(t *testing.T) {
	for _, tc := range []struct {
		query string
		vars  map[string]any
		want  operationCost
	}{
		{`{ me { id email } }`, nil, operationCost{Cost: 3, Depth: 2}},
		// participations defaults to first: 20
		{`{ me { participations { edges { node { id } } } } }`, nil, operationCost{Cost: 1 + 1 + 20*3, Depth: 5}},
		{`query($n: Int) { campaigns(first: $n) { edges { node { participations(first: $n) { edges { node { id } } } } } } }`,
			map[string]any{"n": int64(100)}, operationCost{Cost: 1 + 100*(1+1+1+100*3), Depth: 7}},
		{`{ dailyStats(scope: CAMPAIGN, id: "x", from: "2026-01-01", to: "2026-12-31") { date clicks } }`, nil,
			operationCost{Cost: 1 + 365*2, Depth: 2}},
		{`mutation { logIn(input: {email: "a", password: "b"}) { token } }`, nil, operationCost{Cost: 101, Depth: 2, PasswordChecks: 1}},
		{`mutation { ...M ...M } fragment M on Mutation { recordClick(input: {browserSourceToken: "t"}) { isNew } }`, nil,
			operationCost{Cost: 22, Depth: 2, RecordMutations: 2}},
	} {
		doc := mustOperation(t, tc.query)
		vars := tc.vars
		got, err := costOf(context.Background(), doc.Operations[0], doc.Fragments, vars)
		if err != nil || got != tc.want {
			t.Errorf("%s: got %+v, %v; want %+v", tc.query, got, err, tc.want)
		}
	}
}

// TestCostOfStopsWhenTheClientGoes: the pass checks the request's context.
func TestCostOfStopsWhenTheClientGoes(t *testing.T) {
	var b strings.Builder
	b.WriteString("{")
	for i := range 5000 {
		fmt.Fprintf(&b, " a%d: __typename", i)
	}
	b.WriteString(" }")
	doc := mustOperation(t, b.String())
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := costOf(ctx, doc.Operations[0], doc.Fragments, nil); !errors.Is(err, context.Canceled) {
		t.Errorf("got %v, want context.Canceled", err)
	}
}
