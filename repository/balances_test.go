package repository_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"tally/domain"
	"tally/repository"
	"tally/repository/repotest"
)

// TestReleaseCountsRaced: 32 goroutines apply each of three batches' balance
// counters at once, as a projector, its replay and a second process might
// (the batches in order, as the projector applies them): every call succeeds and each batch is
// added exactly once, so every counter is the exact sum of its entries;
// the streamer's balances read them back, and a repair sets a counter
// while keeping its batch.
func TestReleaseCountsRaced(t *testing.T) {
	ctx := context.Background()
	s := repotest.MustOpen(t)
	proj, earnings := repository.NewProjection(s), repository.NewEarnings(s)
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	entry := func(pid string, amount domain.Micros, release time.Time) domain.Entry {
		return domain.Entry{Kind: domain.EntryEarning, ParticipationID: pid, CampaignID: "c-" + pid, StreamerID: "s1", Amount: amount, ReleaseAt: release}
	}
	batches := [][]domain.Entry{
		{entry("p1", 1_000_000, now.Add(-time.Hour)), entry("p1", 2_000_000, now.Add(48*time.Hour)), entry("p2", 500_000, now.Add(30*24*time.Hour))},
		{entry("p1", 3_000_000, now.Add(48*time.Hour)), entry("p2", -500_000, now.Add(30*24*time.Hour))},
		{entry("p2", 7_000_000, now.Add(-72*time.Hour))},
	}
	for i, b := range batches { // one batch after the other, as the projector applies them
		var wg sync.WaitGroup
		for range 32 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := proj.ApplyReleaseCounts(ctx, int64(i+1), domain.ReleaseCounts(b)); err != nil {
					t.Errorf("apply batch %d: %v", i+1, err)
				}
			}()
		}
		wg.Wait()
	}
	got := map[string]domain.Micros{}
	err := proj.EachReleaseCount(ctx, func(c repository.StoredReleaseCount) error { got[c.Key()] = c.Amount; return nil })
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]domain.Micros{}
	for _, b := range batches {
		for _, c := range domain.ReleaseCounts(b) {
			want[c.Key()] += c.Amount
		}
	}
	if len(got) != len(want) {
		t.Fatalf("counters %v, want %v", got, want)
	}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("counter %s: %s, want %s", k, got[k], w)
		}
	}
	in, err := earnings.BalanceInputsOfStreamer(ctx, "s1", now)
	if err != nil {
		t.Fatal(err)
	}
	total, _ := domain.CountedBalances(now, in.Counts, in.Later, in.Reversals, nil, nil)
	if total.Lifetime != 13_000_000 || total.Held != 5_000_000 || total.Available != 8_000_000 {
		t.Errorf("balances %+v: want lifetime 13.00, held 5.00, available 8.00", total)
	}
	// A repair sets the amount and keeps the batch: batch 3 again adds nothing.
	if err := proj.SetReleaseCount(ctx, domain.ReleaseCount{ParticipationID: "p2", CampaignID: "c-p2", StreamerID: "s1", Amount: 1}); err != nil {
		t.Fatal(err)
	}
	if err := proj.ApplyReleaseCounts(ctx, 3, domain.ReleaseCounts(batches[2])); err != nil {
		t.Fatal(err)
	}
	err = proj.EachReleaseCount(ctx, func(c repository.StoredReleaseCount) error {
		if c.Key() == "p2:total" && (c.Amount != 1 || c.ProjBatch != 3) {
			t.Errorf("repaired counter: %s at batch %d, want 0.000001 at 3", c.Amount, c.ProjBatch)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
