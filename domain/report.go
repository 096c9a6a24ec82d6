package domain

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// QuarterLen is the span of one report bucket. Every IANA zone's offset is
// a multiple of 15 minutes, so an hour, a day, a week or a month of any
// zone is an exact sum of quarters, the days daylight saving starts or ends
// included.
const QuarterLen = 15 * time.Minute

// Quarter is the start of the UTC quarter-hour t falls in.
func Quarter(t time.Time) time.Time { return t.UTC().Truncate(QuarterLen) }

// MaxSubValues is how many distinct values of one sub-id (sub1…sub5) a
// campaign's report buckets keep; the values beyond, in the order the
// projector first meets them, are counted together under "other"
// (ReportValue.Other).
const MaxSubValues = 100

// QuarterLevel is what a quarter bucket is kept for. Every level is keyed
// under one campaign.
type QuarterLevel string

const (
	LevelCampaign      QuarterLevel = "c" // the campaign's
	LevelParticipation QuarterLevel = "p" // one participation's within it
	LevelGoal          QuarterLevel = "g" // one participation's conversions of one goal
	LevelSub           QuarterLevel = "s" // one participation's clicks and conversions with one value of one sub-id
)

// QuarterKey names one quarter bucket.
type QuarterKey struct {
	Level           QuarterLevel
	CampaignID      string
	ParticipationID string // all levels but LevelCampaign
	Goal            string // LevelGoal
	Sub             int    // LevelSub: 1…5
	Value           string // LevelSub: the value kept ("" with Other)
	Other           bool   // LevelSub: the values beyond MaxSubValues
	At              time.Time
}

// ID is the bucket's _id: its fields in order, the free text (a sub-id's
// value) last, so that no two keys share one.
func (k QuarterKey) ID() string {
	at := strconv.FormatInt(k.At.Unix(), 10)
	switch k.Level {
	case LevelCampaign:
		return "c|" + k.CampaignID + "|" + at
	case LevelParticipation:
		return "p|" + k.CampaignID + "|" + k.ParticipationID + "|" + at
	case LevelGoal:
		return "g|" + k.CampaignID + "|" + k.ParticipationID + "|" + at + "|" + k.Goal
	}
	v := "v" + k.Value
	if k.Other {
		v = "o"
	}
	return "s|" + k.CampaignID + "|" + k.ParticipationID + "|" + strconv.Itoa(k.Sub) + "|" + at + "|" + v
}

// QuarterCounts are one quarter bucket's figures. Counts are in the quarter
// an event was recorded in, a conversion under the status it was last
// projected with (so Pending+Approved+Rejected = Conversions); money is in
// the quarter of the step that moved it (a click's recording, a
// conversion's approval or rejection) — the rule of the daily buckets.
type QuarterCounts struct {
	Impressions, Clicks, InvalidClicks, Conversions int64
	Pending, Approved, Rejected                     int64
	Spend, Earnings                                 Micros
}

// Add adds o to c; ok is false on overflow of the money.
func (c *QuarterCounts) Add(o QuarterCounts, sign int64) bool {
	c.Impressions += sign * o.Impressions
	c.Clicks += sign * o.Clicks
	c.InvalidClicks += sign * o.InvalidClicks
	c.Conversions += sign * o.Conversions
	c.Pending += sign * o.Pending
	c.Approved += sign * o.Approved
	c.Rejected += sign * o.Rejected
	var ok1, ok2 bool
	c.Spend, ok1 = AddMicros(c.Spend, Micros(sign)*o.Spend)
	c.Earnings, ok2 = AddMicros(c.Earnings, Micros(sign)*o.Earnings)
	return ok1 && ok2
}

// Count counts event e once (its first projection), by the counters' rule
// (Counts.Count: one place says what an event counts as).
func (c *QuarterCounts) Count(e EventRecord) {
	var k Counts
	k.Count(e)
	c.Impressions += k.Impressions
	c.Clicks += k.Clicks
	c.InvalidClicks += k.InvalidClicks
	c.Conversions += k.Conversions
}

// Status adds d to the count of conversions in status s.
func (c *QuarterCounts) Status(s ConversionStatus, d int64) {
	switch s {
	case ConversionPending:
		c.Pending += d
	case ConversionApproved:
		c.Approved += d
	case ConversionRejected:
		c.Rejected += d
	}
}

// QuarterDelta is what one batch adds to one quarter bucket.
type QuarterDelta struct {
	Key    QuarterKey
	Counts QuarterCounts
}

// SubValuesKey names the list of one sub-id's values a campaign keeps.
type SubValuesKey struct {
	CampaignID string
	Sub        int // 1…5
}

func (k SubValuesKey) String() string { return k.CampaignID + "|" + strconv.Itoa(k.Sub) }

// Granularity is a report's period.
type Granularity string

const (
	GranularityHour  Granularity = "HOUR"
	GranularityDay   Granularity = "DAY"
	GranularityWeek  Granularity = "WEEK"
	GranularityMonth Granularity = "MONTH"
	GranularityTotal Granularity = "TOTAL"
)

// Dimension is what a report groups or filters by.
type Dimension string

const (
	DimCampaign      Dimension = "CAMPAIGN"
	DimParticipation Dimension = "PARTICIPATION"
	DimGoal          Dimension = "GOAL"
	DimSub1          Dimension = "SUB1"
	DimSub2          Dimension = "SUB2"
	DimSub3          Dimension = "SUB3"
	DimSub4          Dimension = "SUB4"
	DimSub5          Dimension = "SUB5"
)

// SubIndex is 1…5 for SUB1…SUB5, 0 for the other dimensions.
func (d Dimension) SubIndex() int {
	if strings.HasPrefix(string(d), "SUB") && len(d) == 4 && d[3] >= '1' && d[3] <= '5' {
		return int(d[3] - '0')
	}
	return 0
}

// Detail reports whether d is kept only in the goal or sub-id buckets.
func (d Dimension) Detail() bool { return d == DimGoal || d.SubIndex() > 0 }

// ReportSortKey is what report rows are sorted by.
type ReportSortKey string

const (
	SortPeriod      ReportSortKey = "PERIOD"
	SortImpressions ReportSortKey = "IMPRESSIONS"
	SortClicks      ReportSortKey = "CLICKS"
	SortConversions ReportSortKey = "CONVERSIONS"
	SortSpend       ReportSortKey = "SPEND"
	SortEarnings    ReportSortKey = "EARNINGS"
)

// Report bounds.
const (
	MaxReportDays      = 366     // the longest range
	MaxReportHourDays  = 93      // the longest range by HOUR
	MaxReportIDs       = 50      // campaigns or participations in one filter
	MaxReportBuckets   = 200_000 // quarter buckets one request may read
	MaxReportFilterVal = 100     // values of one dimension in a filter
)

// ReportQuery is one report request, validated by Validate.
type ReportQuery struct {
	From, To    string // YYYY-MM-DD in TimeZone, inclusive
	TimeZone    string
	Granularity Granularity
	GroupBy     []Dimension
	// Filters: each dimension given keeps only its values.
	Filters map[Dimension][]string
	Sort    ReportSortKey
	Desc    bool

	// Set by Validate.
	Location   *time.Location
	Start, End time.Time // [Start, End), UTC
}

// Validate checks the query (BAD_USER_INPUT naming the argument at fault)
// and sets its location and range.
func (q *ReportQuery) Validate() error {
	loc, ok := LoadTimeZone(q.TimeZone)
	if !ok || loc == nil || q.TimeZone == "" {
		return Invalid("timeZone", "timeZone must be an IANA time zone such as \"America/New_York\" or \"UTC\", got %q", q.TimeZone)
	}
	from, err := time.ParseInLocation(time.DateOnly, q.From, loc)
	if err != nil {
		return Invalid("from", "from must be a date as YYYY-MM-DD, got %q", q.From)
	}
	to, err := time.ParseInLocation(time.DateOnly, q.To, loc)
	if err != nil {
		return Invalid("to", "to must be a date as YYYY-MM-DD, got %q", q.To)
	}
	if to.Before(from) {
		return Invalid("to", "to must not be before from")
	}
	days := int(to.Sub(from).Hours()/24+0.5) + 1
	if days > MaxReportDays {
		return Invalid("to", "the range spans %d days; the most is %d", days, MaxReportDays)
	}
	switch q.Granularity {
	case GranularityHour:
		if days > MaxReportHourDays {
			return Invalid("to", "an hourly report spans at most %d days; this one spans %d", MaxReportHourDays, days)
		}
	case GranularityDay, GranularityWeek, GranularityMonth, GranularityTotal:
	default:
		return Invalid("granularity", "granularity must be HOUR, DAY, WEEK, MONTH or TOTAL, got %q", q.Granularity)
	}
	if len(q.GroupBy) > 2 {
		return Invalid("groupBy", "group by one or two dimensions")
	}
	if len(q.GroupBy) == 2 && q.GroupBy[0] == q.GroupBy[1] {
		return Invalid("groupBy", "group by two different dimensions")
	}
	detail := map[Dimension]bool{}
	for _, d := range q.GroupBy {
		if !d.valid() {
			return Invalid("groupBy", "groupBy takes CAMPAIGN, PARTICIPATION (one streamer in one campaign), GOAL or SUB1…SUB5, got %q", d)
		}
		if d.Detail() {
			detail[d] = true
		}
	}
	for d, vs := range q.Filters {
		if len(vs) == 0 {
			continue
		}
		if len(vs) > MaxReportFilterVal {
			return Invalid("filter."+d.field(), "at most %d values", MaxReportFilterVal)
		}
		if d.Detail() {
			detail[d] = true
		}
	}
	if len(detail) > 1 {
		return Invalid("groupBy", "a report groups or filters by at most one of GOAL and SUB1…SUB5 (with CAMPAIGN and PARTICIPATION as you like): each is kept in buckets of its own")
	}
	switch q.Sort {
	case "", SortPeriod, SortImpressions, SortClicks, SortConversions, SortSpend, SortEarnings:
	default:
		return Invalid("sort.by", "sort by PERIOD, IMPRESSIONS, CLICKS, CONVERSIONS, SPEND or EARNINGS, got %q", q.Sort)
	}
	q.Location = loc
	q.Start = from.UTC()
	q.End = time.Date(to.Year(), to.Month(), to.Day()+1, 0, 0, 0, 0, loc).UTC()
	return nil
}

func (d Dimension) valid() bool {
	switch d {
	case DimCampaign, DimParticipation, DimGoal:
		return true
	}
	return d.SubIndex() > 0
}

// field is the filter's input field of d.
func (d Dimension) field() string {
	switch d {
	case DimCampaign:
		return "campaignIds"
	case DimParticipation:
		return "participationIds"
	case DimGoal:
		return "goals"
	}
	return fmt.Sprintf("sub%d", d.SubIndex())
}

// DetailDim is the one goal or sub-id dimension the query groups or
// filters by ("" when none).
func (q ReportQuery) DetailDim() Dimension {
	for _, d := range q.GroupBy {
		if d.Detail() {
			return d
		}
	}
	for d, vs := range q.Filters {
		if d.Detail() && len(vs) > 0 {
			return d
		}
	}
	return ""
}

// Quarters is how many quarter buckets the range spans (one series).
func (q ReportQuery) Quarters() int64 { return int64(q.End.Sub(q.Start) / QuarterLen) }

// Periods are the starts of the report's periods over [Start, End), in
// order, and the end: period i is [starts[i], starts[i+1]) with the end
// appended. HOUR steps by 60 minutes from the local midnight of From (a
// day daylight saving starts has 23, one it ends 25); DAY by local
// midnights; WEEK by local Mondays (the first week starts at From); MONTH
// by the first of each month (the first starts at From); TOTAL is one.
func (q ReportQuery) Periods() []time.Time {
	starts := []time.Time{q.Start}
	local := q.Start.In(q.Location)
	for i := 1; ; i++ {
		var next time.Time
		switch q.Granularity {
		case GranularityHour:
			next = q.Start.Add(time.Duration(i) * time.Hour)
		case GranularityDay:
			next = time.Date(local.Year(), local.Month(), local.Day()+i, 0, 0, 0, 0, q.Location)
		case GranularityWeek:
			back := (int(local.Weekday()) + 6) % 7 // days since Monday
			next = time.Date(local.Year(), local.Month(), local.Day()-back+7*i, 0, 0, 0, 0, q.Location)
		case GranularityMonth:
			next = time.Date(local.Year(), local.Month()+time.Month(i), 1, 0, 0, 0, 0, q.Location)
		default:
			next = q.End
		}
		if !next.Before(q.End) {
			return append(starts, q.End)
		}
		starts = append(starts, next.UTC())
	}
}

// ReportValue is one dimension's value in a report row: an id, a goal, a
// sub-id's value; NotSet for events without it (impressions have no goal
// and no sub-ids); Other for a sub-id's values beyond MaxSubValues.
type ReportValue struct {
	Dimension Dimension
	Value     string
	NotSet    bool
	Other     bool
}

// ReportRow is one period of one group.
type ReportRow struct {
	Start, End time.Time // the period, UTC
	Group      []ReportValue
	QuarterCounts
}

// ECPM is spend per thousand impressions (0 without impressions).
func (r ReportRow) ECPM() Micros {
	if r.Impressions == 0 {
		return 0
	}
	return Micros(int64(r.Spend) * 1000 / r.Impressions)
}

// CPC is spend per valid click (0 without clicks).
func (r ReportRow) CPC() Micros {
	if r.Clicks == 0 {
		return 0
	}
	return Micros(int64(r.Spend) / r.Clicks)
}

// ConversionRate is conversions per valid click (0 without clicks).
func (r ReportRow) ConversionRate() float64 {
	if r.Clicks == 0 {
		return 0
	}
	return float64(r.Conversions) / float64(r.Clicks)
}

// Label is the period starting at start as the report's zone names it:
// 2026-11-01T01:00-04:00 (HOUR), 2026-11-01 (DAY, WEEK: its first day),
// 2026-11 (MONTH), 2026-11-01/2026-11-30 (TOTAL: the range's days).
func (q ReportQuery) Label(start time.Time) string {
	l := start.In(q.Location)
	switch q.Granularity {
	case GranularityHour:
		return l.Format("2006-01-02T15:04Z07:00")
	case GranularityMonth:
		return l.Format("2006-01")
	case GranularityTotal:
		return q.From + "/" + q.To
	}
	return l.Format(time.DateOnly)
}
