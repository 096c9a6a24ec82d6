package httpapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"strings"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/errcode"
	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/extension"
	"github.com/99designs/gqlgen/graphql/handler/lru"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"tally/domain"
	"tally/graph"
	"tally/resolvers"
)

// Limits on what one GraphQL request may ask for.
type Limits struct {
	MaxBodyBytes  int64 // request body, bytes
	MaxDepth      int   // nesting of selection sets
	MaxComplexity int   // gqlgen complexity points
}

// DefaultLimits are the production limits: 1 MiB bodies, depth 12,
// complexity 1000.
var DefaultLimits = Limits{MaxBodyBytes: 1 << 20, MaxDepth: 12, MaxComplexity: 1000}

// newGraphQL builds the /query endpoint with every behaviour visible here: the
// transports, the caches, the limits, the error presenter and panic recovery.
// live are the subscription transports (liveTransports, subscriptions.go).
func newGraphQL(r *resolvers.Resolver, limits Limits, log *slog.Logger, live ...graphql.Transport) *handler.Server {
	cfg := graph.Config{Resolvers: r}
	cfg.Complexity = complexity()
	srv := handler.New(graph.NewExecutableSchema(cfg))
	srv.AddTransport(transport.Options{})
	srv.AddTransport(transport.GET{})
	for _, t := range live { // before POST: SSE requests are JSON POSTs too
		srv.AddTransport(t)
	}
	srv.AddTransport(transport.POST{})
	srv.SetQueryCache(lru.New[*ast.QueryDocument](1000))
	srv.Use(extension.Introspection{})
	srv.Use(depthLimit{max: limits.MaxDepth})
	srv.Use(extension.FixedComplexityLimit(limits.MaxComplexity))
	srv.SetErrorPresenter(presentError(log))
	srv.SetRecoverFunc(func(ctx context.Context, p any) error {
		log.ErrorContext(ctx, "panic in resolver", "request_id", RequestID(ctx), "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
		return errors.New("panic in resolver")
	})
	return srv
}

// presentError is the one place that turns errors into GraphQL errors:
// domain errors keep their code, message and field; gqlgen's own errors about
// the request (parse, validation, limits) are BAD_USER_INPUT; anything else is
// logged with the request id and reaches the client as INTERNAL_SERVER_ERROR
// with no detail.
func presentError(log *slog.Logger) graphql.ErrorPresenterFunc {
	return func(ctx context.Context, err error) *gqlerror.Error {
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
			return gqlErr
		}
		var ge *gqlerror.Error
		if errors.As(err, &ge) && ge.Err == nil {
			// Raised by gqlgen about the request itself: it is the client's to fix.
			if gqlErr.Extensions == nil {
				gqlErr.Extensions = map[string]any{}
			}
			if reason, ok := gqlErr.Extensions["code"]; ok && reason != domain.EINVALID {
				gqlErr.Extensions["reason"] = reason
			}
			gqlErr.Extensions["code"] = domain.EINVALID
			gqlErr.Message = withoutBody(gqlErr.Message)
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

// Codes of the limit errors. They are registered as protocol errors so that,
// like parse and validation errors, they are answered with 422: the document
// was refused before anything ran. The error presenter turns them into
// BAD_USER_INPUT with the code as extensions.reason.
const (
	errDepthLimit      = "DEPTH_LIMIT_EXCEEDED"
	errComplexityLimit = "COMPLEXITY_LIMIT_EXCEEDED" // gqlgen's extension.ComplexityLimit sets it
)

func init() {
	errcode.RegisterErrorType(errDepthLimit, errcode.KindProtocol)
	errcode.RegisterErrorType(errComplexityLimit, errcode.KindProtocol)
}

// depthLimit refuses operations nested deeper than max selection sets.
type depthLimit struct{ max int }

var _ interface {
	graphql.HandlerExtension
	graphql.OperationContextMutator
} = depthLimit{}

func (depthLimit) ExtensionName() string { return "DepthLimit" }

func (depthLimit) Validate(graphql.ExecutableSchema) error { return nil }

func (d depthLimit) MutateOperationContext(_ context.Context, rc *graphql.OperationContext) *gqlerror.Error {
	if rc.Operation == nil || d.max <= 0 {
		return nil
	}
	if depth := selectionDepth(rc.Operation.SelectionSet, rc.Doc.Fragments, 0); depth > d.max {
		return &gqlerror.Error{
			Message:    fmt.Sprintf("the query is nested %d levels deep; the limit is %d", depth, d.max),
			Extensions: map[string]any{"code": errDepthLimit},
		}
	}
	return nil
}

// selectionDepth is the deepest nesting of fields below set. Validation has
// already refused fragment cycles; seen guards anyway.
//
// __Type.ofType does not count as a level. GraphiQL's standard introspection
// query (graphql-js getIntrospectionQuery) unwraps list and non-null types
// with a TypeRef fragment of 7 to 9 nested ofType fields, which puts it at
// depth 13 and more under plain counting, above any depth limit that still
// protects the API. ofType is one object, not a list, and its chain ends
// after the schema's own wrapping (three levels for [T!]!), so it cannot fan
// out: not counting it keeps introspection working under DefaultLimits.
// Every other introspection field still counts, and gqlparser's validation
// (MaxIntrospectionDepth) already refuses introspection that nests __Type's
// lists (fields, interfaces, possibleTypes, inputFields) three deep, which is
// where introspection could fan out. Complexity is counted as usual for
// every operation.
func selectionDepth(set ast.SelectionSet, frags ast.FragmentDefinitionList, seen int) int {
	if seen > 64 {
		return seen
	}
	max := 0
	for _, sel := range set {
		var d int
		switch s := sel.(type) {
		case *ast.Field:
			switch {
			case len(s.SelectionSet) == 0:
				d = 1
			case isOfType(s):
				d = selectionDepth(s.SelectionSet, frags, seen+1)
			default:
				d = 1 + selectionDepth(s.SelectionSet, frags, seen+1)
			}
		case *ast.InlineFragment:
			d = selectionDepth(s.SelectionSet, frags, seen+1)
		case *ast.FragmentSpread:
			if f := frags.ForName(s.Name); f != nil {
				d = selectionDepth(f.SelectionSet, frags, seen+1)
			}
		}
		if d > max {
			max = d
		}
	}
	return max
}

// isOfType reports the introspection field __Type.ofType.
func isOfType(f *ast.Field) bool {
	return f.Name == "ofType" && f.ObjectDefinition != nil && f.ObjectDefinition.Name == "__Type"
}

// complexity prices list fields by the page they ask for, so that a client
// cannot ask for first: 1000 of first: 1000.
func complexity() graph.ComplexityRoot {
	var c graph.ComplexityRoot
	return c
}
