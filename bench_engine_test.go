package main

import (
	"fmt"
	"os"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/primitive"

	"tally/repository"
)

// The tracking paths on a server engine (MONGODB_URI: MongoDB, or FerretDB
// in CI) with 1k and with 100k events already stored: the cost of an
// operation must not grow with the data (every lookup is an index lookup),
// and the store round trips per operation that the driver's command monitor
// sees must equal the repository's own count. docs/benchmarks.md records
// the figures and the command:
//
//	MONGODB_URI=mongodb://127.0.0.1:27017/ go test -run '^$' -bench BenchmarkEngine -benchtime 200x .
//
// Skipped without MONGODB_URI.
func BenchmarkEngineTracking(b *testing.B) {
	if os.Getenv("MONGODB_URI") == "" {
		b.Skip("MONGODB_URI is not set: the server-engine benchmarks need one")
	}
	for _, stored := range []int{1_000, 100_000} {
		b.Run(fmt.Sprintf("stored=%d", stored), func(b *testing.B) {
			a, tok, key := benchApp(b)
			seedEvents(b, a, stored)
			run := 0
			b.Run("NewClick", func(b *testing.B) {
				run++
				measureRoundTrips(b, a, func(i int) {
					benchOK(b, a.do("", benchClick, map[string]any{"t": tok, "c": fmt.Sprintf("n%d-%d", run, i)}))
				})
			})
			b.Run("RepeatClick", func(b *testing.B) {
				measureRoundTrips(b, a, func(int) {
					benchOK(b, a.do("", benchClick, map[string]any{"t": tok, "c": "n1-0"}))
				})
			})
			conv := 0
			b.Run("NewConversion", func(b *testing.B) {
				conv++
				for i := range b.N {
					benchOK(b, a.do("", benchClick, map[string]any{"t": tok, "c": fmt.Sprintf("v%d-%d", conv, i)}))
				}
				measureRoundTrips(b, a, func(i int) {
					benchOK(b, a.doWithKey(key, benchConversion, map[string]any{"c": fmt.Sprintf("v%d-%d", conv, i)}))
				})
			})
			b.Run("RepeatConversion", func(b *testing.B) {
				measureRoundTrips(b, a, func(int) {
					benchOK(b, a.doWithKey(key, benchConversion, map[string]any{"c": "v1-0"}))
				})
			})
			b.Run("NewImpression", func(b *testing.B) {
				measureRoundTrips(b, a, func(int) {
					a.clock.Advance(3 * time.Minute) // a new rotation slot
					benchOK(b, a.do("", benchImpression, map[string]any{"t": tok}))
				})
			})
			b.Run("RepeatImpression", func(b *testing.B) {
				measureRoundTrips(b, a, func(int) {
					benchOK(b, a.do("", benchImpression, map[string]any{"t": tok}))
				})
			})
		})
	}
}

// measureRoundTrips runs op b.N times and reports the repository's store
// calls and the wire commands per operation, which must agree.
func measureRoundTrips(b *testing.B, a *testApp, op func(i int)) {
	b.Helper()
	calls, wire := a.store.Calls(), wireCommands(b, a)
	b.ResetTimer()
	for i := range b.N {
		op(i)
	}
	b.StopTimer()
	dc, dw := a.store.Calls()-calls, wireCommands(b, a)-wire
	b.ReportMetric(float64(dc)/float64(b.N), "calls/op")
	b.ReportMetric(float64(dw)/float64(b.N), "commands/op")
	if dc != dw {
		b.Errorf("the repository counted %d store calls, the driver's command monitor %d", dc, dw)
	}
}

func wireCommands(b *testing.B, a *testApp) int64 {
	n, ok := a.store.ServerCommands()
	if !ok {
		b.Fatal("not on a server engine")
	}
	return n
}

// seedEvents stores n clicks on other participations, in bulk inserts of
// 10k, so that the collections the tracking paths touch already hold n
// events.
func seedEvents(b *testing.B, a *testApp, n int) {
	b.Helper()
	start := time.Now()
	p, c, s := primitive.NewObjectID(), primitive.NewObjectID(), primitive.NewObjectID()
	created := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	for from := 0; from < n; from += 10_000 {
		docs := make([]any, 0, 10_000)
		for i := from; i < min(n, from+10_000); i++ {
			docs = append(docs, bson.M{"_id": primitive.NewObjectID(), "clickId": fmt.Sprintf("seed-%d", i),
				"participationId": p, "campaignId": c, "streamerId": s, "billed": false, "costMicros": int64(0), "createdAt": created})
		}
		if err := repository.SeedRaw(b.Context(), a.store, "clicks", docs...); err != nil {
			b.Fatal(err)
		}
	}
	b.Logf("seeded %d clicks in %v", n, time.Since(start).Round(time.Millisecond))
	settle(b, a)
}

// settle waits until a lookup by click id is an index lookup again. Right
// after a bulk load PostgreSQL (under FerretDB) has no statistics for the
// new rows and plans a scan until autovacuum analyzes the table, within
// about a minute; the benchmark measures the steady state. MongoDB settles
// at once.
func settle(b *testing.B, a *testApp) {
	b.Helper()
	clicks := repository.NewClicks(a.store)
	start, fast := time.Now(), 0
	for fast < 5 && time.Since(start) < 3*time.Minute {
		t := time.Now()
		if _, err := clicks.WithClickID(b.Context(), "seed-7", 1); err != nil {
			b.Fatal(err)
		}
		if time.Since(t) < 5*time.Millisecond {
			fast++
		} else {
			fast = 0
			time.Sleep(time.Second)
		}
	}
	b.Logf("lookups by click id settled after %v", time.Since(start).Round(time.Second))
}
