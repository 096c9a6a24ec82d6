package repository

import (
	"context"
	"fmt"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo/options"
)

// AppliedMark reads the projector's high-water mark, the number of the last
// batch applied everywhere, for every process's live fan-out: a process
// that does not project learns from it that another one applied batches.
// One read by _id of the one state document, of one field; counted in
// MonitorCalls, apart from requests and the projector.
type AppliedMark struct {
	state *collection
}

// NewAppliedMark returns the high-water mark reader of s.
func NewAppliedMark(s *Store) *AppliedMark {
	return &AppliedMark{state: s.monitorCollection(projectorCollection)}
}

// Read returns the number of the last batch applied everywhere; 0 in a
// store that never projected.
func (m *AppliedMark) Read(ctx context.Context) (int64, error) {
	var d struct {
		Applied int64 `bson:"applied"`
	}
	err := m.state.FindOne(ctx, bson.M{"_id": projectorID},
		options.FindOne().SetProjection(bson.M{"applied": 1})).Decode(&d)
	if isNoDocuments(err) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read applied batch: %w", err)
	}
	return d.Applied, nil
}
