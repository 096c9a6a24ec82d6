package domain

import (
	"errors"
	"testing"
	"time"
)

func TestParseExportRequest(t *testing.T) {
	utc := func(s string) time.Time {
		t.Helper()
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	for _, c := range []struct {
		name                string
		p                   ExportParams
		from, to            string
		clicks, conversions bool
	}{
		{"DatesUTC", ExportParams{From: "2026-11-01", To: "2026-11-30"}, "2026-11-01T00:00:00Z", "2026-12-01T00:00:00Z", true, true},
		// The day daylight saving time ends in New York lasts 25 hours.
		{"DSTEndNewYork", ExportParams{From: "2026-11-01", To: "2026-11-01", TimeZone: "America/New_York"}, "2026-11-01T04:00:00Z", "2026-11-02T05:00:00Z", true, true},
		{"Kolkata", ExportParams{From: "2026-11-23", To: "2026-11-23", TimeZone: "Asia/Kolkata", Kind: "clicks"}, "2026-11-22T18:30:00Z", "2026-11-23T18:30:00Z", true, false},
		{"Times", ExportParams{From: "2026-11-23T12:00:00+01:00", To: "2026-11-23T12:30:00Z", Kind: "CONVERSIONS"}, "2026-11-23T11:00:00Z", "2026-11-23T12:30:00Z", false, true},
		{"TimesIgnoreTheZone", ExportParams{From: "2026-11-23T12:00:00Z", To: "2026-11-24", TimeZone: "Asia/Tokyo", Kind: "all"}, "2026-11-23T12:00:00Z", "2026-11-24T15:00:00Z", true, true},
		{"AYearInAZone", ExportParams{From: "2026-01-01", To: "2026-12-31", TimeZone: "Europe/Berlin"}, "2025-12-31T23:00:00Z", "2026-12-31T23:00:00Z", true, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			req, err := ParseExportRequest("c", c.p)
			if err != nil {
				t.Fatal(err)
			}
			if !req.From.Equal(utc(c.from)) || !req.To.Equal(utc(c.to)) || req.Clicks != c.clicks || req.Conversions != c.conversions {
				t.Errorf("got [%v, %v) clicks %v conversions %v, want [%s, %s) %v %v", req.From, req.To, req.Clicks, req.Conversions, c.from, c.to, c.clicks, c.conversions)
			}
			if req.From.Location() != time.UTC || req.To.Location() != time.UTC {
				t.Errorf("not UTC: %v %v", req.From.Location(), req.To.Location())
			}
		})
	}
	for _, c := range []struct {
		name   string
		p      ExportParams
		fields []string
	}{
		{"Nothing", ExportParams{}, []string{"from", "to"}},
		{"Everything", ExportParams{Kind: "views", TimeZone: "Local", From: "yesterday", To: "2026-13-01"}, []string{"kind", "timeZone", "from", "to"}},
		{"Backwards", ExportParams{From: "2026-11-02", To: "2026-11-01"}, []string{"to"}},
		{"TooLong", ExportParams{From: "2026-01-01", To: "2027-01-02"}, []string{"to"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := ParseExportRequest("c", c.p)
			var fe FieldErrors
			if !errors.As(err, &fe) {
				t.Fatalf("got %v, want field errors", err)
			}
			var got []string
			for _, e := range fe {
				got = append(got, e.Field)
			}
			if len(got) != len(c.fields) {
				t.Fatalf("fields: got %v, want %v", got, c.fields)
			}
			for i := range got {
				if got[i] != c.fields[i] {
					t.Errorf("fields: got %v, want %v", got, c.fields)
				}
			}
		})
	}
}

func TestGuardCell(t *testing.T) {
	for in, want := range map[string]string{
		"": "", "plain": "plain", "=1+2": "'=1+2", "+1": "'+1", "-1": "'-1", "@SUM(A1)": "'@SUM(A1)",
		"\tx": "'\tx", "\rx": "'\rx", "'quoted": "''quoted", "a=b": "a=b", "1-2": "1-2",
	} {
		if got := GuardCell(in); got != want {
			t.Errorf("GuardCell(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestMicrosFixedMethod(t *testing.T) {
	for m, want := range map[Micros]string{
		0: "0.000000", 1: "0.000001", 2_500_000: "2.500000", 1_234_567: "1.234567", -1: "-0.000001",
		-500_000: "-0.500000", MaxBudget: "1000000000.000000",
	} {
		if got := m.Fixed(); got != want {
			t.Errorf("Micros(%d).Fixed() = %q, want %q", int64(m), got, want)
		}
	}
}

func TestExportRowCells(t *testing.T) {
	at := time.Date(2026, 11, 23, 12, 0, 0, 5_000_000, time.UTC)
	for _, r := range []ExportRow{
		{Kind: EventClick, Click: Click{ID: "k", CreatedAt: at, Billing: BillingBilled, Cost: 250_000}},
		{Kind: EventConversion, Conversion: Conversion{ID: "v", CreatedAt: at, StatusAt: at, Status: ConversionApproved, Billing: BillingNotBilled,
			NotBilled: NotBilledDailyCap, Payout: 1_500_000, Cost: 1_500_000}},
	} {
		cells := r.Cells("EUR")
		if len(cells) != len(ExportColumns) {
			t.Fatalf("%s: %d cells for %d columns", r.Kind, len(cells), len(ExportColumns))
		}
		byCol := map[string]string{}
		for i, c := range ExportColumns {
			byCol[c] = cells[i]
		}
		if byCol["recordedAt"] != "2026-11-23T12:00:00.005Z" || byCol["currency"] != "EUR" {
			t.Errorf("%s: %v", r.Kind, byCol)
		}
		switch r.Kind {
		case EventClick:
			if byCol["charged"] != "0.250000" || byCol["billing"] != "BILLED" || byCol["kind"] != "click" {
				t.Errorf("click: %v", byCol)
			}
		case EventConversion:
			if byCol["charged"] != "0.000000" || byCol["notBilledReason"] != "DAILY_CAP" || byCol["status"] != "APPROVED" || byCol["kind"] != "conversion" {
				t.Errorf("conversion: %v", byCol)
			}
		}
	}
}
