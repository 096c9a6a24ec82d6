package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/bson"

	"tally/repository"
)

// BenchmarkMeBalances: `me { balances }` of a streamer with n unclaimed
// earning entries (what accumulates between payouts), against `me { id }`
// on the same server: the cost of summing entries at read time
// (docs/benchmarks.md).
func BenchmarkMeBalances(b *testing.B) {
	for _, n := range []int{0, 100, 1000} { // (10000 in docs/benchmarks.md: edit to run it)
		b.Run(fmt.Sprintf("entries=%d", n), func(b *testing.B) {
			a := mustStartApp(b)
			s := a.mustSignUp("STREAMER")
			docs := make([]any, n)
			at := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
			for i := range docs {
				docs[i] = bson.M{"_id": fmt.Sprintf("clicks:bench-%d", i), "kind": "earning", "participationId": fmt.Sprintf("p%d", i%5),
					"campaignId": fmt.Sprintf("c%d", i%5), "streamerId": s.ID, "amountMicros": int64(1_000_000),
					"at": at, "releaseAt": at.Add(time.Duration(i) * time.Hour), "firstEvent": fmt.Sprintf("bench-%d", i), "events": 1, "batch": int64(i)}
			}
			if n > 0 {
				if err := repository.SeedRaw(context.Background(), a.store, "earnings", docs...); err != nil {
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
