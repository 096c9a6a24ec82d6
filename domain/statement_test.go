package domain

import (
	"testing"
	"time"
)

func TestBuildStatement(t *testing.T) {
	day := func(m time.Month, d int) time.Time { return time.Date(2026, m, d, 12, 0, 0, 0, time.UTC) }
	const u = MicrosPerUnit
	entries := []Entry{
		{ID: "clicks:a", Kind: EntryEarning, CampaignID: "c1", Amount: 4 * u, At: day(10, 30), PayoutID: "p-oct"},
		{ID: "conversion:v", Kind: EntryEarning, CampaignID: "c1", Amount: 5 * u, At: day(11, 2), PayoutID: "p-nov"},
		{ID: "conversion:v:reversal", Kind: EntryReversal, CampaignID: "c1", Amount: -5 * u, At: day(11, 20), Reverses: "conversion:v"},
		{ID: "conversion:w", Kind: EntryEarning, CampaignID: "c2", Amount: 2 * u, At: day(11, 3)},
		{ID: "conversion:w:reversal", Kind: EntryReversal, CampaignID: "c2", Amount: -2 * u, At: day(11, 4), Reverses: "conversion:w"},
		{ID: "clicks:f", Kind: EntryEarning, CampaignID: "c2", Amount: 1 * u, At: day(11, 5), PayoutID: "p-failed"},
		{ID: "carry:p-nov:out", Kind: EntryCarry, Amount: -1, At: day(11, 10), PayoutID: "p-nov"},
		{ID: "carry:p-nov:in", Kind: EntryCarry, Amount: 1, At: day(11, 10)},
	}
	payouts := []Payout{
		{ID: "p-oct", Status: PayoutPaid, Amount: 4 * u, CreatedAt: day(10, 31)},
		{ID: "p-nov", Status: PayoutPending, Amount: 5*u - 1, CreatedAt: day(11, 10)},
		{ID: "p-failed", Status: PayoutFailed, Amount: 1 * u, CreatedAt: day(11, 6)},
	}
	from, to, ok := MonthRange("2026-11", time.UTC)
	if !ok {
		t.Fatal("MonthRange")
	}
	st := BuildStatement("s1", "2026-11", "UTC", from, to, entries, payouts)
	got := []Micros{st.Opening, st.Earnings, st.Reversals, st.Adjustments, st.Payouts, st.Closing}
	// October: 4.00 earned, 4.00 paid. November: 5 + 2 + 1 earned; w
	// reversed before payout; v reversed after p-nov claimed it; p-nov paid
	// 5.00 less the carried micro; p-failed is no payout.
	want := []Micros{0, 8 * u, -2 * u, -5 * u, 5*u - 1, 8*u - 2*u - 5*u - (5*u - 1)}
	for i, name := range []string{"opening", "earnings", "reversals", "adjustments", "payouts", "closing"} {
		if got[i] != want[i] {
			t.Errorf("%s: got %s, want %s", name, got[i], want[i])
		}
	}
	if n := len(st.Lines); n != 6 {
		t.Errorf("lines: %d, want 6 (four entries, a reversal, one payout; no carry)", n)
	}
	if len(st.Campaigns) != 2 || st.Campaigns[0].Adjustments != -5*u || st.Campaigns[1].Reversals != -2*u {
		t.Errorf("campaigns: %+v", st.Campaigns)
	}
	if _, _, ok := MonthRange("2026-13", time.UTC); ok {
		t.Error("2026-13 is a month")
	}
	berlin, _ := LoadTimeZone("Europe/Berlin")
	if from, _, _ := MonthRange("2026-11", berlin); !from.Equal(time.Date(2026, 10, 31, 23, 0, 0, 0, time.UTC)) {
		t.Errorf("November in Berlin starts at %s", from.UTC())
	}
}
