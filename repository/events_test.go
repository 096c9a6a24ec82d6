package repository_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/bson/primitive"

	"tally/domain"
	"tally/repository"
	"tally/repository/repotest"
)

func newClick(clickID string) domain.Click {
	return domain.Click{ClickID: clickID, ParticipationID: primitive.NewObjectID().Hex(), CampaignID: primitive.NewObjectID().Hex(),
		StreamerID: primitive.NewObjectID().Hex(), CreatedAt: time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)}
}

// TestRecordOnceAbsorbsDuplicateKey drives the duplicate-key path of the
// exactly-once upsert on the real store: the first insert attempt reuses the
// _id of an existing click, so the store itself refuses it with a uniqueness
// error (E11000 on MongoDB). The repository retries with a fresh _id and the
// caller never sees the error.
func TestRecordOnceAbsorbsDuplicateKey(t *testing.T) {
	ctx := context.Background()
	clicks := repository.NewClicks(repotest.MustOpen(t))
	first, isNew, err := clicks.Record(ctx, newClick("first"))
	if err != nil || !isNew {
		t.Fatalf("first click: isNew %v, err %v", isNew, err)
	}
	taken, _ := primitive.ObjectIDFromHex(first.ID)
	var calls atomic.Int32
	clicks.SetNewID(func() primitive.ObjectID {
		if calls.Add(1) == 1 {
			return taken // collides on _id: a real duplicate-key error
		}
		return primitive.NewObjectID()
	})

	t.Run("NewKeyAfterCollisionIsNew", func(t *testing.T) {
		got, isNew, err := clicks.Record(ctx, newClick("second"))
		if err != nil {
			t.Fatalf("the duplicate-key error reached the caller: %v", err)
		}
		if !isNew || got.ID == first.ID || calls.Load() != 2 {
			t.Fatalf("isNew %v, id %s (taken %s), %d attempts; want a new click on the second attempt", isNew, got.ID, first.ID, calls.Load())
		}
		again, isNew, err := clicks.Record(ctx, newClick("second"))
		if err != nil || isNew || again.ID != got.ID {
			t.Fatalf("repeat: isNew %v, id %s, err %v", isNew, again.ID, err)
		}
	})
}

// TestRecordOnceConcurrent races many goroutines on the same keys: exactly
// one call per key says isNew, and none fails.
func TestRecordOnceConcurrent(t *testing.T) {
	ctx := context.Background()
	clicks := repository.NewClicks(repotest.MustOpen(t))
	const keys, repeats = 10, 12
	var isNewCount, errs atomic.Int32
	ids := make([]sync.Map, keys)
	var wg sync.WaitGroup
	for i := range keys * repeats {
		wg.Add(1)
		go func() {
			defer wg.Done()
			k := i % keys
			c, isNew, err := clicks.Record(ctx, newClick(fmt.Sprintf("race-%d", k)))
			if err != nil {
				errs.Add(1)
				t.Error(err)
				return
			}
			if isNew {
				isNewCount.Add(1)
			}
			ids[k].Store(c.ID, true)
		}()
	}
	wg.Wait()
	if isNewCount.Load() != keys || errs.Load() != 0 {
		t.Fatalf("%d isNew (want %d), %d errors", isNewCount.Load(), keys, errs.Load())
	}
	for k := range ids {
		n := 0
		ids[k].Range(func(any, any) bool { n++; return true })
		if n != 1 {
			t.Errorf("key %d came back with %d different ids", k, n)
		}
	}
}

// TestDailyStatsConcurrent races $inc upserts on the same buckets, including
// their first creation: the counts are exact.
func TestDailyStatsConcurrent(t *testing.T) {
	ctx := context.Background()
	daily := repository.NewDailyStats(repotest.MustOpen(t))
	owners := []repository.BucketOwner{{Scope: domain.ScopeCampaign, ID: "c"}, {Scope: domain.ScopeStreamer, ID: "s"}}
	const n = 64
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := daily.Add(ctx, "2026-11-23", owners, domain.EventClick, 250_000, 250_000); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	day := time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)
	for _, o := range owners {
		got, err := daily.Range(ctx, o.Scope, o.ID, day, day)
		if err != nil {
			t.Fatal(err)
		}
		if got[0].Clicks != n || got[0].Spend != n*250_000 {
			t.Errorf("%s: got %+v, want %d clicks and %d spend", o.Scope, got[0], n, n*250_000)
		}
	}
}

// TestBudgetGuard races spends on one campaign: exactly as many are billed as
// the budget covers, remaining never goes below zero, and the campaign turns
// EXHAUSTED.
func TestBudgetGuard(t *testing.T) {
	ctx := context.Background()
	campaigns := repository.NewCampaigns(repotest.MustOpen(t))
	name, landing, budget := "Guarded", "https://example.com", domain.Micros(10_000_000)
	c, err := campaigns.Create(ctx, primitive.NewObjectID().Hex(), domain.CampaignInput{Name: &name, LandingURL: &landing, Budget: &budget}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	active := domain.CampaignActive
	if c, err = campaigns.Update(ctx, c, domain.CampaignUpdate{Status: &active}, time.Now()); err != nil {
		t.Fatal(err)
	}
	const n, cost = 40, domain.Micros(300_000) // 33 fit in 10.00
	var billed atomic.Int32
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ok, err := campaigns.RecordEvent(ctx, c.ID, domain.EventClick, cost)
			if err != nil {
				t.Error(err)
			}
			if ok {
				billed.Add(1)
			}
		}()
	}
	wg.Wait()
	got, err := campaigns.ByID(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if billed.Load() != 33 || got.Spent != 33*cost || got.Remaining() != budget-33*cost || got.Stats.Clicks != n || got.Status != domain.CampaignExhausted {
		t.Fatalf("billed %d, spent %s, remaining %s, clicks %d, status %s", billed.Load(), got.Spent, got.Remaining(), got.Stats.Clicks, got.Status)
	}
}
