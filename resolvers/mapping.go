package resolvers

import (
	"tally/domain"
	"tally/graph/model"
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

func pageArgs(first *int, after *string) domain.PageArgs {
	var p domain.PageArgs
	if first != nil {
		p.First = *first
	}
	if after != nil {
		p.After = *after
	}
	return p
}

func pageInfo[T any](p domain.Page[T]) *model.PageInfo {
	info := &model.PageInfo{HasNextPage: p.HasNextPage}
	if n := len(p.Cursors); n > 0 {
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
	return &model.ParticipationConnection{PageInfo: pageInfo(p), Edges: edges(p,
		func(c string, n *domain.Participation) *model.ParticipationEdge {
			return &model.ParticipationEdge{Cursor: c, Node: n}
		})}
}

func campaignConnection(p domain.Page[domain.Campaign]) *model.CampaignConnection {
	return &model.CampaignConnection{PageInfo: pageInfo(p), Edges: edges(p,
		func(c string, n *domain.Campaign) *model.CampaignEdge { return &model.CampaignEdge{Cursor: c, Node: n} })}
}

func conversionConnection(p domain.Page[domain.Conversion]) *model.ConversionConnection {
	return &model.ConversionConnection{PageInfo: pageInfo(p), Edges: edges(p,
		func(c string, n *domain.Conversion) *model.ConversionEdge {
			return &model.ConversionEdge{Cursor: c, Node: n}
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
