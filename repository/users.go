package repository

import (
	"context"
	"fmt"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/primitive"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"

	"tally/domain"
)

const usersCollection = "users"

// userIndexes: sign-up and log-in look users up by their normalized email, and
// the unique index is what makes a taken email a CONFLICT even when two
// sign-ups race.
func userIndexes() []mongo.IndexModel {
	return []mongo.IndexModel{
		{Keys: bson.D{{Key: "email", Value: 1}}, Options: options.Index().SetName("email_1").SetUnique(true)},
	}
}

// Users is the users collection.
type Users struct {
	c     *collection
	cache *userCache // users by id on the embedded store; nil on MongoDB
}

// NewUsers returns the users repository of s.
func NewUsers(s *Store) *Users {
	return &Users{c: s.collection(usersCollection), cache: s.users}
}

// userDoc is a user as stored. Every field the old system may have left out
// is optional here and defaulted in toDomain (the `me` lesson: never a null
// for a non-null API field because a document is older than the schema).
type userDoc struct {
	ID           primitive.ObjectID `bson:"_id"`
	Email        string             `bson:"email"`
	PasswordHash string             `bson:"passwordHash,omitempty"`
	DisplayName  string             `bson:"displayName,omitempty"`
	Role         string             `bson:"role,omitempty"`
	CreatedAt    time.Time          `bson:"createdAt,omitempty"`
	Strategy     string             `bson:"campaignSelectionStrategy,omitempty"`
	Rotation     *rotationDoc       `bson:"campaignRotationSettings,omitempty"`
	// SessionVersion is absent (0) until the user first logs out or
	// changes their password.
	SessionVersion int `bson:"sessionVersion,omitempty"`
}

type rotationDoc struct {
	PreferredStrategy       string        `bson:"preferredStrategy,omitempty"`
	RotationIntervalMinutes int           `bson:"rotationIntervalMinutes,omitempty"`
	PriorityWeights         *weightsDoc   `bson:"priorityWeights,omitempty"`
	BlackoutPeriods         []blackoutDoc `bson:"blackoutPeriods"`
}

type weightsDoc struct {
	PaymentRate float64 `bson:"paymentRate"`
	Performance float64 `bson:"performance"`
	Fairness    float64 `bson:"fairness"`
}

type blackoutDoc struct {
	// Old documents hold day names in any case or numbers 0 (Sunday) to 6.
	DaysOfWeek []any  `bson:"daysOfWeek"`
	StartTime  string `bson:"startTime"`
	EndTime    string `bson:"endTime"`
	Timezone   string `bson:"timezone,omitempty"`
	Reason     string `bson:"reason,omitempty"`
}

func (d *userDoc) toDomain() domain.User {
	u := domain.User{
		ID:          d.ID.Hex(),
		Email:       d.Email,
		DisplayName: d.DisplayName,
		Role:        domain.RoleStreamer,
		CreatedAt:   d.CreatedAt.UTC(),

		SessionVersion: d.SessionVersion,
	}
	if r, ok := domain.ParseRole(d.Role); ok {
		u.Role = r
	}
	if u.DisplayName == "" {
		u.DisplayName, _, _ = strings.Cut(d.Email, "@")
	}
	if u.CreatedAt.IsZero() {
		u.CreatedAt = d.ID.Timestamp().UTC()
	}
	settings := domain.DefaultRotationSettings()
	if rd := d.Rotation; rd != nil {
		if s, ok := domain.ParseStrategy(rd.PreferredStrategy); ok {
			settings.PreferredStrategy = s
		}
		if rd.RotationIntervalMinutes > 0 {
			settings.RotationIntervalMinutes = rd.RotationIntervalMinutes
		}
		if w := rd.PriorityWeights; w != nil {
			settings.PriorityWeights = domain.PriorityWeights{PaymentRate: w.PaymentRate, Performance: w.Performance, Fairness: w.Fairness}
		}
		for _, b := range rd.BlackoutPeriods {
			settings.BlackoutPeriods = append(settings.BlackoutPeriods, b.toDomain())
		}
	}
	u.CampaignSelectionStrategy = settings.PreferredStrategy
	if s, ok := domain.ParseStrategy(d.Strategy); ok {
		u.CampaignSelectionStrategy = s
		if d.Rotation == nil || d.Rotation.PreferredStrategy == "" {
			settings.PreferredStrategy = s
		}
	}
	u.CampaignRotationSettings = settings
	return u
}

func (b blackoutDoc) toDomain() domain.BlackoutPeriod {
	p := domain.BlackoutPeriod{StartTime: b.StartTime, EndTime: b.EndTime, Timezone: b.Timezone, Reason: b.Reason}
	if p.Timezone == "" {
		p.Timezone = "UTC"
	}
	p.DaysOfWeek = []domain.Weekday{}
	for _, v := range b.DaysOfWeek {
		switch day := v.(type) {
		case string:
			if d, ok := domain.ParseWeekday(day); ok {
				p.DaysOfWeek = append(p.DaysOfWeek, d)
			}
		case int32:
			p.DaysOfWeek = append(p.DaysOfWeek, domain.WeekdayOf(time.Weekday(((day%7)+7)%7)))
		case int64:
			p.DaysOfWeek = append(p.DaysOfWeek, domain.WeekdayOf(time.Weekday(((day%7)+7)%7)))
		case float64:
			p.DaysOfWeek = append(p.DaysOfWeek, domain.WeekdayOf(time.Weekday(((int(day)%7)+7)%7)))
		}
	}
	return p
}

func blackoutDocs(periods []domain.BlackoutPeriod) []blackoutDoc {
	out := make([]blackoutDoc, 0, len(periods))
	for _, p := range periods {
		days := make([]any, len(p.DaysOfWeek))
		for i, d := range p.DaysOfWeek {
			days[i] = string(d)
		}
		out = append(out, blackoutDoc{DaysOfWeek: days, StartTime: p.StartTime, EndTime: p.EndTime, Timezone: p.Timezone, Reason: p.Reason})
	}
	return out
}

// NewUser is what Create stores.
type NewUser struct {
	Email        string // already normalized
	PasswordHash string
	DisplayName  string
	Role         domain.Role
	CreatedAt    time.Time
}

// Create inserts a user with the default selection settings. A taken email is
// CONFLICT, decided by the unique index, never by a prior read.
func (r *Users) Create(ctx context.Context, in NewUser) (domain.User, error) {
	def := domain.DefaultRotationSettings()
	doc := userDoc{
		ID:           primitive.NewObjectID(),
		Email:        in.Email,
		PasswordHash: in.PasswordHash,
		DisplayName:  in.DisplayName,
		Role:         string(in.Role),
		CreatedAt:    in.CreatedAt.UTC().Truncate(time.Millisecond),
		Strategy:     string(def.PreferredStrategy),
		Rotation: &rotationDoc{
			PreferredStrategy:       string(def.PreferredStrategy),
			RotationIntervalMinutes: def.RotationIntervalMinutes,
			PriorityWeights:         &weightsDoc{def.PriorityWeights.PaymentRate, def.PriorityWeights.Performance, def.PriorityWeights.Fairness},
			BlackoutPeriods:         []blackoutDoc{},
		},
	}
	if _, err := r.c.InsertOne(ctx, doc); err != nil {
		if isDuplicate(err) {
			return domain.User{}, domain.Errorf(domain.ECONFLICT, "an account with this email already exists")
		}
		return domain.User{}, fmt.Errorf("insert user: %w", err)
	}
	return doc.toDomain(), nil
}

// Credentials returns the user with a normalized email and their password
// hash; NOT_FOUND when there is none.
func (r *Users) Credentials(ctx context.Context, email string) (domain.User, string, error) {
	var doc userDoc
	err := r.c.FindOne(ctx, bson.M{"email": email}).Decode(&doc)
	if isNoDocuments(err) {
		return domain.User{}, "", domain.Errorf(domain.ENOTFOUND, "user not found")
	}
	if err != nil {
		return domain.User{}, "", fmt.Errorf("find user by email: %w", err)
	}
	return doc.toDomain(), doc.PasswordHash, nil
}

// ByID returns one user; NOT_FOUND when there is none.
func (r *Users) ByID(ctx context.Context, id string) (domain.User, error) {
	oid, err := objectID(id, "user")
	if err != nil {
		return domain.User{}, err
	}
	if u, ok := r.cache.get(oid.Hex()); ok {
		return u, nil
	}
	var gen uint64
	if r.cache != nil {
		gen = r.cache.gen.Load()
	}
	var doc userDoc
	err = r.c.FindOne(ctx, bson.M{"_id": oid}).Decode(&doc)
	if isNoDocuments(err) {
		return domain.User{}, domain.Errorf(domain.ENOTFOUND, "user %q not found", id)
	}
	if err != nil {
		return domain.User{}, fmt.Errorf("find user: %w", err)
	}
	u := doc.toDomain()
	r.cache.put(gen, u)
	return u, nil
}

// ByIDs returns the users with the given ids in one query, keyed by id;
// missing ids are absent from the map.
func (r *Users) ByIDs(ctx context.Context, ids []string) (map[string]domain.User, error) {
	cur, err := r.c.Find(ctx, bson.M{"_id": bson.M{"$in": objectIDs(ids)}})
	if err != nil {
		return nil, fmt.Errorf("find users: %w", err)
	}
	var docs []userDoc
	if err := cur.All(ctx, &docs); err != nil {
		return nil, fmt.Errorf("decode users: %w", err)
	}
	out := make(map[string]domain.User, len(docs))
	for i := range docs {
		u := docs[i].toDomain()
		out[u.ID] = u
	}
	return out, nil
}

// UpdateSelectionSettings applies a validated partial update with one atomic
// $set of exactly the given paths and returns the user as it is afterwards.
// The strategy is written to both campaignSelectionStrategy and
// campaignRotationSettings.preferredStrategy.
func (r *Users) UpdateSelectionSettings(ctx context.Context, id string, u domain.SelectionSettingsUpdate) (domain.User, error) {
	oid, err := objectID(id, "user")
	if err != nil {
		return domain.User{}, err
	}
	set := bson.D{}
	if u.Strategy != nil {
		set = append(set,
			bson.E{Key: "campaignSelectionStrategy", Value: string(*u.Strategy)},
			bson.E{Key: "campaignRotationSettings.preferredStrategy", Value: string(*u.Strategy)})
	}
	if u.RotationIntervalMinutes != nil {
		set = append(set, bson.E{Key: "campaignRotationSettings.rotationIntervalMinutes", Value: *u.RotationIntervalMinutes})
	}
	if w := u.PriorityWeights; w != nil {
		set = append(set, bson.E{Key: "campaignRotationSettings.priorityWeights", Value: weightsDoc{w.PaymentRate, w.Performance, w.Fairness}})
	}
	if u.BlackoutPeriods != nil {
		set = append(set, bson.E{Key: "campaignRotationSettings.blackoutPeriods", Value: blackoutDocs(u.BlackoutPeriods)})
	}
	if len(set) == 0 {
		return r.ByID(ctx, id)
	}
	r.cache.writing()
	defer r.cache.done(oid.Hex())
	update := func() (userDoc, error) {
		var doc userDoc
		err := r.c.FindOneAndUpdate(ctx, bson.M{"_id": oid}, bson.M{"$set": set},
			options.FindOneAndUpdate().SetReturnDocument(options.After)).Decode(&doc)
		return doc, err
	}
	doc, err := update()
	if err != nil && !isNoDocuments(err) {
		// An old document may hold campaignRotationSettings: null, under which
		// no dotted path can be set. Turn the null into an empty document (a
		// guarded, idempotent write) and try once more.
		if _, rerr := r.c.UpdateOne(ctx, bson.M{"_id": oid, "campaignRotationSettings": bson.M{"$type": "null"}},
			bson.M{"$set": bson.M{"campaignRotationSettings": bson.M{}}}); rerr == nil {
			doc, err = update()
		}
	}
	if isNoDocuments(err) {
		return domain.User{}, domain.Errorf(domain.ENOTFOUND, "user %q not found", id)
	}
	if err != nil {
		return domain.User{}, fmt.Errorf("update selection settings: %w", err)
	}
	return doc.toDomain(), nil
}

// SetRole changes the role of the user with a normalized email; NOT_FOUND when
// there is none. The make-admin server command uses it.
func (r *Users) SetRole(ctx context.Context, email string, role domain.Role) (domain.User, error) {
	r.cache.writing()
	defer r.cache.done("") // keyed by email: drop them all (an admin command, rare)
	var doc userDoc
	err := r.c.FindOneAndUpdate(ctx, bson.M{"email": email}, bson.M{"$set": bson.M{"role": string(role)}},
		options.FindOneAndUpdate().SetReturnDocument(options.After)).Decode(&doc)
	if isNoDocuments(err) {
		return domain.User{}, domain.Errorf(domain.ENOTFOUND, "no user with email %q", email)
	}
	if err != nil {
		return domain.User{}, fmt.Errorf("set role: %w", err)
	}
	return doc.toDomain(), nil
}

// CredentialsByID returns the user with id and their password hash;
// NOT_FOUND when there is none.
func (r *Users) CredentialsByID(ctx context.Context, id string) (domain.User, string, error) {
	oid, err := objectID(id, "user")
	if err != nil {
		return domain.User{}, "", err
	}
	var doc userDoc
	err = r.c.FindOne(ctx, bson.M{"_id": oid}).Decode(&doc)
	if isNoDocuments(err) {
		return domain.User{}, "", domain.Errorf(domain.ENOTFOUND, "user %q not found", id)
	}
	if err != nil {
		return domain.User{}, "", fmt.Errorf("find user: %w", err)
	}
	return doc.toDomain(), doc.PasswordHash, nil
}

// EndSessions raises the user's session version in one atomic $inc, so that
// every token issued before stops working, and returns the user as it is
// afterwards; NOT_FOUND when there is none.
func (r *Users) EndSessions(ctx context.Context, id string) (domain.User, error) {
	return r.bumpSessions(ctx, id, nil)
}

// SetPassword stores a new password hash and raises the session version in
// the same atomic update; NOT_FOUND when there is no such user.
func (r *Users) SetPassword(ctx context.Context, id, hash string) (domain.User, error) {
	return r.bumpSessions(ctx, id, bson.M{"passwordHash": hash})
}

func (r *Users) bumpSessions(ctx context.Context, id string, set bson.M) (domain.User, error) {
	oid, err := objectID(id, "user")
	if err != nil {
		return domain.User{}, err
	}
	r.cache.writing()
	defer r.cache.done(oid.Hex())
	update := bson.M{"$inc": bson.M{"sessionVersion": 1}}
	if len(set) > 0 {
		update["$set"] = set
	}
	var doc userDoc
	err = r.c.FindOneAndUpdate(ctx, bson.M{"_id": oid}, update,
		options.FindOneAndUpdate().SetReturnDocument(options.After)).Decode(&doc)
	if isNoDocuments(err) {
		return domain.User{}, domain.Errorf(domain.ENOTFOUND, "user %q not found", id)
	}
	if err != nil {
		return domain.User{}, fmt.Errorf("end sessions: %w", err)
	}
	return doc.toDomain(), nil
}
