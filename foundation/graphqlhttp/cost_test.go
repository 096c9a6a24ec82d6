package graphqlhttp

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

// testSchema has the shapes costOf prices: pages by first/last, a list
// sized by its arguments, quota fields.
var testSchema = gqlparser.MustLoadSchema(&ast.Source{Name: "test.graphqls", Input: `
type Query {
	me: User
	campaigns(first: Int, last: Int): CampaignConnection!
	stats(days: Int!): [Day!]!
}
type Mutation {
	logIn(email: String!, password: String!): Session!
	signUp(email: String!, password: String!): Session!
	changePassword(password: String!): Session!
	recordClick(token: String!): Recorded!
}
type User { id: ID! email: String! participations(first: Int, last: Int): ParticipationConnection! }
type Campaign { id: ID! participations(first: Int, last: Int): ParticipationConnection! }
type CampaignConnection { edges: [CampaignEdge!]! }
type CampaignEdge { node: Campaign! }
type ParticipationConnection { edges: [ParticipationEdge!]! }
type ParticipationEdge { node: Participation! }
type Participation { id: ID! }
type Day { date: String! clicks: Int! }
type Session { token: String! }
type Recorded { isNew: Boolean! }
`})

// testOptions price as Tally does: password checks 100 and at most one,
// record mutations 10 and at most 10, pages of 20 by default.
var testOptions = Options{
	Quotas: []Quota{
		{Code: "PASSWORD_CHECK_LIMIT_EXCEEDED", Fields: []string{"Mutation.logIn", "Mutation.signUp", "Mutation.changePassword"}, Cost: 100, Max: 1},
		{Code: "RECORD_MUTATION_LIMIT_EXCEEDED", Fields: []string{"Mutation.recordClick"}, Cost: 10, Max: 10},
	},
	DefaultPageSize: 20,
	ListSizes: map[string]func(map[string]any) int64{
		"Query.stats": func(args map[string]any) int64 { return intArg(args["days"]) },
	},
}

func mustOperation(t *testing.T, q string) *ast.QueryDocument {
	t.Helper()
	doc, errs := gqlparser.LoadQueryWithRules(testSchema, q, nil)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	return doc
}

func TestCostOf(t *testing.T) {
	p := newPricing(testOptions)
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
		{`{ campaigns(last: 5) { edges { node { id } } } }`, nil, operationCost{Cost: 1 + 5*3, Depth: 4}},
		{`{ stats(days: 365) { date clicks } }`, nil, operationCost{Cost: 1 + 365*2, Depth: 2}},
		{`mutation { logIn(email: "a", password: "b") { token } }`, nil, operationCost{Cost: 101, Depth: 2, Quotas: []int64{1, 0}}},
		{`mutation { ...M ...M } fragment M on Mutation { recordClick(token: "t") { isNew } }`, nil,
			operationCost{Cost: 22, Depth: 2, Quotas: []int64{0, 2}}},
	} {
		doc := mustOperation(t, tc.query)
		got, err := costOf(context.Background(), p, doc.Operations[0], doc.Fragments, tc.vars)
		if err != nil || !reflect.DeepEqual(got, tc.want) {
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
	if _, err := costOf(ctx, newPricing(testOptions), doc.Operations[0], doc.Fragments, nil); !errors.Is(err, context.Canceled) {
		t.Errorf("got %v, want context.Canceled", err)
	}
}

// TestQuotaRefusals: a quota refuses in the order given, naming its fields,
// "one" for a quota of one; the batch's words are put in front.
func TestQuotaRefusals(t *testing.T) {
	l := newOperationLimits(testOptions, Limits{MaxComplexity: 1000}, nil, persistedQueries{})
	refuse := func(code, format string, args ...any) *gqlerror.Error {
		return &gqlerror.Error{Message: fmt.Sprintf(format, args...), Extensions: map[string]any{"code": code}}
	}
	for _, tc := range []struct {
		c         operationCost
		what      string
		code, msg string
	}{
		{operationCost{Cost: 202, Quotas: []int64{2, 0}}, "", "PASSWORD_CHECK_LIMIT_EXCEEDED",
			"a request may run at most one of logIn, signUp and changePassword; this one asks for 2"},
		{operationCost{Cost: 110, Quotas: []int64{0, 11}}, "counting the batch's operations before it, ", "RECORD_MUTATION_LIMIT_EXCEEDED",
			"a request may run at most 10 of recordClick; counting the batch's operations before it, this one asks for 11"},
		{operationCost{Cost: 2000, Quotas: []int64{2, 11}}, "", "PASSWORD_CHECK_LIMIT_EXCEEDED",
			"a request may run at most one of logIn, signUp and changePassword; this one asks for 2"},
		{operationCost{Cost: 2000, Quotas: []int64{1, 10}}, "", errComplexityLimit,
			"the operation has complexity 2000, which exceeds the limit of 1000"},
		{operationCost{Cost: 999, Quotas: []int64{1, 10}}, "", "", ""},
	} {
		err := l.check(tc.c, refuse, tc.what)
		switch {
		case tc.code == "" && err != nil:
			t.Errorf("%+v: refused with %v, want accepted", tc.c, err)
		case tc.code != "" && (err == nil || err.Extensions["code"] != tc.code || err.Message != tc.msg):
			t.Errorf("%+v: got %v, want %s %q", tc.c, err, tc.code, tc.msg)
		}
	}
}
