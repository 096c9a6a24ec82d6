package domain

import (
	"strconv"
	"strings"
	"time"
)

// The event export: a campaign's clicks and conversions, one row each, for
// reconciling with a partner's numbers (GET /campaigns/{id}/events.csv,
// docs/reports.md, "Event export"). This file holds what it asks for (ExportParams,
// ExportRequest), what it answers (ExportRow, ExportColumns) and the rules
// of both; the reports package authorizes and reads it, httpapi writes it.

// MaxExportDays is the longest time range one export may span.
const MaxExportDays = 366

// ExportParams are an export's parameters as the caller sent them.
type ExportParams struct {
	Kind            string // "clicks", "conversions" or "all" (""): which events
	From, To        string // RFC 3339 times, or dates (YYYY-MM-DD) in TimeZone; From inclusive, a To date inclusive, a To time exclusive
	TimeZone        string // IANA name for dates ("UTC" when empty)
	ParticipationID string // only this participation's events (a streamer's own are implied)
}

// ExportRequest is a valid export: the campaign's events recorded in
// [From, To) (UTC), of the kinds asked, of one participation or all.
type ExportRequest struct {
	CampaignID      string
	ParticipationID string
	Clicks          bool
	Conversions     bool
	From, To        time.Time
}

// ParseExportRequest checks p for campaignID and returns the request,
// or every invalid parameter at once (FieldErrors, each named as the query
// parameter: kind, from, to, timeZone).
func ParseExportRequest(campaignID string, p ExportParams) (ExportRequest, error) {
	req := ExportRequest{CampaignID: campaignID, ParticipationID: strings.TrimSpace(p.ParticipationID)}
	var errs FieldErrors
	switch strings.ToLower(strings.TrimSpace(p.Kind)) {
	case "", "all":
		req.Clicks, req.Conversions = true, true
	case "clicks":
		req.Clicks = true
	case "conversions":
		req.Conversions = true
	default:
		errs = append(errs, Invalid("kind", "kind must be clicks, conversions or all, got %q", p.Kind))
	}
	loc := time.UTC
	if tz := strings.TrimSpace(p.TimeZone); tz != "" {
		l, ok := LoadTimeZone(tz)
		if !ok {
			errs = append(errs, Invalid("timeZone", "timeZone must be an IANA time zone such as Europe/Berlin, got %q", tz))
		} else {
			loc = l
		}
	}
	from, fromErr := exportBound("from", p.From, loc, false)
	to, toErr := exportBound("to", p.To, loc, true)
	for _, e := range []*Error{fromErr, toErr} {
		if e != nil {
			errs = append(errs, e)
		}
	}
	if fromErr == nil && toErr == nil {
		switch {
		case !to.After(from):
			errs = append(errs, Invalid("to", "to must be after from"))
		case to.Sub(from) > MaxExportDays*24*time.Hour+time.Hour: // +1 h: a range of whole days in a zone may hold a 25-hour day
			errs = append(errs, Invalid("to", "the range spans more than %d days; export it in parts", MaxExportDays))
		}
	}
	if len(errs) > 0 {
		return ExportRequest{}, errs
	}
	req.From, req.To = from.UTC(), to.UTC()
	return req, nil
}

// exportBound reads one end of the range: an RFC 3339 time, or a date in
// loc (its midnight; for the end, the next day's, so that a to date is
// included whole).
func exportBound(field, s string, loc *time.Location, end bool) (time.Time, *Error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, Invalid(field, "%s is required: an RFC 3339 time such as 2026-11-01T00:00:00Z, or a date such as 2026-11-01", field)
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	d, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return time.Time{}, Invalid(field, "%s must be an RFC 3339 time such as 2026-11-01T00:00:00Z, or a date such as 2026-11-01, got %q", field, s)
	}
	if end {
		d = d.AddDate(0, 0, 1)
	}
	return time.Date(d.Year(), d.Month(), d.Day(), 0, 0, 0, 0, loc), nil
}

// ExportRow is one exported event: a click or a conversion (Kind says
// which; the other is zero).
type ExportRow struct {
	Kind       EventKind // EventClick or EventConversion
	Click      Click
	Conversion Conversion
}

// At is when the event was recorded, the export's order.
func (r ExportRow) At() time.Time {
	if r.Kind == EventConversion {
		return r.Conversion.CreatedAt
	}
	return r.Click.CreatedAt
}

// ID is the event's id.
func (r ExportRow) ID() string {
	if r.Kind == EventConversion {
		return r.Conversion.ID
	}
	return r.Click.ID
}

// Before reports whether r comes before o in an export: by time recorded,
// then clicks before conversions, then by id.
func (r ExportRow) Before(o ExportRow) bool {
	if a, b := r.At(), o.At(); !a.Equal(b) {
		return a.Before(b)
	}
	if r.Kind != o.Kind {
		return r.Kind == EventClick
	}
	return r.ID() < o.ID()
}

// ExportColumns are the export's columns, in their order: a stable
// contract (docs/reports.md, "Event export"); new columns are only ever added at the end.
var ExportColumns = []string{
	"kind", "id", "recordedAt", "campaignId", "participationId", "streamerId",
	"clickId", "goalId", "externalId", "transactionId",
	"status", "statusAt", "rejectReason", "implied", "invalidReason",
	"billing", "notBilledReason", "price", "payout", "charged", "currency",
	"sub1", "sub2", "sub3", "sub4", "sub5",
}

// Cells are r's cells under ExportColumns: money with six decimals in
// currency, times in RFC 3339 UTC with milliseconds, enums by their GraphQL
// names, and every text a caller chose guarded against spreadsheet formula
// injection (GuardCell).
func (r ExportRow) Cells(currency string) []string {
	cells := make([]string, 0, len(ExportColumns))
	if r.Kind == EventConversion {
		c := r.Conversion
		implied := "false"
		if c.Implied {
			implied = "true"
		}
		cells = append(cells, "conversion", c.ID, exportTime(c.CreatedAt), c.CampaignID, c.ParticipationID, c.StreamerID,
			GuardCell(c.ClickID), GuardCell(c.GoalID), GuardCell(c.ExternalID), GuardCell(c.TransactionID),
			c.Status.Name(), exportTime(c.StatusAt), GuardCell(c.RejectReason), implied, "",
			c.Billing.Name(), enumName(c.NotBilled), c.Cost.Fixed(), c.Payout.Fixed(), c.Charged.Fixed(), currency)
		return appendSubs(cells, c.Subs)
	}
	c := r.Click
	charged := Micros(0)
	if c.Billing == BillingBilled {
		charged = c.Cost
	}
	cells = append(cells, "click", c.ID, exportTime(c.CreatedAt), c.CampaignID, c.ParticipationID, c.StreamerID,
		GuardCell(c.ClickID), "", "", "",
		"", "", "", "", enumName(c.Invalid),
		c.Billing.Name(), enumName(c.NotBilled), c.Cost.Fixed(), "", charged.Fixed(), currency)
	return appendSubs(cells, c.Subs)
}

func appendSubs(cells []string, s SubIDs) []string {
	for _, v := range s {
		cells = append(cells, GuardCell(v))
	}
	return cells
}

// exportTime is t in RFC 3339, UTC, with milliseconds (every stored time's
// precision), so that the column sorts as text; "" for the zero time.
func exportTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02T15:04:05.000Z07:00")
}

// GuardCell makes a text cell safe to open in a spreadsheet (CSV or
// formula injection, OWASP): a value starting with =, +, -, @, a tab or a
// carriage return, which a spreadsheet would run as a formula, gets a
// leading single quote, and so does a value that already starts with one,
// so that the rule is reversible: a cell that starts with ' had exactly one
// ' added, and a program reading the file removes it.
func GuardCell(s string) string {
	if s == "" {
		return s
	}
	switch s[0] {
	case '=', '+', '-', '@', '\t', '\r', '\'':
		return "'" + s
	}
	return s
}

// Fixed formats m with exactly six decimals, every micro-unit shown: the
// export's money columns line up and sum exactly (2500000 → "2.500000",
// -1 → "-0.000001").
func (m Micros) Fixed() string {
	sign := ""
	u := uint64(m)
	if m < 0 {
		sign, u = "-", uint64(-m)
	}
	frac := strconv.FormatUint(u%MicrosPerUnit, 10)
	return sign + strconv.FormatUint(u/MicrosPerUnit, 10) + "." + strings.Repeat("0", 6-len(frac)) + frac
}
