package graphqlhttp

import (
	"context"
	"sync"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
)

// EndStream makes err the last result of the subscription whose resolver
// ctx is: call it from the goroutine that feeds the subscription's
// channel, then close the channel. The client gets one more result, with
// no data and err (through the error presenter, on the subscription
// field's path), and then the stream's end — the same on every transport
// (graphql-transport-ws sends it as `next`, then `complete`; SSE as a
// `next` event, then `complete`). gqlgen's subscription channel carries
// values only, and its own AddSubscriptionError is WebSocket-only and
// skips the error presenter. Outside a subscription EndStream does
// nothing; only the first error counts.
func EndStream(ctx context.Context, err error) {
	e, _ := ctx.Value(streamEndKey{}).(*streamEnd)
	if e == nil || err == nil {
		return
	}
	err = graphql.AddFieldLocationToError(ctx, graphql.ErrorOnPath(ctx, err))
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.err == nil {
		e.err = err
	}
}

type streamEndKey struct{}

// streamEnd holds a subscription's last error until it is sent.
type streamEnd struct {
	mu   sync.Mutex
	err  error
	sent bool
}

// take returns the error once.
func (e *streamEnd) take() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.sent || e.err == nil {
		return nil
	}
	e.sent = true
	return e.err
}

// streamEnds is the extension behind EndStream: it gives each subscription
// a place for its last error, and sends the error as one more result when
// the stream ends.
type streamEnds struct{}

var _ interface {
	graphql.HandlerExtension
	graphql.OperationInterceptor
	graphql.ResponseInterceptor
} = streamEnds{}

func (streamEnds) ExtensionName() string                   { return "StreamEnds" }
func (streamEnds) Validate(graphql.ExecutableSchema) error { return nil }

func (streamEnds) InterceptOperation(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
	if !graphql.HasOperationContext(ctx) {
		return next(ctx)
	}
	if oc := graphql.GetOperationContext(ctx); oc.Operation == nil || oc.Operation.Operation != ast.Subscription {
		return next(ctx)
	}
	return next(context.WithValue(ctx, streamEndKey{}, &streamEnd{}))
}

func (streamEnds) InterceptResponse(ctx context.Context, next graphql.ResponseHandler) *graphql.Response {
	resp := next(ctx)
	if resp != nil {
		return resp
	}
	e, _ := ctx.Value(streamEndKey{}).(*streamEnd)
	if e == nil {
		return nil
	}
	err := e.take()
	if err == nil {
		return nil // the end of the stream
	}
	graphql.AddError(ctx, err)
	return &graphql.Response{Errors: graphql.GetErrors(ctx)}
}
