package httpapi

import (
	"encoding/csv"
	"net/http"
	"strconv"
	"strings"
	"time"

	"tally/domain"
)

// reportColumns are the CSV's header row (docs/reports.md).
var reportColumns = []string{"period", "start", "end", "group1", "group2", "impressions", "clicks", "invalid_clicks",
	"conversions", "pending", "approved", "rejected", "spend", "earnings", "ecpm", "cpc", "conversion_rate", "currency"}

// reportCSV serves GET /reports.csv: the report query's rows as CSV (RFC
// 4180, a header row, money with six fixed decimals in the platform
// currency), authenticated as /query. It only maps the parameters; the
// reports service authorizes, validates and computes. Errors before the
// first row are JSON, like /postback's.
func reportCSV(d Deps) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.Query()
		q := domain.ReportQuery{From: p.Get("from"), To: p.Get("to"), TimeZone: p.Get("timeZone"),
			Granularity: domain.Granularity(strings.ToUpper(p.Get("granularity"))), Filters: map[domain.Dimension][]string{},
			Sort: domain.ReportSortKey(strings.ToUpper(p.Get("sort"))), Desc: strings.EqualFold(p.Get("direction"), "DESC")}
		for _, g := range p["groupBy"] {
			for _, d := range strings.Split(g, ",") {
				if d = strings.TrimSpace(d); d != "" {
					q.GroupBy = append(q.GroupBy, domain.Dimension(strings.ToUpper(d)))
				}
			}
		}
		for param, dim := range map[string]domain.Dimension{"campaignId": domain.DimCampaign, "participationId": domain.DimParticipation,
			"goal": domain.DimGoal, "sub1": domain.DimSub1, "sub2": domain.DimSub2, "sub3": domain.DimSub3, "sub4": domain.DimSub4, "sub5": domain.DimSub5} {
			if vs := p[param]; len(vs) > 0 {
				q.Filters[dim] = vs
			}
		}
		rows, _, err := d.Resolver.Reports.ReportRows(r.Context(), &q)
		if err != nil {
			status, code, msg := d.httpError(r.Context(), "report CSV failed", err)
			writeJSON(w, status, map[string]any{"error": map[string]any{"code": code, "message": msg, "field": domain.ErrorField(err)}})
			return
		}
		h := w.Header()
		h.Set("Content-Type", "text/csv; charset=utf-8")
		h.Set("Content-Disposition", `attachment; filename="report-`+q.From+`-`+q.To+`.csv"`)
		h.Set("Cache-Control", "no-store")
		out := csv.NewWriter(w)
		_ = out.Write(reportColumns)
		currency := d.Resolver.Currency
		for i, row := range rows {
			rec := []string{q.Label(row.Start), row.Start.Format(time.RFC3339), row.End.Format(time.RFC3339), groupCell(row.Group, 0), groupCell(row.Group, 1),
				itoa(row.Impressions), itoa(row.Clicks), itoa(row.InvalidClicks), itoa(row.Conversions),
				itoa(row.Pending), itoa(row.Approved), itoa(row.Rejected),
				row.Spend.Fixed(), row.Earnings.Fixed(), row.ECPM().Fixed(), row.CPC().Fixed(),
				strconv.FormatFloat(row.ConversionRate(), 'f', 6, 64), currency}
			if err := out.Write(rec); err != nil {
				return // the client went away
			}
			if i%1000 == 999 {
				out.Flush() // streamed: a large report leaves in pieces
			}
		}
		out.Flush()
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// groupCell is the i-th group value: the id or value, "(not set)" for
// events without it, "(other)" for sub-id values beyond the bound, "" when
// the report has fewer dimensions. A value a spreadsheet would run as a
// formula (a partner's sub-id starting with = + - @) gets a leading '.
func groupCell(g []domain.ReportValue, i int) string {
	if i >= len(g) {
		return ""
	}
	switch {
	case g[i].NotSet:
		return "(not set)"
	case g[i].Other:
		return "(other)"
	}
	if v := g[i].Value; v != "" && strings.ContainsRune("=+-@\t\r", rune(v[0])) {
		return "'" + v
	}
	return g[i].Value
}
