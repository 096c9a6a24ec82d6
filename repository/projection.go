package repository

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/primitive"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"

	"tally/domain"
)

// The projector's store access (see package projection). Every update here
// is guarded by the batch number it applies, so a replay of a batch — after
// a crash, a timeout, or by a second process — changes nothing:
//
//   - a counter document (campaign, participation, daily bucket) carries
//     projBatch, the last batch applied to it, and an update for batch N only
//     matches while projBatch < N;
//   - a campaign also keeps projUnbilled, the events of its last batch it
//     could not bill, so a replay decides exactly as the first run did;
//   - an event is marked with its billing and batch only while it is pending.
//
// No update spans two documents and none needs a transaction.
//
// By concern: projection_batches.go (a partition's state document: lease,
// batch start and finish), projection_partitions.go (setting partitions up,
// the processes' heartbeats, events without a partition), projection_events.go (reading pending events),
// projection_ledgers.go (campaigns: budget, spend, what a batch did not
// bill), projection_counters.go (participations and daily buckets, and
// verify's read and repair of every counter), projection_filters.go (the
// click filter's state), projection_marks.go (the events' billing, the
// conversions' steps, implied conversions, the outbox).

const projectorCollection = "projector"

// projectorID is the _id of the state document from before partitions,
// which now records how many partitions there are (see Setup).
const projectorID = "projector"

// notApplied matches a counter document that batch n has not yet reached,
// including documents older than the projector (no projBatch).
func notApplied(n int64) bson.M { return bson.M{"$not": bson.M{"$gte": n}} }

// guard is the one rule of every write a batch makes to a counter document:
// it adds to the write's filter the condition that batch n of partition
// part has not reached the document, and to its $set the mark that it now
// has, so that a replay of the batch (after a crash, a timeout, or by
// another process) changes nothing.
//
// A document that belongs to one campaign (a campaign, a participation,
// their daily buckets and cap counters, a click filter's key, and any new
// one keyed under a campaign: a ledger entry, a report bucket, an alert) is
// written by its campaign's partition only, whose batches are numbered in
// order: it keeps one mark, projBatch (shared false). A document that
// gathers several campaigns (a streamer's daily bucket: shared true) is
// written by several partitions at once, each numbering its own batches:
// it keeps one mark per partition, projBatches.p<part>, beside projBatch,
// its mark from before partitions, which every batch since is above (the
// one batch split by Setup is guarded by it too). part is oneCampaign for
// a document of one campaign, the batch's partition for a shared one.
func guard(filter, set bson.M, n int64, part int) {
	filter["projBatch"] = notApplied(n)
	if part == oneCampaign {
		set["projBatch"] = n
		return
	}
	f := sharedMark(part)
	filter[f] = notApplied(n)
	set[f] = n
}

// oneCampaign is guard's part for a document that belongs to one campaign.
const oneCampaign = -1

// sharedMark is the field of partition part's mark on a shared document.
func sharedMark(part int) string { return fmt.Sprintf("projBatches.p%d", part) }

// Projection is the projector's view of the store: the event collections,
// the counter documents and the projector's state document.
type Projection struct {
	events         map[domain.EventKind]*collection
	campaigns      *collection
	participations *collection
	daily          *collection
	state          *collection
	filters        *collection
	capSpend       *collection
	alerts         *collection
	earnings       *collection
	releaseCounts  *collection
	payouts        *collection
	quarters       *collection
	subs           *collection
	outbox         *Outbox
	parts          *collection // the partitions' state documents
	procs          *collection // the projecting processes' heartbeats
	count          *atomic.Int64
}

// NewProjection returns the projection repository of s.
func NewProjection(s *Store) *Projection {
	return &Projection{
		events: map[domain.EventKind]*collection{
			domain.EventImpression: s.projectorCollection(impressionsCollection),
			domain.EventClick:      s.projectorCollection(clicksCollection),
			domain.EventConversion: s.projectorCollection(conversionsCollection),
		},
		campaigns:      s.projectorCollection(campaignsCollection),
		participations: s.projectorCollection(participationsCollection),
		daily:          s.projectorCollection(dailyStatsCollection),
		state:          s.projectorCollection(projectorCollection),
		filters:        s.projectorCollection(clickFiltersCollection),
		capSpend:       s.projectorCollection(capSpendCollection),
		alerts:         s.projectorCollection(alertsCollection),
		earnings:       s.projectorCollection(earningsCollection),
		releaseCounts:  s.projectorCollection(releaseCountsCollection),
		payouts:        s.projectorCollection(payoutsCollection),
		quarters:       s.projectorCollection(reportBucketsCollection),
		subs:           s.projectorCollection(reportSubsCollection),
		outbox:         newProjectorOutbox(s),
		parts:          s.projectorCollection(partitionsCollection),
		procs:          s.projectorCollection(processesCollection),
		count:          &s.parts,
	}
}

// guardedUpserts runs upserts guarded by a batch (see ApplyBuckets) as one
// unordered bulk, where a duplicate key means "already applied". Engines
// differ in how a bulk reports a failed upsert, so on any other error it
// applies them one by one and judges each error alone.
func guardedUpserts(ctx context.Context, c *collection, models []mongo.WriteModel) error {
	_, err := c.BulkWrite(ctx, models, options.BulkWrite().SetOrdered(false))
	if err == nil || onlyDuplicates(err) {
		return nil
	}
	for _, m := range models {
		u := m.(*mongo.UpdateOneModel)
		if _, err := c.UpdateOne(ctx, u.Filter, u.Update, options.Update().SetUpsert(true)); err != nil && !isDuplicate(err) {
			return err
		}
	}
	return nil
}

// onlyDuplicates reports a bulk write whose every failure is a duplicate key.
func onlyDuplicates(err error) bool {
	var bwe mongo.BulkWriteException
	if !errors.As(err, &bwe) || len(bwe.WriteErrors) == 0 || bwe.WriteConcernError != nil {
		return false
	}
	for _, we := range bwe.WriteErrors {
		if !isDuplicate(mongo.WriteException{WriteErrors: mongo.WriteErrors{we.WriteError}}) {
			return false
		}
	}
	return true
}

// parseObjectIDs parses hex ids; a malformed one is an error.
func parseObjectIDs(ids []string) ([]primitive.ObjectID, error) {
	out := make([]primitive.ObjectID, len(ids))
	for i, id := range ids {
		oid, err := primitive.ObjectIDFromHex(id)
		if err != nil {
			return nil, fmt.Errorf("malformed id %q", id)
		}
		out[i] = oid
	}
	return out, nil
}
