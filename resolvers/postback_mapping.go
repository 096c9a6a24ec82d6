package resolvers

import (
	"maps"
	"slices"

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

// deliveryValues are a delivery's values: a postback's macros in their
// order, or an alert webhook's fields by name.
func deliveryValues(e domain.OutboxEntry) []*model.PostbackValue {
	if e.Event != domain.DeliveryAlert {
		return postbackValues(e.Values)
	}
	out := make([]*model.PostbackValue, 0, len(e.Values))
	for _, k := range slices.Sorted(maps.Keys(e.Values)) {
		out = append(out, &model.PostbackValue{Macro: k, Value: e.Values[k]})
	}
	return out
}

func deliveryConnection(p domain.Page[domain.OutboxEntry]) *model.PostbackDeliveryConnection {
	return &model.PostbackDeliveryConnection{PageInfo: pageInfo(p), Edges: edges(p,
		func(c string, n *domain.OutboxEntry) *model.PostbackDeliveryEdge {
			return &model.PostbackDeliveryEdge{Cursor: c, Node: n}
		})}
}

func alertConnection(p domain.Page[domain.Alert]) *model.AlertConnection {
	return &model.AlertConnection{PageInfo: pageInfo(p), Edges: edges(p,
		func(c string, n *domain.Alert) *model.AlertEdge { return &model.AlertEdge{Cursor: c, Node: n} })}
}
