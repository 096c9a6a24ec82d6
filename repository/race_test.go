package repository_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"tally/domain"
	"tally/repository"
	"tally/repository/repotest"
)

// TestRecordOnceAcrossProcesses races upserts of the same keys from two
// stores on one database, as two server processes would: their in-process
// key locks do not meet, so the store itself arbitrates (a duplicate key, or
// on FerretDB as often a deadlock, retried within the bound). Exactly one
// call per key says isNew, and a call that still fails is
// SERVICE_UNAVAILABLE, never an internal error. Server engines only: the
// embedded store belongs to one process.
func TestRecordOnceAcrossProcesses(t *testing.T) {
	opts := repotest.Options(t)
	if opts.URI == "" {
		t.Skip("the embedded store belongs to one process; set MONGODB_URI")
	}
	ctx := context.Background()
	var stores [2]*repository.Store
	for i := range stores {
		s, err := repository.Open(ctx, opts) // the same database
		if err != nil {
			t.Fatal(err)
		}
		if err := s.EnsureIndexes(ctx); err != nil {
			t.Fatal(err)
		}
		repotest.Cleanup(t, s, opts)
		stores[i] = s
	}
	const keys, repeats = 10, 8
	var isNew, unavailable atomic.Int32
	var wg sync.WaitGroup
	for i := range keys * repeats * len(stores) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			clicks := repository.NewClicks(stores[i%len(stores)])
			_, created, err := clicks.Record(ctx, newClick(fmt.Sprintf("across-%d", (i/len(stores))%keys)))
			switch {
			case err == nil && created:
				isNew.Add(1)
			case err == nil:
			case domain.ErrorCode(err) == domain.EUNAVAILABLE:
				unavailable.Add(1)
			default:
				t.Errorf("not SERVICE_UNAVAILABLE: %v", err)
			}
		}()
	}
	wg.Wait()
	if isNew.Load() != keys {
		t.Errorf("%d calls said isNew, want %d (one per key)", isNew.Load(), keys)
	}
	t.Logf("%d of %d calls answered SERVICE_UNAVAILABLE after the retries", unavailable.Load(), keys*repeats*len(stores))
}
