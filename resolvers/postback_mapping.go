package resolvers

import (
	"tally/domain"
	"tally/graph/model"
)

// nonEmpty is s, or nil when it is empty (a nullable field).
func nonEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// postbackMacros are the macros with their braces, in domain's order.
func postbackMacros() []string {
	out := make([]string, len(domain.PostbackMacros))
	for i, m := range domain.PostbackMacros {
		out[i] = "{" + m + "}"
	}
	return out
}

// postbackValues lists a delivery's values in the macros' order; values of
// names that are not macros are left out.
func postbackValues(values map[string]string) []*model.PostbackValue {
	out := make([]*model.PostbackValue, 0, len(values))
	for _, m := range domain.PostbackMacros {
		if v, ok := values[m]; ok {
			out = append(out, &model.PostbackValue{Macro: m, Value: v})
		}
	}
	return out
}

func deliveryConnection(p domain.Page[domain.OutboxEntry]) *model.PostbackDeliveryConnection {
	return &model.PostbackDeliveryConnection{PageInfo: pageInfo(p), Edges: edges(p,
		func(c string, n *domain.OutboxEntry) *model.PostbackDeliveryEdge {
			return &model.PostbackDeliveryEdge{Cursor: c, Node: n}
		})}
}
