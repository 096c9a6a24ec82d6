// Package repotest opens stores for tests: the embedded engine in memory, or,
// when MONGODB_URI is set, a fresh database on that MongoDB that is dropped
// when the test ends. Every repository and end-to-end test goes through it, so
// the whole suite runs on both engines. Race is the one way those tests make
// concurrent calls contend.
package repotest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"sync"
	"testing"
	"time"

	"tally/repository"
)

// Options returns the store options for a test: memory, or a unique database
// on $MONGODB_URI.
func Options(t testing.TB) repository.Options {
	t.Helper()
	uri := os.Getenv("MONGODB_URI")
	if uri == "" {
		return repository.Options{Memory: true, Database: "tally"}
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return repository.Options{URI: uri, Database: "tally_test_" + hex.EncodeToString(b)}
}

// MustOpen opens a store with its indexes for t and closes (and on MongoDB
// drops) it when t ends.
func MustOpen(t testing.TB) *repository.Store {
	t.Helper()
	return MustOpenWith(t, Options(t))
}

// MustOpenWith opens a store with opts and its indexes for t, and closes
// (and on MongoDB drops) it when t ends. Two calls with the same options on
// MongoDB give two clients of one database, as two processes would have.
func MustOpenWith(t testing.TB, opts repository.Options) *repository.Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := repository.Open(ctx, opts)
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	if err := s.EnsureIndexes(ctx); err != nil {
		t.Fatalf("ensure indexes: %v", err)
	}
	Cleanup(t, s, opts)
	return s
}

// Cleanup closes s when t ends, dropping its database first on MongoDB.
func Cleanup(t testing.TB, s *repository.Store, opts repository.Options) {
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if opts.URI != "" {
			_ = s.Drop(ctx)
		}
		_ = s.Close(ctx)
	})
}

// Race runs fn(0) … fn(n-1), each in its own goroutine, releases them all at
// once so that they contend for the same thing, and returns when every one
// has returned. fn reports failures with t.Errorf (never Fatal: it is not the
// test's goroutine); what races, and what must hold after, is the caller's to
// say.
func Race(t testing.TB, n int, fn func(i int)) {
	t.Helper()
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			fn(i)
		}()
	}
	close(start)
	wg.Wait()
}
