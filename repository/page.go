package repository

import (
	"context"
	"encoding/base64"
	"fmt"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/primitive"
	"go.mongodb.org/mongo-driver/mongo/options"

	"tally/domain"
)

// Page is one page of a list, newest first.
type Page[T any] struct {
	Items       []T
	Cursors     []string // Cursors[i] is the cursor of Items[i]
	HasNextPage bool
}

// PageArgs are a connection's first/after.
type PageArgs struct {
	First int
	After string
}

// Page sizes: the default when first is not given, and the most one page may
// hold.
const (
	DefaultPageSize = 20
	MaxPageSize     = 100
)

// Validate checks first and after, naming the argument at fault.
func (p PageArgs) Validate() error {
	if p.First < 0 || p.First > MaxPageSize {
		return domain.Invalid("first", "first must be between 0 and %d", MaxPageSize)
	}
	if p.After != "" {
		if _, err := decodeCursor(p.After); err != nil {
			return err
		}
	}
	return nil
}

// Cursors are opaque to clients: the document's ObjectID, base64url-encoded.
// Pages are read in descending _id order with `_id < after`, so documents
// inserted while a client pages through (which get larger ids) never shift or
// repeat the rows of later pages.
func encodeCursor(id primitive.ObjectID) string {
	return base64.RawURLEncoding.EncodeToString(id[:])
}

func decodeCursor(c string) (primitive.ObjectID, error) {
	var id primitive.ObjectID
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil || len(b) != len(id) {
		return id, domain.Invalid("after", "after is not a cursor this API returned")
	}
	copy(id[:], b)
	return id, nil
}

// findPage reads one page of documents matching filter, newest first, and
// converts them with conv. It reads first+1 documents to know whether another
// page follows: one store call.
func findPage[D any, T any](ctx context.Context, c *collection, filter bson.M, args PageArgs, id func(*D) primitive.ObjectID, conv func(*D) T) (Page[T], error) {
	if err := args.Validate(); err != nil {
		return Page[T]{}, err
	}
	first := args.First
	if first == 0 {
		first = DefaultPageSize
	}
	if args.After != "" {
		after, _ := decodeCursor(args.After)
		filter = bson.M{"$and": bson.A{filter, bson.M{"_id": bson.M{"$lt": after}}}}
	}
	cur, err := c.Find(ctx, filter, options.Find().SetSort(bson.D{{Key: "_id", Value: -1}}).SetLimit(int64(first+1)))
	if err != nil {
		return Page[T]{}, fmt.Errorf("find page: %w", err)
	}
	var docs []D
	if err := cur.All(ctx, &docs); err != nil {
		return Page[T]{}, fmt.Errorf("decode page: %w", err)
	}
	var p Page[T]
	if len(docs) > first {
		p.HasNextPage = true
		docs = docs[:first]
	}
	for i := range docs {
		p.Items = append(p.Items, conv(&docs[i]))
		p.Cursors = append(p.Cursors, encodeCursor(id(&docs[i])))
	}
	return p, nil
}
