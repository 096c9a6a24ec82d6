// Package repotest opens stores for tests: the embedded engine in memory, or,
// when MONGODB_URI is set, a fresh database on that MongoDB that is dropped
// when the test ends. Every repository and end-to-end test goes through it, so
// the whole suite runs on both engines.
package repotest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
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
