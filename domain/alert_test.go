package domain

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestAlertKey(t *testing.T) {
	for _, tc := range []struct {
		got, want string
	}{
		{AlertKey("c1", AlertBudget, 80, 10_000_000, "", ""), "c1:BUDGET:80:10000000"},
		{AlertKey("c1", AlertDailyBudget, 100, 5_000_000, "", "2026-11-23"), "c1:DAILY_BUDGET:100:5000000:2026-11-23"},
		{AlertKey("c1", AlertStreamerCap, 100, 2_000_000, "p1", ""), "c1:STREAMER_CAP:100:2000000:p1"},
		{AlertKey("c1", AlertStreamerDailyCap, 100, 1_000_000, "p1", "2026-11-23"), "c1:STREAMER_DAILY_CAP:100:1000000:p1:2026-11-23"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
}

func TestAlertCursor(t *testing.T) {
	for _, seq := range []int64{0, 1, AlertSeq(7, 3), AlertSeq(1<<40, 1<<19)} {
		got, ok, err := ParseAlertCursor("after", SeqCursor(seq).String())
		if err != nil || !ok || got != seq {
			t.Errorf("seq %d: got %d %v %v", seq, got, ok, err)
		}
	}
	// the store compares cursors' bytes: a later batch's alerts sort after
	a, b := SeqCursor(AlertSeq(7, 1<<19)), SeqCursor(AlertSeq(8, 0))
	if bytes.Compare(a[:], b[:]) >= 0 {
		t.Errorf("batch 7's last alert's cursor does not sort before batch 8's first")
	}
	if _, ok, err := ParseAlertCursor("after", ""); ok || err != nil {
		t.Errorf("no cursor: %v %v", ok, err)
	}
	if _, _, err := ParseAlertCursor("after", "nope"); ErrorCode(err) != EINVALID {
		t.Errorf("a malformed cursor: %v, want BAD_USER_INPUT", err)
	}
}

func TestValidateAlertWebhookURL(t *testing.T) {
	for _, ok := range []string{"", "https://brand.example/alerts", "http://brand.example:8080/a?x=1"} {
		if err := ValidateAlertWebhookURL("input.alertWebhookUrl", ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, bad := range []string{"ftp://brand.example/", "brand.example/alerts", "https://brand.example/{click_id}",
		"https://user:pw@brand.example/", "https://brand.example/" + strings.Repeat("a", 2048)} {
		err := ValidateAlertWebhookURL("input.alertWebhookUrl", bad)
		if err == nil || err.Field != "input.alertWebhookUrl" {
			t.Errorf("%q: %v, want BAD_USER_INPUT on input.alertWebhookUrl", bad, err)
		}
	}
}

func TestAlertDeliveryBody(t *testing.T) {
	a := Alert{ID: "c1:STREAMER_DAILY_CAP:100:1000000:p1:2026-11-23", CampaignID: "c1", Kind: AlertStreamerDailyCap, Threshold: 100,
		Limit: 1_000_000, Spent: 1_000_000, Day: "2026-11-23", ParticipationID: "p1", StreamerID: "s1",
		At: time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)}
	d := a.Delivery("USD")
	if d.Key != a.ID || d.Event != DeliveryAlert || d.CampaignID != "c1" {
		t.Errorf("delivery: %+v", d)
	}
	got := AlertBody(d.Values)
	want := AlertWebhookBody{Event: "alert", AlertID: a.ID, CampaignID: "c1", Kind: "STREAMER_DAILY_CAP", Threshold: 100,
		Limit: "1.00", Spent: "1.00", Currency: "USD", Day: "2026-11-23", ParticipationID: "p1", StreamerID: "s1", At: "2026-11-23T12:00:00Z"}
	if got != want {
		t.Errorf("body:\n got %+v\nwant %+v", got, want)
	}
}

// benchBatch is 500 clicks of one campaign with a budget, a daily budget
// and 10 streamers with total and daily caps, crossing every threshold.
func benchBatch() (Campaign, []EventRecord, CapState) {
	c := Campaign{ID: "c1", BrandID: "b1", Status: CampaignActive, Budget: 1_000_000_000, DailyBudget: 400_000_000, CPC: 1_000_000}
	caps := CapState{Location: time.UTC, DailyBudget: c.DailyBudget, DaySpend: map[CapSpendKey]Micros{},
		Caps: map[string]ParticipationCaps{}, Total: map[string]Micros{}}
	total, daily := Micros(60_000_000), Micros(30_000_000)
	at := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	var events []EventRecord
	for i := range 500 {
		pid := "p" + string(rune('0'+i%10))
		caps.Caps[pid] = ParticipationCaps{TotalCap: &total, DailyCap: &daily}
		events = append(events, EventRecord{ID: "e" + string(rune(i)), Kind: EventClick, CampaignID: "c1", ParticipationID: pid,
			StreamerID: "s" + pid, At: at.Add(time.Duration(i) * time.Minute), Price: c.CPC, Billing: BillingPending, Todo: true})
	}
	return c, events, caps
}

// BenchmarkBill and BenchmarkDecideAlerts: what the alert rule adds to a
// campaign's billing step, per 500-event batch (docs/benchmarks.md).
func BenchmarkBill(b *testing.B) {
	c, events, caps := benchBatch()
	b.ReportAllocs()
	for b.Loop() {
		Bill(c.Budget, events, caps)
	}
}

func BenchmarkDecideAlerts(b *testing.B) {
	c, events, caps := benchBatch()
	d := Bill(c.Budget, events, caps)
	if len(DecideAlerts(c, c.Budget, events, d, caps)) == 0 {
		b.Fatal("the batch raises no alert")
	}
	b.ReportAllocs()
	for b.Loop() {
		DecideAlerts(c, c.Budget, events, d, caps)
	}
}
