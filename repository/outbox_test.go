package repository_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"tally/domain"
	"tally/repository"
	"tally/repository/repotest"
)

// TestEnqueueRacingClaims: two enqueues of the same deliveries (a replayed
// projector batch) race a sender claiming them; a claimed delivery is never
// reset to pending by the enqueue that lost (FerretDB's upsert did that), and
// each is stored once.
func TestEnqueueRacingClaims(t *testing.T) {
	t.Parallel()
	o := repository.NewOutbox(repotest.MustOpen(t))
	ctx := context.Background()
	for round := 0; round < 30; round++ {
		prefix := fmt.Sprintf("r%d-", round)
		ds := make([]domain.Delivery, 5)
		for i := range ds {
			ds[i] = domain.Delivery{Key: fmt.Sprintf("%s%d:1", prefix, i), CampaignID: "c", Event: domain.DeliveryNew,
				CreatedAt: time.Now().Add(-time.Second)}
		}
		claimed := map[string]bool{}
		repotest.Race(t, 3, func(i int) {
			if i < 2 {
				if err := o.Enqueue(ctx, ds); err != nil {
					t.Errorf("enqueue: %v", err)
				}
				return
			}
			// Claim until every delivery is claimed; the deadline, generous for
			// a busy machine, only bounds how long a broken claim takes to fail.
			for deadline := time.Now().Add(2 * time.Minute); len(claimed) < len(ds) && time.Now().Before(deadline); {
				e, ok, err := o.Claim(ctx, time.Now(), time.Minute, "token")
				if err != nil {
					t.Errorf("claim: %v", err)
					return
				}
				if ok && !strings.HasPrefix(e.Key, prefix) {
					t.Errorf("claimed %s again, in round %d", e.Key, round)
				}
				if ok {
					claimed[e.Key] = true
				}
			}
		})
		for _, d := range ds {
			e, err := o.Get(ctx, d.Key)
			if err != nil {
				t.Fatal(err)
			}
			if !claimed[d.Key] || e.State != domain.DeliverySending || e.Attempts != 1 {
				t.Errorf("%s: claimed %v, state %s, attempts %d; want claimed once and still sending", d.Key, claimed[d.Key], e.State, e.Attempts)
			}
		}
	}
}
