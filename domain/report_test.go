package domain

import (
	"strings"
	"testing"
	"time"
)

func periodsOf(t *testing.T, from, to, zone string, g Granularity) (ReportQuery, []time.Time) {
	t.Helper()
	q := ReportQuery{From: from, To: to, TimeZone: zone, Granularity: g}
	if err := q.Validate(); err != nil {
		t.Fatalf("%s %s–%s %s: %v", zone, from, to, g, err)
	}
	return q, q.Periods()
}

// TestPeriods: hours of a DST day, days of Kolkata and Kathmandu, weeks
// from Monday, months.
func TestPeriods(t *testing.T) {
	for _, tc := range []struct {
		from, to, zone string
		g              Granularity
		periods        int
		first, last    string // the first period's start and the end, UTC
	}{
		{"2026-11-01", "2026-11-01", "America/New_York", GranularityHour, 25, "2026-11-01T04:00:00Z", "2026-11-02T05:00:00Z"},
		{"2026-03-08", "2026-03-08", "America/New_York", GranularityHour, 23, "2026-03-08T05:00:00Z", "2026-03-09T04:00:00Z"},
		{"2026-11-23", "2026-11-24", "Asia/Kolkata", GranularityDay, 2, "2026-11-22T18:30:00Z", "2026-11-24T18:30:00Z"},
		{"2026-11-23", "2026-11-23", "Asia/Kathmandu", GranularityHour, 24, "2026-11-22T18:15:00Z", "2026-11-23T18:15:00Z"},
		{"2026-11-25", "2026-12-08", "UTC", GranularityWeek, 3, "2026-11-25T00:00:00Z", "2026-12-09T00:00:00Z"}, // Wed; Mon 30th; Mon 7th
		{"2026-10-15", "2026-12-31", "Europe/Berlin", GranularityMonth, 3, "2026-10-14T22:00:00Z", "2026-12-31T23:00:00Z"},
		{"2026-01-01", "2026-12-31", "UTC", GranularityTotal, 1, "2026-01-01T00:00:00Z", "2027-01-01T00:00:00Z"},
	} {
		_, p := periodsOf(t, tc.from, tc.to, tc.zone, tc.g)
		if len(p)-1 != tc.periods || p[0].Format(time.RFC3339) != tc.first || p[len(p)-1].Format(time.RFC3339) != tc.last {
			t.Errorf("%s %s–%s %s: %d periods %s…%s, want %d %s…%s", tc.zone, tc.from, tc.to, tc.g, len(p)-1,
				p[0].Format(time.RFC3339), p[len(p)-1].Format(time.RFC3339), tc.periods, tc.first, tc.last)
		}
		for i := 0; i+1 < len(p); i++ {
			if p[i+1].Sub(p[i])%QuarterLen != 0 {
				t.Errorf("%s: period %d is not whole quarters", tc.zone, i)
			}
		}
	}
	q, p := periodsOf(t, "2026-11-01", "2026-11-01", "America/New_York", GranularityHour)
	if a, b := q.Label(p[1]), q.Label(p[2]); a != "2026-11-01T01:00-04:00" || b != "2026-11-01T01:00-05:00" {
		t.Errorf("the repeated hour's labels: %s and %s", a, b)
	}
}

// TestReportInputErrorsNameTheValues: a wrong enum value (from the CSV's
// query string, where the schema does not check them) is told the values
// it may take, on its field.
func TestReportInputErrorsNameTheValues(t *testing.T) {
	for _, tc := range []struct {
		name  string
		edit  func(*ReportQuery)
		field string
		want  string
	}{
		{"no granularity", func(q *ReportQuery) { q.Granularity = "" }, "granularity", "HOUR, DAY, WEEK, MONTH or TOTAL"},
		{"a streamer dimension", func(q *ReportQuery) { q.GroupBy = []Dimension{"STREAMER"} }, "groupBy", "PARTICIPATION (one streamer"},
		{"a bad sort key", func(q *ReportQuery) { q.Sort = "BOGUS" }, "sort.by", "SPEND or EARNINGS"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := ReportQuery{From: "2026-11-01", To: "2026-11-01", TimeZone: "UTC", Granularity: GranularityDay}
			tc.edit(&q)
			err := q.Validate()
			if ErrorField(err) != tc.field || !strings.Contains(ErrorMessage(err), tc.want) {
				t.Errorf("error %v on %q, want one on %q naming %q", err, ErrorField(err), tc.field, tc.want)
			}
		})
	}
}
