package graphqlhttp

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
	"github.com/vektah/gqlparser/v2/parser"
)

// Codes of the limit errors. They are registered as protocol errors (see
// init in graphqlhttp.go) so that gqlgen's own transports answer them as
// they answer parse and validation errors: the document was refused before
// anything ran. An application's error presenter may give them a code of its
// own (BAD_USER_INPUT, say, with this code as extensions.reason).
const (
	errDepthLimit       = "DEPTH_LIMIT_EXCEEDED"
	errComplexityLimit  = "COMPLEXITY_LIMIT_EXCEEDED"
	errSelectionLimit   = "SELECTION_LIMIT_EXCEEDED"
	errIntrospectionOff = "INTROSPECTION_DISABLED"
)

// maxCost is where costs stop growing: far above any limit, far below
// overflow.
const maxCost = int64(1) << 50

// operationCost is what an operation asks for, computed in one pass over
// the document: every fragment is priced once, however often it is spread.
type operationCost struct {
	Cost        int64   // complexity points
	Depth       int     // nesting of selection sets (__Type.ofType not counted)
	Quotas      []int64 // fields of each Options.Quotas entry, by its index; nil when none
	Introspects bool    // selects __schema or __type
}

// pricing is what the cost of a field depends on besides its selection:
// Options' quotas, page size and list sizes, by type name, then field name
// (two lookups and no string built per field).
type pricing struct {
	quota       map[string]map[string]quotaField
	quotas      int
	defaultPage int64
	listSizes   map[string]map[string]func(args map[string]any) int64
}

// quotaField is a field of a quota: the quota's index, the field's cost.
type quotaField struct {
	i    int
	cost int64
}

func newPricing(o Options) *pricing {
	p := &pricing{quota: map[string]map[string]quotaField{}, quotas: len(o.Quotas), defaultPage: max(o.DefaultPageSize, 1),
		listSizes: map[string]map[string]func(map[string]any) int64{}}
	for i, q := range o.Quotas {
		for _, tf := range q.Fields {
			typ, field, _ := strings.Cut(tf, ".")
			if p.quota[typ] == nil {
				p.quota[typ] = map[string]quotaField{}
			}
			p.quota[typ][field] = quotaField{i: i, cost: q.Cost}
		}
	}
	for tf, size := range o.ListSizes {
		typ, field, _ := strings.Cut(tf, ".")
		if p.listSizes[typ] == nil {
			p.listSizes[typ] = map[string]func(map[string]any) int64{}
		}
		p.listSizes[typ][field] = size
	}
	return p
}

// costOf prices op. Its time is linear in the document: a fragment's cost is
// memoized by name, so `...F ...F` costs two lookups, not two walks. It
// stops early with ctx's error when the client has gone away.
func costOf(ctx context.Context, p *pricing, op *ast.OperationDefinition, frags ast.FragmentDefinitionList, vars map[string]any) (operationCost, error) {
	w := costWalker{ctx: ctx, p: p, frags: frags, vars: vars} // memo made at the first fragment
	c := w.set(op.SelectionSet)
	return c, w.err
}

type costWalker struct {
	ctx   context.Context
	p     *pricing
	frags ast.FragmentDefinitionList
	vars  map[string]any
	memo  map[string]*operationCost // fragment name → its cost; nil value while being walked
	steps int
	err   error
}

// set prices a selection set: costs and counts add up, depth is the deepest
// selection's. Fields that gqlgen would merge (the same response key twice)
// are priced twice: an upper bound, never an underestimate.
func (w *costWalker) set(sel ast.SelectionSet) operationCost {
	var total operationCost
	for _, s := range sel {
		if w.err != nil {
			return total
		}
		var c operationCost
		switch s := s.(type) {
		case *ast.Field:
			c = w.field(s)
		case *ast.InlineFragment:
			c = w.set(s.SelectionSet)
		case *ast.FragmentSpread:
			c = w.spread(s.Name)
		}
		total.Cost = addCost(total.Cost, c.Cost)
		total.Quotas = addCounts(total.Quotas, c.Quotas)
		total.Depth = max(total.Depth, c.Depth)
		total.Introspects = total.Introspects || c.Introspects
	}
	return total
}

func (w *costWalker) spread(name string) operationCost {
	if c, ok := w.memo[name]; ok {
		if c == nil { // a cycle: validation refuses them before this runs
			return operationCost{}
		}
		return *c
	}
	f := w.frags.ForName(name)
	if f == nil {
		return operationCost{}
	}
	if w.memo == nil {
		w.memo = map[string]*operationCost{}
	}
	w.memo[name] = nil
	c := w.set(f.SelectionSet)
	w.memo[name] = &c
	return c
}

// field prices one field: 1 for itself (or its quota's cost) plus its
// selection, times the page size for a field that takes `first`. Nested
// pages multiply: participations(first: 100) inside participations(first:
// 100) prices 10,000 of the inner selection.
func (w *costWalker) field(f *ast.Field) operationCost {
	if w.steps++; w.steps%1024 == 0 {
		if err := w.ctx.Err(); err != nil {
			w.err = err
			return operationCost{}
		}
	}
	c := operationCost{Cost: 1, Introspects: f.Name == "__schema" || f.Name == "__type"}
	if f.ObjectDefinition != nil {
		if q, ok := w.p.quota[f.ObjectDefinition.Name][f.Name]; ok {
			c.Cost, c.Quotas = q.cost, make([]int64, w.p.quotas)
			c.Quotas[q.i] = 1
		}
	}
	if len(f.SelectionSet) == 0 {
		c.Depth = 1
		return c
	}
	child := w.set(f.SelectionSet)
	pages := w.pageSize(f)
	c.Cost = addCost(c.Cost, mulCost(pages, child.Cost))
	c.Quotas = addCounts(c.Quotas, mulCounts(pages, child.Quotas))
	c.Depth = child.Depth
	c.Introspects = c.Introspects || child.Introspects
	if !isOfType(f) {
		c.Depth++
	}
	return c
}

// pageSize is how many items a list field asks for: its `first` or `last`
// (the default page when neither is given), or what Options.ListSizes says
// for the field; at least 1, and 1 for every other field. Lists without
// such an argument are priced as one: the application bounds them small.
func (w *costWalker) pageSize(f *ast.Field) int64 {
	if f.Definition == nil {
		return 1
	}
	if f.ObjectDefinition != nil {
		if size, ok := w.p.listSizes[f.ObjectDefinition.Name][f.Name]; ok {
			return max(size(f.ArgumentMap(w.vars)), 1)
		}
	}
	if f.Definition.Arguments.ForName("first") == nil {
		return 1
	}
	args := f.ArgumentMap(w.vars)
	n := max(intArg(args["first"]), intArg(args["last"])) // a page is first or last items
	if n <= 0 {
		n = w.p.defaultPage // neither given: the default page
	}
	return n
}

// intArg is an integer argument's value, 0 when absent or not a number.
func intArg(v any) int64 {
	switch v := v.(type) {
	case int64:
		return v
	case int:
		return int64(v)
	case int32:
		return int64(v)
	case float64:
		return int64(math.Min(v, float64(maxCost)))
	}
	return 0
}

func addCost(a, b int64) int64 { return min(a+b, maxCost) }

func mulCost(a, b int64) int64 {
	if a == 0 || b == 0 {
		return 0
	}
	if a > maxCost/b {
		return maxCost
	}
	return min(a*b, maxCost)
}

// addCounts is a+b by quota. It never changes a or b (a fragment's memoized
// cost shares its slice): the sum is a new slice, or a or b when the other
// is nil.
func addCounts(a, b []int64) []int64 {
	if b == nil {
		return a
	}
	if a == nil {
		return b
	}
	out := make([]int64, len(a))
	for i := range out {
		out[i] = addCost(a[i], b[i])
	}
	return out
}

// mulCounts is n×a by quota, a new slice (or a itself when n is 1).
func mulCounts(n int64, a []int64) []int64 {
	if a == nil || n == 1 {
		return a
	}
	out := make([]int64, len(a))
	for i := range out {
		out[i] = mulCost(n, a[i])
	}
	return out
}

// isOfType reports the introspection field __Type.ofType, which does not
// count toward depth.
//
// GraphiQL's standard introspection query (graphql-js getIntrospectionQuery)
// unwraps list and non-null types with a TypeRef fragment of 7 to 9 nested
// ofType fields, which puts it at depth 13 and more under plain counting,
// above any depth limit that still protects the API. ofType is one object,
// not a list, and its chain ends after the schema's own wrapping (three
// levels for [T!]!), so it cannot fan out: not counting it keeps
// introspection working under DefaultLimits. Every other introspection field
// still counts, and gqlparser's validation (MaxIntrospectionDepth) already
// refuses introspection that nests __Type's lists (fields, interfaces,
// possibleTypes, inputFields) three deep, which is where introspection could
// fan out. Complexity is counted as usual for every operation.
func isOfType(f *ast.Field) bool {
	return f.Name == "ofType" && f.ObjectDefinition != nil && f.ObjectDefinition.Name == "__Type"
}

// operationLimits is the extension that refuses, before anything runs, an
// operation over the depth limit, over the complexity limit or over a
// quota, and tells every executed operation what it cost (extensions.cost).
// A document enters the query cache only once it has passed all of them.
type operationLimits struct {
	limits  Limits
	quotas  []Quota
	atMost  []string // each quota's words for its refusal: "at most one of logIn and signUp"
	pricing *pricing
	cache   *queryCache
	apq     persistedQueries
	// noIntrospection refuses __schema and __type, with introspectionOff
	// as the message.
	noIntrospection  bool
	introspectionOff string
}

func newOperationLimits(o Options, limits Limits, cache *queryCache, apq persistedQueries) operationLimits {
	l := operationLimits{limits: limits, quotas: o.Quotas, pricing: newPricing(o), cache: cache, apq: apq,
		noIntrospection: !o.Introspection, introspectionOff: o.IntrospectionOff}
	if l.introspectionOff == "" {
		l.introspectionOff = "introspection is turned off on this server"
	}
	for _, q := range o.Quotas {
		n := "one"
		if q.Max != 1 {
			n = strconv.Itoa(q.Max)
		}
		names := make([]string, len(q.Fields))
		for i, tf := range q.Fields {
			_, names[i], _ = strings.Cut(tf, ".")
		}
		list := names[len(names)-1]
		if len(names) > 1 {
			list = strings.Join(names[:len(names)-1], ", ") + " and " + list
		}
		l.atMost = append(l.atMost, "at most "+n+" of "+list)
	}
	return l
}

var _ interface {
	graphql.HandlerExtension
	graphql.OperationParameterMutator
	graphql.OperationContextMutator
	graphql.ResponseInterceptor
} = operationLimits{}

// MutateOperationParameters refuses, before gqlgen validates it, a document
// with more than MaxSelections selections (fields, fragment spreads and
// inline fragments, as written: fragments are not expanded). gqlparser's
// OverlappingFieldsCanBeMerged rule compares the selections of a set pairwise,
// so validation time grows with their square: 9,000 __typename fields (within
// the token limit) took 3.5 s to validate. Counting needs a parse of its own,
// which is linear and stops at the token limit; a document already in the
// query cache passed this check before and skips it.
func (l operationLimits) MutateOperationParameters(_ context.Context, p *graphql.RawParams) *gqlerror.Error {
	if l.limits.MaxSelections <= 0 || l.cache.has(p.Query) {
		return nil
	}
	doc, err := parser.ParseQueryWithTokenLimit(&ast.Source{Input: p.Query}, l.limits.MaxTokens)
	if err != nil {
		return nil // gqlgen's own parse reports it
	}
	if n := countSelections(doc); n > l.limits.MaxSelections {
		return &gqlerror.Error{
			Message: fmt.Sprintf("the document has %d selections (fields, fragment spreads and inline fragments); the limit is %d",
				n, l.limits.MaxSelections),
			Extensions: map[string]any{"code": errSelectionLimit},
		}
	}
	return nil
}

// countSelections counts the selections written in doc's operations and
// fragments, without expanding spreads.
func countSelections(doc *ast.QueryDocument) int {
	var count func(ast.SelectionSet) int
	count = func(set ast.SelectionSet) int {
		n := len(set)
		for _, s := range set {
			switch s := s.(type) {
			case *ast.Field:
				n += count(s.SelectionSet)
			case *ast.InlineFragment:
				n += count(s.SelectionSet)
			}
		}
		return n
	}
	n := 0
	for _, op := range doc.Operations {
		n += count(op.SelectionSet)
	}
	for _, f := range doc.Fragments {
		n += count(f.SelectionSet)
	}
	return n
}

func (operationLimits) ExtensionName() string { return "OperationLimits" }

func (operationLimits) Validate(graphql.ExecutableSchema) error { return nil }

// costStats is extensions.cost of a response, named as Shopify names them.
type costStats struct {
	RequestedQueryCost int64 `json:"requestedQueryCost"`
	Limit              int   `json:"limit"`
}

const costExtension = "cost"

func (l operationLimits) MutateOperationContext(ctx context.Context, rc *graphql.OperationContext) *gqlerror.Error {
	if rc.Operation == nil {
		return nil
	}
	c, err := costOf(ctx, l.pricing, rc.Operation, rc.Doc.Fragments, rc.Variables)
	if err != nil {
		return &gqlerror.Error{Message: "the request was cancelled", Err: err}
	}
	stats := &costStats{RequestedQueryCost: c.Cost, Limit: l.limits.MaxComplexity}
	rc.Stats.SetExtension(costExtension, stats)
	refuse := func(code, format string, args ...any) *gqlerror.Error {
		return &gqlerror.Error{
			Message:    fmt.Sprintf(format, args...),
			Extensions: map[string]any{"code": code, costExtension: stats},
		}
	}
	if l.noIntrospection && c.Introspects {
		return refuse(errIntrospectionOff, "%s", l.introspectionOff)
	}
	if err := l.check(c, refuse, ""); err != nil {
		return err
	}
	// In a batch, the request's limits hold for all its operations together.
	if b, ok := ctx.Value(batchKey{}).(*batchBudget); ok {
		total := operationCost{Cost: addCost(b.total.Cost, c.Cost), Depth: c.Depth, Quotas: addCounts(b.total.Quotas, c.Quotas)}
		if err := l.check(total, refuse, "counting the batch's operations before it, "); err != nil {
			return err
		}
		b.total = total
	}
	l.cache.admit(ctx)
	l.apq.admit(ctx)
	return nil
}

// check refuses c when it is over a limit; what prefixes the message (the
// batch's totals are checked with the same words).
func (l operationLimits) check(c operationCost, refuse func(code, format string, args ...any) *gqlerror.Error, what string) *gqlerror.Error {
	if l.limits.MaxDepth > 0 && c.Depth > l.limits.MaxDepth {
		return refuse(errDepthLimit, "the query is nested %d levels deep; the limit is %d", c.Depth, l.limits.MaxDepth)
	}
	for i, q := range l.quotas {
		if n := c.Quotas; n != nil && q.Max > 0 && n[i] > int64(q.Max) {
			return refuse(q.Code, "a request may run %s; %sthis one asks for %d", l.atMost[i], what, n[i])
		}
	}
	if l.limits.MaxComplexity > 0 && c.Cost > int64(l.limits.MaxComplexity) {
		return refuse(errComplexityLimit, "%sthe operation has complexity %d, which exceeds the limit of %d", what, c.Cost, l.limits.MaxComplexity)
	}
	return nil
}

func (operationLimits) InterceptResponse(ctx context.Context, next graphql.ResponseHandler) *graphql.Response {
	resp := next(ctx)
	if resp == nil || !graphql.HasOperationContext(ctx) {
		return resp
	}
	if stats, ok := graphql.GetOperationContext(ctx).Stats.GetExtension(costExtension).(*costStats); ok {
		if resp.Extensions == nil {
			resp.Extensions = map[string]any{}
		}
		resp.Extensions[costExtension] = stats
	}
	return resp
}
