package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/bson"

	"tally/domain"
	"tally/repository"
)

// BenchmarkMeBalances: `me { balances }` of a streamer with n unclaimed
// earning entries (what accumulates between payouts), against `me { id }`
// on the same server: the cost of reading the balance counters, per
// participation and open release day, beside the entries
// (docs/benchmarks.md).
func BenchmarkMeBalances(b *testing.B) {
	for _, n := range []int{0, 1000, 10000} {
		b.Run(fmt.Sprintf("entries=%d", n), func(b *testing.B) {
			a := mustStartApp(b)
			s := a.mustSignUp("STREAMER")
			docs := make([]any, n)
			entries := make([]domain.Entry, n)
			at := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
			for i := range docs {
				entries[i] = domain.Entry{Kind: domain.EntryEarning, ParticipationID: fmt.Sprintf("p%d", i%5), CampaignID: fmt.Sprintf("c%d", i%5),
					StreamerID: s.ID, Amount: 1_000_000, ReleaseAt: at.Add(time.Duration(i%720) * time.Hour)}
				docs[i] = bson.M{"_id": fmt.Sprintf("clicks:bench-%d", i), "kind": "earning", "participationId": fmt.Sprintf("p%d", i%5),
					"campaignId": fmt.Sprintf("c%d", i%5), "streamerId": s.ID, "amountMicros": int64(1_000_000),
					"at": at, "releaseAt": at.Add(time.Duration(i%720) * time.Hour), "firstEvent": fmt.Sprintf("bench-%d", i), "events": 1, "batch": int64(i)}
			}
			if n > 0 {
				if err := repository.SeedRaw(context.Background(), a.store, "earnings", docs...); err != nil {
					b.Fatal(err)
				}
				// The balance counters the projector keeps beside them.
				if err := repository.NewProjection(a.store).ApplyReleaseCounts(context.Background(), 1, domain.ReleaseCounts(entries)); err != nil {
					b.Fatal(err)
				}
			}
			for _, q := range []struct{ name, query string }{
				{"id", `{ me { id } }`},
				{"balances", `{ me { balances { total { held { amount } available { amount } lifetime { amount } } } } }`},
			} {
				b.Run(q.name, func(b *testing.B) {
					for range b.N {
						benchOK(b, a.do(s.Token, q.query, nil))
					}
				})
			}
		})
	}
}
