package repository

import (
	"context"
	"fmt"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/primitive"
	"go.mongodb.org/mongo-driver/mongo/options"

	"tally/domain"
)

// findPage reads one page of documents matching filter, newest first (by
// _id, the cursor: see domain.Cursor), and converts them with conv. It reads first+1 documents to know whether another
// page follows: one store call.
func findPage[D any, T any](ctx context.Context, c *collection, filter bson.M, args domain.PageArgs, id func(*D) primitive.ObjectID, conv func(*D) T) (domain.Page[T], error) {
	return findPageBy(ctx, c, "_id", filter, args, id, conv)
}

// findPageBy is findPage ordered by another ObjectID field, key, for
// collections whose _id is a natural key (the outbox's "seq").
func findPageBy[D any, T any](ctx context.Context, c *collection, key string, filter bson.M, args domain.PageArgs, id func(*D) primitive.ObjectID, conv func(*D) T) (domain.Page[T], error) {
	if err := args.Validate(); err != nil {
		return domain.Page[T]{}, err
	}
	first := args.First
	if first == 0 {
		first = domain.DefaultPageSize
	}
	if args.After != "" {
		after, _ := domain.ParseCursor(args.After)
		filter = bson.M{"$and": bson.A{filter, bson.M{key: bson.M{"$lt": primitive.ObjectID(after)}}}}
	}
	cur, err := c.Find(ctx, filter, options.Find().SetSort(bson.D{{Key: key, Value: -1}}).SetLimit(int64(first+1)))
	if err != nil {
		return domain.Page[T]{}, fmt.Errorf("find page: %w", err)
	}
	var docs []D
	if err := cur.All(ctx, &docs); err != nil {
		return domain.Page[T]{}, fmt.Errorf("decode page: %w", err)
	}
	var p domain.Page[T]
	if len(docs) > first {
		p.HasNextPage = true
		docs = docs[:first]
	}
	for i := range docs {
		p.Items = append(p.Items, conv(&docs[i]))
		p.Cursors = append(p.Cursors, domain.Cursor(id(&docs[i])).String())
	}
	return p, nil
}
