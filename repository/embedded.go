package repository

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/256dpi/lungo"
	"go.mongodb.org/mongo-driver/bson"
)

// DataFile is the embedded file store's file in DATA_DIR.
const DataFile = "tally.lungo"

// Oplog bounds of the embedded engine. Lungo keeps an oplog for change
// streams (by default every entry of the last 5 minutes, at least 100, with
// whole documents) and clones it on every write and writes it into the file;
// Tally never watches a change stream, so only the last oplogEntries are kept
// (any age), which makes a write's cost independent of the write rate.
const oplogEntries = 100

// embeddedOptions are the engine's options over store.
func embeddedOptions(store lungo.Store) lungo.Options {
	return lungo.Options{
		Store:        store,
		MinOplogSize: oplogEntries,
		MaxOplogSize: oplogEntries,
		// Zero means lungo's defaults (5 min, 1 h); a nanosecond rounds to
		// "older than now", so the size alone bounds the oplog.
		MinOplogAge: time.Nanosecond,
		MaxOplogAge: time.Nanosecond,
	}
}

// fileStore is lungo's file store made durable: lungo writes the catalog to
// a temporary file, fsyncs it and renames it over the old one, but does not
// fsync the directory, so after a power loss the rename (the last commit)
// may be gone. Store fsyncs the directory after the rename.
type fileStore struct {
	*lungo.FileStore
	dir string
}

func newFileStore(path string) *fileStore {
	return &fileStore{FileStore: lungo.NewFileStore(path, 0o600), dir: filepath.Dir(path)}
}

// Store writes the catalog atomically and durably.
func (s *fileStore) Store(c *lungo.Catalog) error {
	if err := s.FileStore.Store(c); err != nil {
		return err
	}
	return syncDir(s.dir)
}

// syncDir fsyncs a directory, making a rename in it durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("open %s to sync it: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}

// The embedded store's limit: each write copies the collection it touches,
// and on the file store rewrites and fsyncs the whole file, so writes slow
// down as it grows (figures in docs/benchmarks.md: about 75 event upserts/s
// at 10k stored, 7/s at 100k). From about EmbeddedWarnDocuments stored
// documents on, the file store takes fewer than EmbeddedWarnRate writes per
// second, and a new billed click is five writes.
const (
	EmbeddedWarnDocuments = 20_000
	EmbeddedWarnRate      = 40
)

// EmbeddedWarning is the size warning's text for a store of docs documents
// in a file of bytes.
func EmbeddedWarning(docs, bytes int64) string {
	return fmt.Sprintf("the embedded store holds %d documents (%.1f MB): from %d on, writes fall below about %d/s (a new billed click is 5 writes) "+
		"and keep slowing as it grows; it is for development and small deployments. Move to MongoDB: stop the server, "+
		"run `tally migrate --to mongodb://…`, start again with MONGODB_URI (see the README)",
		docs, float64(bytes)/1e6, EmbeddedWarnDocuments, EmbeddedWarnRate)
}

// EmbeddedSize returns how many documents the embedded store holds in all
// its collections and the size of its file (0 in memory); ok is false on
// MongoDB, which has no such limit.
func (s *Store) EmbeddedSize(ctx context.Context) (docs, bytes int64, ok bool, err error) {
	if !s.embedded {
		return 0, 0, false, nil
	}
	names, err := s.db.ListCollectionNames(ctx, bson.M{})
	if err != nil {
		return 0, 0, true, fmt.Errorf("list collections: %w", err)
	}
	for _, name := range names {
		n, err := s.db.Collection(name).EstimatedDocumentCount(ctx)
		if err != nil {
			return 0, 0, true, fmt.Errorf("count %s: %w", name, err)
		}
		docs += n
	}
	if s.file != "" {
		if fi, err := os.Stat(s.file); err == nil {
			bytes = fi.Size()
		}
	}
	return docs, bytes, true, nil
}

// SizeWatch decides when the embedded store's size deserves a warning: the
// first time it holds EmbeddedWarnDocuments or more, and again each time it
// has doubled since the last warning.
type SizeWatch struct{ next int64 }

// Due reports whether a store of docs documents is to be warned about now.
func (w *SizeWatch) Due(docs int64) bool {
	if w.next == 0 {
		w.next = EmbeddedWarnDocuments
	}
	if docs < w.next {
		return false
	}
	w.next = 2 * docs
	return true
}

// WatchSize calls warn at once and then every interval until ctx ends,
// whenever the embedded store's size is due a warning (SizeWatch). On
// MongoDB it returns at once.
func (s *Store) WatchSize(ctx context.Context, every time.Duration, warn func(docs, bytes int64)) {
	var w SizeWatch
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		docs, bytes, ok, err := s.EmbeddedSize(ctx)
		if !ok {
			return
		}
		if err == nil && w.Due(docs) {
			warn(docs, bytes)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
