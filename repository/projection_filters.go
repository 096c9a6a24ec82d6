package repository

import (
	"context"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"
)

// The click filter's state (domain.ClickFilter): one document per key — a
// participation's click count in one rate window, a viewer's last valid
// click on a participation — kept by the projector with updates guarded by
// the batch, each with its value from before that batch, so that a replay
// judges as the first run did. Documents expire once their window has
// passed.
const clickFiltersCollection = "click_filters"

func clickFilterIndexes() []indexModel {
	return []indexModel{{Keys: bson.D{{Key: "expiresAt", Value: 1}},
		Options: options.Index().SetName("expiresAt_ttl").SetExpireAfterSeconds(0)}}
}

type filterDoc struct {
	ID    string `bson:"_id"`
	Value int64  `bson:"value"`
	Batch int64  `bson:"batch"`
	Prev  int64  `bson:"prev"`
}

// FilterState reads the click filter's state for keys as it was before
// batch n: one query.
func (r *Projection) FilterState(ctx context.Context, n int64, keys []string) (map[string]int64, error) {
	out := map[string]int64{}
	if len(keys) == 0 {
		return out, nil
	}
	cur, err := r.filters.Find(ctx, bson.M{"_id": bson.M{"$in": keys}})
	if err != nil {
		return nil, fmt.Errorf("read click filter state: %w", err)
	}
	var docs []filterDoc
	if err := cur.All(ctx, &docs); err != nil {
		return nil, fmt.Errorf("decode click filter state: %w", err)
	}
	for _, d := range docs {
		if d.Batch >= n {
			out[d.ID] = d.Prev
		} else {
			out[d.ID] = d.Value
		}
	}
	return out, nil
}

// SaveFilterState stores the click filter's state after batch n (before:
// as FilterState read it), each document kept until expires[key]: one bulk
// of guarded upserts; a document batch n already reached collides on its
// _id, which means it is saved.
func (r *Projection) SaveFilterState(ctx context.Context, n int64, after, before map[string]int64, expires map[string]time.Time) error {
	models := make([]mongo.WriteModel, 0, len(after))
	for k, v := range after {
		models = append(models, mongo.NewUpdateOneModel().SetFilter(bson.M{"_id": k, "batch": notApplied(n)}).SetUpsert(true).
			SetUpdate(bson.M{"$set": bson.M{"value": v, "prev": before[k], "batch": n, "expiresAt": expires[k].UTC()}}))
	}
	if len(models) == 0 {
		return nil
	}
	if err := guardedUpserts(ctx, r.filters, models); err != nil {
		return fmt.Errorf("save click filter state: %w", err)
	}
	return nil
}
