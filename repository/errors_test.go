package repository

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/256dpi/lungo"
	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"

	"tally/domain"
)

// The error shapes below are the ones the supported engines return, as the
// v1 driver decodes them: a write command's per-document errors become a
// WriteException (or BulkWriteException), findAndModify's and other
// commands' a CommandError.

func writeErr(code int, msg string) mongo.WriteException {
	return mongo.WriteException{WriteErrors: []mongo.WriteError{{Code: code, Message: msg}}}
}

func bulkErr(code int, msg string) mongo.BulkWriteException {
	return mongo.BulkWriteException{WriteErrors: []mongo.BulkWriteError{{WriteError: mongo.WriteError{Code: code, Message: msg}}}}
}

func cmdErr(code int32, name, msg string, labels ...string) mongo.CommandError {
	return mongo.CommandError{Code: code, Name: name, Message: msg, Labels: labels}
}

// embeddedDuplicate is a real uniqueness error of the embedded engine.
func embeddedDuplicate(t *testing.T) error {
	t.Helper()
	ctx := context.Background()
	client, engine, err := lungo.Open(ctx, lungo.Options{Store: lungo.NewMemoryStore()})
	if err != nil {
		t.Fatal(err)
	}
	defer engine.Close()
	c := client.Database("t").Collection("c")
	if _, err := c.Indexes().CreateOne(ctx, uniqueIndex("k_1", bson.D{{Key: "k", Value: 1}})); err != nil {
		t.Fatal(err)
	}
	if _, err := c.InsertOne(ctx, bson.M{"k": 1}); err != nil {
		t.Fatal(err)
	}
	_, err = c.InsertOne(ctx, bson.M{"k": 1})
	if err == nil {
		t.Fatal("the embedded engine accepted a duplicate key")
	}
	return err
}

func TestIsDuplicate(t *testing.T) {
	const pk = `duplicate key value violates unique constraint "collection_pk_26"`
	const excl = `conflicting key value violates exclusion constraint "documents_rum_index_101"`
	for name, err := range map[string]error{
		"MongoWriteException11000":     writeErr(11000, "E11000 duplicate key error collection: tally.clicks index: clickId_1"),
		"MongoWriteException11001":     writeErr(11001, "E11001 duplicate key on update"),
		"MongoWriteException12582":     writeErr(12582, "duplicate key insertDocument"),
		"MongoBulkWriteException11000": bulkErr(11000, "E11000 duplicate key error"),
		"MongoCommandError11000":       cmdErr(11000, "DuplicateKey", "E11000 duplicate key error collection: tally.clicks"),
		"MongoWrapped":                 fmt.Errorf("record click: %w", writeErr(11000, "E11000 duplicate key error")),
		"Embedded":                     embeddedDuplicate(t),
		"FerretPrimaryKeyCommand":      cmdErr(1, "InternalError", pk),
		"FerretPrimaryKeyWrite":        writeErr(1, pk),
		"FerretExclusionCommand":       cmdErr(1, "InternalError", excl),
		"FerretExclusionWrite":         writeErr(1, excl),
		"FerretExclusionBulk":          bulkErr(1, excl),
		"FerretWrapped":                fmt.Errorf("join campaign: %w", cmdErr(1, "InternalError", excl)),
	} {
		t.Run(name, func(t *testing.T) {
			if !isDuplicate(err) {
				t.Errorf("isDuplicate(%v) = false, want true", err)
			}
			if isTransient(err) {
				t.Errorf("isTransient(%v) = true: a lost race is retried by its caller, not as a conflict", err)
			}
		})
	}
	for name, err := range map[string]error{
		"Nil":                 nil,
		"NoDocuments":         mongo.ErrNoDocuments,
		"OtherInternalError":  cmdErr(1, "InternalError", "something else broke"),
		"ConstraintOtherCode": cmdErr(2, "BadValue", excl),
		"Deadlock":            cmdErr(1, "InternalError", "deadlock detected"),
		"Plain":               errors.New("boom"),
	} {
		t.Run("Not"+name, func(t *testing.T) {
			if isDuplicate(err) {
				t.Errorf("isDuplicate(%v) = true, want false", err)
			}
		})
	}
}

func TestIsTransient(t *testing.T) {
	for name, err := range map[string]error{
		"FerretDeadlockCommand":      cmdErr(1, "InternalError", "deadlock detected"),
		"FerretDeadlockWrite":        writeErr(1, "deadlock detected"),
		"FerretSerialization":        cmdErr(1, "InternalError", "could not serialize access due to concurrent update"),
		"WriteConflictCommand":       cmdErr(112, "WriteConflict", "WriteConflict error: this operation conflicted with another operation"),
		"WriteConflictWrite":         writeErr(112, "WriteConflict"),
		"WriteConflictBulk":          bulkErr(112, "WriteConflict"),
		"NotWritablePrimary":         cmdErr(10107, "NotWritablePrimary", "not primary"),
		"NotPrimaryNoSecondaryOk":    cmdErr(13435, "NotPrimaryNoSecondaryOk", "not primary and secondaryOk=false"),
		"PrimarySteppedDown":         cmdErr(189, "PrimarySteppedDown", "primary stepped down"),
		"InterruptedReplStateChange": cmdErr(11602, "InterruptedDueToReplStateChange", "operation was interrupted"),
		"TransientTransactionLabel":  cmdErr(251, "NoSuchTransaction", "x", "TransientTransactionError"),
		"RetryableWriteLabel":        cmdErr(0, "", "x", "RetryableWriteError"),
		"Wrapped":                    fmt.Errorf("record click: %w", cmdErr(1, "InternalError", "deadlock detected")),
	} {
		t.Run(name, func(t *testing.T) {
			if !isTransient(err) {
				t.Errorf("isTransient(%v) = false, want true", err)
			}
		})
	}
	for name, err := range map[string]error{
		"Nil":         nil,
		"Duplicate":   writeErr(11000, "E11000 duplicate key error"),
		"NoDocuments": mongo.ErrNoDocuments,
		// The write may have been applied: not run again by Tally.
		"NetworkError": cmdErr(0, "", "connection reset", "NetworkError", "RetryableWriteError"),
		"Plain":        errors.New("boom"),
		"BadValue":     cmdErr(2, "BadValue", "unknown operator"),
	} {
		t.Run("Not"+name, func(t *testing.T) {
			if isTransient(err) {
				t.Errorf("isTransient(%v) = true, want false", err)
			}
		})
	}
}

func TestRetryTransient(t *testing.T) {
	ctx := context.Background()
	deadlock := cmdErr(1, "InternalError", "deadlock detected")

	t.Run("PassesAfterConflicts", func(t *testing.T) {
		attempts := 0
		err := retryTransient(ctx, "update", func() error {
			if attempts++; attempts < transientAttempts {
				return deadlock
			}
			return nil
		})
		if err != nil || attempts != transientAttempts {
			t.Fatalf("err %v after %d attempts; want nil after %d", err, attempts, transientAttempts)
		}
	})
	t.Run("BoundedThenServiceUnavailable", func(t *testing.T) {
		attempts := 0
		err := retryTransient(ctx, "update", func() error { attempts++; return deadlock })
		if attempts != transientAttempts {
			t.Errorf("attempts: got %d, want %d", attempts, transientAttempts)
		}
		wrapped := fmt.Errorf("record click: %w", err)
		if got := domain.ErrorCode(wrapped); got != domain.EUNAVAILABLE {
			t.Errorf("code: got %q, want %q", got, domain.EUNAVAILABLE)
		}
		if !errors.As(err, new(mongo.CommandError)) {
			t.Errorf("the store's error left the chain: %v", err)
		}
	})
	t.Run("DuplicateIsTheCallers", func(t *testing.T) {
		attempts := 0
		dup := cmdErr(1, "InternalError", `conflicting key value violates exclusion constraint "documents_rum_index_3"`)
		err := retryTransient(ctx, "findAndModify", func() error { attempts++; return dup })
		if attempts != 1 || !isDuplicate(err) {
			t.Errorf("attempts %d, err %v; want the duplicate back after one attempt", attempts, err)
		}
	})
	t.Run("UnreachableIsServiceUnavailableAtOnce", func(t *testing.T) {
		attempts := 0
		err := retryTransient(ctx, "update", func() error {
			attempts++
			return cmdErr(0, "", "connection reset", "NetworkError", "RetryableWriteError")
		})
		if attempts != 1 || domain.ErrorCode(err) != domain.EUNAVAILABLE {
			t.Errorf("attempts %d, code %q; want 1 attempt and %s", attempts, domain.ErrorCode(err), domain.EUNAVAILABLE)
		}
	})
	t.Run("OtherErrorsUnchanged", func(t *testing.T) {
		boom := errors.New("boom")
		attempts := 0
		err := retryTransient(ctx, "find", func() error { attempts++; return boom })
		if attempts != 1 || err != boom {
			t.Errorf("attempts %d, err %v; want boom after 1", attempts, err)
		}
	})
}
