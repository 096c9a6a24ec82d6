// Package graphqlhttp serves a gqlgen schema over HTTP as the GraphQL over
// HTTP specification recommends, and guards it: a GET and POST transport
// with batches and the specification's status codes, incremental delivery
// (@defer) merged into one answer for clients that did not ask for it,
// Apollo's automatic persisted queries, a byte-bounded cache of parsed
// documents, and limits on tokens, selections, depth, complexity and on
// chosen fields, all checked before anything runs.
//
// It knows nothing of the application that uses it: what a field costs
// beyond its selection, how often a field may run, and what is done with
// each operation once answered (metrics, logs) come in through Options.
package graphqlhttp

import (
	"context"
	"net/http"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/errcode"
	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/extension"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"go.opentelemetry.io/otel/trace"
)

// Limits on what one GraphQL request may ask for. Every one of them is
// checked before anything runs, in time linear in the document. A zero field
// is no limit (QueryCacheBytes 0: no cache).
type Limits struct {
	MaxTokens       int   // lexical tokens of the document; the parser stops at the limit
	MaxSelections   int   // fields, fragment spreads and inline fragments written in the document
	MaxDepth        int   // nesting of selection sets
	MaxComplexity   int   // complexity points (see costOf): 1 a field, first × the selection of a page
	QueryCacheBytes int64 // what the cache of parsed documents may hold, estimated
	// MaxBatch is how many operations a batched request may hold (0: DefaultMaxBatch).
	MaxBatch int
	// PersistedQueryBytes bounds the automatic persisted queries kept (0:
	// DefaultPersistedQueryBytes).
	PersistedQueryBytes int64
}

// A Quota bounds how many of some fields one request (a batch as a whole)
// may run, and prices each of them in complexity points instead of 1: for
// fields that cost far more than their selection (a password check, a write
// that moves money). A request over it is refused with Code. Register Code
// as a protocol error (errcode.RegisterErrorType, in an init: gqlgen's map
// of codes has no lock) so that gqlgen's own transports answer it as they
// answer the other limits.
type Quota struct {
	Code   string   // the refusal's extensions.code, e.g. PASSWORD_CHECK_LIMIT_EXCEEDED
	Fields []string // "Type.field", e.g. "Mutation.logIn"; named in the refusal in this order
	Cost   int64    // complexity points of each such field, its selection aside
	Max    int      // how many a request may run; 0 is no limit
}

// Options are what Configure needs of the application.
type Options struct {
	Limits Limits
	Quotas []Quota
	// DefaultPageSize is how many items a field with a `first` argument
	// returns when neither first nor last is given (at least 1).
	DefaultPageSize int64
	// ListSizes price the list fields whose length is not their first or
	// last argument: "Type.field" to the number of items the field's
	// arguments ask for.
	ListSizes map[string]func(args map[string]any) int64
	// Introspection serves __schema and __type; false refuses them with
	// INTROSPECTION_DISABLED and IntrospectionOff as the message.
	Introspection    bool
	IntrospectionOff string
	// Tracer traces each operation in a span of its own, from its parse to
	// its answer; nil traces nothing.
	Tracer trace.Tracer
	// RateLimitedCode is the error code whose presence in a response makes
	// its outcome OutcomeRateLimited.
	RateLimitedCode string
	// OnOperation is called once for every operation the GET and POST
	// transport answered, with the operation's context (its span, when
	// traced, is still open); nil is nothing.
	OnOperation func(ctx context.Context, op Operation)
}

// Operation is what the transport reports of an operation it answered.
type Operation struct {
	Name     string // "" for an anonymous operation
	Type     string // query, mutation or subscription; "" when it did not parse
	Outcome  string // OutcomeOK, OutcomeFieldErrors, OutcomeRefused or OutcomeRateLimited
	Duration time.Duration
	Cost     int64 // complexity points asked for; 0 when not priced
	Errors   int   // errors in the response
}

// Outcomes of an operation.
const (
	OutcomeOK          = "ok"           // executed without errors
	OutcomeFieldErrors = "field_errors" // executed, with errors in the response
	OutcomeRefused     = "refused"      // a request error: did not parse or validate, or over a limit; nothing ran
	OutcomeRateLimited = "rate_limited" // an error with Options.RateLimitedCode in the response
)

// codeBadUserInput is the code of the errors this package writes about a
// request that is not a GraphQL request (Apollo's name for it).
const codeBadUserInput = "BAD_USER_INPUT"

// Configure gives srv this package's transports and guards: multipart/mixed
// for @defer (answers kept out of caches), the GET and POST transport, the
// query cache, the parser's token limit, introspection when allowed,
// automatic persisted queries, the operation limits, and the last error of
// a subscription that ends with one (EndStream). Transports srv
// already has are tried first (subscriptions: SSE answers JSON POSTs too).
func Configure(srv *handler.Server, o Options) {
	limits := o.Limits
	// @defer, incrementally, for clients that accept multipart/mixed (Apollo
	// Client sends it for queries with @defer); the limits still apply: they
	// are the executor's, not a transport's.
	srv.AddTransport(noStore{transport.MultipartMixed{}})
	srv.AddTransport(httpTransport{maxBatch: limits.MaxBatch, maxTokens: limits.MaxTokens, tracer: o.Tracer,
		rateLimited: o.RateLimitedCode, observe: o.OnOperation})
	cache := newQueryCache(limits.QueryCacheBytes)
	srv.SetQueryCache(cache)
	srv.SetParserTokenLimit(limits.MaxTokens)
	if o.Introspection {
		srv.Use(extension.Introspection{})
	}
	if limits.PersistedQueryBytes <= 0 {
		limits.PersistedQueryBytes = DefaultPersistedQueryBytes
	}
	apq := persistedQueries{cache: newTextLRU(limits.PersistedQueryBytes)}
	srv.Use(apq) // before the limits: a hash-only request gets its document here
	srv.Use(newOperationLimits(o, limits, cache, apq))
	srv.Use(streamEnds{}) // EndStream
}

// KeepCode reports the codes an error presenter must leave as they are:
// Apollo's persisted-query links act on PERSISTED_QUERY_NOT_FOUND and
// PERSISTED_QUERY_NOT_SUPPORTED.
func KeepCode(code any) bool {
	return code == errPersistedQueryNotFound || code == errPersistedQueryNotSupported
}

// noStore is a transport whose answers keep Cache-Control: no-store
// whatever the transport sets: gqlgen's multipart/mixed one sets no-cache,
// which lets a cache store the answer, and GraphQL answers are per caller
// and per moment.
type noStore struct{ graphql.Transport }

func (t noStore) Do(w http.ResponseWriter, r *http.Request, exec graphql.GraphExecutor) {
	t.Transport.Do(&noStoreWriter{ResponseWriter: w}, r, exec)
}

type noStoreWriter struct {
	http.ResponseWriter
	written bool
}

var hdrNoStore = []string{"no-store"}

func (w *noStoreWriter) WriteHeader(status int) {
	if !w.written {
		w.written = true
		w.Header()["Cache-Control"] = hdrNoStore
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *noStoreWriter) Write(b []byte) (int, error) {
	if !w.written {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(b)
}

func (w *noStoreWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the connection.
func (w *noStoreWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func init() {
	for _, code := range []string{errDepthLimit, errComplexityLimit, errSelectionLimit, errIntrospectionOff} {
		errcode.RegisterErrorType(code, errcode.KindProtocol)
	}
}
