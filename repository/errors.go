package repository

import (
	"errors"

	"github.com/256dpi/lungo"
	"go.mongodb.org/mongo-driver/bson/primitive"
	"go.mongodb.org/mongo-driver/mongo"

	"tally/domain"
)

// isDuplicate reports a unique index violation, from MongoDB (E11000) or the
// embedded engine.
func isDuplicate(err error) bool {
	return err != nil && (mongo.IsDuplicateKeyError(err) || lungo.IsUniquenessError(err))
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
