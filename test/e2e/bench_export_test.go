package e2e

import (
	"context"
	"io"
	"net/http"
	"testing"
	"time"

	"tally/domain"
	"tally/reports"
	"tally/repository"
)

// BenchmarkEventExport measures the event export's throughput in rows a
// second, against reading the same rows from the repository: a campaign's
// TALLY_BENCH_EXPORT_ROWS clicks (20,000 by default, one a second), billed, exported
// whole per operation.
//
//   - CSV: GET /campaigns/{id}/events.csv through the real handler over
//     HTTP (authorization, the rate limit, pages, CSV, flushes), the body
//     read by the client;
//   - Pages: the repository's scan alone (its pages at the export's page
//     size, reports.DefaultExportPageSize, over their windows of time),
//     decoded and dropped;
//   - OneFind: one repository read of every row at once — what an export
//     that held the whole set in memory would cost at best.
//
// The ratio CSV/Pages is what the HTTP and CSV layers cost over the reads.
func BenchmarkEventExport(b *testing.B) {
	rows := envInt("TALLY_BENCH_EXPORT_ROWS", 20_000)
	a := mustStartApp(b, withEnv(map[string]string{"EXPORT_LIMIT_PER_USER": "off"}))
	brand := a.mustSignUp("BRAND")
	in := campaignInput("Bench export")
	in["budget"] = "1000000.00"
	camp := a.mustCreateCampaign(brand, in)
	a.mustSetStatus(brand, camp.ID, "ACTIVE")
	// Stored as billed already (projecting them is not what is measured),
	// one a second from noon (closer when more would not fit the day).
	every := min(time.Second, 12*time.Hour/time.Duration(rows))
	mustSeedClicksAs(b, a, a.mustJoin(a.mustSignUp("STREAMER"), camp.ID), rows, domain.BillingBilled, every)
	req, err := domain.ParseExportRequest(camp.ID, domain.ExportParams{Kind: "clicks", From: "2026-11-23", To: "2026-11-23"})
	if err != nil {
		b.Fatal(err)
	}
	events := repository.NewEventExport(a.store)
	perSecond := func(b *testing.B) {
		b.ReportMetric(float64(rows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
	}

	b.Run("CSV", func(b *testing.B) {
		a := a.in(b)
		url := a.srv.URL + exportPath(camp.ID, withParams(theDay, "kind", "clicks"))
		for b.Loop() {
			r, _ := http.NewRequest(http.MethodGet, url, nil)
			r.Header.Set("Authorization", bearer(brand.Token))
			resp, err := a.client().Do(r)
			if err != nil {
				b.Fatal(err)
			}
			n, err := io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if err != nil || resp.StatusCode != http.StatusOK {
				b.Fatalf("export: %d, %v after %d bytes", resp.StatusCode, err, n)
			}
		}
		perSecond(b)
	})
	b.Run("Pages", func(b *testing.B) {
		for b.Loop() {
			scan, n := events.Clicks(req, reports.DefaultExportPageSize), 0
			for {
				page, err := scan.Next(context.Background())
				if err != nil {
					b.Fatal(err)
				}
				if len(page) == 0 {
					break
				}
				n += len(page)
			}
			if n != rows {
				b.Fatalf("read %d rows, want %d", n, rows)
			}
		}
		perSecond(b)
	})
	b.Run("OneFind", func(b *testing.B) {
		for b.Loop() {
			page, err := events.ClicksPage(context.Background(), req, repository.ExportCursor{From: req.From}, req.To, rows+1)
			if err != nil || len(page) != rows {
				b.Fatalf("read %d rows, want %d: %v", len(page), rows, err)
			}
		}
		perSecond(b)
	})
}
