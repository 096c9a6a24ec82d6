package httpapi

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/errcode"
	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"tally/domain"
	"tally/foundation/graphqlhttp"
	"tally/foundation/ratelimit"
	"tally/graph"
	"tally/httpapi/metrics"
)

// Limits on what one GraphQL request may ask for. Every one of them is
// checked before anything runs, in time linear in the document. A zero field
// is no limit (QueryCacheBytes 0: no cache); the zero Limits as a whole means
// DefaultLimits.
type Limits struct {
	MaxBodyBytes       int64 // request body, bytes
	MaxTokens          int   // lexical tokens of the document; the parser stops at the limit
	MaxSelections      int   // fields, fragment spreads and inline fragments written in the document
	MaxDepth           int   // nesting of selection sets
	MaxComplexity      int   // complexity points (see graphqlhttp.Limits): 1 a field, first × the selection of a page
	MaxRecordMutations int   // recordImpression, recordClick and recordConversion fields per request
	QueryCacheBytes    int64 // what the cache of parsed documents may hold, estimated
	// MaxBatch is how many operations a batched request may hold (0: DefaultMaxBatch).
	MaxBatch int
	// PersistedQueryBytes bounds the automatic persisted queries kept (0:
	// DefaultPersistedQueryBytes).
	PersistedQueryBytes int64
}

// DefaultLimits are the production limits: 1 MiB bodies, 10,000 tokens,
// 500 selections, depth 12, complexity 5,000, 10 record mutations, 32 MiB
// of cached documents, batches of 10 operations, 8 MiB of persisted
// queries. A request also runs at most one password check (logIn, signUp,
// changePassword); that is not configurable.
var DefaultLimits = Limits{MaxBodyBytes: 1 << 20, MaxTokens: 10_000, MaxSelections: 500, MaxDepth: 12, MaxComplexity: 5_000,
	MaxRecordMutations: 10, QueryCacheBytes: 32 << 20,
	MaxBatch: graphqlhttp.DefaultMaxBatch, PersistedQueryBytes: graphqlhttp.DefaultPersistedQueryBytes}

// Codes of the quota refusals, protocol errors as graphqlhttp's other limits.
const (
	errPasswordChecks  = "PASSWORD_CHECK_LIMIT_EXCEEDED"
	errRecordMutations = "RECORD_MUTATION_LIMIT_EXCEEDED"
)

// quotas are the fields whose cost is not their selection: a password check
// is a bcrypt comparison (tens of milliseconds of CPU), and a request may run
// one; a record mutation is several store writes and possibly money moved,
// and a request may run Limits.MaxRecordMutations of them.
func quotas(l Limits) []graphqlhttp.Quota {
	return []graphqlhttp.Quota{
		{Code: errPasswordChecks, Fields: []string{"Mutation.logIn", "Mutation.signUp", "Mutation.changePassword"}, Cost: 100, Max: 1},
		{Code: errRecordMutations, Fields: []string{"Mutation.recordImpression", "Mutation.recordClick", "Mutation.recordConversion"},
			Cost: 10, Max: l.MaxRecordMutations},
	}
}

// newGraphQL builds the /query endpoint with every behaviour visible here: the
// transports, the caches, the limits, the error presenter and panic recovery.
func newGraphQL(d Deps, introspection bool) *handler.Server {
	limits, tokens, log := d.Limits, d.TokenLimits, d.Log
	srv := handler.New(graph.NewExecutableSchema(graph.Config{Resolvers: d.Resolver, Directives: d.Resolver.Directives()}))
	srv.AddTransport(transport.Options{})
	for _, t := range liveTransports(d) { // before the GET/POST transport: SSE requests are POSTs too
		srv.AddTransport(t)
	}
	// Multipart @defer, GET and POST with batches, the query cache,
	// persisted queries and the limits (graphqlhttp), priced as Tally's
	// fields cost.
	o := graphqlhttp.Options{
		Limits: graphqlhttp.Limits{MaxTokens: limits.MaxTokens, MaxSelections: limits.MaxSelections, MaxDepth: limits.MaxDepth,
			MaxComplexity: limits.MaxComplexity, QueryCacheBytes: limits.QueryCacheBytes, MaxBatch: limits.MaxBatch,
			PersistedQueryBytes: limits.PersistedQueryBytes},
		Quotas:           quotas(limits),
		DefaultPageSize:  domain.DefaultPageSize,
		ListSizes:        map[string]func(map[string]any) int64{"Query.dailyStats": dayCount, "Query.report": reportSize},
		Introspection:    introspection,
		IntrospectionOff: "introspection is turned off on this server (INTROSPECTION=false)",
		RateLimitedCode:  domain.ERATELIMITED,
		OnOperation:      observeOperation(log, d.Metrics),
	}
	if !isNoop(d.Tracer) {
		o.Tracer = d.Tracer.Tracer("tally/httpapi")
	}
	graphqlhttp.Configure(srv, o)
	// One field middleware, on the root fields only.
	srv.AroundRootFields(guardRootFields(tokens))
	srv.SetErrorPresenter(presentError(log, d.Metrics))
	srv.SetRecoverFunc(func(ctx context.Context, p any) error {
		log.ErrorContext(ctx, "panic in resolver", "request_id", RequestID(ctx), "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
		return errors.New("panic in resolver")
	})
	return srv
}

// guardRootFields is the one field middleware, and it wraps root fields
// only: the fields below them read the object in hand, or load through a
// root field's context, and a middleware on every field cost `me` an
// allocation and a call per field. It starts no further root field once the
// request's context is done: the client went away (or the server is
// shutting down), so nobody will read the answer (a resolver already running
// stops at its next store call, which takes the same context). And it
// applies the token limits to the root fields a browser source token opens
// (limitTokenField). A refused field is null with its error, as a resolver's
// error would be. gqlgen recovers panics around resolvers but not around
// this middleware, so the guard recovers its own (a panic in a root field's
// goroutine would end the process).
func guardRootFields(tokens TokenLimits) graphql.RootFieldMiddleware {
	return func(ctx context.Context, next graphql.RootResolver) graphql.Marshaler {
		rc := graphql.GetRootFieldContext(ctx)
		if rc == nil {
			return next(ctx)
		}
		if err := guardRootField(ctx, tokens, rc); err != nil {
			graphql.AddError(ctx, &gqlerror.Error{Err: err, Message: err.Error(),
				Path:      ast.Path{ast.PathName(rc.Field.Alias)},
				Locations: []gqlerror.Location{{Line: rc.Field.Position.Line, Column: rc.Field.Position.Column}}})
			return graphql.Null
		}
		return next(ctx)
	}
}

// guardRootField is guardRootFields' check of one root field, a panic in it
// recovered as the executor recovers a resolver's.
func guardRootField(ctx context.Context, tokens TokenLimits, rc *graphql.RootFieldContext) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = graphql.GetOperationContext(ctx).Recover(ctx, p)
		}
	}()
	if err := ctx.Err(); err != nil {
		return err
	}
	// rc.Object is the field's name in gqlgen 0.17: the type is the
	// operation's. (gqlgen calls no root-field middleware for subscriptions.)
	return limitTokenField(ctx, tokens, rootType(ctx), rc.Field)
}

// observeOperation notes each operation the GET and POST transport
// answered in its request's log line, counts it in the metrics, tells its
// span the outcome and logs it at debug level.
func observeOperation(log *slog.Logger, m *metrics.Metrics) func(context.Context, graphqlhttp.Operation) {
	return func(ctx context.Context, op graphqlhttp.Operation) {
		noteOperation(ctx, op.Name)
		m.Operation(op.Name, op.Type, op.Outcome, op.Duration)
		if span := trace.SpanFromContext(ctx); span.IsRecording() {
			span.SetAttributes(attribute.String("tally.outcome", op.Outcome))
		}
		if log.Enabled(ctx, slog.LevelDebug) {
			log.LogAttrs(ctx, slog.LevelDebug, "graphql operation", slog.String("request_id", RequestID(ctx)),
				slog.String("operation", cmp.Or(op.Name, "anonymous")), slog.String("type", op.Type), slog.String("outcome", op.Outcome),
				slog.Int64("cost", op.Cost), slog.Int("errors", op.Errors), slog.Duration("duration", op.Duration))
		}
	}
}

// dayCount is the number of days dailyStats asks for, from and to
// inclusive, at most the 366 it allows; 1 when they do not parse. The
// resolver refuses a bad or longer range with a field error of its own.
func dayCount(args map[string]any) int64 {
	from, _ := args["from"].(string)
	to, _ := args["to"].(string)
	f, err1 := time.Parse(time.DateOnly, from)
	t, err2 := time.Parse(time.DateOnly, to)
	if err1 != nil || err2 != nil || t.Before(f) {
		return 1
	}
	return min(int64(t.Sub(f)/(24*time.Hour))+1, 366)
}

// reportSize prices a report as its page plus one item per 2,000
// buckets it may read (quarter-hours of its range × the campaigns or
// participations it names), so a year of many campaigns costs more than a
// day of one; the service refuses beyond domain.MaxReportBuckets.
func reportSize(args map[string]any) int64 {
	page := int64(domain.DefaultPageSize)
	if f, ok := args["first"].(int64); ok && f > 0 {
		page = f
	}
	in, _ := args["input"].(map[string]any)
	filter, _ := in["filter"].(map[string]any)
	ids := int64(0)
	for _, k := range []string{"campaignIds", "participationIds"} {
		if l, ok := filter[k].([]any); ok {
			ids += int64(len(l))
		}
	}
	days := dayCount(in)
	buckets := min(days*int64(24*time.Hour/domain.QuarterLen)*max(ids, 1), domain.MaxReportBuckets)
	return page + (buckets+1999)/2000
}

// rootType is the name of the root type of the request's operation: Query
// or Mutation.
func rootType(ctx context.Context) string {
	if oc := graphql.GetOperationContext(ctx); oc != nil && oc.Operation != nil && oc.Operation.Operation == ast.Mutation {
		return "Mutation"
	}
	return "Query"
}

// presentError is the one place that turns errors into GraphQL errors:
// domain errors keep their code, message and field; several invalid fields
// (domain.FieldErrors, from any resolver) are one error each, in the order
// the service gave them, so no mutation can show only the first; gqlgen's own errors about
// the request (parse, validation, limits) are BAD_USER_INPUT; anything else is
// logged with the request id and reaches the client as INTERNAL_SERVER_ERROR
// with no detail.
func presentError(log *slog.Logger, m *metrics.Metrics) graphql.ErrorPresenterFunc {
	return func(ctx context.Context, err error) *gqlerror.Error {
		var fe domain.FieldErrors
		if errors.As(err, &fe) && len(fe) > 0 {
			// Each is presented (and added) on the field's path on its own;
			// the list itself is not an error of the response.
			for _, e := range fe {
				graphql.AddError(ctx, e)
			}
			return nil
		}
		gqlErr := graphql.DefaultErrorPresenter(ctx, err)
		var de *domain.Error
		if errors.As(err, &de) {
			if de.Code == domain.EUNAVAILABLE {
				// The client is told to come back; the operator needs the store's words.
				log.WarnContext(ctx, "store unavailable", "request_id", RequestID(ctx), "path", gqlErr.Path.String(), "err", err.Error())
			}
			gqlErr.Message = de.Message
			gqlErr.Extensions = map[string]any{"code": de.Code}
			field := de.Field
			if field == "" && de.Code == domain.EINVALID {
				field = inputPath(gqlErr.Path)
			}
			if field != "" {
				gqlErr.Extensions["field"] = field
			}
			if de.Code == domain.ERATELIMITED {
				m.RateLimited("graphql")
			}
			if de.Code == domain.ERATELIMITED && de.RetryAfter > 0 {
				gqlErr.Extensions["retryAfter"] = ratelimit.RetryAfterSeconds(de.RetryAfter)
				noteRetryAfter(ctx, de.RetryAfter)
			}
			return gqlErr
		}
		var ge *gqlerror.Error
		if errors.As(err, &ge) && ge.Err == nil && graphqlhttp.KeepCode(gqlErr.Extensions["code"]) {
			return gqlErr // Apollo's links act on these codes
		}
		if errors.As(err, &ge) && ge.Err == nil {
			// Raised by gqlgen about the request itself: it is the client's to fix.
			if gqlErr.Extensions == nil {
				gqlErr.Extensions = map[string]any{}
			}
			if reason, ok := gqlErr.Extensions["code"]; ok && reason != domain.EINVALID {
				gqlErr.Extensions["reason"] = reason
			}
			gqlErr.Extensions["code"] = domain.EINVALID
			gqlErr.Message = withoutOperationName(withoutBody(gqlErr.Message))
			return gqlErr
		}
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			gqlErr.Message = "The request was cancelled or took too long."
			gqlErr.Extensions = map[string]any{"code": domain.EUNAVAILABLE}
			return gqlErr
		}
		log.ErrorContext(ctx, "internal error", "request_id", RequestID(ctx), "path", gqlErr.Path.String(), "err", err.Error())
		gqlErr.Message = domain.ErrorMessage(err)
		gqlErr.Extensions = map[string]any{"code": domain.EINTERNAL, "requestId": RequestID(ctx)}
		return gqlErr
	}
}

// gqlgen's POST transport reports an undecodable body as
// "json request body could not be decoded: <reason> body:<the whole body>".
// The client knows its body; echoing up to a megabyte of it back (into logs
// and error trackers too) helps nobody, so only the reason is kept.
const (
	undecodablePrefix = "json request body could not be decoded: "
	undecodableBody   = " body:"
)

func withoutBody(msg string) string {
	reason, ok := strings.CutPrefix(msg, undecodablePrefix)
	if !ok {
		return msg
	}
	if i := strings.LastIndex(reason, undecodableBody); i >= 0 {
		reason = reason[:i]
	}
	return "the request body is not a JSON GraphQL request: " + reason
}

// gqlgen's executor reports an operationName the document does not hold as
// "operation <the name as sent> not found": an empty name (a document of
// several operations and none chosen) reads "operation  not found", and any
// bytes sent, control characters and megabytes included, are echoed as they
// came. The name is quoted in ASCII (a GraphQL name is ASCII), cut to 64
// bytes, and an empty one explained.
const (
	opNotFoundPrefix = "operation "
	opNotFoundSuffix = " not found"
	opNameShown      = 64
)

func withoutOperationName(msg string) string {
	name, ok := strings.CutPrefix(msg, opNotFoundPrefix)
	if !ok {
		return msg
	}
	if name, ok = strings.CutSuffix(name, opNotFoundSuffix); !ok {
		return msg
	}
	if name == "" {
		return "the document holds several operations: name the one to run in operationName"
	}
	more := ""
	if len(name) > opNameShown {
		name, more = name[:opNameShown], "…"
	}
	return "operationName " + strconv.QuoteToASCII(name) + more + " names no operation in the document"
}

// inputPath names the argument an input error is about when only gqlgen knows
// it: a scalar that refused its value (a malformed Decimal, say) fails with
// the path [mutation, argument, field, index…], which becomes
// "argument.field[index]…".
func inputPath(path ast.Path) string {
	if len(path) < 2 {
		return ""
	}
	var b strings.Builder
	for _, el := range path[1:] {
		switch e := el.(type) {
		case ast.PathName:
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			b.WriteString(string(e))
		case ast.PathIndex:
			fmt.Fprintf(&b, "[%d]", int(e))
		}
	}
	return b.String()
}

func init() {
	for _, code := range []string{errPasswordChecks, errRecordMutations} {
		errcode.RegisterErrorType(code, errcode.KindProtocol)
	}
}
