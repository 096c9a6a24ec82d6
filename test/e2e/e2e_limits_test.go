package e2e

import (
	"fmt"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// fragmentBomb is the ~1 KB document whose fragments double at each level:
// F0 selects one field, Fk spreads Fk-1 twice, the query spreads Fn.
func fragmentBomb(n int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "query { ...F%d }\nfragment F0 on Query { __typename }\n", n)
	for k := 1; k <= n; k++ {
		fmt.Fprintf(&b, "fragment F%d on Query { ...F%d ...F%d }\n", k, k-1, k-1)
	}
	return b.String()
}

// TestFragmentBombRefusedFast: fragments are priced once each, so a document
// that expands to 2^n fields is refused without being expanded (2^62 fields
// expanded would never finish) and without being executed. How fast is
// BenchmarkRefusals' business, not this test's.
func TestFragmentBombRefusedFast(t *testing.T) {
	a := mustStartApp(t) // DefaultLimits
	for _, n := range []int{26, 40, 62} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			q := fragmentBomb(n)
			r := a.in(t).do("", q, nil)
			if r.Status != http.StatusBadRequest || len(r.Errors) != 1 || r.Errors[0].Extensions["reason"] != "COMPLEXITY_LIMIT_EXCEEDED" {
				t.Fatalf("want a 400 COMPLEXITY_LIMIT_EXCEEDED, got %d %+v", r.Status, r.Errors)
			}
			if len(r.Data) != 0 && string(r.Data) != "null" {
				t.Errorf("a refused document was executed: data %s", r.Data)
			}
		})
	}
	t.Run("ShallowFragmentsStillWork", func(t *testing.T) {
		a.in(t).mustDo("", fragmentBomb(3), nil, nil)
	})
}

// TestQueryCacheKeepsOnlyAdmittedDocuments: documents refused by a limit are
// never cached, and the cache is bounded in bytes, so distinct large
// documents over the complexity limit do not pile up in memory.
func TestQueryCacheKeepsOnlyAdmittedDocuments(t *testing.T) {
	a := mustStartApp(t) // DefaultLimits
	// 20 pages of 100 campaigns cost 20 × 301, over 5,000; a ~400 KiB comment
	// (no tokens) makes each document large without reaching the token limit.
	padding := "#" + strings.Repeat("x", 400<<10) + "\n"
	var sel strings.Builder
	for i := range 20 {
		fmt.Fprintf(&sel, " p%d: campaigns(first: 100) { edges { node { id } } }", i)
	}
	heap := func() uint64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	before := heap()
	const docs = 300
	for i := range docs {
		q := padding + fmt.Sprintf("query Q%d {", i) + sel.String() + " }"
		r := a.do("", q, nil)
		if r.Status != http.StatusBadRequest || len(r.Errors) == 0 || r.Errors[0].Extensions["reason"] != "COMPLEXITY_LIMIT_EXCEEDED" {
			t.Fatalf("document %d: want COMPLEXITY_LIMIT_EXCEEDED, got %d %+v", i, r.Status, r.Errors)
		}
	}
	// Documents that pass every limit but are large are not cached either
	// (one may not take over 1/16 of the cache), nor kept beyond its bound.
	for i := range 100 {
		a.mustDo("", padding+fmt.Sprintf("query P%d { __typename }", i), nil, nil)
	}
	// The shape: ~400 KiB of aliased __typename, over the token limit.
	var aliases strings.Builder
	for i := 0; aliases.Len() < 400<<10; i++ {
		fmt.Fprintf(&aliases, " a%d: __typename", i)
	}
	for i := range 100 {
		r := a.do("", fmt.Sprintf("query T%d {", i)+aliases.String()+" }", nil)
		if r.Status != http.StatusBadRequest {
			t.Fatalf("alias document %d: %d %+v", i, r.Status, r.Errors)
		}
	}
	grew := int64(heap()) - int64(before)
	t.Logf("heap grew %d KiB after %d distinct 400 KiB documents", grew>>10, docs+200)
	if grew > 100<<20 {
		t.Errorf("heap grew %d MiB, want under 100 MiB", grew>>20)
	}

	t.Run("ErrTooManyTokens", func(t *testing.T) {
		// ~400 KiB of aliased __typename: far over the token limit.
		var b strings.Builder
		b.WriteString("{")
		for i := 0; b.Len() < 400<<10; i++ {
			fmt.Fprintf(&b, " a%d: __typename", i)
		}
		b.WriteString(" }")
		r := a.in(t).do("", b.String(), nil)
		if r.Status != http.StatusBadRequest || len(r.Errors) != 1 || r.Errors[0].Extensions["reason"] != "GRAPHQL_PARSE_FAILED" ||
			!strings.Contains(r.Errors[0].Message, "token limit") {
			t.Fatalf("want a 400 parse failure about the token limit, got %d %+v", r.Status, r.Errors)
		}
	})
}

// TestCostOfPages: a list field costs first × its selection, multiplied
// through nesting, and every response says what it cost.
func TestCostOfPages(t *testing.T) {
	a := mustStartApp(t) // DefaultLimits
	brand := a.mustSignUp("BRAND")

	t.Run("ErrNestedPages", func(t *testing.T) {
		for _, q := range []string{
			`{ campaigns(first: 100) { edges { node { participations(first: 100) { edges { node { id } } } } } } }`,
			`{ me { participations(first: 100) { edges { node { campaign { participations(first: 100) { edges { node { id } } } } } } } } }`,
		} {
			nestedPagesRefused(t, a, brand, q)
		}
	})
	t.Run("VariablesPriced", func(t *testing.T) {
		q := `query($n: Int) { campaigns(first: $n) { edges { node { participations(first: $n) { edges { node { id } } } } } } }`
		a.in(t).mustFail(brand.Token, q, map[string]any{"n": 100}, "BAD_USER_INPUT", "")
		a.in(t).mustDo(brand.Token, q, map[string]any{"n": 5}, nil)
	})
	t.Run("CostInExtensions", func(t *testing.T) {
		var raw struct {
			Extensions struct {
				Cost struct {
					RequestedQueryCost int `json:"requestedQueryCost"`
					Limit              int `json:"limit"`
				} `json:"cost"`
			} `json:"extensions"`
		}
		resp, body := a.request(http.MethodPost, "/query", map[string]string{"Content-Type": "application/json", "Authorization": "Bearer " + brand.Token},
			strings.NewReader(gqlBody(`{ campaigns(first: 10) { edges { node { id name } } } }`)))
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d: %s", resp.StatusCode, body)
		}
		if !mustDecode(t, body, &raw) {
			t.FailNow()
		}
		// campaigns 1 + 10 × (edges 1 + node 1 + id 1 + name 1)
		if c := raw.Extensions.Cost; c.RequestedQueryCost != 41 || c.Limit != 5000 {
			t.Errorf("extensions.cost: got %+v, want 41 of 5000", c)
		}
	})
}

// TestOnePasswordCheckPerRequest: aliased logIn fields would make one request
// a password-guessing batch; such a document is refused before any logIn
// runs. That none ran shows in the account's log-in limit (2 attempts an
// hour here): 700 refused guesses leave both attempts for the right
// password.
func TestOnePasswordCheckPerRequest(t *testing.T) {
	a := mustStartApp(t, func(o *startOptions) { o.BcryptCost = bcrypt.DefaultCost },
		withEnv(map[string]string{"LOGIN_LIMIT_PER_ACCOUNT": "2/1h"}))
	u := a.mustSignUp("STREAMER")
	aliased := func(n int) string {
		var b strings.Builder
		b.WriteString("mutation {")
		for i := range n {
			fmt.Fprintf(&b, ` l%d: logIn(input: {email: %q, password: "guess-%d"}) { token }`, i, u.Email, i)
		}
		b.WriteString(" }")
		return b.String()
	}
	// 500 aliases are also over the selection limit (1,000 selections): either
	// refusal comes before any password is checked.
	for n, reason := range map[int]string{500: "SELECTION_LIMIT_EXCEEDED", 200: "PASSWORD_CHECK_LIMIT_EXCEEDED"} {
		r := a.do("", aliased(n), nil)
		if r.Status != http.StatusBadRequest || len(r.Errors) != 1 || r.Errors[0].Extensions["reason"] != reason {
			t.Fatalf("%d aliased logIn: want a 400 %s, got %d %+v", n, reason, r.Status, r.Errors)
		}
	}
	t.Run("TwoAreTooMany", func(t *testing.T) {
		q := `mutation { a: logIn(input: {email: "x@example.com", password: "12345678"}) { token }
		  b: signUp(input: {email: "y@example.com", password: "12345678", displayName: "Y", role: STREAMER}) { token } }`
		r := a.in(t).do("", q, nil)
		if len(r.Errors) != 1 || r.Errors[0].Extensions["reason"] != "PASSWORD_CHECK_LIMIT_EXCEEDED" {
			t.Fatalf("got %+v", r.Errors)
		}
	})
	t.Run("OneIsFine", func(t *testing.T) {
		a.in(t).mustLogIn(u.Email, "correct horse")
	})
}

// TestRecordMutationsPerRequest: aliased recordClick fields would bill a batch
// of clicks in one request; more than the limit is refused and records nothing.
func TestRecordMutationsPerRequest(t *testing.T) {
	a := mustStartApp(t)
	brand := a.mustSignUp("BRAND")
	c := a.mustActiveCampaign(brand, "Batch")
	tok := token(t, a.mustJoin(a.mustSignUp("STREAMER"), c.ID))
	batch := func(n int) string {
		var b strings.Builder
		b.WriteString("mutation($t: String!) {")
		for i := range n {
			fmt.Fprintf(&b, ` c%d: recordClick(input: {browserSourceToken: $t}) { isNew }`, i)
		}
		b.WriteString(" }")
		return b.String()
	}
	r := a.do("", batch(200), map[string]any{"t": tok})
	if r.Status != http.StatusBadRequest || len(r.Errors) != 1 || r.Errors[0].Extensions["reason"] != "RECORD_MUTATION_LIMIT_EXCEEDED" {
		t.Fatalf("want a 400 RECORD_MUTATION_LIMIT_EXCEEDED, got %d %+v", r.Status, r.Errors)
	}
	if got := a.totals(brand, c.ID).Campaign.Stats.Clicks; got != 0 {
		t.Errorf("a refused batch recorded %d clicks", got)
	}
	a.mustDo("", batch(10), map[string]any{"t": tok}, nil) // the documented limit
	if got := a.totals(brand, c.ID).Campaign.Stats.Clicks; got != 10 {
		t.Errorf("clicks: got %d, want 10", got)
	}
}

// TestManySelectionsRefusedBeforeValidation: validating a selection set
// takes time quadratic in its size (gqlparser compares fields pairwise to
// see whether they can merge), so the number of selections is limited
// before validation runs. Each refused document also selects a field the
// schema does not have: had validation run, it would have said so; had
// the executor run, there would be data. The refusal is the only error.
func TestManySelectionsRefusedBeforeValidation(t *testing.T) {
	a := mustStartApp(t) // DefaultLimits
	fragments := func(n int) string {
		var frags, spreads strings.Builder
		for i := range n {
			fmt.Fprintf(&frags, " fragment F%d on Query { __typename }", i)
			fmt.Fprintf(&spreads, " ...F%d", i)
		}
		return "query {" + spreads.String() + " }" + frags.String()
	}
	for name, q := range map[string]string{
		"Fields":          "{ noSuchField" + strings.Repeat(" __typename", 9000) + " }",
		"Aliases":         "{ noSuchField" + strings.Repeat(" a: __typename", 3000) + " }",
		"Spreads":         strings.Replace(fragments(800), "query {", "query { noSuchField", 1),
		"InlineFragments": "{ noSuchField" + strings.Repeat(" ... on Query { __typename }", 1500) + " }",
	} {
		t.Run(name, func(t *testing.T) {
			r := a.in(t).do("", q, nil)
			if r.Status != http.StatusBadRequest || len(r.Errors) != 1 || r.Errors[0].Extensions["reason"] != "SELECTION_LIMIT_EXCEEDED" {
				t.Fatalf("want only a 400 SELECTION_LIMIT_EXCEEDED (no validation error: validation never ran), got %d %+v", r.Status, r.Errors)
			}
			if len(r.Data) != 0 && string(r.Data) != "null" {
				t.Errorf("the executor ran: data %s", r.Data)
			}
		})
	}
	// The same document under the limit, to show the probe works: there
	// validation runs and names the field.
	t.Run("ValidationRunsUnderTheLimit", func(t *testing.T) {
		r := a.in(t).do("", "{ noSuchField __typename }", nil)
		if len(r.Errors) != 1 || !strings.Contains(r.Errors[0].Message, "noSuchField") {
			t.Fatalf("want the validation error on noSuchField, got %+v", r.Errors)
		}
	})
	// The worst shapes that pass are validated and run (their time is logged;
	// figures belong in benchmarks).
	for name, q := range map[string]string{
		"AtTheLimitFields":          "{" + strings.Repeat(" __typename", 500) + " }",
		"AtTheLimitSpreads":         fragments(250),
		"AtTheLimitInlineFragments": "{" + strings.Repeat(" ... on Query { __typename }", 250) + " }",
		"AtTheLimitNestedInline":    "{" + strings.Repeat(" ... on Query {"+strings.Repeat(" ... on Query { __typename }", 15)+" }", 15) + " }",
	} {
		t.Run(name, func(t *testing.T) {
			start := time.Now()
			a.in(t).mustDo("", q, nil, nil)
			t.Logf("%d selections validated and ran in %v", strings.Count(q, "__typename")+strings.Count(q, "..."), time.Since(start))
		})
	}
}

// nestedPagesRefused checks that q, pages inside pages, is refused at a cost
// of 10,000 or more, and says so in extensions.cost.
func nestedPagesRefused(t *testing.T, a *testApp, u testUser, q string) {
	t.Helper()
	r := a.in(t).do(u.Token, q, nil)
	if r.Status != http.StatusBadRequest || len(r.Errors) != 1 {
		t.Fatalf("want one 400 error, got %d %+v", r.Status, r.Errors)
	}
	e := r.Errors[0]
	if e.Extensions["reason"] != "COMPLEXITY_LIMIT_EXCEEDED" {
		t.Fatalf("reason: got %v", e.Extensions["reason"])
	}
	cost, _ := e.Extensions["cost"].(map[string]any)
	if got, _ := cost["requestedQueryCost"].(float64); got < 10_000 {
		t.Errorf("requestedQueryCost: got %v, want 10,000 or more", cost["requestedQueryCost"])
	}
	if cost["limit"] != float64(5000) {
		t.Errorf("limit: got %v, want 5000", cost["limit"])
	}
}
