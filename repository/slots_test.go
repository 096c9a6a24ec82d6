package repository_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/bson/primitive"

	"tally/domain"
	"tally/repository"
	"tally/repository/repotest"
)

func newSlot(streamerID string, participationID string) domain.Slot {
	start := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	return domain.Slot{Key: domain.SlotKey(streamerID, 3, start), StreamerID: streamerID, ParticipationID: participationID,
		CampaignID: primitive.NewObjectID().Hex(), Strategy: domain.StrategyFairRotation, StartsAt: start, EndsAt: start.Add(3 * time.Minute)}
}

// TestSlotClaimConcurrent races claims of one slot, each with its own
// choice: exactly one claims it, and every caller gets the winner's choice.
func TestSlotClaimConcurrent(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	slots := repository.NewSlots(repotest.MustOpen(t))
	streamer := primitive.NewObjectID().Hex()
	const n = 24
	got := make([]domain.Slot, n)
	won := make([]bool, n)
	errs := make([]error, n)
	repotest.Race(t, n, func(i int) {
		got[i], won[i], errs[i] = slots.Claim(ctx, newSlot(streamer, primitive.NewObjectID().Hex()))
	})
	winners := 0
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("claim %d: %v", i, errs[i])
		}
		if won[i] {
			winners++
		}
		if got[i].ParticipationID != got[0].ParticipationID || got[i].CampaignID != got[0].CampaignID {
			t.Fatalf("claim %d got participation %s and campaign %s, claim 0 got %s and %s",
				i, got[i].ParticipationID, got[i].CampaignID, got[0].ParticipationID, got[0].CampaignID)
		}
	}
	if winners != 1 {
		t.Fatalf("%d claims won, want 1", winners)
	}
	stored, found, err := slots.ByKey(ctx, got[0].Key)
	if err != nil || !found || stored.ParticipationID != got[0].ParticipationID || !stored.EndsAt.Equal(got[0].EndsAt) {
		t.Fatalf("stored %+v found %v err %v", stored, found, err)
	}
}

// TestSlotReplaceIsGuarded: of concurrent replacements of the same stale
// choice one wins; the others get the winner's choice.
func TestSlotReplaceIsGuarded(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	slots := repository.NewSlots(repotest.MustOpen(t))
	streamer := primitive.NewObjectID().Hex()
	stale, _, err := slots.Claim(ctx, newSlot(streamer, primitive.NewObjectID().Hex()))
	if err != nil {
		t.Fatal(err)
	}
	const n = 16
	got := make([]domain.Slot, n)
	won := make([]bool, n)
	repotest.Race(t, n, func(i int) {
		var err error
		if got[i], won[i], err = slots.Replace(ctx, stale.ParticipationID, newSlot(streamer, primitive.NewObjectID().Hex())); err != nil {
			t.Error(err)
		}
	})
	winners := 0
	for i := range n {
		if won[i] {
			winners++
		}
		if got[i].ParticipationID != got[0].ParticipationID || got[i].ParticipationID == stale.ParticipationID {
			t.Fatalf("replacement %d got %s, first got %s, stale %s", i, got[i].ParticipationID, got[0].ParticipationID, stale.ParticipationID)
		}
	}
	if winners != 1 {
		t.Fatalf("%d replacements won, want 1", winners)
	}
}

// TestImpressionOncePerSlot races one slot's impression: one isNew, one id.
func TestImpressionOncePerSlot(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ims := repository.NewImpressions(repotest.MustOpen(t))
	s := newSlot(primitive.NewObjectID().Hex(), primitive.NewObjectID().Hex())
	im := domain.Impression{SlotKey: s.Key, ParticipationID: s.ParticipationID, CampaignID: s.CampaignID,
		StreamerID: s.StreamerID, SlotStartsAt: s.StartsAt, CreatedAt: s.StartsAt}
	const n = 24
	var (
		mu   sync.Mutex
		news int
		ids  = map[string]bool{}
	)
	repotest.Race(t, n, func(int) {
		got, isNew, err := ims.Record(ctx, im)
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			t.Error(err)
			return
		}
		if isNew {
			news++
		}
		ids[got.ID] = true
	})
	if news != 1 || len(ids) != 1 {
		t.Fatalf("%d isNew, %d ids; want 1 and 1", news, len(ids))
	}
}
