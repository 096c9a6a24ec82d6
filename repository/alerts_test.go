package repository_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"tally/domain"
	"tally/repository"
	"tally/repository/repotest"
)

// TestRecordAlertsRaced: 32 goroutines record the same batch's alerts at
// once, as a projector and its replay (or a second process) might: every
// call succeeds, each alert is stored once, and the first record stays as
// it was (a later batch raising the same key changes nothing). The list
// pages newest first and Since reads oldest first from a Seq.
func TestRecordAlertsRaced(t *testing.T) {
	ctx := context.Background()
	s := repotest.MustOpen(t)
	proj, alerts := repository.NewProjection(s), repository.NewAlerts(s)
	at := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	batch := func(n int64, spent domain.Micros) []domain.Alert {
		var out []domain.Alert
		for i, th := range []int{domain.AlertNearly, domain.AlertReached} {
			out = append(out, domain.Alert{ID: domain.AlertKey("c1", domain.AlertBudget, th, 10_000_000, "", ""), CampaignID: "c1",
				Kind: domain.AlertBudget, Threshold: th, Limit: 10_000_000, Spent: spent, At: at, Seq: domain.AlertSeq(n, i)})
		}
		for d := range 3 {
			day := fmt.Sprintf("2026-11-%02d", 23+d)
			out = append(out, domain.Alert{ID: domain.AlertKey("c1", domain.AlertDailyBudget, 100, 5_000_000, "", day), CampaignID: "c1",
				Kind: domain.AlertDailyBudget, Threshold: 100, Limit: 5_000_000, Spent: spent, Day: day, At: at, Seq: domain.AlertSeq(n, 2+d)})
		}
		return out
	}
	first := batch(7, 10_000_000)
	var wg sync.WaitGroup
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := proj.RecordAlerts(ctx, first); err != nil {
				t.Errorf("record: %v", err)
			}
		}()
	}
	wg.Wait()
	if err := proj.RecordAlerts(ctx, batch(9, 1)); err != nil { // the same keys, raised again later
		t.Fatal(err)
	}
	got, err := alerts.Since(ctx, "c1", 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(first) {
		t.Fatalf("stored %d alerts, want %d", len(got), len(first))
	}
	for i, a := range got {
		if a != first[i] {
			t.Errorf("alert %d: got %+v, want %+v (the first record)", i, a, first[i])
		}
	}
	from, err := alerts.Since(ctx, "c1", domain.AlertSeq(7, 3), 100)
	if err != nil || len(from) != 2 || from[0].Seq != domain.AlertSeq(7, 3) {
		t.Errorf("since the 4th: %+v, %v", from, err)
	}
	page, err := alerts.List(ctx, "c1", domain.PageArgs{First: 2})
	if err != nil || len(page.Items) != 2 || !page.HasNextPage || page.Items[0].ID != first[4].ID {
		t.Fatalf("first page: %+v, %v", page, err)
	}
	seq, ok, err := domain.ParseAlertCursor("after", page.Cursors[1])
	if err != nil || !ok || seq != first[3].Seq {
		t.Errorf("cursor of the second: %d %v %v, want %d", seq, ok, err, first[3].Seq)
	}
	next, err := alerts.List(ctx, "c1", domain.PageArgs{First: 10, After: page.Cursors[1]})
	if err != nil || len(next.Items) != 3 || next.HasNextPage || next.Items[0].ID != first[2].ID {
		t.Errorf("second page: %+v, %v", next, err)
	}
}
