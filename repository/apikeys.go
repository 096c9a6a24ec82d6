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

const apiKeysCollection = "api_keys"

// apiKeyIndexes: a key is found by the hash of what the partner sends.
func apiKeyIndexes() []indexModel {
	return []indexModel{
		uniqueIndex("hash_1", bson.D{{Key: "hash", Value: 1}}),
		plainIndex("ownerId_1__id_-1", bson.D{{Key: "ownerId", Value: 1}, {Key: "_id", Value: -1}}),
	}
}

// APIKeys is the api_keys collection.
type APIKeys struct {
	c *collection
}

// NewAPIKeys returns the API keys repository of s.
func NewAPIKeys(s *Store) *APIKeys { return &APIKeys{c: s.collection(apiKeysCollection)} }

type apiKeyDoc struct {
	ID         primitive.ObjectID `bson:"_id"`
	Name       string             `bson:"name"`
	Hash       string             `bson:"hash"`
	OwnerID    primitive.ObjectID `bson:"ownerId"`
	OwnerRole  string             `bson:"ownerRole"`
	Scopes     []string           `bson:"scopes"`
	CreatedAt  time.Time          `bson:"createdAt"`
	LastUsedAt *time.Time         `bson:"lastUsedAt,omitempty"`
	RevokedAt  *time.Time         `bson:"revokedAt,omitempty"`
}

func (d *apiKeyDoc) toDomain() domain.APIKey {
	k := domain.APIKey{ID: d.ID.Hex(), Name: d.Name, OwnerID: d.OwnerID.Hex(), CreatedAt: d.CreatedAt.UTC(),
		LastUsedAt: utcPtr(d.LastUsedAt), RevokedAt: utcPtr(d.RevokedAt)}
	k.OwnerRole, _ = domain.ParseRole(d.OwnerRole)
	for _, s := range d.Scopes {
		k.Scopes = append(k.Scopes, domain.Scope(s))
	}
	return k
}

// Create stores a key by its hash.
func (r *APIKeys) Create(ctx context.Context, k domain.APIKey, hash string) (domain.APIKey, error) {
	owner, err := objectID(k.OwnerID, "user")
	if err != nil {
		return domain.APIKey{}, err
	}
	doc := apiKeyDoc{ID: primitive.NewObjectID(), Name: k.Name, Hash: hash, OwnerID: owner, OwnerRole: string(k.OwnerRole),
		CreatedAt: k.CreatedAt.UTC().Truncate(time.Millisecond)}
	for _, s := range k.Scopes {
		doc.Scopes = append(doc.Scopes, string(s))
	}
	if _, err := r.c.InsertOne(ctx, doc); err != nil {
		return domain.APIKey{}, fmt.Errorf("insert api key: %w", err)
	}
	return doc.toDomain(), nil
}

// Use finds the live key with hash and stamps lastUsedAt, in one store call;
// NOT_FOUND for an unknown or revoked key.
func (r *APIKeys) Use(ctx context.Context, hash string, now time.Time) (domain.APIKey, error) {
	var doc apiKeyDoc
	err := r.c.FindOneAndUpdate(ctx, bson.M{"hash": hash, "revokedAt": bson.M{"$exists": false}},
		bson.M{"$set": bson.M{"lastUsedAt": now.UTC().Truncate(time.Millisecond)}},
		options.FindOneAndUpdate().SetReturnDocument(options.After)).Decode(&doc)
	if isNoDocuments(err) {
		return domain.APIKey{}, domain.Errorf(domain.ENOTFOUND, "unknown or revoked API key")
	}
	if err != nil {
		return domain.APIKey{}, fmt.Errorf("use api key: %w", err)
	}
	return doc.toDomain(), nil
}

// ByID returns one key; NOT_FOUND when there is none.
func (r *APIKeys) ByID(ctx context.Context, id string) (domain.APIKey, error) {
	oid, err := objectID(id, "API key")
	if err != nil {
		return domain.APIKey{}, err
	}
	var doc apiKeyDoc
	err = r.c.FindOne(ctx, bson.M{"_id": oid}).Decode(&doc)
	if isNoDocuments(err) {
		return domain.APIKey{}, domain.Errorf(domain.ENOTFOUND, "API key %q not found", id)
	}
	if err != nil {
		return domain.APIKey{}, fmt.Errorf("find api key: %w", err)
	}
	return doc.toDomain(), nil
}

// Revoke marks a key revoked; it stops working at once. Revoking twice keeps
// the first time.
func (r *APIKeys) Revoke(ctx context.Context, id string, now time.Time) (domain.APIKey, error) {
	oid, err := objectID(id, "API key")
	if err != nil {
		return domain.APIKey{}, err
	}
	if _, err := r.c.UpdateOne(ctx, bson.M{"_id": oid, "revokedAt": bson.M{"$exists": false}},
		bson.M{"$set": bson.M{"revokedAt": now.UTC().Truncate(time.Millisecond)}}); err != nil {
		return domain.APIKey{}, fmt.Errorf("revoke api key: %w", err)
	}
	return r.ByID(ctx, id)
}
