package repository

import (
	"context"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/primitive"
	"go.mongodb.org/mongo-driver/mongo/options"

	"tally/domain"
)

// Projection in partitions (see package projection): an event belongs to
// the partition of its campaign (domain.PartitionOf), stored on it as part
// when it is recorded; each partition has its own state document here
// (lease, applied, batch in flight), and each process says it is alive in
// processesCollection, so that each takes a fair share of the partitions.
const (
	partitionsCollection = "projection_partitions"
	processesCollection  = "projection_processes"
)

// legacyClosed owns the state document from before partitions for good:
// a release without partitions still running can then never start a batch
// with it again (its lease never expires).
const legacyClosed = "partitioned"

// Setup makes the database projected in partitions, once, and returns how
// many: the number recorded at its first start (want, the setting, when it
// has none yet; a different setting later changes nothing). It is
// idempotent and any number of processes may run it at once.
//
// A database projected before partitions has one state document: applied
// A and perhaps batch A+1 in flight. Setup first closes it (no process of
// an older release can start or finish-and-start a batch on it again; one
// still applying A+1 may only finish it), then creates each partition's
// state from it: a partition holding events of A+1 starts with them in
// flight as its own batch A+1 (every write is guarded by its batch, so
// what of A+1 already landed is not applied twice, and a streamer's bucket
// that A+1 reached is skipped by every partition, by its old mark), every
// other partition at applied A+1; later batches are numbered above, so every
// counter's old mark is below them. Pending events stored without a
// partition are given theirs by AdoptStrays.
func (r *Projection) Setup(ctx context.Context, want int) (int, error) {
	if want <= 0 {
		want = domain.DefaultPartitions
	}
	if _, err := r.state.UpdateOne(ctx, bson.M{"_id": projectorID},
		bson.M{"$set": bson.M{"owner": legacyClosed, "leaseUntil": time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)},
			"$setOnInsert": bson.M{"applied": int64(0)}},
		options.Update().SetUpsert(true)); err != nil && !isDuplicate(err) {
		return 0, fmt.Errorf("set up projection partitions: %w", err)
	}
	if _, err := r.state.UpdateOne(ctx, bson.M{"_id": projectorID, "partitions": bson.M{"$exists": false}},
		bson.M{"$set": bson.M{"partitions": want}}); err != nil {
		return 0, fmt.Errorf("record projection partitions: %w", err)
	}
	var legacy stateDoc
	if err := r.state.FindOne(ctx, bson.M{"_id": projectorID}).Decode(&legacy); err != nil {
		return 0, fmt.Errorf("read projector state: %w", err)
	}
	count := legacy.Partitions
	byPart := map[int][]batchEventDoc{}
	if legacy.Batch != nil {
		for _, e := range legacy.Batch.Events {
			p := domain.PartitionOf(e.CampaignID.Hex(), count)
			byPart[p] = append(byPart[p], e)
		}
	}
	for p := range count {
		insert := bson.M{"applied": legacy.Applied, "owner": "", "leaseUntil": time.Unix(0, 0).UTC()}
		if legacy.Batch != nil {
			insert["applied"] = legacy.Batch.N
			if events := byPart[p]; len(events) > 0 {
				insert["applied"] = legacy.Batch.N - 1
				insert["batch"] = batchDoc{N: legacy.Batch.N, Events: events}
			}
		}
		if _, err := r.parts.UpdateOne(ctx, bson.M{"_id": p}, bson.M{"$setOnInsert": insert},
			options.Update().SetUpsert(true)); err != nil && !isDuplicate(err) {
			return 0, fmt.Errorf("create projection partition %d: %w", p, err)
		}
	}
	r.count.Store(int64(count))
	return count, nil
}

// Pending returns up to limit pending events of partition part, in event
// order (At, then ID): one indexed query per event collection.
func (r *Projection) Pending(ctx context.Context, part, limit int) ([]domain.EventRecord, error) {
	return r.pending(ctx, bson.M{"part": part}, limit)
}

// pollLimit bounds how many pending events PendingParts looks at per event
// collection.
const pollLimit = 256

// PendingParts reports which of parts have pending events: one query per
// event collection, of the partition field only. Each partition it reports
// is one of them; a partition with fewer pending events than another's
// pollLimit may be missed once (its turn comes when the other's worker is
// busy, and the poll leaves busy partitions out).
func (r *Projection) PendingParts(ctx context.Context, parts []int) ([]int, error) {
	seen := map[int]bool{}
	var out []int
	for _, kind := range kinds {
		filter := bson.M{"billing": string(domain.BillingPending), "part": bson.M{"$in": parts}}
		if kind == domain.EventConversion {
			filter = bson.M{"todo": true, "part": bson.M{"$in": parts}}
		}
		cur, err := r.events[kind].Find(ctx, filter, options.Find().SetLimit(pollLimit).SetProjection(bson.M{"part": 1, "_id": 0}))
		if err != nil {
			return nil, fmt.Errorf("look for pending %s: %w", kind, err)
		}
		var docs []struct {
			Part int `bson:"part"`
		}
		if err := cur.All(ctx, &docs); err != nil {
			return nil, fmt.Errorf("decode pending %s: %w", kind, err)
		}
		for _, d := range docs {
			if !seen[d.Part] {
				seen[d.Part] = true
				out = append(out, d.Part)
			}
		}
	}
	return out, nil
}

// PendingAny returns up to limit pending events of any partition (or of
// none yet), in event order.
func (r *Projection) PendingAny(ctx context.Context, limit int) ([]domain.EventRecord, error) {
	return r.pending(ctx, bson.M{}, limit)
}

// strayLimit bounds how many events without a partition one AdoptStrays
// looks at per event collection.
const strayLimit = 1000

// AdoptStrays gives pending events stored without a partition (by a
// release before partitions, or before Setup) theirs: per event collection
// one query for them, then per campaign one updateMany of its events that
// have none. Racing processes write the same value. It returns how many
// campaigns it adopted events of.
func (r *Projection) AdoptStrays(ctx context.Context) (int, error) {
	count := int(r.count.Load())
	if count == 0 {
		return 0, nil
	}
	adopted := 0
	for _, kind := range kinds {
		filter := bson.M{"billing": string(domain.BillingPending), "part": bson.M{"$exists": false}}
		if kind == domain.EventConversion {
			filter = bson.M{"todo": true, "part": bson.M{"$exists": false}}
		}
		cur, err := r.events[kind].Find(ctx, filter, options.Find().SetLimit(strayLimit).SetProjection(bson.M{"campaignId": 1}))
		if err != nil {
			return adopted, fmt.Errorf("find %s without a partition: %w", kind, err)
		}
		var docs []struct {
			CampaignID primitive.ObjectID `bson:"campaignId"`
		}
		if err := cur.All(ctx, &docs); err != nil {
			return adopted, fmt.Errorf("decode %s without a partition: %w", kind, err)
		}
		seen := map[primitive.ObjectID]bool{}
		for _, d := range docs {
			if seen[d.CampaignID] {
				continue
			}
			seen[d.CampaignID] = true
			if _, err := r.events[kind].UpdateMany(ctx, bson.M{"campaignId": d.CampaignID, "part": bson.M{"$exists": false}},
				bson.M{"$set": bson.M{"part": domain.PartitionOf(d.CampaignID.Hex(), count)}}); err != nil {
				return adopted, fmt.Errorf("give %s their partition: %w", kind, err)
			}
			adopted++
		}
	}
	return adopted, nil
}

// Heartbeat says owner is alive until now+ttl: one upsert.
func (r *Projection) Heartbeat(ctx context.Context, owner string, now time.Time, ttl time.Duration) error {
	_, err := r.procs.UpdateOne(ctx, bson.M{"_id": owner},
		bson.M{"$set": bson.M{"until": now.UTC().Truncate(time.Millisecond).Add(ttl)}}, options.Update().SetUpsert(true))
	if err != nil && !isDuplicate(err) {
		return fmt.Errorf("projector heartbeat: %w", err)
	}
	return nil
}

// Live counts the processes alive at now (at least 1: the caller), and
// deletes those dead for long.
func (r *Projection) Live(ctx context.Context, now time.Time) (int, error) {
	cur, err := r.procs.Find(ctx, bson.M{})
	if err != nil {
		return 1, fmt.Errorf("read projector processes: %w", err)
	}
	var docs []struct {
		ID    string    `bson:"_id"`
		Until time.Time `bson:"until"`
	}
	if err := cur.All(ctx, &docs); err != nil {
		return 1, fmt.Errorf("decode projector processes: %w", err)
	}
	live, dead := 0, bson.A{}
	for _, d := range docs {
		switch {
		case !d.Until.Before(now):
			live++
		case now.Sub(d.Until) > time.Hour:
			dead = append(dead, d.ID)
		}
	}
	if len(dead) > 0 {
		if _, err := r.procs.DeleteMany(ctx, bson.M{"_id": bson.M{"$in": dead}}); err != nil {
			return max(live, 1), fmt.Errorf("forget dead projector processes: %w", err)
		}
	}
	return max(live, 1), nil
}

// Leave gives back every partition owner still holds and removes its
// heartbeat: the last thing a stopping projector does, once its workers
// have stopped (each released its own). A partition leased in the same
// look at the partitions as the stop, before its worker started, is
// released here rather than held until its lease ends.
func (r *Projection) Leave(ctx context.Context, owner string) error {
	if _, err := r.parts.UpdateMany(ctx, bson.M{"owner": owner},
		bson.M{"$set": bson.M{"owner": "", "leaseUntil": time.Unix(0, 0).UTC()}}); err != nil {
		return fmt.Errorf("projector leaves its partitions: %w", err)
	}
	if _, err := r.procs.DeleteMany(ctx, bson.M{"_id": owner}); err != nil {
		return fmt.Errorf("projector leaves: %w", err)
	}
	return nil
}

// Partitions is how many partitions Setup found (0 before it ran).
func (r *Projection) Partitions() int { return int(r.count.Load()) }
