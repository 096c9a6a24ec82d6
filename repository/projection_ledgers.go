package repository

import (
	"context"
	"fmt"
	"sort"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/primitive"

	"tally/domain"
)

type ledgerDoc struct {
	ID              primitive.ObjectID   `bson:"_id"`
	RemainingMicros int64                `bson:"remainingMicros"`
	Status          string               `bson:"status"`
	ProjBatch       int64                `bson:"projBatch"`
	ProjUnbilled    []primitive.ObjectID `bson:"projUnbilled"`
	ProjInvalid     []invalidDoc         `bson:"projInvalid"`
	ProjCapped      []cappedDoc          `bson:"projCapped"`
	ProjAlerts      []alertDoc           `bson:"projAlerts"`
}

// cappedDoc is an event a batch did not bill because a cap refused it,
// kept on its campaign with the batch's other decisions.
type cappedDoc struct {
	ID     primitive.ObjectID `bson:"id"`
	Reason string             `bson:"reason"`
}

func cappedDocs(m map[string]domain.NotBilledReason) ([]cappedDoc, error) {
	out := make([]cappedDoc, 0, len(m))
	for id, r := range m {
		oid, err := primitive.ObjectIDFromHex(id)
		if err != nil {
			return nil, fmt.Errorf("malformed id %q", id)
		}
		out = append(out, cappedDoc{ID: oid, Reason: string(r)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID.Hex() < out[j].ID.Hex() })
	return out, nil
}

func cappedMap(docs []cappedDoc) map[string]domain.NotBilledReason {
	m := make(map[string]domain.NotBilledReason, len(docs))
	for _, d := range docs {
		m[d.ID.Hex()] = domain.NotBilledReason(d.Reason)
	}
	return m
}

// invalidDoc is a click a batch judged invalid traffic, kept on its
// campaign with the batch's other decisions.
type invalidDoc struct {
	ID     primitive.ObjectID `bson:"id"`
	Reason string             `bson:"reason"`
}

func invalidDocs(m map[string]domain.InvalidReason) ([]invalidDoc, error) {
	out := make([]invalidDoc, 0, len(m))
	for id, r := range m {
		oid, err := primitive.ObjectIDFromHex(id)
		if err != nil {
			return nil, fmt.Errorf("malformed id %q", id)
		}
		out = append(out, invalidDoc{ID: oid, Reason: string(r)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID.Hex() < out[j].ID.Hex() })
	return out, nil
}

func invalidMap(docs []invalidDoc) map[string]domain.InvalidReason {
	m := make(map[string]domain.InvalidReason, len(docs))
	for _, d := range docs {
		m[d.ID.Hex()] = domain.InvalidReason(d.Reason)
	}
	return m
}

func (d *ledgerDoc) toDomain() domain.CampaignLedger {
	status, _ := domain.ParseCampaignStatus(d.Status)
	l := domain.CampaignLedger{ID: d.ID.Hex(), Remaining: domain.Micros(d.RemainingMicros), Status: status, Batch: d.ProjBatch,
		Invalid: invalidMap(d.ProjInvalid), Capped: cappedMap(d.ProjCapped)}
	for i := range d.ProjAlerts {
		l.Alerts = append(l.Alerts, d.ProjAlerts[i].toDomain())
	}
	for _, id := range d.ProjUnbilled {
		l.Unbilled = append(l.Unbilled, id.Hex())
	}
	return l
}

// Ledgers reads what billing needs of the given campaigns, by id: one query.
// A campaign that no longer exists is absent from the map.
func (r *Projection) Ledgers(ctx context.Context, ids []string) (map[string]domain.CampaignLedger, error) {
	oids, err := parseObjectIDs(ids)
	if err != nil {
		return nil, err
	}
	cur, err := r.campaigns.Find(ctx, bson.M{"_id": bson.M{"$in": oids}})
	if err != nil {
		return nil, fmt.Errorf("read campaign ledgers: %w", err)
	}
	var raws []bson.Raw
	if err := cur.All(ctx, &raws); err != nil {
		return nil, fmt.Errorf("decode campaign ledgers: %w", err)
	}
	out := make(map[string]domain.CampaignLedger, len(raws))
	for _, raw := range raws {
		var ld ledgerDoc
		var cd campaignDoc
		if err := bson.Unmarshal(raw, &ld); err != nil {
			return nil, fmt.Errorf("decode campaign ledger: %w", err)
		}
		if err := bson.Unmarshal(raw, &cd); err != nil {
			return nil, fmt.Errorf("decode campaign: %w", err)
		}
		l := ld.toDomain()
		l.Campaign = cd.toDomain()
		out[l.ID] = l
	}
	return out, nil
}

// ApplyCampaign applies batch n's delta to a campaign, decided against
// remaining: one update that matches only while the campaign's remaining
// budget is still exactly remaining (so a concurrent budget change makes the
// caller decide again, and a spend never overshoots), batch n has not
// reached it, and — to turn it EXHAUSTED — it is ACTIVE. ok is false when it
// did not match; the caller reads the ledger again.
func (r *Projection) ApplyCampaign(ctx context.Context, n int64, id string, remaining domain.Micros, d domain.CampaignDelta) (ok bool, err error) {
	oid, err := objectID(id, "campaign")
	if err != nil {
		return false, err
	}
	unbilled, err := parseObjectIDs(d.Unbilled)
	if err != nil {
		return false, err
	}
	invalid, err := invalidDocs(d.Invalid)
	if err != nil {
		return false, err
	}
	capped, err := cappedDocs(d.Capped)
	if err != nil {
		return false, err
	}
	filter := bson.M{"_id": oid, "remainingMicros": int64(remaining)}
	alerts := make([]alertDoc, len(d.Alerts))
	for i, a := range d.Alerts {
		alerts[i] = alertDocOf(a)
	}
	set := bson.M{"projUnbilled": unbilled, "projInvalid": invalid, "projCapped": capped, "projAlerts": alerts}
	guard(filter, set, n, oneCampaign)
	if d.Exhaust {
		filter["status"] = string(domain.CampaignActive)
		set["status"] = string(domain.CampaignExhausted)
	}
	inc := countsInc("stats.", d.Counts)
	if d.Spend != 0 {
		inc["spentMicros"] = int64(d.Spend)
		inc["remainingMicros"] = -int64(d.Spend)
	}
	update := bson.M{"$set": set}
	if len(inc) > 0 {
		update["$inc"] = inc
	}
	res, err := r.campaigns.UpdateOne(ctx, filter, update)
	if err != nil {
		return false, fmt.Errorf("apply batch %d to campaign: %w", n, err)
	}
	return res.MatchedCount == 1, nil
}
