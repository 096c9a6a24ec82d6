package repository_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/primitive"

	"tally/domain"
	"tally/repository"
	"tally/repository/repotest"
)

// stamp formats times with a fixed width, so that they sort as text.
const stamp = "2006-01-02T15:04:05.000Z07:00"

// TestExportScan: a scan returns every click of the range exactly once, in
// (createdAt, _id) order, in pages of at most n, whatever the spacing — a
// dense millisecond holding several pages, sparse days, events at the
// range's ends — and nothing outside the range, another campaign's or
// another participation's when one is asked.
func TestExportScan(t *testing.T) {
	s := repotest.MustOpen(t)
	ctx := context.Background()
	camp, part, otherPart, otherCamp := primitive.NewObjectID(), primitive.NewObjectID(), primitive.NewObjectID(), primitive.NewObjectID()
	from := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	to := from.AddDate(0, 0, 10)
	rng := rand.New(rand.NewPCG(1, 2))
	var times []time.Time
	for range 40 { // a dense millisecond: several pages at one instant
		times = append(times, from.Add(36*time.Hour+7*time.Millisecond))
	}
	for range 60 { // sparse, anywhere in the ten days
		times = append(times, from.Add(time.Duration(rng.Int64N(int64(to.Sub(from)))).Truncate(time.Millisecond)))
	}
	times = append(times, from, to.Add(-time.Millisecond)) // the ends, inside
	outside := []time.Time{from.Add(-time.Millisecond), to}
	var docs []any
	var want []string
	add := func(at time.Time, c, p primitive.ObjectID, in bool) {
		id := primitive.NewObjectID()
		docs = append(docs, bson.M{"_id": id, "clickId": id.Hex(), "campaignId": c, "participationId": p,
			"streamerId": primitive.NewObjectID(), "billing": "billed", "costMicros": int64(1), "createdAt": at})
		if in {
			want = append(want, at.Format(stamp)+" "+id.Hex())
		}
	}
	for i, at := range times {
		p := part
		if i%3 == 0 {
			p = otherPart
		}
		add(at, camp, p, true)
		add(at, otherCamp, p, false)
	}
	for _, at := range outside {
		add(at, camp, part, false)
	}
	if err := repository.SeedRaw(ctx, s, "clicks", docs...); err != nil {
		t.Fatal(err)
	}
	slices.Sort(want)

	events := repository.NewEventExport(s)
	scan := func(req domain.ExportRequest, n int) []string {
		t.Helper()
		var got []string
		sc := events.Clicks(req, n)
		for {
			page, err := sc.Next(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(page) == 0 {
				return got
			}
			if len(page) > n {
				t.Fatalf("a page of %d, more than %d", len(page), n)
			}
			for _, c := range page {
				got = append(got, c.CreatedAt.Format(stamp)+" "+c.ID)
			}
		}
	}
	for _, n := range []int{1, 7, 40, 500} {
		t.Run(fmt.Sprintf("Campaign/%d", n), func(t *testing.T) {
			got := scan(domain.ExportRequest{CampaignID: camp.Hex(), From: from, To: to, Clicks: true}, n)
			if !slices.Equal(got, want) {
				t.Errorf("got %d clicks, want %d in order:\ngot  %v\nwant %v", len(got), len(want), got, want)
			}
		})
	}
	t.Run("Participation", func(t *testing.T) {
		got := scan(domain.ExportRequest{CampaignID: camp.Hex(), ParticipationID: part.Hex(), From: from, To: to, Clicks: true}, 5)
		mine := len(times) - (len(times)+2)/3 // every third is the other participation's
		if len(got) != mine || !slices.IsSorted(got) {
			t.Errorf("got %d clicks of the participation, want %d, in order", len(got), mine)
		}
	})
}
