package repository

import (
	"context"
	"fmt"
	"slices"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/primitive"
	"go.mongodb.org/mongo-driver/mongo/options"

	"tally/domain"
)

// findPage reads one page of documents matching filter, newest first (by
// _id, the cursor: see domain.Cursor), and converts them with conv.
//
// Forward (first/after) it reads `_id < after` in descending order, backward
// (last/before) `_id > before` in ascending order and reverses the page; both
// read size+1 documents to know whether more follow in the direction read:
// one store call. The other direction costs one more, a read of at most one
// _id, and only when the cursor on that side is given (with no cursor there,
// nothing lies beyond the page on that side). TotalCount, when asked, is one
// CountDocuments with the same filter, without the cursors.
func findPage[D any, T any](ctx context.Context, c *collection, filter bson.M, args domain.PageArgs, id func(*D) primitive.ObjectID, conv func(*D) T) (domain.Page[T], error) {
	return findPageBy(ctx, c, "_id", filter, args, id, conv)
}

// findPageBy is findPage ordered by another ObjectID field, key, for
// collections whose _id is a natural key (the outbox's "seq").
func findPageBy[D any, T any](ctx context.Context, c *collection, key string, filter bson.M, args domain.PageArgs, id func(*D) primitive.ObjectID, conv func(*D) T) (domain.Page[T], error) {
	if err := args.Validate(); err != nil {
		return domain.Page[T]{}, err
	}
	size := args.Size()
	after, hasAfter, before, hasBefore := args.Cursors()
	between := bson.M{}
	if hasAfter {
		between["$lt"] = primitive.ObjectID(after)
	}
	if hasBefore {
		between["$gt"] = primitive.ObjectID(before)
	}
	inRange := filter
	if len(between) > 0 {
		inRange = bson.M{"$and": bson.A{filter, bson.M{key: between}}}
	}
	order := -1
	if args.Backward() {
		order = 1
	}
	cur, err := c.Find(ctx, inRange, options.Find().SetSort(bson.D{{Key: key, Value: order}}).SetLimit(int64(size+1)))
	if err != nil {
		return domain.Page[T]{}, fmt.Errorf("find page: %w", err)
	}
	var docs []D
	if err := cur.All(ctx, &docs); err != nil {
		return domain.Page[T]{}, fmt.Errorf("decode page: %w", err)
	}
	more := len(docs) > size
	if more {
		docs = docs[:size]
	}
	var p domain.Page[T]
	if args.Backward() {
		slices.Reverse(docs)
		p.HasPreviousPage = more
		// Older items follow the page if the before cursor's side holds any.
		if hasBefore {
			beyond := bson.M{"$lte": primitive.ObjectID(before)}
			if hasAfter {
				beyond["$lt"] = primitive.ObjectID(after)
			}
			if p.HasNextPage, err = anyIn(ctx, c, key, filter, beyond); err != nil {
				return domain.Page[T]{}, err
			}
		}
	} else {
		p.HasNextPage = more
		if hasAfter {
			beyond := bson.M{"$gte": primitive.ObjectID(after)}
			if hasBefore {
				beyond["$gt"] = primitive.ObjectID(before)
			}
			if p.HasPreviousPage, err = anyIn(ctx, c, key, filter, beyond); err != nil {
				return domain.Page[T]{}, err
			}
		}
	}
	for i := range docs {
		p.Items = append(p.Items, conv(&docs[i]))
		p.Cursors = append(p.Cursors, domain.Cursor(id(&docs[i])).String())
	}
	if args.Total {
		n, err := c.CountDocuments(ctx, filter)
		if err != nil {
			return domain.Page[T]{}, fmt.Errorf("count: %w", err)
		}
		p.TotalCount = int(n)
	}
	return p, nil
}

// anyIn reports whether a document matching filter has an _id in ids (the
// side of a page's cursor that the page does not cover, still inside the
// other cursor when one is given).
func anyIn(ctx context.Context, c *collection, key string, filter, ids bson.M) (bool, error) {
	cur, err := c.Find(ctx, bson.M{"$and": bson.A{filter, bson.M{key: ids}}},
		options.Find().SetProjection(bson.M{key: 1}).SetLimit(1))
	if err != nil {
		return false, fmt.Errorf("find beyond the page: %w", err)
	}
	var found []bson.M
	if err := cur.All(ctx, &found); err != nil {
		return false, fmt.Errorf("decode beyond the page: %w", err)
	}
	return len(found) > 0, nil
}
