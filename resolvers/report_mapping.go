package resolvers

import (
	"tally/domain"
	"tally/graph/model"
)

// reportQuery maps the report's input onto the domain's query (validated
// by the service).
func reportQuery(in model.ReportInput) domain.ReportQuery {
	q := domain.ReportQuery{From: in.From, To: in.To, TimeZone: in.TimeZone, Granularity: domain.Granularity(in.Granularity),
		Filters: map[domain.Dimension][]string{}}
	for _, d := range in.GroupBy {
		q.GroupBy = append(q.GroupBy, domain.Dimension(d))
	}
	if f := in.Filter; f != nil {
		for d, vs := range map[domain.Dimension][]string{domain.DimCampaign: f.CampaignIds, domain.DimParticipation: f.ParticipationIds,
			domain.DimGoal: f.Goals, domain.DimSub1: f.Sub1, domain.DimSub2: f.Sub2, domain.DimSub3: f.Sub3, domain.DimSub4: f.Sub4, domain.DimSub5: f.Sub5} {
			if len(vs) > 0 {
				q.Filters[d] = vs
			}
		}
	}
	if s := in.Sort; s != nil {
		q.Sort = domain.ReportSortKey(s.By)
		q.Desc = s.Direction != nil && *s.Direction == model.ReportSortDirectionDesc
	}
	return q
}

// reportRow maps one row.
func (r *Resolver) reportRow(q domain.ReportQuery, row domain.ReportRow) *model.ReportRow {
	out := &model.ReportRow{Start: row.Start, End: row.End, Period: q.Label(row.Start), Group: []*model.ReportGroupValue{},
		Impressions: int(row.Impressions), Clicks: int(row.Clicks), InvalidClicks: int(row.InvalidClicks), Conversions: int(row.Conversions),
		ConversionsByStatus: &model.ReportConversionStatusCounts{Pending: int(row.Pending), Approved: int(row.Approved), Rejected: int(row.Rejected)},
		Spend:               r.money(row.Spend), Earnings: r.money(row.Earnings), Ecpm: r.money(row.ECPM()), Cpc: r.money(row.CPC()),
		ConversionRate: row.ConversionRate()}
	for _, v := range row.Group {
		g := &model.ReportGroupValue{Dimension: model.ReportDimension(v.Dimension), NotSet: v.NotSet, Other: v.Other}
		if !v.NotSet && !v.Other {
			value := v.Value
			g.Value = &value
		}
		out.Group = append(out.Group, g)
	}
	return out
}
