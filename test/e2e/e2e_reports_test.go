package e2e

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"tally/domain"
	"tally/projection"
	"tally/repository"
)

// The report (docs/reports.md): 15-minute buckets summed in any IANA zone,
// exactly the counters, for whoever may see them.

const reportQuery = `query($input: ReportInput!, $first: Int, $after: String) { report(input: $input, first: $first, after: $after) {
  totalCount pageInfo { hasNextPage endCursor }
  totals { ...row }
  edges { cursor node { ...row } } } }
fragment row on ReportRow { start end period group { dimension value notSet other }
  impressions clicks invalidClicks conversions conversionsByStatus { pending approved rejected }
  spend { amount currency } earnings { amount } ecpm { amount } cpc { amount } conversionRate }`

type reportRow struct {
	Start, End, Period string
	Group              []struct {
		Dimension     string
		Value         *string
		NotSet, Other bool
	}
	Impressions, Clicks, InvalidClicks, Conversions int
	ConversionsByStatus                             struct{ Pending, Approved, Rejected int }
	Spend                                           struct{ Amount, Currency string }
	Earnings, Ecpm, Cpc                             struct{ Amount string }
	ConversionRate                                  float64
}

type reportData struct {
	Report struct {
		TotalCount int
		PageInfo   struct {
			HasNextPage bool
			EndCursor   *string
		}
		Totals reportRow
		Edges  []struct {
			Cursor string
			Node   reportRow
		}
	}
}

// report reads every page of a report (after projecting).
func (a *testApp) report(who testUser, input map[string]any) (rows []reportRow, totals reportRow) {
	a.t.Helper()
	a.project()
	vars := map[string]any{"input": input, "first": 50}
	for {
		var d reportData
		a.mustDo(who.Token, reportQuery, vars, &d)
		totals = d.Report.Totals
		for _, e := range d.Report.Edges {
			rows = append(rows, e.Node)
		}
		if !d.Report.PageInfo.HasNextPage {
			if len(rows) != d.Report.TotalCount {
				a.t.Fatalf("report: %d rows over the pages, totalCount %d", len(rows), d.Report.TotalCount)
			}
			return rows, totals
		}
		vars["after"] = *d.Report.PageInfo.EndCursor
	}
}

func reportInput(from, to, zone, granularity string, filter map[string]any, groupBy ...string) map[string]any {
	in := map[string]any{"from": from, "to": to, "timeZone": zone, "granularity": granularity, "filter": filter}
	if len(groupBy) > 0 {
		in["groupBy"] = groupBy
	}
	return in
}

// clicksAt records one click at each time (the server's clock set to it).
func (a *testApp) clicksAt(tok, prefix string, times []time.Time) {
	a.t.Helper()
	for i, at := range times {
		a.clock.Set(at)
		a.mustClick(tok, fmt.Sprintf("%s-%04d", prefix, i))
	}
}

// every is the times from start (inclusive) to end (exclusive), step apart.
func every(start, end time.Time, step time.Duration) []time.Time {
	var out []time.Time
	for t := start; t.Before(end); t = t.Add(step) {
		out = append(out, t)
	}
	return out
}

// allClicks is valid and invalid clicks: the test's one client clicks as
// one viewer, so most of its clicks are invalid traffic; both are counted.
func (r reportRow) allClicks() int { return r.Clicks + r.InvalidClicks }

// TestReportDaylightSavingDays: in America/New_York the day daylight saving
// ends (2026-11-01) has 25 hourly rows and the day it starts (2026-03-08)
// 23; each hour holds exactly the clicks recorded in it, and the hours sum
// to the day's row.
func TestReportDaylightSavingDays(t *testing.T) {
	t.Parallel()
	a := mustStartApp(t)
	brand := a.mustSignUp("BRAND")
	c := a.mustPricedCampaign(brand, "DST", map[string]any{"budget": "100000.00", "startsAt": "2026-01-01T00:00:00Z"})
	s := a.mustStreamerIn(c)
	ny, _ := time.LoadLocation("America/New_York")
	for _, tc := range []struct {
		day   string
		hours int
	}{{"2026-11-01", 25}, {"2026-03-08", 23}} {
		day, _ := time.ParseInLocation(time.DateOnly, tc.day, ny)
		next := day.AddDate(0, 0, 1)
		// every 20 minutes from two hours before the day to two after
		times := every(day.Add(-2*time.Hour), next.Add(2*time.Hour), 20*time.Minute)
		a.clicksAt(s.token(c.ID), tc.day, times)
		want := make([]int, tc.hours)
		inDay := 0
		for _, at := range times {
			if !at.Before(day) && at.Before(next) {
				want[int(at.Sub(day)/time.Hour)]++
				inDay++
			}
		}
		filter := map[string]any{"campaignIds": []string{c.ID}}
		rows, totals := a.report(brand, reportInput(tc.day, tc.day, "America/New_York", "HOUR", filter))
		if len(rows) != tc.hours {
			t.Fatalf("%s: %d hourly rows, want %d", tc.day, len(rows), tc.hours)
		}
		sum := 0
		for i, r := range rows {
			if r.allClicks() != want[i] {
				t.Errorf("%s hour %d (%s): %d clicks, want %d", tc.day, i, r.Period, r.allClicks(), want[i])
			}
			sum += r.allClicks()
		}
		wantField(t, tc.day+" first hour's period", rows[0].Period, tc.day+"T00:00"+day.Format("-07:00"))
		days, _ := a.report(brand, reportInput(tc.day, tc.day, "America/New_York", "DAY", filter))
		wantField(t, tc.day+" hours summed", sum, inDay)
		wantField(t, tc.day+" the day's row", days[0].allClicks(), inDay)
		wantField(t, tc.day+" totals", totals.allClicks(), inDay)
	}
}

// TestReportHalfAndQuarterHourZones: a day in Asia/Kolkata (+05:30) starts
// at 18:30 UTC, one in Asia/Kathmandu (+05:45) at 18:15 UTC: clicks a few
// minutes either side land on the right day, exactly.
func TestReportHalfAndQuarterHourZones(t *testing.T) {
	t.Parallel()
	a := mustStartApp(t)
	brand := a.mustSignUp("BRAND")
	c := a.mustPricedCampaign(brand, "Zones", map[string]any{"budget": "1000.00"})
	s := a.mustStreamerIn(c)
	at := func(h, m int) time.Time { return time.Date(2026, 11, 23, h, m, 0, 0, time.UTC) }
	// 18:10 is the 23rd in both; 18:20 the 24th in Kathmandu only; 18:40 the 24th in both
	a.clicksAt(s.token(c.ID), "z", []time.Time{at(18, 10), at(18, 14), at(18, 20), at(18, 29), at(18, 40), at(19, 0)})
	filter := map[string]any{"campaignIds": []string{c.ID}}
	for _, tc := range []struct {
		zone         string
		day23, day24 int
	}{{"Asia/Kolkata", 4, 2}, {"Asia/Kathmandu", 2, 4}, {"UTC", 6, 0}} {
		rows, _ := a.report(brand, reportInput("2026-11-23", "2026-11-24", tc.zone, "DAY", filter))
		wantField(t, tc.zone+" rows", len(rows), 2)
		wantField(t, tc.zone+" 2026-11-23", rows[0].allClicks(), tc.day23)
		wantField(t, tc.zone+" 2026-11-24", rows[1].allClicks(), tc.day24)
		wantField(t, tc.zone+" the first day's period", rows[0].Period, "2026-11-23")
	}
	hours, _ := a.report(brand, reportInput("2026-11-24", "2026-11-24", "Asia/Kathmandu", "HOUR", filter))
	wantField(t, "Kathmandu's first hour starts", hours[0].Start, "2026-11-23T18:15:00Z")
	wantField(t, "Kathmandu's first hour (18:15–19:15 UTC)", hours[0].allClicks(), 4)
}

// TestReportEqualsCounters: a campaign's report totals equal its counters
// and money; grouped by participation, each row its participation's; by
// sub-id and by goal, the rows add up to the totals, with the events
// without the value in a "not set" row; conversions by status; verify finds
// the quarter buckets as the events give them.
func TestReportEqualsCounters(t *testing.T) {
	t.Parallel()
	a := mustStartApp(t)
	brand := a.mustSignUp("BRAND")
	in := campaignInput("Counted")
	in["goals"] = []any{map[string]any{"goalId": "signup", "name": "Sign-up", "payout": "1.50"},
		map[string]any{"goalId": "ftd", "name": "First deposit", "payout": "10.00", "approval": "REVIEW"}}
	c := a.mustCreateCampaign(brand, in)
	a.mustSetStatus(brand, c.ID, "ACTIVE")
	s1, s2 := a.mustStreamerIn(c), a.mustStreamerIn(c)
	key, _ := a.mustAPIKey(brand)
	click := func(tok, id, sub1 string) {
		input := map[string]any{"browserSourceToken": tok, "clickId": id}
		if sub1 != "" {
			input["subIds"] = map[string]any{"sub1": sub1}
		}
		a.mustDo("", recordClickMutation, map[string]any{"input": input}, nil)
	}
	for i := range 6 {
		a.clock.Advance(7 * time.Minute)
		click(s1.token(c.ID), fmt.Sprintf("a%d", i), []string{"", "yt", "tw"}[i%3])
		click(s2.token(c.ID), fmt.Sprintf("b%d", i), "yt")
	}
	var ftd []string
	for _, id := range []string{"a1", "a2", "b0", "b1"} {
		a.clock.Advance(5 * time.Minute)
		mustOK(t, a.doWithKey(key, recordConversionMutation, conversionVars(id, "signup")))
		var p conversionPayload
		a.mustDo(brand.Token, recordConversionMutation, map[string]any{"input": map[string]any{"clickId": id, "goalId": "ftd"}}, &p)
		ftd = append(ftd, p.RecordConversion.Conversion.ID)
	}
	a.project()
	a.clock.Advance(time.Hour) // the approval's money in a later quarter, its count where it was recorded
	a.setStatus(brand, "APPROVED", "", ftd[0], ftd[1])
	a.setStatus(brand, "REJECTED", "fraud", ftd[2])
	a.project()

	want := a.totals(brand, c.ID)
	filter := map[string]any{"campaignIds": []string{c.ID}}
	rows, totals := a.report(brand, reportInput("2026-11-23", "2026-11-23", "Europe/Berlin", "TOTAL", filter))
	wantField(t, "TOTAL rows", len(rows), 1)
	wantField(t, "report clicks+invalid = stats clicks", totals.allClicks(), want.Campaign.Stats.Clicks+a.invalidOf(c.ID))
	wantField(t, "report conversions = stats conversions", totals.Conversions, want.Campaign.Stats.Conversions)
	wantField(t, "report spend = spent", totals.Spend.Amount, want.Campaign.Spent.Amount)
	wantField(t, "report earnings = spent", totals.Earnings.Amount, want.Campaign.Spent.Amount)
	wantField(t, "currency", totals.Spend.Currency, "USD")
	st := totals.ConversionsByStatus
	wantField(t, "approved (4 sign-ups, 2 deposits)", st.Approved, 6)
	wantField(t, "pending", st.Pending, 1)
	wantField(t, "rejected", st.Rejected, 1)
	wantField(t, "conversions = pending + approved + rejected", totals.Conversions, st.Pending+st.Approved+st.Rejected)

	byPart, _ := a.report(brand, reportInput("2026-11-23", "2026-11-23", "UTC", "TOTAL", filter, "PARTICIPATION"))
	wantField(t, "rows by participation", len(byPart), 2)
	for _, e := range want.Campaign.Participations.Edges {
		found := false
		for _, r := range byPart {
			if *r.Group[0].Value == e.Node.ID {
				found = true
				wantField(t, "participation conversions", r.Conversions, e.Node.Stats.Conversions)
				wantField(t, "participation earnings", r.Earnings.Amount, e.Node.Stats.Earnings.Amount)
			}
		}
		if !found {
			t.Errorf("no row for participation %s", e.Node.ID)
		}
	}

	bySub, subTotals := a.report(brand, reportInput("2026-11-23", "2026-11-23", "UTC", "TOTAL", filter, "SUB1"))
	got := map[string]reportRow{}
	sumClicks, sumConv := 0, 0
	for _, r := range bySub {
		k := "(not set)"
		if r.Group[0].Value != nil {
			k = *r.Group[0].Value
		}
		got[k] = r
		sumClicks += r.allClicks()
		sumConv += r.Conversions
	}
	wantField(t, "sub1 rows", len(bySub), 3)
	wantField(t, "sub1=yt clicks", got["yt"].allClicks(), 8)
	wantField(t, "sub1=tw clicks", got["tw"].allClicks(), 2)
	wantField(t, "sub1 not set clicks", got["(not set)"].allClicks(), 2)
	wantField(t, "sub1=yt conversions (a1, b0, b1, twice each)", got["yt"].Conversions, 6)
	wantField(t, "sub1=tw conversions (a2, twice)", got["tw"].Conversions, 2)
	wantField(t, "sub1 rows add up: clicks", sumClicks, totals.allClicks())
	wantField(t, "sub1 rows add up: conversions", sumConv, totals.Conversions)
	wantField(t, "sub1 totals", subTotals.Spend.Amount, totals.Spend.Amount)

	byGoal, _ := a.report(brand, reportInput("2026-11-23", "2026-11-23", "UTC", "TOTAL", filter, "GOAL", "PARTICIPATION"))
	goals := map[string]int{}
	for _, r := range byGoal {
		if r.Group[0].Value != nil {
			goals[*r.Group[0].Value] += r.Conversions
		} else if r.Conversions != 0 {
			t.Errorf("the row without a goal has %d conversions", r.Conversions)
		}
	}
	wantField(t, "signup conversions", goals["signup"], 4)
	wantField(t, "ftd conversions", goals["ftd"], 4)

	ftdOnly, ftdTotals := a.report(brand, reportInput("2026-11-23", "2026-11-23", "UTC", "DAY", map[string]any{"campaignIds": []string{c.ID}, "goals": []string{"ftd"}}))
	wantField(t, "filtered to ftd: rows", len(ftdOnly), 1)
	wantField(t, "filtered to ftd: spend (two deposits approved)", ftdTotals.Spend.Amount, "20.00")
	wantField(t, "filtered to ftd: no clicks", ftdTotals.allClicks(), 0)

	if rep := a.mustVerify(); !rep.OK() {
		t.Errorf("verify: drift\n%s", strings.Join(rep.Drift, "\n"))
	}
}

// invalidOf counts a campaign's invalid clicks (the counters' clicks are
// the valid ones).
func (a *testApp) invalidOf(campaignID string) int {
	a.t.Helper()
	n := 0
	err := repository.NewProjection(a.store).EachEvent(context.Background(), func(e domain.EventRecord) error {
		if e.Kind == domain.EventClick && e.CampaignID == campaignID && e.Invalid != "" {
			n++
		}
		return nil
	})
	if err != nil {
		a.t.Fatal(err)
	}
	return n
}

// TestReportAccess: a brand reads its campaigns, not another's (NOT_FOUND);
// a streamer only its own participation, also when it names the campaign,
// never another streamer's; an admin everything; nobody without a session.
func TestReportAccess(t *testing.T) {
	t.Parallel()
	a := mustStartApp(t)
	brand, other := a.mustSignUp("BRAND"), a.mustSignUp("BRAND")
	c := a.mustPricedCampaign(brand, "Private", map[string]any{"budget": "100.00"})
	s1, s2 := a.mustStreamerIn(c), a.mustStreamerIn(c)
	for i := range 3 {
		a.mustClick(s1.token(c.ID), fmt.Sprintf("s1-%d", i))
	}
	a.mustClick(s2.token(c.ID), "s2-0")
	var p1, p2 string
	for id := range s1.parts {
		p1 = id
	}
	for id := range s2.parts {
		p2 = id
	}
	byCampaign := reportInput("2026-11-23", "2026-11-23", "UTC", "TOTAL", map[string]any{"campaignIds": []string{c.ID}})
	_, all := a.report(brand, byCampaign)
	wantField(t, "the brand's clicks", all.allClicks(), 4)
	admin := a.mustMakeAdmin()
	_, adm := a.report(admin, byCampaign)
	wantField(t, "the admin's clicks", adm.allClicks(), 4)
	_, own := a.report(s1.user, byCampaign)
	wantField(t, "the streamer naming the campaign sees its own clicks only", own.allClicks(), 3)
	rows, _ := a.report(s1.user, reportInput("2026-11-23", "2026-11-23", "UTC", "TOTAL", map[string]any{"campaignIds": []string{c.ID}}, "PARTICIPATION"))
	wantField(t, "the streamer's rows by participation", len(rows), 1)
	wantField(t, "its participation", *rows[0].Group[0].Value, p1)

	vars := func(in map[string]any) map[string]any { return map[string]any{"input": in} }
	a.mustFail(other.Token, reportQuery, vars(byCampaign), "NOT_FOUND", "")
	a.mustFail(s1.user.Token, reportQuery, vars(reportInput("2026-11-23", "2026-11-23", "UTC", "TOTAL", map[string]any{"participationIds": []string{p2}})), "NOT_FOUND", "")
	a.mustFail(other.Token, reportQuery, vars(reportInput("2026-11-23", "2026-11-23", "UTC", "TOTAL", map[string]any{"participationIds": []string{p1}})), "NOT_FOUND", "")
	a.mustFail("", reportQuery, vars(byCampaign), "UNAUTHENTICATED", "")
	outsider := a.mustSignUp("STREAMER")
	if e := a.do(outsider.Token, reportQuery, vars(byCampaign)); len(e.Errors) == 0 || (e.Errors[0].Code() != "NOT_FOUND" && e.Errors[0].Code() != "FORBIDDEN") {
		t.Errorf("a streamer not in the campaign: %+v, want NOT_FOUND or FORBIDDEN", e.Errors)
	}
}

// TestReportBounds: a range too long, an hourly report too long, a second
// detail dimension, no campaign or participation, too many buckets, an
// unknown time zone: each BAD_USER_INPUT naming its argument; the price of
// a report grows with the buckets it may read.
func TestReportBounds(t *testing.T) {
	t.Parallel()
	a := mustStartApp(t)
	brand := a.mustSignUp("BRAND")
	c := a.mustPricedCampaign(brand, "Bounded", map[string]any{"budget": "100.00"})
	f := map[string]any{"campaignIds": []string{c.ID}}
	vars := func(in map[string]any) map[string]any { return map[string]any{"input": in} }
	for _, tc := range []struct {
		name  string
		input map[string]any
		field string
	}{
		{"a range over 366 days", reportInput("2026-01-01", "2027-01-02", "UTC", "DAY", f), "to"},
		{"to before from", reportInput("2026-01-02", "2026-01-01", "UTC", "DAY", f), "to"},
		{"an hourly range over 93 days", reportInput("2026-01-01", "2026-04-30", "UTC", "HOUR", f), "to"},
		{"an unknown zone", reportInput("2026-01-01", "2026-01-01", "Mars/Olympus", "DAY", f), "timeZone"},
		{"a malformed day", reportInput("2026-1-1", "2026-01-01", "UTC", "DAY", f), "from"},
		{"no campaign or participation", reportInput("2026-01-01", "2026-01-01", "UTC", "DAY", map[string]any{}), "filter.campaignIds"},
		{"goal and sub1", reportInput("2026-01-01", "2026-01-01", "UTC", "DAY", f, "GOAL", "SUB1"), "groupBy"},
		{"goal grouped, sub2 filtered", reportInput("2026-01-01", "2026-01-01", "UTC", "DAY", map[string]any{"campaignIds": []string{c.ID}, "sub2": []string{"x"}}, "GOAL"), "groupBy"},
	} {
		t.Run(tc.name, func(t *testing.T) { a.mustFail(brand.Token, reportQuery, vars(tc.input), "BAD_USER_INPUT", tc.field) })
	}
	// six campaigns' year is 210,240 quarter-hours: priced, then refused by the service
	six := []string{c.ID}
	for i := range 5 {
		six = append(six, a.mustPricedCampaign(brand, fmt.Sprintf("More %d", i), map[string]any{"budget": "100.00"}).ID)
	}
	many := reportInput("2026-01-01", "2026-12-31", "UTC", "MONTH", map[string]any{"campaignIds": six})
	a.mustFail(brand.Token, `query($input: ReportInput!) { report(input: $input) { totalCount } }`, vars(many), "BAD_USER_INPUT", "to")
	if e := a.mustFail(brand.Token, reportQuery, vars(many), "BAD_USER_INPUT", ""); e.Extensions["reason"] != "COMPLEXITY_LIMIT_EXCEEDED" {
		t.Errorf("the whole row for so many buckets: %+v, want the complexity limit", e)
	}
	cost := func(in map[string]any) float64 {
		var body struct {
			Extensions struct {
				Cost struct{ RequestedQueryCost float64 }
			}
		}
		req, _ := json.Marshal(map[string]any{"query": reportQuery, "variables": vars(in)})
		_, raw := a.request(http.MethodPost, "/query", map[string]string{"Authorization": bearer(brand.Token), "Content-Type": "application/json"}, bytes.NewReader(req))
		mustDecode(t, raw, &body)
		return body.Extensions.Cost.RequestedQueryCost
	}
	day, year := cost(reportInput("2026-01-01", "2026-01-01", "UTC", "DAY", f)), cost(reportInput("2026-01-01", "2026-12-31", "UTC", "DAY", f))
	if !(year > day) {
		t.Errorf("a year's report costs %v, a day's %v: want the year dearer", year, day)
	}
}

// TestReportCSV: GET /reports.csv answers the report's rows as RFC 4180
// CSV with a header row and money with six decimals, for a Bearer session
// like /query; without one, 401 in JSON.
func TestReportCSV(t *testing.T) {
	t.Parallel()
	a := mustStartApp(t)
	brand := a.mustSignUp("BRAND")
	c := a.mustPricedCampaign(brand, "Spreadsheet", map[string]any{"budget": "100.00", "cpc": "0.25"})
	s := a.mustStreamerIn(c)
	a.mustDo("", recordClickMutation, map[string]any{"input": map[string]any{"browserSourceToken": s.token(c.ID), "clickId": "x1",
		"subIds": map[string]any{"sub1": "=cmd|' /C calc'!A0"}}}, nil)
	a.mustClick(s.token(c.ID), "x2")
	a.project()
	q := url.Values{"from": {"2026-11-23"}, "to": {"2026-11-23"}, "timeZone": {"Asia/Kolkata"}, "granularity": {"day"},
		"campaignId": {c.ID}, "groupBy": {"PARTICIPATION,SUB1"}}
	resp, raw := a.request(http.MethodGet, "/reports.csv?"+q.Encode(), map[string]string{"Authorization": bearer(brand.Token)}, nil)
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/csv") {
		t.Fatalf("status %d, content type %q: %s", resp.StatusCode, resp.Header.Get("Content-Type"), raw)
	}
	recs, err := csv.NewReader(strings.NewReader(string(raw))).ReadAll()
	if err != nil {
		t.Fatalf("not CSV: %v\n%s", err, raw)
	}
	wantField(t, "header", strings.Join(recs[0], ","), "period,start,end,group1,group2,impressions,clicks,invalid_clicks,conversions,pending,approved,rejected,spend,earnings,ecpm,cpc,conversion_rate,currency")
	wantField(t, "rows (the sub-id's value, and the click without one)", len(recs), 3)
	values := map[string][]string{}
	for _, r := range recs[1:] {
		values[r[4]] = r
	}
	row := values["'=cmd|' /C calc'!A0"]
	if row == nil {
		t.Fatalf("no row for the sub-id, made safe for a spreadsheet: %q", recs)
	}
	wantField(t, "period", row[0], "2026-11-23")
	wantField(t, "spend, six decimals", row[12], "0.250000")
	wantField(t, "currency", row[17], "USD")
	wantField(t, "the click without sub1", values["(not set)"][6], "1")

	resp, raw = a.request(http.MethodGet, "/reports.csv?"+q.Encode(), nil, nil)
	wantField(t, "status without a session", resp.StatusCode, http.StatusUnauthorized)
	if !strings.Contains(string(raw), "UNAUTHENTICATED") {
		t.Errorf("body: %s", raw)
	}
	q.Set("timeZone", "Nowhere/Else")
	resp, raw = a.request(http.MethodGet, "/reports.csv?"+q.Encode(), map[string]string{"Authorization": bearer(brand.Token)}, nil)
	wantField(t, "status for a bad zone", resp.StatusCode, http.StatusBadRequest)
	if !strings.Contains(string(raw), `"field":"timeZone"`) {
		t.Errorf("body: %s", raw)
	}
}

// TestReportRacesAndVerify: 300 distinct clicks raced over 150 values of
// sub1 while the projector runs, and 50 identical conversion reports: the
// buckets hold exactly 300 clicks and one conversion; the campaign keeps
// the first 100 values of sub1 it met, each with both its clicks, and
// counts the other 50 values' 100 clicks as "other". verify recomputes
// every quarter bucket from the events; a damaged bucket is reported and
// repaired.
func TestReportRacesAndVerify(t *testing.T) {
	t.Parallel()
	a := mustStartApp(t)
	brand := a.mustSignUp("BRAND")
	c := a.mustPricedCampaign(brand, "Raced", map[string]any{"budget": "1000.00"})
	s := a.mustStreamerIn(c)
	key, _ := a.mustAPIKey(brand)
	race(t, 300, func(i int) {
		a.mustDo("", recordClickMutation, map[string]any{"input": map[string]any{"browserSourceToken": s.token(c.ID),
			"clickId": fmt.Sprintf("r%03d", i), "subIds": map[string]any{"sub1": fmt.Sprintf("v%03d", i%150)}}}, nil)
	})
	race(t, 50, func(int) { mustOK(t, a.doWithKey(key, recordConversionMutation, conversionVars("r000", "signup"))) })
	filter := map[string]any{"campaignIds": []string{c.ID}}
	rows, totals := a.report(brand, reportInput("2026-11-23", "2026-11-23", "UTC", "TOTAL", filter, "SUB1"))
	wantField(t, "clicks", totals.allClicks(), 300)
	wantField(t, "conversions", totals.Conversions, 1)
	kept, other := 0, 0
	for _, r := range rows {
		switch g := r.Group[0]; {
		case g.Other:
			other += r.allClicks()
		case g.NotSet:
			t.Errorf("a row without sub1: %+v", r)
		default:
			kept++
			wantField(t, "clicks of "+*g.Value, r.allClicks(), 2)
		}
	}
	wantField(t, "sub1 values kept", kept, domain.MaxSubValues)
	wantField(t, "clicks of the other values", other, 100)
	if rep := a.mustVerify(); !rep.OK() {
		t.Fatalf("verify: drift\n%s", strings.Join(rep.Drift, "\n"))
	}

	// damage one bucket, as a hand edit would
	ctx := context.Background()
	proj := repository.NewProjection(a.store)
	var victim domain.QuarterDelta
	var batch int64
	if err := proj.EachQuarter(ctx, func(q domain.QuarterDelta, b int64) error {
		if q.Key.Level == domain.LevelCampaign {
			victim, batch = q, b
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	damaged := victim
	damaged.Counts.Clicks += 7
	if err := proj.RepairQuarter(ctx, damaged, batch); err != nil {
		t.Fatal(err)
	}
	if _, skewed := a.report(brand, reportInput("2026-11-23", "2026-11-23", "UTC", "TOTAL", filter)); skewed.allClicks() != 307 {
		t.Fatalf("the damage did not land: %d clicks", skewed.allClicks())
	}
	rep := a.mustVerify()
	if len(rep.Drift) != 1 || !strings.Contains(rep.Drift[0], "quarter:"+victim.Key.ID()) {
		t.Fatalf("drift: %q, want the one damaged bucket", rep.Drift)
	}
	var out strings.Builder
	if rep, err := projection.Repair(ctx, proj, a.projector, &out); err != nil || rep.Repaired != 1 {
		t.Fatalf("repair: %+v, err %v\n%s", rep, err, out.String())
	}
	if _, fixed := a.report(brand, reportInput("2026-11-23", "2026-11-23", "UTC", "TOTAL", filter)); fixed.allClicks() != 300 {
		t.Errorf("after the repair: %d clicks, want 300", fixed.allClicks())
	}
	if rep := a.mustVerify(); !rep.OK() {
		t.Errorf("after the repair: drift\n%s", strings.Join(rep.Drift, "\n"))
	}
}
