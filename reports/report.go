package reports

import (
	"context"
	"encoding/base64"
	"sort"
	"strconv"
	"strings"
	"time"

	"tally/auth"
	"tally/domain"
	"tally/repository"
)

// scope is what one report reads of one campaign: all of it (nil), or
// only some of its participations.
type scope map[string][]string

// Report answers q for the caller, one page of rows (first/after; see
// ReportRows for the rows and totals). Who may read what: a brand its
// campaigns' figures (and their participations'), a streamer only its own
// participations' (a campaign it joined reads as its own participation in
// it), an admin everything. The filter must name campaigns or
// participations (at most domain.MaxReportIDs): a campaign the caller may
// not see is NOT_FOUND, one it sees but may not report on FORBIDDEN.
// BAD_USER_INPUT for an invalid query or one that would read more than
// domain.MaxReportBuckets buckets.
func (s *Service) Report(ctx context.Context, q *domain.ReportQuery, first int, after string) (domain.Page[domain.ReportRow], domain.ReportRow, error) {
	var none domain.Page[domain.ReportRow]
	if first < 0 || first > domain.MaxPageSize {
		return none, domain.ReportRow{}, domain.Invalid("first", "first must be between 0 and %d", domain.MaxPageSize)
	}
	if first == 0 {
		first = domain.DefaultPageSize
	}
	offset := 0
	if after != "" {
		raw, err := base64.RawURLEncoding.DecodeString(after)
		n, err2 := strconv.Atoi(strings.TrimPrefix(string(raw), "report:"))
		if err != nil || err2 != nil || !strings.HasPrefix(string(raw), "report:") || n < 0 {
			return none, domain.ReportRow{}, domain.Invalid("after", "after must be a cursor this report returned")
		}
		offset = n + 1
	}
	rows, totals, err := s.ReportRows(ctx, q)
	if err != nil {
		return none, domain.ReportRow{}, err
	}
	page := domain.Page[domain.ReportRow]{TotalCount: len(rows), HasPreviousPage: offset > 0}
	for i := offset; i < len(rows) && i < offset+first; i++ {
		page.Items = append(page.Items, rows[i])
		page.Cursors = append(page.Cursors, base64.RawURLEncoding.EncodeToString([]byte("report:"+strconv.Itoa(i))))
	}
	page.HasNextPage = offset+first < len(rows)
	return page, totals, nil
}

// ReportRows validates q (setting its range) and returns every row of q's report, sorted, and their totals (a row
// spanning the whole range with no group), for the caller (see Report).
// The rows are computed from the quarter buckets alone: one indexed range
// read per campaign and level, summed in Go.
func (s *Service) ReportRows(ctx context.Context, q *domain.ReportQuery) ([]domain.ReportRow, domain.ReportRow, error) {
	if _, err := auth.RequireUser(ctx); err != nil {
		return nil, domain.ReportRow{}, err
	}
	if err := q.Validate(); err != nil {
		return nil, domain.ReportRow{}, err
	}
	sc, err := s.reportScope(ctx, *q)
	if err != nil {
		return nil, domain.ReportRow{}, err
	}
	series := int64(0)
	for _, ps := range sc {
		series += max(int64(len(ps)), 1)
	}
	if n := q.Quarters() * series; n > domain.MaxReportBuckets {
		return nil, domain.ReportRow{}, domain.Invalid("to", "the report spans %d quarter-hours of %d campaigns or participations (%d buckets); the most is %d: narrow the range or the filter",
			q.Quarters(), series, n, domain.MaxReportBuckets)
	}
	agg := newAggregate(*q)
	if err := s.Quarters.Read(ctx, agg.ranges(*q, sc), domain.MaxReportBuckets, agg.add); err != nil {
		return nil, domain.ReportRow{}, err
	}
	rows, totals := agg.rows(*q)
	return rows, totals, nil
}

// reportScope authorizes the filter's campaigns and participations and
// returns what to read of each campaign.
func (s *Service) reportScope(ctx context.Context, q domain.ReportQuery) (scope, error) {
	c := auth.CallerFrom(ctx)
	camps, parts := q.Filters[domain.DimCampaign], q.Filters[domain.DimParticipation]
	if len(camps) == 0 && len(parts) == 0 {
		return nil, domain.Invalid("filter.campaignIds", "name the campaigns (filter.campaignIds) or the participations (filter.participationIds) to report on")
	}
	if len(camps) > domain.MaxReportIDs {
		return nil, domain.Invalid("filter.campaignIds", "at most %d campaigns", domain.MaxReportIDs)
	}
	if len(parts) > domain.MaxReportIDs {
		return nil, domain.Invalid("filter.participationIds", "at most %d participations", domain.MaxReportIDs)
	}
	sc := scope{}
	inCamps := map[string]bool{}
	for _, id := range camps {
		inCamps[id] = true
	}
	if len(parts) > 0 {
		for _, id := range parts {
			if err := s.requireSee(ctx, id); err != nil {
				return nil, err
			}
			p, err := s.Participations.ByID(ctx, id)
			if err != nil {
				return nil, err
			}
			if len(camps) > 0 && !inCamps[p.CampaignID] {
				continue
			}
			sc[p.CampaignID] = append(sc[p.CampaignID], p.ID)
		}
		return sc, nil
	}
	for _, id := range camps {
		camp, err := s.Campaigns.ByID(ctx, id)
		if err != nil {
			return nil, err
		}
		if domain.CanManageCampaign(c.UserID, c.Role, camp) {
			sc[id] = nil
			continue
		}
		if c.Role == domain.RoleStreamer {
			p, err := s.Participations.ByCampaignAndStreamer(ctx, id, c.UserID)
			if err == nil {
				sc[id] = []string{p.ID} // its own figures, never another streamer's
				continue
			}
			if domain.ErrorCode(err) != domain.ENOTFOUND {
				return nil, err
			}
		}
		if err := s.requireManage(ctx, id); err != nil {
			return nil, err
		}
	}
	return sc, nil
}

// aggregate sums buckets into rows by group and period.
type aggregate struct {
	starts  []time.Time // the periods' starts, then the end
	groupBy []domain.Dimension
	detail  domain.Dimension // the goal or sub-id dimension, "" when none
	grouped bool             // the detail dimension is grouped by (not only filtered)
	only    map[string]bool  // the detail dimension's filter, nil when none
	groups  map[string]*group
}

type group struct {
	values  []domain.ReportValue
	key     string // groupKey(values): the order of groups
	periods []domain.QuarterCounts
}

func newAggregate(q domain.ReportQuery) *aggregate {
	a := &aggregate{starts: q.Periods(), groupBy: q.GroupBy, detail: q.DetailDim(), groups: map[string]*group{}}
	for _, d := range q.GroupBy {
		a.grouped = a.grouped || d == a.detail && d != ""
	}
	if vs := q.Filters[a.detail]; a.detail != "" && len(vs) > 0 {
		a.only = map[string]bool{}
		for _, v := range vs {
			a.only[v] = true
		}
	}
	if len(q.GroupBy) == 0 {
		a.group(domain.QuarterKey{}, false) // the one group always shows
	}
	return a
}

// ranges are the reads: per campaign, its campaign-level buckets when
// nothing finer is asked and the caller may read the whole campaign;
// otherwise its participations' buckets, and the goal or sub-id buckets
// of the detail dimension (the participation-level ones only when the
// detail is grouped by, for the row of events without it).
func (a *aggregate) ranges(q domain.ReportQuery, sc scope) []repository.QuarterRange {
	byParticipation := a.detail != ""
	for _, d := range q.GroupBy {
		byParticipation = byParticipation || d == domain.DimParticipation
	}
	ids := make([]string, 0, len(sc))
	for id := range sc {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	var out []repository.QuarterRange
	for _, id := range ids {
		r := repository.QuarterRange{CampaignID: id, Level: domain.LevelCampaign, ParticipationIDs: sc[id], From: q.Start, To: q.End}
		if sc[id] != nil || byParticipation {
			r.Level = domain.LevelParticipation
		}
		if a.detail == "" || a.grouped && a.only == nil {
			out = append(out, r)
		}
		if a.detail != "" {
			r.Level, r.Sub = domain.LevelGoal, a.detail.SubIndex()
			if r.Sub > 0 {
				r.Level = domain.LevelSub
			}
			out = append(out, r)
		}
	}
	return out
}

// group is the group of bucket b (without its detail value when notSet),
// created on first use.
func (a *aggregate) group(b domain.QuarterKey, notSet bool) *group {
	var kb strings.Builder
	for _, d := range a.groupBy {
		switch {
		case d == domain.DimCampaign:
			kb.WriteString(b.CampaignID)
		case d == domain.DimParticipation:
			kb.WriteString(b.ParticipationID)
		case notSet:
			kb.WriteString("\x01")
		case b.Other:
			kb.WriteString("\x02")
		default:
			kb.WriteString("=" + detailValue(b))
		}
		kb.WriteByte(0)
	}
	k := kb.String()
	if g := a.groups[k]; g != nil {
		return g
	}
	values := make([]domain.ReportValue, len(a.groupBy))
	for j, d := range a.groupBy {
		values[j] = domain.ReportValue{Dimension: d}
		switch {
		case d == domain.DimCampaign:
			values[j].Value = b.CampaignID
		case d == domain.DimParticipation:
			values[j].Value = b.ParticipationID
		case notSet:
			values[j].NotSet = true
		default:
			values[j].Value, values[j].Other = detailValue(b), b.Other
		}
	}
	g := &group{values: values, key: groupKey(values), periods: make([]domain.QuarterCounts, len(a.starts)-1)}
	a.groups[k] = g
	return g
}

// add sums one bucket into its group's period: a goal or sub-id bucket
// into its value's group and out of the group without it, which its
// participation's bucket fills.
func (a *aggregate) add(b domain.QuarterDelta) {
	i := sort.Search(len(a.starts), func(i int) bool { return a.starts[i].After(b.Key.At) }) - 1
	if i < 0 || i >= len(a.starts)-1 {
		return
	}
	detailBucket := b.Key.Level == domain.LevelGoal || b.Key.Level == domain.LevelSub
	if detailBucket && a.only != nil && (b.Key.Other || !a.only[detailValue(b.Key)]) {
		return
	}
	a.group(b.Key, !detailBucket).periods[i].Add(b.Counts, 1)
	if detailBucket && a.grouped && a.only == nil {
		a.group(b.Key, true).periods[i].Add(b.Counts, -1)
	}
}

func detailValue(k domain.QuarterKey) string {
	if k.Level == domain.LevelGoal {
		return k.Goal
	}
	return k.Value
}

// rows lists every period of every group with any figure (with no
// grouping, the one group always), sorted, and the totals.
func (a *aggregate) rows(q domain.ReportQuery) ([]domain.ReportRow, domain.ReportRow) {
	totals := domain.ReportRow{Start: q.Start, End: q.End}
	var rows []domain.ReportRow
	var keys []string // keys[i] is rows[i]'s group's
	for _, g := range a.groups {
		var sum domain.QuarterCounts
		for _, c := range g.periods {
			sum.Add(c, 1)
		}
		if len(a.groupBy) > 0 && sum == (domain.QuarterCounts{}) {
			continue // a group without figures (all its events carry the value)
		}
		for i, c := range g.periods {
			rows = append(rows, domain.ReportRow{Start: a.starts[i], End: a.starts[i+1], Group: g.values, QuarterCounts: c})
			keys = append(keys, g.key)
		}
		totals.QuarterCounts.Add(sum, 1)
	}
	order := make([]int, len(rows))
	for i := range order {
		order[i] = i
	}
	less := func(i, j int) int {
		if c := rows[i].Start.Compare(rows[j].Start); c != 0 {
			return c
		}
		return strings.Compare(keys[i], keys[j])
	}
	measure := func(r domain.ReportRow) int64 {
		switch q.Sort {
		case domain.SortImpressions:
			return r.Impressions
		case domain.SortClicks:
			return r.Clicks
		case domain.SortConversions:
			return r.Conversions
		case domain.SortSpend:
			return int64(r.Spend)
		case domain.SortEarnings:
			return int64(r.Earnings)
		}
		return 0
	}
	sort.SliceStable(order, func(i, j int) bool {
		x, y := order[i], order[j]
		if mx, my := measure(rows[x]), measure(rows[y]); mx != my {
			return mx < my != q.Desc
		}
		c := less(x, y)
		if q.Sort == "" || q.Sort == domain.SortPeriod {
			return c < 0 != q.Desc
		}
		return c < 0
	})
	sorted := make([]domain.ReportRow, len(rows))
	for i, j := range order {
		sorted[i] = rows[j]
	}
	return sorted, totals
}

func groupKey(vs []domain.ReportValue) string {
	var b strings.Builder
	for _, v := range vs {
		switch {
		case v.NotSet:
			b.WriteString("\x00")
		case v.Other:
			b.WriteString("\x01")
		default:
			b.WriteString("\x02" + v.Value)
		}
		b.WriteString("\xff")
	}
	return b.String()
}
