package repository

import (
	"context"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo/options"

	"tally/domain"
)

// postbackDoc is a campaign's postback settings and state (campaigns.postback).
// Every field is optional: a campaign stored before postbacks existed reads
// as GET, both steps sent, enabled, no failures.
type postbackDoc struct {
	Method         string       `bson:"method,omitempty"`
	SkipNew        bool         `bson:"skipNew,omitempty"`
	SkipStatus     bool         `bson:"skipStatus,omitempty"`
	GoalURLs       []goalURLDoc `bson:"goalUrls,omitempty"`
	Secret         string       `bson:"secret,omitempty"`
	DisabledAt     *time.Time   `bson:"disabledAt,omitempty"`
	DisabledReason string       `bson:"disabledReason,omitempty"`
	Failures       int64        `bson:"failures,omitempty"`
}

type goalURLDoc struct {
	GoalID string `bson:"goalId"`
	URL    string `bson:"url"`
}

func (d *postbackDoc) toDomain() domain.Postback {
	p := domain.Postback{Method: domain.PostbackGET, OnNew: true, OnStatus: true, GoalURLs: []domain.GoalPostbackURL{}}
	if d == nil {
		return p
	}
	if d.Method == string(domain.PostbackPOST) {
		p.Method = domain.PostbackPOST
	}
	p.OnNew, p.OnStatus = !d.SkipNew, !d.SkipStatus
	for _, g := range d.GoalURLs {
		p.GoalURLs = append(p.GoalURLs, domain.GoalPostbackURL{GoalID: g.GoalID, URL: g.URL})
	}
	p.Secret, p.DisabledAt, p.DisabledReason, p.Failures = d.Secret, utcPtr(d.DisabledAt), d.DisabledReason, d.Failures
	return p
}

// updateCampaign applies one atomic update to campaign id and returns the
// campaign after it; NOT_FOUND when there is none.
func (r *Campaigns) updateCampaign(ctx context.Context, id string, extra bson.M, update bson.M) (domain.Campaign, error) {
	oid, err := objectID(id, "campaign")
	if err != nil {
		return domain.Campaign{}, err
	}
	filter := bson.M{"_id": oid}
	for k, v := range extra {
		filter[k] = v
	}
	var doc campaignDoc
	err = r.c.FindOneAndUpdate(ctx, filter, update, options.FindOneAndUpdate().SetReturnDocument(options.After)).Decode(&doc)
	if isNoDocuments(err) {
		return domain.Campaign{}, domain.Errorf(domain.ENOTFOUND, "campaign %q not found", id)
	}
	if err != nil {
		return domain.Campaign{}, fmt.Errorf("update campaign postback: %w", err)
	}
	return doc.toDomain(), nil
}

// SetPostback applies a validated postback input: one $set of the given
// fields (an empty URL is $unset: no template, nothing sent).
func (r *Campaigns) SetPostback(ctx context.Context, id string, in domain.PostbackInput, now time.Time) (domain.Campaign, error) {
	set := bson.M{"updatedAt": now.UTC().Truncate(time.Millisecond)}
	update := bson.M{"$set": set}
	if in.URL != nil {
		if *in.URL == "" {
			update["$unset"] = bson.M{"postbackUrl": ""}
		} else {
			set["postbackUrl"] = *in.URL
		}
	}
	if in.Method != nil {
		set["postback.method"] = string(*in.Method)
	}
	if in.OnNewConversion != nil {
		set["postback.skipNew"] = !*in.OnNewConversion
	}
	if in.OnStatusChange != nil {
		set["postback.skipStatus"] = !*in.OnStatusChange
	}
	if in.GoalURLs != nil {
		docs := make([]goalURLDoc, 0, len(in.GoalURLs))
		for _, g := range in.GoalURLs {
			docs = append(docs, goalURLDoc{GoalID: g.GoalID, URL: g.URL})
		}
		set["postback.goalUrls"] = docs
	}
	return r.updateCampaign(ctx, id, nil, update)
}

// EnsurePostbackSecret gives campaign id the signing secret secret if it has
// none yet (a guarded $set, so racing callers agree on one), and returns the
// campaign as stored after.
func (r *Campaigns) EnsurePostbackSecret(ctx context.Context, id, secret string) (domain.Campaign, error) {
	oid, err := objectID(id, "campaign")
	if err != nil {
		return domain.Campaign{}, err
	}
	if _, err := r.c.UpdateOne(ctx, bson.M{"_id": oid, "postback.secret": bson.M{"$exists": false}},
		bson.M{"$set": bson.M{"postback.secret": secret}}); err != nil {
		return domain.Campaign{}, fmt.Errorf("set postback secret: %w", err)
	}
	return r.ByID(ctx, id)
}

// RotatePostbackSecret replaces campaign id's signing secret.
func (r *Campaigns) RotatePostbackSecret(ctx context.Context, id, secret string, now time.Time) (domain.Campaign, error) {
	return r.updateCampaign(ctx, id, nil, bson.M{"$set": bson.M{"postback.secret": secret, "updatedAt": now.UTC().Truncate(time.Millisecond)}})
}

// EnablePostbacks clears a disabled state and the run of failures.
func (r *Campaigns) EnablePostbacks(ctx context.Context, id string, now time.Time) (domain.Campaign, error) {
	return r.updateCampaign(ctx, id, nil, bson.M{
		"$unset": bson.M{"postback.disabledAt": "", "postback.disabledReason": ""},
		"$set":   bson.M{"postback.failures": int64(0), "updatedAt": now.UTC().Truncate(time.Millisecond)},
	})
}

// PostbackDelivered ends campaign id's run of failed deliveries (a write only
// when there is a run to end).
func (r *Campaigns) PostbackDelivered(ctx context.Context, id string) error {
	oid, err := objectID(id, "campaign")
	if err != nil {
		return err
	}
	if _, err := r.c.UpdateOne(ctx, bson.M{"_id": oid, "postback.failures": bson.M{"$gt": 0}},
		bson.M{"$set": bson.M{"postback.failures": int64(0)}}); err != nil {
		return fmt.Errorf("reset postback failures: %w", err)
	}
	return nil
}

// PostbackFailed adds a failed delivery to campaign id's run and, once the
// run reaches disableAfter, disables its postbacks with reason (a second
// update, guarded by "not disabled yet", so only one caller disables).
// disabled reports whether this call did.
func (r *Campaigns) PostbackFailed(ctx context.Context, id string, disableAfter int64, reason string, now time.Time) (disabled bool, err error) {
	c, err := r.updateCampaign(ctx, id, nil, bson.M{"$inc": bson.M{"postback.failures": int64(1)}})
	if err != nil {
		return false, err
	}
	if disableAfter <= 0 || c.Postback.Failures < disableAfter || !c.Postback.Enabled() {
		return false, nil
	}
	oid, _ := objectID(id, "campaign")
	res, err := r.c.UpdateOne(ctx, bson.M{"_id": oid, "postback.disabledAt": bson.M{"$exists": false}},
		bson.M{"$set": bson.M{"postback.disabledAt": now.UTC().Truncate(time.Millisecond), "postback.disabledReason": reason}})
	if err != nil {
		return false, fmt.Errorf("disable postbacks: %w", err)
	}
	return res.ModifiedCount == 1, nil
}
