package resolvers

import (
	"context"

	"github.com/99designs/gqlgen/graphql"

	"tally/domain"
	"tally/foundation/graphqlhttp"
	"tally/graph/model"
	"tally/live"
	"tally/resolvers/loaders"
)

// money puts an amount in the platform currency.
func (r *Resolver) money(m domain.Micros) *model.Money {
	return &model.Money{Amount: m, Currency: r.Currency}
}

// moneyOrNil is m as Money when ok, else nil (an amount not set).
func (r *Resolver) moneyOrNil(m domain.Micros, ok bool) *model.Money {
	if !ok {
		return nil
	}
	return r.money(m)
}

// capMoney is a cap as Money; nil for no cap.
func (r *Resolver) capMoney(m *domain.Micros) *model.Money {
	if m == nil {
		return nil
	}
	return r.money(*m)
}

// reasonOrNil is the money rule that refused an event's price; nil for none.
func reasonOrNil(r domain.NotBilledReason) *domain.NotBilledReason {
	if r == "" {
		return nil
	}
	return &r
}

// ptr returns &v, or nil with err.
func ptr[T any](v T, err error) (*T, error) {
	if err != nil {
		return nil, err
	}
	return &v, nil
}

// pageArgs gathers a connection field's arguments. It asks for the total
// count only when the client selected totalCount, because counting reads the
// whole list.
func pageArgs(ctx context.Context, first *int, after *string, last *int, before *string) domain.PageArgs {
	p := domain.PageArgs{Total: selects(ctx, "totalCount")}
	if first != nil {
		p.First = *first
	}
	if after != nil {
		p.After = *after
	}
	if last != nil {
		p.Last = *last
	}
	if before != nil {
		p.Before = *before
	}
	return p
}

// selects reports whether the field being resolved selects the subfield
// name (through fragments too).
func selects(ctx context.Context, name string) bool {
	if graphql.GetFieldContext(ctx) == nil {
		return false
	}
	for _, f := range graphql.CollectFieldsCtx(ctx, nil) {
		if f.Name == name {
			return true
		}
	}
	return false
}

func pageInfo[T any](p domain.Page[T]) *model.PageInfo {
	info := &model.PageInfo{HasNextPage: p.HasNextPage, HasPreviousPage: p.HasPreviousPage}
	if n := len(p.Cursors); n > 0 {
		info.StartCursor = &p.Cursors[0]
		info.EndCursor = &p.Cursors[n-1]
	}
	return info
}

// edges makes a connection's edges from a page: never nil, one per item.
func edges[T, E any](p domain.Page[T], edge func(cursor string, node *T) *E) []*E {
	out := make([]*E, len(p.Items))
	for i := range p.Items {
		out[i] = edge(p.Cursors[i], &p.Items[i])
	}
	return out
}

func participationConnection(p domain.Page[domain.Participation]) *model.ParticipationConnection {
	return &model.ParticipationConnection{PageInfo: pageInfo(p), TotalCount: p.TotalCount, Edges: edges(p,
		func(c string, n *domain.Participation) *model.ParticipationEdge {
			return &model.ParticipationEdge{Cursor: c, Node: n}
		})}
}

func campaignConnection(p domain.Page[domain.Campaign]) *model.CampaignConnection {
	return &model.CampaignConnection{PageInfo: pageInfo(p), TotalCount: p.TotalCount, Edges: edges(p,
		func(c string, n *domain.Campaign) *model.CampaignEdge { return &model.CampaignEdge{Cursor: c, Node: n} })}
}

func conversionConnection(p domain.Page[domain.Conversion]) *model.ConversionConnection {
	return &model.ConversionConnection{PageInfo: pageInfo(p), TotalCount: p.TotalCount, Edges: edges(p,
		func(c string, n *domain.Conversion) *model.ConversionEdge {
			return &model.ConversionEdge{Cursor: c, Node: n}
		})}
}

func entryEventConnection(p domain.Page[domain.EntryEvent]) *model.EntryEventConnection {
	return &model.EntryEventConnection{PageInfo: pageInfo(p), Edges: edges(p,
		func(c string, n *domain.EntryEvent) *model.EntryEventEdge {
			return &model.EntryEventEdge{Cursor: c, Node: n}
		})}
}

// deref is *p, or "" for nil.
func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// subIDs maps sub-ids given as input; absent ones are "".
func subIDs(in *model.SubIdsInput) domain.SubIDs {
	if in == nil {
		return domain.SubIDs{}
	}
	return domain.SubIDs{deref(in.Sub1), deref(in.Sub2), deref(in.Sub3), deref(in.Sub4), deref(in.Sub5)}
}

// subID is the i-th sub-id, or null when it is empty.
func subID(s *domain.SubIDs, i int) *string {
	if s[i] == "" {
		return nil
	}
	return &s[i]
}

// pushes maps a live service's stream for gqlgen. A subscription's loaders
// live as long as its connection, so before each push forget drops what they
// cached of the object: a nested field (participation.campaign) is read
// afresh too. A stream that ends with an error ends the subscription with
// it (graphqlhttp.EndStream): the client is told, never left waiting.
func pushes[T any](ctx context.Context, in *live.Stream[T], err error, forget func(*loaders.Loaders, T)) (<-chan *T, error) {
	if err != nil {
		return nil, err
	}
	out := make(chan *T)
	go func() {
		defer close(out)
		for v := range in.C {
			forget(loaders.For(ctx), v)
			select {
			case out <- &v:
			case <-ctx.Done():
				for range in.C { // let the service's goroutine end
				}
				return
			}
		}
		graphqlhttp.EndStream(ctx, in.Err())
	}()
	return out, nil
}

// pointers is list as pointers, for GraphQL lists of objects.
func pointers[T any](list []T) []*T {
	out := make([]*T, len(list))
	for i := range list {
		out[i] = &list[i]
	}
	return out
}
