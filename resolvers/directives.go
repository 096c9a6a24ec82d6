package resolvers

import (
	"context"

	"github.com/99designs/gqlgen/graphql"

	"tally/domain"
	"tally/graph"
)

// Directives are the implementations of the schema's directives.
func (r *Resolver) Directives() graph.DirectiveRoot {
	return graph.DirectiveRoot{Private: r.private}
}

// private answers a @private field of a User to the callers
// accounts.ShowsPrivateFields allows, and null to anyone else; on any other
// type it answers null (closed by default). As a directive rather than a
// resolver, the field is read from the object in the executor's own
// goroutine: gqlgen runs resolver fields concurrently, two goroutines per
// User for three private fields, about a third of `me`'s CPU in process.
func (r *Resolver) private(ctx context.Context, obj any, next graphql.Resolver) (any, error) {
	u, ok := obj.(*domain.User)
	if !ok || u == nil || !r.Accounts.ShowsPrivateFields(ctx, *u) {
		return nil, nil
	}
	return next(ctx)
}
