package resolvers

import (
	"tally/domain"
	"tally/graph/model"
	"tally/repository"
)

// money puts an amount in the platform currency.
func (r *Resolver) money(m domain.Micros) *model.Money {
	return &model.Money{Amount: m, Currency: r.Currency}
}

// ptr returns &v, or nil with err.
func ptr[T any](v T, err error) (*T, error) {
	if err != nil {
		return nil, err
	}
	return &v, nil
}

func pageArgs(first *int, after *string) repository.PageArgs {
	var p repository.PageArgs
	if first != nil {
		p.First = *first
	}
	if after != nil {
		p.After = *after
	}
	return p
}

func pageInfo[T any](p repository.Page[T]) *model.PageInfo {
	info := &model.PageInfo{HasNextPage: p.HasNextPage}
	if n := len(p.Cursors); n > 0 {
		info.EndCursor = &p.Cursors[n-1]
	}
	return info
}

func participationConnection(p repository.Page[domain.Participation]) *model.ParticipationConnection {
	conn := &model.ParticipationConnection{Edges: []*model.ParticipationEdge{}, PageInfo: pageInfo(p)}
	for i := range p.Items {
		conn.Edges = append(conn.Edges, &model.ParticipationEdge{Cursor: p.Cursors[i], Node: &p.Items[i]})
	}
	return conn
}
