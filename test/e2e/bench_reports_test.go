package e2e

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	"tally/domain"
	"tally/projection"
	"tally/repository"
)

// BenchmarkReportMonth: a month's hourly report (America/New_York, 721 rows
// in November 2026) of one campaign with 10,000 and with 1,000,000 events,
// through the real HTTP handler and GraphQL executor, answered from the
// quarter buckets alone. The buckets are seeded from the real plan —
// synthetic batches of 50,000 events planned by projection.Decide, their
// quarter deltas summed by bucket and inserted whole
// (repository.SeedReportBuckets: what the projector's guarded upserts
// would leave; the embedded engine scans its collection per upsert, which
// would make seeding a million events take hours) — not one request per
// event. The ratio of the two sizes' ns/op is what
// docs/benchmarks.md records: flat, because a month holds 2,880 quarters
// whatever the number of events in them.
func BenchmarkReportMonth(b *testing.B) {
	for _, n := range []int{10_000, 1_000_000} {
		b.Run(fmt.Sprintf("events=%d", n), func(b *testing.B) {
			a := mustStartApp(b, withManualProjection())
			brand := a.mustSignUp("BRAND")
			c := a.mustPricedCampaign(brand, "Reported", map[string]any{"budget": "1000000.00"})
			var parts []string
			for range 4 {
				for id := range a.mustStreamerIn(c).parts {
					parts = append(parts, id)
				}
			}
			buckets := seedReport(b, a.store, c.ID, parts, n)
			runtime.GC() // the seeding's garbage is not the report's
			// the store's part alone: one indexed range read of the month's
			// campaign buckets, decoded
			b.Run("read", func(b *testing.B) {
				ranges := []repository.QuarterRange{{CampaignID: c.ID, Level: domain.LevelCampaign,
					From: time.Date(2026, 11, 1, 4, 0, 0, 0, time.UTC), To: time.Date(2026, 12, 1, 5, 0, 0, 0, time.UTC)}}
				r := repository.NewReportBuckets(a.store)
				read := 0
				for range b.N {
					read = 0
					if err := r.Read(context.Background(), ranges, domain.MaxReportBuckets, func(domain.QuarterDelta) { read++ }); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(read), "buckets-read")
			})
			for _, tc := range []struct {
				name    string
				groupBy []string
			}{{"hourly", nil}, {"hourly-by-participation", []string{"PARTICIPATION"}}} {
				b.Run(tc.name, func(b *testing.B) {
					in := reportInput("2026-11-01", "2026-11-30", "America/New_York", "HOUR", map[string]any{"campaignIds": []string{c.ID}}, tc.groupBy...)
					vars := map[string]any{"input": in, "first": 100}
					const q = `query($input: ReportInput!, $first: Int) { report(input: $input, first: $first) {
					  totalCount totals { impressions clicks conversions spend { amount } }
					  edges { node { period impressions clicks conversions spend { amount } ecpm { amount } } } } }`
					var d struct{ Report struct{ TotalCount int } }
					a.mustDo(brand.Token, q, vars, &d)
					b.ReportMetric(float64(d.Report.TotalCount), "rows")
					b.ReportMetric(float64(buckets), "buckets-stored")
					b.ResetTimer()
					for range b.N {
						if r := a.do(brand.Token, q, vars); len(r.Errors) > 0 {
							b.Fatal(r.Errors)
						}
					}
				})
			}
		})
	}
}

// seedReport plans n synthetic events over November 2026 (UTC) in batches
// of 50,000 through projection.Decide, sums the plans' quarter deltas by
// bucket and inserts the buckets; it returns how many there are. Of
// every 50 events: one conversion (approved), 9 clicks with one of three
// sub1 values, 40 impressions, across the participations in turn.
func seedReport(b *testing.B, store *repository.Store, campaignID string, parts []string, n int) int {
	b.Helper()
	ctx := context.Background()
	start := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	step := 30 * 24 * time.Hour / time.Duration(n)
	ledgers := map[string]domain.CampaignLedger{campaignID: {ID: campaignID, Remaining: 1 << 50, Status: domain.CampaignActive,
		Campaign: domain.Campaign{ID: campaignID, Status: domain.CampaignActive}}}
	subs := map[domain.SubValuesKey][]string{}
	index := map[string]int{}
	var sums []domain.QuarterDelta
	var last int64
	const batch = 50_000
	for n0, N := 0, int64(1); n0 < n; n0, N = n0+batch, N+1 {
		var events []domain.EventRecord
		for i := n0; i < min(n0+batch, n); i++ {
			e := domain.EventRecord{ID: fmt.Sprintf("e%07d", i), CampaignID: campaignID, ParticipationID: parts[i%len(parts)],
				StreamerID: "s", At: start.Add(time.Duration(i) * step), Billing: domain.BillingPending, Todo: true}
			switch k := i % 50; {
			case k == 0:
				e.Kind, e.Price, e.Status, e.GoalID, e.Billable, e.MoneyAt = domain.EventConversion, 1_500_000, domain.ConversionApproved, "signup", true, e.At
				e.Subs[0] = fmt.Sprintf("s%d", i%3)
			case k < 10:
				e.Kind, e.Price = domain.EventClick, 250_000
				e.Subs[0] = fmt.Sprintf("s%d", i%3)
			default:
				e.Kind, e.Price = domain.EventImpression, 2_500
			}
			events = append(events, e)
		}
		p, err := projection.Decide(domain.Batch{N: N, Events: events}, projection.State{Ledgers: ledgers, SubValues: subs}, projection.Rules{})
		if err != nil {
			b.Fatal(err)
		}
		for k, v := range p.SubValues {
			subs[k] = v
		}
		for _, q := range p.Quarters {
			id := q.Key.ID()
			if i, ok := index[id]; ok {
				sums[i].Counts.Add(q.Counts, 1)
				continue
			}
			index[id] = len(sums)
			sums = append(sums, q)
		}
		last = N
	}
	if err := repository.SeedReportBuckets(ctx, store, last, sums); err != nil {
		b.Fatal(err)
	}
	return len(sums)
}
