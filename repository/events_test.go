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

// The one participation the test clicks are on: click ids are unique per
// campaign.
var clickOwner = struct{ participation, campaign, streamer string }{
	primitive.NewObjectID().Hex(), primitive.NewObjectID().Hex(), primitive.NewObjectID().Hex()}

func newClick(clickID string) domain.Click {
	return domain.Click{ClickID: clickID, ParticipationID: clickOwner.participation, CampaignID: clickOwner.campaign,
		StreamerID: clickOwner.streamer, CreatedAt: time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)}
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

// TestApplyBucketsOnce races the same batch's bucket deltas, including the
// buckets' first creation, and then the next batch: each batch lands exactly
// once, whatever the race.
func TestApplyBucketsOnce(t *testing.T) {
	ctx := context.Background()
	store := repotest.MustOpen(t)
	proj, daily := repository.NewProjection(store), repository.NewDailyStats(store)
	owners := []domain.BucketOwner{{Scope: domain.ScopeCampaign, ID: "c"}, {Scope: domain.ScopeStreamer, ID: "s"}}
	deltas := func() []domain.BucketDelta {
		var out []domain.BucketDelta
		for _, o := range owners {
			out = append(out, domain.BucketDelta{Owner: o, Day: "2026-11-23", Counts: domain.Counts{Clicks: 3}, Spend: 750_000, Earnings: 750_000})
		}
		return out
	}
	for _, n := range []int64{1, 2} {
		var wg sync.WaitGroup
		for range 32 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := proj.ApplyBuckets(ctx, 0, n, deltas()); err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
	}
	day := time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)
	for _, o := range owners {
		got, err := daily.Range(ctx, o.Scope, o.ID, day, day)
		if err != nil {
			t.Fatal(err)
		}
		if got[0].Clicks != 6 {
			t.Errorf("%s clicks: got %d, want 6 (two batches of 3)", o.Scope, got[0].Clicks)
		}
		if got[0].Spend != 1_500_000 {
			t.Errorf("%s spend: got %s, want 1.50", o.Scope, got[0].Spend)
		}
	}
}

// TestSharedBucketsAcrossPartitions races the batches of three partitions
// on one streamer's daily bucket (each partition numbering its batches
// from 1, as they do): each batch of each partition lands exactly once,
// however the partitions and the replays of each batch interleave, and
// each campaign's own bucket takes only its partition's batches.
func TestSharedBucketsAcrossPartitions(t *testing.T) {
	ctx := context.Background()
	store := repotest.MustOpen(t)
	proj, daily := repository.NewProjection(store), repository.NewDailyStats(store)
	const parts, batches, replays = 3, 4, 8
	var wg sync.WaitGroup
	for part := range parts {
		wg.Add(1)
		go func() { // a partition applies its batches in order, each raced by its replays
			defer wg.Done()
			for n := int64(1); n <= batches; n++ {
				var replay sync.WaitGroup
				for range replays {
					replay.Add(1)
					go func() {
						defer replay.Done()
						deltas := []domain.BucketDelta{
							{Owner: domain.BucketOwner{Scope: domain.ScopeStreamer, ID: "s"}, Day: "2026-11-23", Counts: domain.Counts{Clicks: 1}, Spend: 1_000_000, Earnings: 1_000_000},
							{Owner: domain.BucketOwner{Scope: domain.ScopeCampaign, ID: fmt.Sprint("c", part)}, Day: "2026-11-23", Counts: domain.Counts{Clicks: 1}, Spend: 1_000_000, Earnings: 1_000_000},
						}
						if err := proj.ApplyBuckets(ctx, part, n, deltas); err != nil {
							t.Error(err)
						}
					}()
				}
				replay.Wait()
			}
		}()
	}
	wg.Wait()
	day := time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)
	got, err := daily.Range(ctx, domain.ScopeStreamer, "s", day, day)
	if err != nil {
		t.Fatal(err)
	}
	if got[0].Clicks != parts*batches || got[0].Spend != parts*batches*1_000_000 {
		t.Errorf("streamer bucket: %d clicks, spend %s; want %d and %d.00 (each batch of each partition once)", got[0].Clicks, got[0].Spend, parts*batches, parts*batches)
	}
	for part := range parts {
		got, err := daily.Range(ctx, domain.ScopeCampaign, fmt.Sprint("c", part), day, day)
		if err != nil {
			t.Fatal(err)
		}
		if got[0].Clicks != batches {
			t.Errorf("campaign %d bucket: %d clicks, want %d", part, got[0].Clicks, batches)
		}
	}
}

// TestApplyCampaignGuard races one batch's campaign update: exactly one
// lands; an update decided against a remaining budget that has changed, or
// that would exhaust a campaign that is no longer ACTIVE, lands nowhere.
func TestApplyCampaignGuard(t *testing.T) {
	ctx := context.Background()
	store := repotest.MustOpen(t)
	campaigns, proj := repository.NewCampaigns(store), repository.NewProjection(store)
	name, landing, budget := "Guarded", "https://example.com", domain.Micros(10_000_000)
	c, err := campaigns.Create(ctx, primitive.NewObjectID().Hex(), domain.CampaignInput{Name: &name, LandingURL: &landing, Budget: &budget}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	active := domain.CampaignActive
	if c, err = campaigns.Update(ctx, c, domain.CampaignUpdate{Status: &active}, time.Now()); err != nil {
		t.Fatal(err)
	}
	d := domain.CampaignDelta{Counts: domain.Counts{Clicks: 40}, Spend: 9_900_000, Unbilled: []string{primitive.NewObjectID().Hex()}, Exhaust: true}
	var landed atomic.Int32
	var wg sync.WaitGroup
	for range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ok, err := proj.ApplyCampaign(ctx, 1, c.ID, budget, d)
			if err != nil {
				t.Error(err)
			}
			if ok {
				landed.Add(1)
			}
		}()
	}
	wg.Wait()
	if landed.Load() != 1 {
		t.Fatalf("batch 1 landed %d times, want once", landed.Load())
	}
	got, err := campaigns.ByID(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Spent != 9_900_000 || got.Remaining() != 100_000 || got.Stats.Clicks != 40 || got.Status != domain.CampaignExhausted {
		t.Errorf("got spent %s, remaining %s, clicks %d, status %s; want 9.90, 0.10, 40, EXHAUSTED", got.Spent, got.Remaining(), got.Stats.Clicks, got.Status)
	}
	l, err := proj.Ledgers(ctx, []string{c.ID})
	if err != nil {
		t.Fatal(err)
	}
	if l[c.ID].Batch != 1 || len(l[c.ID].Unbilled) != 1 || l[c.ID].Unbilled[0] != d.Unbilled[0] {
		t.Errorf("ledger %+v, want batch 1 with the one unbilled event", l[c.ID])
	}
	// Batch 2 decided against a stale remaining budget does not land.
	if ok, err := proj.ApplyCampaign(ctx, 2, c.ID, budget, domain.CampaignDelta{Counts: domain.Counts{Clicks: 1}}); err != nil || ok {
		t.Errorf("stale remaining: landed %v, err %v; want not landed", ok, err)
	}
	// Batch 2 that would exhaust a campaign no longer ACTIVE does not land.
	if ok, err := proj.ApplyCampaign(ctx, 2, c.ID, 100_000, domain.CampaignDelta{Exhaust: true}); err != nil || ok {
		t.Errorf("exhausting an EXHAUSTED campaign: landed %v, err %v; want not landed", ok, err)
	}
}

// TestRecordOnceAcrossClients races the same keys through two clients of one
// database, as two server processes would: the in-process key locks do not
// order them, so the store alone decides. Exactly one call per key says
// isNew, every call gets the same id back, and the stored document is the
// winner's (a lost insert race must not write over it). On the embedded
// store there is one process by construction; it runs on MONGODB_URI.
func TestRecordOnceAcrossClients(t *testing.T) {
	opts := repotest.Options(t)
	if opts.URI == "" {
		t.Skip("two clients of one database need MONGODB_URI")
	}
	ctx := context.Background()
	a, b := repository.NewClicks(repotest.MustOpenWith(t, opts)), repository.NewClicks(repotest.MustOpenWith(t, opts))
	const keys, perClient = 6, 6
	var mu sync.Mutex
	winners := map[int][]string{}
	seen := make([]map[string]bool, keys)
	for k := range seen {
		seen[k] = map[string]bool{}
	}
	repotest.Race(t, keys*perClient*2, func(i int) {
		k, clicks := i%keys, a
		if (i/keys)%2 == 1 {
			clicks = b
		}
		c, isNew, err := clicks.Record(ctx, newClick(fmt.Sprintf("across-%d", k)))
		if err != nil {
			t.Errorf("key %d: %v", k, err)
			return
		}
		mu.Lock()
		defer mu.Unlock()
		seen[k][c.ID] = true
		if isNew {
			winners[k] = append(winners[k], c.ID)
		}
	})
	for k := range keys {
		stored, isNew, err := a.Record(ctx, newClick(fmt.Sprintf("across-%d", k)))
		if err != nil || isNew {
			t.Fatalf("key %d after the race: isNew %v, err %v", k, isNew, err)
		}
		if len(winners[k]) != 1 || len(seen[k]) != 1 || winners[k][0] != stored.ID {
			t.Errorf("key %d: isNew said by %v, ids answered %v, stored %s; want one winner whose document is the one stored",
				k, winners[k], seen[k], stored.ID)
		}
	}
}
