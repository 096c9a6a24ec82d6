package repository

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/256dpi/lungo"
	"go.mongodb.org/mongo-driver/bson/primitive"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/x/mongo/driver/topology"

	"tally/domain"
)

// This file is the one place that knows how the supported engines (MongoDB
// 6.0+, FerretDB 2.x on PostgreSQL with DocumentDB, and the embedded lungo
// engine) report the same situations differently. Everything else in the
// package asks isDuplicate or goes through the collection wrapper, which
// retries transient conflicts (see retryTransient).

// FerretDB reports a unique index violation as InternalError (code 1) with
// PostgreSQL's text instead of DuplicateKey 11000: a colliding _id violates
// the collection's primary key ("collection_pk_N"), a colliding secondary
// unique key violates an exclusion constraint ("documents_rum_index_N").
const ferretInternalError = 1

var ferretDuplicateMessages = []string{
	"duplicate key value violates unique constraint",
	"conflicting key value violates exclusion constraint",
}

// isDuplicate reports a unique index violation in every shape the supported
// engines give it: MongoDB's 11000, 11001 and 12582 as a WriteException,
// BulkWriteException or CommandError (mongo.IsDuplicateKeyError); the
// embedded engine's plain error (lungo.IsUniquenessError); FerretDB's
// InternalError code 1 with PostgreSQL's unique or exclusion constraint text.
func isDuplicate(err error) bool {
	if err == nil {
		return false
	}
	if mongo.IsDuplicateKeyError(err) || lungo.IsUniquenessError(err) {
		return true
	}
	var se mongo.ServerError
	if errors.As(err, &se) {
		for _, msg := range ferretDuplicateMessages {
			if se.HasErrorCodeWithMessage(ferretInternalError, msg) {
				return true
			}
		}
	}
	return false
}

// Server error codes of a conflict that did not apply the operation and
// passes: MongoDB's write conflict and the replica set's primary changing
// hands (not writable, stepped down, interrupted by the state change,
// shutting down).
var transientCodes = []int{
	112,   // WriteConflict
	189,   // PrimarySteppedDown
	91,    // ShutdownInProgress
	10107, // NotWritablePrimary
	11600, // InterruptedAtShutdown
	11602, // InterruptedDueToReplStateChange
	13435, // NotPrimaryNoSecondaryOk
	13436, // NotPrimaryOrSecondary
}

// Error labels the server sets on an operation worth running again.
var transientLabels = []string{"TransientTransactionError", "RetryableWriteError"}

// PostgreSQL's words (through FerretDB, as InternalError) for a transaction
// it aborted, applying nothing: a deadlock between two concurrent upserts, a
// serialization failure.
var transientMessages = []string{"deadlock detected", "could not serialize access"}

// isTransient reports a conflict the server answered with and that applied
// nothing, so that running the same operation again is safe and will likely
// succeed. A network error is not transient in this sense: whether the write
// was applied is unknown (the driver already retried it once where that is
// safe), so it is never retried here; see isUnreachable.
func isTransient(err error) bool {
	if err == nil || isUnreachable(err) || isDuplicate(err) {
		return false
	}
	var se mongo.ServerError
	if errors.As(err, &se) {
		for _, code := range transientCodes {
			if se.HasErrorCode(code) {
				return true
			}
		}
		for _, label := range transientLabels {
			if se.HasErrorLabel(label) {
				return true
			}
		}
	}
	msg := err.Error()
	for _, m := range transientMessages {
		if strings.Contains(msg, m) {
			return true
		}
	}
	return false
}

// isUnreachable reports that the store could not be reached or did not
// answer: a network error or no server to select. (A client this process
// closed itself is not: that is a bug, and stays internal.)
func isUnreachable(err error) bool {
	return mongo.IsNetworkError(err) || errors.As(err, new(topology.ServerSelectionError))
}

// Retry bounds for transient conflicts: up to transientAttempts tries in
// all, waiting 10, 20, 40, 80, 160 ms plus up to as much again of jitter
// between them, so a request spends at most ~620 ms waiting (plus the
// attempts themselves: PostgreSQL takes its deadlock_timeout, 1 s, to
// detect a deadlock) before it is told to come back. Measured on FerretDB
// with 120 racing upserts on 10 keys, 4 tries of 5 ms upwards were not
// always enough; the jitter spreads the racers apart.
const (
	transientAttempts = 6
	transientBackoff  = 10 * time.Millisecond
)

// errUnavailable is the coded error a caller gets once transient conflicts
// outlast the retries, or the store cannot be reached: SERVICE_UNAVAILABLE,
// which the transports map to 503 / extensions.code. The store's own error
// stays in the chain for logs.
func errUnavailable(op string, attempts int, err error) error {
	return fmt.Errorf("%w (%s, %d attempts: %w)",
		domain.Errorf(domain.EUNAVAILABLE, "The store is busy or unreachable; try again shortly."), op, attempts, err)
}

// retryTransient runs do until it succeeds, fails with an error that is not
// transient, or transientAttempts tries have all met a transient conflict.
// A transient error that outlasts the bound, and an unreachable store,
// become SERVICE_UNAVAILABLE; any other error is returned as it is (a
// duplicate key is the caller's to handle).
func retryTransient(ctx context.Context, op string, do func() error) error {
	var err error
	for attempt := 1; ; attempt++ {
		err = do()
		switch {
		case err == nil:
			return nil
		case isUnreachable(err):
			return errUnavailable(op, attempt, err)
		case !isTransient(err):
			return err
		case attempt == transientAttempts:
			return errUnavailable(op, attempt, err)
		}
		if !backoff(ctx, attempt) {
			return errUnavailable(op, attempt, err)
		}
	}
}

// backoff waits before attempt+1: transientBackoff doubled per attempt, plus
// up to as much again of jitter. It reports false when ctx ended first.
func backoff(ctx context.Context, attempt int) bool {
	wait := transientBackoff << (attempt - 1)
	wait += rand.N(wait)
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// isNoDocuments reports that a single-document read found nothing.
func isNoDocuments(err error) bool { return errors.Is(err, mongo.ErrNoDocuments) }

// objectID parses a domain id; a malformed one cannot name anything, so it is
// NOT_FOUND with the kind of thing asked for.
func objectID(id, kind string) (primitive.ObjectID, error) {
	oid, err := primitive.ObjectIDFromHex(id)
	if err != nil {
		return primitive.NilObjectID, domain.Errorf(domain.ENOTFOUND, "%s %q not found", kind, id)
	}
	return oid, nil
}

// objectIDs parses many ids, skipping malformed ones (they match nothing).
func objectIDs(ids []string) []primitive.ObjectID {
	out := make([]primitive.ObjectID, 0, len(ids))
	for _, id := range ids {
		if oid, err := primitive.ObjectIDFromHex(id); err == nil {
			out = append(out, oid)
		}
	}
	return out
}
