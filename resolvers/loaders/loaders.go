// Package loaders batches the reads a GraphQL response fans out into — the
// campaign of each participation, the streamer of each participation, the
// brand of each campaign — into one store query per kind and per request
// (dataloaders), so a page of N items costs the same few queries as a page of
// one.
package loaders

import (
	"context"
	"sync"
	"time"

	"github.com/vikstrous/dataloadgen"

	"tally/auth"
	"tally/domain"
	"tally/repository"
)

// Loaders are one request's batching loaders. They cache for the request's
// life only.
type Loaders struct {
	Users          *dataloadgen.Loader[string, domain.User]
	Campaigns      *dataloadgen.Loader[string, domain.Campaign]
	Participations *dataloadgen.Loader[string, domain.Participation]
}

// wait is how long a loader collects keys before it queries. gqlgen resolves
// a list's items in concurrent goroutines, and every one of them must queue
// its key before the batch fires, or a page costs more queries than it
// should. 1 ms split batches when the machine was busy (two test binaries
// on two cores: 2–3 queries where 1 was due); 10 ms held under four times
// that load. It is the latency a nested, batched field adds once per level,
// and only when the query selects one.
const wait = 10 * time.Millisecond

// New returns fresh loaders over the repositories.
func New(users *repository.Users, campaigns *repository.Campaigns, participations *repository.Participations) *Loaders {
	return &Loaders{
		Users: dataloadgen.NewLoader(byIDs(users.ByIDs, func(id string) error {
			return domain.Errorf(domain.ENOTFOUND, "user %q not found", id)
		}), dataloadgen.WithWait(wait)),
		Campaigns: dataloadgen.NewLoader(byIDs(campaigns.ByIDs, func(id string) error {
			return domain.Errorf(domain.ENOTFOUND, "campaign %q not found", id)
		}), dataloadgen.WithWait(wait)),
		Participations: dataloadgen.NewLoader(byIDs(participations.ByIDs, func(id string) error {
			return domain.Errorf(domain.ENOTFOUND, "participation %q not found", id)
		}), dataloadgen.WithWait(wait)),
	}
}

// byIDs adapts a repository's ByIDs to a loader's fetch: results in key
// order, a NOT_FOUND error for each missing key.
func byIDs[V any](fetch func(context.Context, []string) (map[string]V, error), notFound func(string) error) func(context.Context, []string) ([]V, []error) {
	return func(ctx context.Context, keys []string) ([]V, []error) {
		found, err := fetch(ctx, keys)
		out := make([]V, len(keys))
		errs := make([]error, len(keys))
		for i, k := range keys {
			switch v, ok := found[k]; {
			case err != nil:
				errs[i] = err
			case ok:
				out[i] = v
			default:
				errs[i] = notFound(k)
			}
		}
		return out, errs
	}
}

type ctxKey struct{}

// lazy builds a request's loaders the first time a resolver asks for them:
// most requests (`me`, the overlay, the tracking mutations) never do.
type lazy struct {
	once  sync.Once
	build func() *Loaders
	l     *Loaders
}

// Inject returns a function that puts fresh loaders into each request's
// context; the HTTP layer calls it once per request. They are built on first
// use. The signed-in caller's user, already read to authenticate the
// request, is primed: loading it again costs nothing.
func Inject(users *repository.Users, campaigns *repository.Campaigns, participations *repository.Participations) func(context.Context) context.Context {
	return func(ctx context.Context) context.Context {
		caller := auth.CallerFrom(ctx).User
		return context.WithValue(ctx, ctxKey{}, &lazy{build: func() *Loaders {
			l := New(users, campaigns, participations)
			if caller != nil {
				l.Users.Prime(caller.ID, *caller)
			}
			return l
		}})
	}
}

// For returns the request's loaders.
func For(ctx context.Context) *Loaders {
	z, _ := ctx.Value(ctxKey{}).(*lazy)
	if z == nil {
		panic("loaders: none in context; is the HTTP middleware installed?")
	}
	z.once.Do(func() { z.l = z.build() })
	return z.l
}
