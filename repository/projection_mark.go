package repository

import (
	"context"
	"fmt"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo/options"
)

// AppliedMark reads the projector's high-water mark, the sum of every
// partition's last applied batch, for every process's live fan-out: a
// process that does not project learns from it that another one applied
// batches. One query; counted in MonitorCalls, apart from requests and the
// projector.
type AppliedMark struct {
	parts *collection
}

// NewAppliedMark returns the high-water mark reader of s.
func NewAppliedMark(s *Store) *AppliedMark {
	return &AppliedMark{parts: s.monitorCollection(partitionsCollection)}
}

// Read returns the sum of every partition's last applied batch, a number
// that grows with each batch applied anywhere: one query of one field of
// the partitions' documents; 0 in a store that never projected.
func (m *AppliedMark) Read(ctx context.Context) (int64, error) {
	cur, err := m.parts.Find(ctx, bson.M{}, options.Find().SetProjection(bson.M{"applied": 1}))
	if err != nil {
		return 0, fmt.Errorf("read applied batches: %w", err)
	}
	var docs []struct {
		Applied int64 `bson:"applied"`
	}
	if err := cur.All(ctx, &docs); err != nil {
		return 0, fmt.Errorf("decode applied batches: %w", err)
	}
	var sum int64
	for _, d := range docs {
		sum += d.Applied
	}
	return sum, nil
}
