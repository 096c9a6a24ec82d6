package repository

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/256dpi/lungo"
	"github.com/256dpi/lungo/bsonkit"
	"github.com/256dpi/lungo/mongokit"
	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/primitive"

	"tally/domain"
)

// TestMeasureEmbedded measures the embedded engine's click throughput (the
// exactly-once record of a click, one writer) with 1k, 10k and 100k clicks
// stored, on the memory and the file store: new clicks, repeated clicks
// with and without the read before the upsert, and new clicks with lungo's
// default oplog against Tally's cap. docs/benchmarks.md has its figures. It
// only runs when asked (it takes a few minutes):
//
//	TALLY_MEASURE_EMBEDDED=1 go test -count=1 -run TestMeasureEmbedded -v ./repository
//
// TALLY_MEASURE_SIZES (default "1000,10000,100000") and TALLY_MEASURE_SECONDS
// (time per figure, default 3) bound it; a figure stops at whichever comes
// first of its time and 2,000 operations.
func TestMeasureEmbedded(t *testing.T) {
	if os.Getenv("TALLY_MEASURE_EMBEDDED") == "" {
		t.Skip("set TALLY_MEASURE_EMBEDDED=1 to measure the embedded engine")
	}
	sizes := []int{1000, 10000, 100000}
	if v := os.Getenv("TALLY_MEASURE_SIZES"); v != "" {
		sizes = nil
		for _, f := range splitComma(v) {
			n, err := strconv.Atoi(f)
			if err != nil {
				t.Fatal(err)
			}
			sizes = append(sizes, n)
		}
	}
	budget := 3 * time.Second
	if v := os.Getenv("TALLY_MEASURE_SECONDS"); v != "" {
		n, _ := strconv.Atoi(v)
		budget = time.Duration(n) * time.Second
	}
	for _, file := range []bool{false, true} {
		kind := "memory"
		if file {
			kind = "file"
		}
		for _, size := range sizes {
			s := openMeasured(t, file, embeddedOptions, size)
			clicks := NewClicks(s)
			// A repeat of a click in the middle of the collection: reads scan.
			repeated := fmt.Sprintf("seed-%d", size/2)
			newRate, n1 := rate(budget, func(i int) { mustRecord(t, clicks, fmt.Sprintf("new-%d", i), true) })
			repeatRate, n2 := rate(budget, func(int) { mustRecord(t, clicks, repeated, false) })
			s.embedded = false // as on MongoDB: the upsert alone
			clicks = NewClicks(s)
			upsertNewRate, n3 := rate(budget, func(i int) { mustRecord(t, clicks, fmt.Sprintf("up-%d", i), true) })
			upsertRepeatRate, n4 := rate(budget, func(int) { mustRecord(t, clicks, repeated, false) })
			t.Logf("%-6s %7d stored | read first: new %6.1f/s (%d ops), repeat %8.1f/s (%d) | upsert only: new %6.1f/s (%d), repeat %7.1f/s (%d)",
				kind, size, newRate, n1, repeatRate, n2, upsertNewRate, n3, upsertRepeatRate, n4)
			_ = s.Close(context.Background())
		}
	}
	// The oplog: sustained new clicks, lungo's default oplog (every entry of
	// the last 5 minutes) against the cap, at 1k stored.
	for _, file := range []bool{false, true} {
		for _, capped := range []bool{false, true} {
			opts := embeddedOptions
			if !capped {
				opts = func(st lungo.Store) lungo.Options { return lungo.Options{Store: st} }
			}
			s := openMeasured(t, file, opts, 1000)
			clicks := NewClicks(s)
			var rates []string
			i := 0
			for round := 0; round < 4; round++ {
				r, _ := rate(budget, func(int) { mustRecord(t, clicks, fmt.Sprintf("o-%d", i), true); i++ })
				rates = append(rates, fmt.Sprintf("%.0f/s", r))
			}
			t.Logf("oplog capped=%v file=%v: new clicks per %v window: %v (%d written)", capped, file, budget, rates, i)
			_ = s.Close(context.Background())
		}
	}
}

// openMeasured opens an embedded store holding seed clicks. They are put
// into the catalog before the engine opens: the engine's InsertMany clones
// the collection for every document, which takes minutes at 100k.
func openMeasured(t *testing.T, file bool, opts func(lungo.Store) lungo.Options, seed int) *Store {
	t.Helper()
	var st lungo.Store = lungo.NewMemoryStore()
	if file {
		st = newFileStore(filepath.Join(t.TempDir(), DataFile))
	}
	catalog := lungo.NewCatalog()
	clicks := mongokit.NewCollection(true)
	p, c, sid := primitive.NewObjectID(), primitive.NewObjectID(), primitive.NewObjectID()
	for i := range seed {
		doc := bsonkit.MustConvert(bson.M{"_id": primitive.NewObjectID(), "clickId": fmt.Sprintf("seed-%d", i), "participationId": p,
			"campaignId": c, "streamerId": sid, "billed": false, "costMicros": int64(0), "createdAt": time.Now().UTC()})
		if _, err := clicks.Insert(doc); err != nil {
			t.Fatal(err)
		}
	}
	catalog.Namespaces[lungo.Handle{"tally", clicksCollection}] = clicks
	if err := st.Store(catalog); err != nil {
		t.Fatal(err)
	}
	client, engine, err := lungo.Open(context.Background(), opts(st))
	if err != nil {
		t.Fatal(err)
	}
	s := &Store{client: client, engine: engine, unlock: func() {}, embedded: true}
	s.db = client.Database("tally")
	if err := s.EnsureIndexes(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n, err := s.db.Collection(clicksCollection).EstimatedDocumentCount(context.Background()); err != nil || n != int64(seed) {
		t.Fatalf("seeded %d clicks (err %v), want %d", n, err, seed)
	}
	return s
}

func mustRecord(t *testing.T, clicks *Clicks, id string, wantNew bool) {
	c := domain.Click{ClickID: id, ParticipationID: primitive.NewObjectID().Hex(), CampaignID: primitive.NewObjectID().Hex(),
		StreamerID: primitive.NewObjectID().Hex(), CreatedAt: time.Now()}
	_, isNew, err := clicks.Record(context.Background(), c)
	if err != nil || isNew != wantNew {
		t.Fatalf("record %s: isNew %v (want %v), err %v", id, isNew, wantNew, err)
	}
}

// rate runs op until budget has passed or 2,000 operations are done and
// returns operations per second and how many ran.
func rate(budget time.Duration, op func(i int)) (float64, int) {
	start := time.Now()
	n := 0
	for ; n < 2000 && time.Since(start) < budget; n++ {
		op(n)
	}
	return float64(n) / time.Since(start).Seconds(), n
}

func splitComma(s string) []string {
	var out []string
	start := 0
	for i := 0; i <= len(s); i++ {
		if i == len(s) || s[i] == ',' {
			if i > start {
				out = append(out, s[start:i])
			}
			start = i + 1
		}
	}
	return out
}
