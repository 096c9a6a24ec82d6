package repository

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"
	"go.mongodb.org/mongo-driver/x/mongo/driver/connstring"
)

// MigrateBatch is how many documents Migrate writes per bulk write.
const MigrateBatch = 1000

// MigratedCollection is one collection's outcome of a migration.
type MigratedCollection struct {
	Name           string
	Source, Target int64 // documents in each at the end
	Written        int64 // documents copied by this run
}

// Migrate copies every collection of from (the embedded store) to to (a
// MongoDB deployment): the indexes first (EnsureIndexes on the target, so
// the unique keys hold while documents arrive), then the documents in
// batches of MigrateBatch, each a replace-or-insert by _id, so a run that was
// interrupted can simply be run again and a second run changes nothing. It
// writes a progress line to progress as it goes and, at the end, checks that
// every collection holds as many documents on the target as on the source.
//
// The source must not change while it runs: stop the server first (the
// embedded store's lock refuses to open DATA_DIR while one serves from it).
// A target that already holds other documents fails the count check.
func Migrate(ctx context.Context, from, to *Store, progress io.Writer) ([]MigratedCollection, error) {
	if !from.embedded {
		return nil, errors.New("migrate: the source must be the embedded store")
	}
	if to.embedded {
		return nil, errors.New("migrate: the target must be a MongoDB deployment (MONGODB_URI)")
	}
	names, err := from.db.ListCollectionNames(ctx, bson.M{})
	if err != nil {
		return nil, fmt.Errorf("migrate: list collections: %w", err)
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("migrate: the embedded store holds nothing in database %q (is MONGODB_DATABASE the one the server used?)", from.db.Name())
	}
	slices.Sort(names)
	if err := to.EnsureIndexes(ctx); err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	out := make([]MigratedCollection, 0, len(names))
	for _, name := range names {
		m, err := migrateCollection(ctx, from.collection(name), to.collection(name), progress)
		if err != nil {
			return out, fmt.Errorf("migrate %s: %w", name, err)
		}
		out = append(out, m)
	}
	var mismatched []string
	for i, m := range out {
		src, err := from.collection(m.Name).CountDocuments(ctx, bson.M{})
		if err != nil {
			return out, fmt.Errorf("migrate: count %s: %w", m.Name, err)
		}
		dst, err := to.collection(m.Name).CountDocuments(ctx, bson.M{})
		if err != nil {
			return out, fmt.Errorf("migrate: count %s on the target: %w", m.Name, err)
		}
		out[i].Source, out[i].Target = src, dst
		status := "ok"
		if src != dst {
			status = "MISMATCH"
			mismatched = append(mismatched, fmt.Sprintf("%s (source %d, target %d)", m.Name, src, dst))
		}
		fmt.Fprintf(progress, "migrate: verified %-16s source %8d  target %8d  %s\n", m.Name, src, dst, status)
	}
	if len(mismatched) > 0 {
		return out, fmt.Errorf("migrate: counts differ: %v", mismatched)
	}
	return out, nil
}

// migrateCollection copies one collection in _id order, batch by batch.
func migrateCollection(ctx context.Context, src, dst *collection, progress io.Writer) (MigratedCollection, error) {
	m := MigratedCollection{Name: src.Name()}
	total, err := src.CountDocuments(ctx, bson.M{})
	if err != nil {
		return m, err
	}
	cur, err := src.Find(ctx, bson.M{}, options.Find().SetSort(bson.D{{Key: "_id", Value: 1}}))
	if err != nil {
		return m, err
	}
	defer cur.Close(ctx)
	batch := make([]mongo.WriteModel, 0, MigrateBatch)
	last := time.Now()
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		if _, err := dst.BulkWrite(ctx, batch, options.BulkWrite().SetOrdered(false)); err != nil {
			return err
		}
		m.Written += int64(len(batch))
		batch = batch[:0]
		if time.Since(last) >= time.Second || m.Written == total {
			last = time.Now()
			fmt.Fprintf(progress, "migrate: %-16s %8d / %d\n", m.Name, m.Written, total)
		}
		return nil
	}
	for cur.Next(ctx) {
		var doc bson.Raw
		if err := cur.Decode(&doc); err != nil {
			return m, err
		}
		doc = slices.Clone(doc) // the cursor may reuse its buffer
		id := doc.Lookup("_id")
		if id.Type == 0 {
			return m, errors.New("a document without _id")
		}
		batch = append(batch, mongo.NewReplaceOneModel().SetFilter(bson.D{{Key: "_id", Value: id}}).
			SetReplacement(doc).SetUpsert(true))
		if len(batch) == MigrateBatch {
			if err := flush(); err != nil {
				return m, err
			}
		}
	}
	if err := cur.Err(); err != nil {
		return m, err
	}
	if err := flush(); err != nil {
		return m, err
	}
	if total == 0 {
		fmt.Fprintf(progress, "migrate: %-16s empty\n", m.Name)
	}
	return m, nil
}

// URIDatabase is the database a MongoDB connection string names in its
// path (mongodb://host/NAME?…), or "" when it names none or is not one.
func URIDatabase(uri string) string {
	cs, err := connstring.Parse(uri)
	if err != nil {
		return ""
	}
	return cs.Database
}
