package repository

import (
	"context"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/primitive"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"

	"tally/domain"
)

const participationsCollection = "participations"

// participationIndexes:
//   - one participation per campaign × streamer: the arbiter of concurrent
//     joins;
//   - browserSourceToken is unique among documents that have one: a partial
//     index, so the many old participations without a token never collide on
//     null (the old system's E11000 on browserSourceToken_1);
//   - a streamer's and a campaign's participations, newest first.
func participationIndexes() []mongo.IndexModel {
	return []mongo.IndexModel{
		{Keys: bson.D{{Key: "campaignId", Value: 1}, {Key: "streamerId", Value: 1}},
			Options: options.Index().SetName("campaignId_1_streamerId_1").SetUnique(true)},
		{Keys: bson.D{{Key: "browserSourceToken", Value: 1}},
			Options: options.Index().SetName("browserSourceToken_partial").SetUnique(true).
				SetPartialFilterExpression(bson.M{"browserSourceToken": bson.M{"$type": "string"}})},
		{Keys: bson.D{{Key: "streamerId", Value: 1}, {Key: "_id", Value: -1}}, Options: options.Index().SetName("streamerId_1__id_-1")},
		{Keys: bson.D{{Key: "campaignId", Value: 1}, {Key: "_id", Value: -1}}, Options: options.Index().SetName("campaignId_1__id_-1")},
	}
}

// Participations is the participations collection.
type Participations struct {
	c *collection
}

// NewParticipations returns the participations repository of s.
func NewParticipations(s *Store) *Participations {
	return &Participations{c: s.collection(participationsCollection)}
}

// tokenAttempts bounds how often a token is regenerated after a collision. A
// collision of 32 random bytes does not happen; the bound keeps a broken
// generator from looping forever.
const tokenAttempts = 5

type participationDoc struct {
	ID                 primitive.ObjectID `bson:"_id"`
	CampaignID         primitive.ObjectID `bson:"campaignId"`
	StreamerID         primitive.ObjectID `bson:"streamerId"`
	Status             string             `bson:"status"`
	BrowserSourceToken *string            `bson:"browserSourceToken,omitempty"`
	Stats              statsDoc           `bson:"stats"`
	Caps               capsDoc            `bson:"caps,omitempty"`
	JoinedAt           time.Time          `bson:"joinedAt"`
	LeftAt             *time.Time         `bson:"leftAt,omitempty"`
	LastShownAt        *time.Time         `bson:"lastShownAt,omitempty"`
}

func (d *participationDoc) toDomain() domain.Participation {
	p := domain.Participation{
		ID: d.ID.Hex(), CampaignID: d.CampaignID.Hex(), StreamerID: d.StreamerID.Hex(),
		Status: domain.ParseParticipationStatus(d.Status),
		Stats: domain.ParticipationStats{Impressions: d.Stats.Impressions, Clicks: d.Stats.Clicks, InvalidClicks: d.Stats.InvalidClicks,
			Conversions: d.Stats.Conversions, NotBilled: d.Stats.NotBilled.toDomain(), Earnings: domain.Micros(d.Stats.EarningsMicros)},
		Caps:     d.Caps.toDomain(),
		JoinedAt: d.JoinedAt.UTC(), LeftAt: utcPtr(d.LeftAt),
	}
	if d.BrowserSourceToken != nil {
		p.BrowserSourceToken = *d.BrowserSourceToken
	}
	if d.LastShownAt != nil {
		p.LastShownAt = d.LastShownAt.UTC()
	}
	if p.JoinedAt.IsZero() {
		p.JoinedAt = d.ID.Timestamp().UTC()
	}
	return p
}

// Join makes streamerID a participant of campaignID and returns the
// participation. It is idempotent: joining again, or many concurrent joins,
// yield the one participation that the unique campaign × streamer index
// allows. Creation is one upsert ($setOnInsert); a duplicate-key error —
// another join won the race, or (never in practice) the new token collided —
// is absorbed by trying again with a fresh token, which then matches. A
// participation that was left is re-activated with a fresh token.
func (r *Participations) Join(ctx context.Context, campaignID, streamerID string, newToken func() string, now time.Time) (domain.Participation, error) {
	cid, err := objectID(campaignID, "campaign")
	if err != nil {
		return domain.Participation{}, err
	}
	sid, err := objectID(streamerID, "user")
	if err != nil {
		return domain.Participation{}, err
	}
	now = now.UTC().Truncate(time.Millisecond)
	for range tokenAttempts {
		var doc participationDoc
		err := r.c.FindOneAndUpdate(ctx,
			bson.M{"campaignId": cid, "streamerId": sid},
			bson.M{"$setOnInsert": bson.M{
				"_id": primitive.NewObjectID(), "status": string(domain.ParticipationActive),
				"browserSourceToken": newToken(), "stats": statsDoc{}, "joinedAt": now,
			}},
			options.FindOneAndUpdate().SetUpsert(true).SetReturnDocument(options.After)).Decode(&doc)
		if isDuplicate(err) {
			continue
		}
		if err != nil {
			return domain.Participation{}, fmt.Errorf("join campaign: %w", err)
		}
		if domain.ParseParticipationStatus(doc.Status) == domain.ParticipationLeft {
			return r.rejoin(ctx, doc.ID, newToken, now)
		}
		return doc.toDomain(), nil
	}
	return domain.Participation{}, fmt.Errorf("join campaign: %d duplicate-key errors in a row", tokenAttempts)
}

// rejoin re-activates a participation that was left, with a fresh token.
func (r *Participations) rejoin(ctx context.Context, id primitive.ObjectID, newToken func() string, now time.Time) (domain.Participation, error) {
	for range tokenAttempts {
		var doc participationDoc
		err := r.c.FindOneAndUpdate(ctx,
			bson.M{"_id": id, "status": string(domain.ParticipationLeft)},
			bson.M{"$set": bson.M{"status": string(domain.ParticipationActive), "browserSourceToken": newToken(), "joinedAt": now},
				"$unset": bson.M{"leftAt": ""}},
			options.FindOneAndUpdate().SetReturnDocument(options.After)).Decode(&doc)
		switch {
		case isDuplicate(err):
			continue
		case isNoDocuments(err): // a concurrent join re-activated it first
			return r.ByID(ctx, id.Hex())
		case err != nil:
			return domain.Participation{}, fmt.Errorf("rejoin campaign: %w", err)
		}
		return doc.toDomain(), nil
	}
	return domain.Participation{}, fmt.Errorf("rejoin campaign: %d duplicate-key errors in a row", tokenAttempts)
}

// Leave ends a participation: status LEFT and its token removed, so the
// overlay URL stops working at once. Leaving twice is harmless.
func (r *Participations) Leave(ctx context.Context, id string, now time.Time) (domain.Participation, error) {
	oid, err := objectID(id, "participation")
	if err != nil {
		return domain.Participation{}, err
	}
	var doc participationDoc
	err = r.c.FindOneAndUpdate(ctx,
		bson.M{"_id": oid, "status": bson.M{"$ne": string(domain.ParticipationLeft)}},
		bson.M{"$set": bson.M{"status": string(domain.ParticipationLeft), "leftAt": now.UTC().Truncate(time.Millisecond)},
			"$unset": bson.M{"browserSourceToken": ""}},
		options.FindOneAndUpdate().SetReturnDocument(options.After)).Decode(&doc)
	if isNoDocuments(err) {
		return r.ByID(ctx, id) // already left, or NOT_FOUND
	}
	if err != nil {
		return domain.Participation{}, fmt.Errorf("leave campaign: %w", err)
	}
	return doc.toDomain(), nil
}

// SetCaps replaces a participation's caps (nil: no cap) with one write;
// NOT_FOUND when it does not exist. The projector decides each batch
// against the caps it reads before the batch.
func (r *Participations) SetCaps(ctx context.Context, id string, caps domain.ParticipationCaps) (domain.Participation, error) {
	oid, err := objectID(id, "participation")
	if err != nil {
		return domain.Participation{}, err
	}
	var doc capsDoc
	if caps.TotalCap != nil {
		v := int64(*caps.TotalCap)
		doc.TotalMicros = &v
	}
	if caps.DailyCap != nil {
		v := int64(*caps.DailyCap)
		doc.DailyMicros = &v
	}
	var out participationDoc
	err = r.c.FindOneAndUpdate(ctx, bson.M{"_id": oid}, bson.M{"$set": bson.M{"caps": doc}},
		options.FindOneAndUpdate().SetReturnDocument(options.After)).Decode(&out)
	if isNoDocuments(err) {
		return domain.Participation{}, domain.Errorf(domain.ENOTFOUND, "participation %q not found", id)
	}
	if err != nil {
		return domain.Participation{}, fmt.Errorf("set participation caps: %w", err)
	}
	return out.toDomain(), nil
}

// SetToken gives an active participation a new token: the old one stops
// working with this write. With onlyIfMissing it only fills in a token where
// none is stored (old participations), and a concurrent fill-in wins over
// this one. A collision regenerates.
func (r *Participations) SetToken(ctx context.Context, id string, newToken func() string, onlyIfMissing bool) (domain.Participation, error) {
	oid, err := objectID(id, "participation")
	if err != nil {
		return domain.Participation{}, err
	}
	filter := bson.M{"_id": oid, "status": bson.M{"$ne": string(domain.ParticipationLeft)}}
	if onlyIfMissing {
		filter["browserSourceToken"] = bson.M{"$not": bson.M{"$type": "string"}}
	}
	for range tokenAttempts {
		var doc participationDoc
		err := r.c.FindOneAndUpdate(ctx, filter, bson.M{"$set": bson.M{"browserSourceToken": newToken()}},
			options.FindOneAndUpdate().SetReturnDocument(options.After)).Decode(&doc)
		switch {
		case isDuplicate(err):
			continue
		case isNoDocuments(err):
			p, err := r.ByID(ctx, id)
			if err == nil && p.Status == domain.ParticipationLeft {
				return p, domain.Errorf(domain.ECONFLICT, "the streamer has left this campaign; join it again for a new token")
			}
			return p, err
		case err != nil:
			return domain.Participation{}, fmt.Errorf("set token: %w", err)
		}
		return doc.toDomain(), nil
	}
	return domain.Participation{}, fmt.Errorf("set token: %d duplicate-key errors in a row", tokenAttempts)
}

// ByID returns one participation; NOT_FOUND when there is none.
func (r *Participations) ByID(ctx context.Context, id string) (domain.Participation, error) {
	oid, err := objectID(id, "participation")
	if err != nil {
		return domain.Participation{}, err
	}
	return r.findOne(ctx, bson.M{"_id": oid}, fmt.Sprintf("participation %q not found", id))
}

// ByToken returns the active participation a browser source token belongs
// to; NOT_FOUND for an unknown, rotated or left token.
func (r *Participations) ByToken(ctx context.Context, token string) (domain.Participation, error) {
	if token == "" {
		return domain.Participation{}, domain.Errorf(domain.ENOTFOUND, "unknown browser source token")
	}
	// The $type term lets MongoDB use the partial index, whose filter it is.
	return r.findOne(ctx, bson.M{"browserSourceToken": bson.M{"$eq": token, "$type": "string"}, "status": bson.M{"$ne": string(domain.ParticipationLeft)}},
		"unknown browser source token")
}

// ByCampaignAndStreamer returns the participation of a streamer in a
// campaign; NOT_FOUND when there is none.
func (r *Participations) ByCampaignAndStreamer(ctx context.Context, campaignID, streamerID string) (domain.Participation, error) {
	cid, err1 := primitive.ObjectIDFromHex(campaignID)
	sid, err2 := primitive.ObjectIDFromHex(streamerID)
	if err1 != nil || err2 != nil {
		return domain.Participation{}, domain.Errorf(domain.ENOTFOUND, "participation not found")
	}
	return r.findOne(ctx, bson.M{"campaignId": cid, "streamerId": sid}, "participation not found")
}

func (r *Participations) findOne(ctx context.Context, filter bson.M, notFound string) (domain.Participation, error) {
	var doc participationDoc
	err := r.c.FindOne(ctx, filter).Decode(&doc)
	if isNoDocuments(err) {
		return domain.Participation{}, domain.Errorf(domain.ENOTFOUND, "%s", notFound)
	}
	if err != nil {
		return domain.Participation{}, fmt.Errorf("find participation: %w", err)
	}
	return doc.toDomain(), nil
}

// ByStreamer returns one page of a streamer's participations, newest first.
func (r *Participations) ByStreamer(ctx context.Context, streamerID string, page domain.PageArgs) (domain.Page[domain.Participation], error) {
	sid, err := primitive.ObjectIDFromHex(streamerID)
	if err != nil {
		return domain.Page[domain.Participation]{}, page.Validate()
	}
	return r.list(ctx, bson.M{"streamerId": sid}, page)
}

// ByCampaign returns one page of a campaign's participations, newest first.
func (r *Participations) ByCampaign(ctx context.Context, campaignID string, page domain.PageArgs) (domain.Page[domain.Participation], error) {
	cid, err := primitive.ObjectIDFromHex(campaignID)
	if err != nil {
		return domain.Page[domain.Participation]{}, page.Validate()
	}
	return r.list(ctx, bson.M{"campaignId": cid}, page)
}

func (r *Participations) list(ctx context.Context, filter bson.M, page domain.PageArgs) (domain.Page[domain.Participation], error) {
	return findPage(ctx, r.c, filter, page,
		func(d *participationDoc) primitive.ObjectID { return d.ID },
		func(d *participationDoc) domain.Participation { return d.toDomain() })
}

// MaxOverlayCandidates bounds how many of a streamer's active
// participations an overlay ranks (the most recently joined). It is far
// beyond what one stream shows; it keeps one request's work bounded.
const MaxOverlayCandidates = 500

// ActiveByStreamer returns a streamer's active participations, most recently
// joined first, at most MaxOverlayCandidates: the overlay's candidates.
func (r *Participations) ActiveByStreamer(ctx context.Context, streamerID string) ([]domain.Participation, error) {
	sid, err := objectID(streamerID, "streamer")
	if err != nil {
		return nil, err
	}
	cur, err := r.c.Find(ctx, bson.M{"streamerId": sid, "status": bson.M{"$ne": string(domain.ParticipationLeft)}},
		options.Find().SetSort(bson.D{{Key: "_id", Value: -1}}).SetLimit(MaxOverlayCandidates))
	if err != nil {
		return nil, fmt.Errorf("find active participations: %w", err)
	}
	var docs []participationDoc
	if err := cur.All(ctx, &docs); err != nil {
		return nil, fmt.Errorf("decode participations: %w", err)
	}
	out := make([]domain.Participation, len(docs))
	for i := range docs {
		out[i] = docs[i].toDomain()
	}
	return out, nil
}

// MarkShown records that a participation's campaign was chosen for a slot
// starting at: one $max, so a late or repeated call never moves it back.
func (r *Participations) MarkShown(ctx context.Context, id string, at time.Time) error {
	oid, err := objectID(id, "participation")
	if err != nil {
		return err
	}
	if _, err := r.c.UpdateOne(ctx, bson.M{"_id": oid}, bson.M{"$max": bson.M{"lastShownAt": at.UTC()}}); err != nil {
		return fmt.Errorf("mark participation shown: %w", err)
	}
	return nil
}

// ByIDs returns the participations with the given ids in one query, keyed by
// id.
func (r *Participations) ByIDs(ctx context.Context, ids []string) (map[string]domain.Participation, error) {
	cur, err := r.c.Find(ctx, bson.M{"_id": bson.M{"$in": objectIDs(ids)}})
	if err != nil {
		return nil, fmt.Errorf("find participations: %w", err)
	}
	var docs []participationDoc
	if err := cur.All(ctx, &docs); err != nil {
		return nil, fmt.Errorf("decode participations: %w", err)
	}
	out := make(map[string]domain.Participation, len(docs))
	for i := range docs {
		p := docs[i].toDomain()
		out[p.ID] = p
	}
	return out, nil
}

// Joined reports whether streamerID has a participation in campaignID (the
// question domain.CanSeeCampaign asks).
func (r *Participations) Joined(ctx context.Context, campaignID, streamerID string) (bool, error) {
	_, err := r.ByCampaignAndStreamer(ctx, campaignID, streamerID)
	if domain.ErrorCode(err) == domain.ENOTFOUND {
		return false, nil
	}
	return err == nil, err
}
