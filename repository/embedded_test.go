package repository

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/256dpi/lungo"
	"go.mongodb.org/mongo-driver/bson"
)

// TestEmbeddedOplogCapped: the embedded engine keeps only the last
// oplogEntries oplog entries, however fast they come, and the file store
// still reloads every document written.
func TestEmbeddedOplogCapped(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), DataFile)
	client, engine, err := lungo.Open(ctx, embeddedOptions(newFileStore(path)))
	if err != nil {
		t.Fatal(err)
	}
	c := client.Database("tally").Collection("things")
	const writes = 3 * oplogEntries
	for i := range writes {
		if _, err := c.InsertOne(ctx, bson.M{"n": i}); err != nil {
			t.Fatal(err)
		}
	}
	n, err := client.Database("local").Collection("oplog").EstimatedDocumentCount(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n > oplogEntries {
		t.Errorf("oplog holds %d entries after %d writes, want at most %d", n, writes, oplogEntries)
	}
	engine.Close()

	client, engine, err = lungo.Open(ctx, embeddedOptions(newFileStore(path)))
	if err != nil {
		t.Fatal(err)
	}
	defer engine.Close()
	if got, err := client.Database("tally").Collection("things").CountDocuments(ctx, bson.M{}); err != nil || got != writes {
		t.Errorf("reloaded %d documents (err %v), want %d", got, err, writes)
	}
	if _, err := os.Stat(path + ".tmp"); !os.IsNotExist(err) {
		t.Errorf("the temporary file was left behind: %v", err)
	}
}

func TestSizeWatch(t *testing.T) {
	var w SizeWatch
	for _, step := range []struct {
		docs int64
		want bool
	}{
		{10, false},
		{EmbeddedWarnDocuments - 1, false},
		{EmbeddedWarnDocuments, true}, // at start-up or when it is first reached
		{EmbeddedWarnDocuments + 1, false},
		{2*EmbeddedWarnDocuments - 1, false},
		{2 * EmbeddedWarnDocuments, true}, // doubled since the last warning
		{3 * EmbeddedWarnDocuments, false},
		{4 * EmbeddedWarnDocuments, true},
	} {
		if got := w.Due(step.docs); got != step.want {
			t.Errorf("Due(%d) = %v, want %v", step.docs, got, step.want)
		}
	}
}

func TestEmbeddedSize(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := Open(ctx, Options{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(ctx)
	for i := range 5 {
		if err := SeedRaw(ctx, s, fmt.Sprintf("c%d", i%2), bson.M{"n": i}); err != nil {
			t.Fatal(err)
		}
	}
	docs, bytes, ok, err := s.EmbeddedSize(ctx)
	if err != nil || !ok || docs != 5 || bytes == 0 {
		t.Errorf("EmbeddedSize: %d docs, %d bytes, ok %v, err %v; want 5 documents in a non-empty file", docs, bytes, ok, err)
	}
	if msg := EmbeddedWarning(docs, bytes); !strings.Contains(msg, "tally migrate --to") || !strings.Contains(msg, "MONGODB_URI") {
		t.Errorf("the warning does not name the way out: %s", msg)
	}
}
