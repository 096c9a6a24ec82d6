package repository

import (
	"context"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo/options"

	"tally/domain"
)

// payoutRunsCollection holds the payout runs, _id their key; a running run
// carries lock: "payouts", which a partial unique index makes one at a time
// (a second key is refused while a run is unfinished).
// payoutsCollection holds the payouts, _id "<runKey>:<streamerId>": one per
// streamer per run by construction.
const (
	payoutRunsCollection = "payout_runs"
	payoutsCollection    = "payouts"
	runLock              = "payouts"
)

func payoutRunIndexes() []indexModel {
	return []indexModel{partialUniqueIndex("one_running", "lock")}
}

func payoutIndexes() []indexModel {
	return []indexModel{
		plainIndex("run", bson.D{{Key: "runKey", Value: 1}}),
		plainIndex("streamer", bson.D{{Key: "streamerId", Value: 1}, {Key: "createdAt", Value: -1}}),
	}
}

type payoutRunDoc struct {
	Key           string     `bson:"_id"`
	Instant       time.Time  `bson:"instant"`
	MinimumMicros int64      `bson:"minimumMicros"`
	Status        string     `bson:"status"`
	Lock          string     `bson:"lock,omitempty"`
	CreatedBy     string     `bson:"createdBy"`
	CreatedAt     time.Time  `bson:"createdAt"`
	DoneAt        *time.Time `bson:"doneAt,omitempty"`
}

func (d payoutRunDoc) toDomain() domain.PayoutRun {
	r := domain.PayoutRun{Key: d.Key, Instant: d.Instant.UTC(), Minimum: domain.Micros(d.MinimumMicros),
		Status: domain.PayoutRunStatus(d.Status), CreatedBy: d.CreatedBy, CreatedAt: d.CreatedAt.UTC()}
	if d.DoneAt != nil {
		t := d.DoneAt.UTC()
		r.DoneAt = &t
	}
	return r
}

type payoutPartDoc struct {
	ParticipationID string `bson:"participationId"`
	CampaignID      string `bson:"campaignId"`
	AmountMicros    int64  `bson:"amountMicros"`
}

type payoutDoc struct {
	ID           string          `bson:"_id"`
	RunKey       string          `bson:"runKey"`
	StreamerID   string          `bson:"streamerId"`
	Status       string          `bson:"status"`
	AmountMicros int64           `bson:"amountMicros"`
	Parts        []payoutPartDoc `bson:"parts"`
	Entries      []string        `bson:"entries"`
	CarryMicros  int64           `bson:"carryMicros,omitempty"`
	CarryPart    string          `bson:"carryParticipation,omitempty"`
	CarryCamp    string          `bson:"carryCampaign,omitempty"`
	Reference    string          `bson:"reference,omitempty"`
	Reason       string          `bson:"reason,omitempty"`
	CreatedAt    time.Time       `bson:"createdAt"`
	MarkedAt     *time.Time      `bson:"markedAt,omitempty"`
	MarkedBy     string          `bson:"markedBy,omitempty"`
}

func (d payoutDoc) toDomain() domain.Payout {
	p := domain.Payout{ID: d.ID, RunKey: d.RunKey, StreamerID: d.StreamerID, Status: domain.PayoutStatus(d.Status),
		Amount: domain.Micros(d.AmountMicros), Entries: d.Entries,
		Carry: domain.Micros(d.CarryMicros), CarryParticipation: d.CarryPart, CarryCampaign: d.CarryCamp, Reference: d.Reference, Reason: d.Reason,
		CreatedAt: d.CreatedAt.UTC(), MarkedBy: d.MarkedBy}
	for _, part := range d.Parts {
		p.Parts = append(p.Parts, domain.PayoutPart{ParticipationID: part.ParticipationID, CampaignID: part.CampaignID,
			Amount: domain.Micros(part.AmountMicros)})
	}
	if d.MarkedAt != nil {
		t := d.MarkedAt.UTC()
		p.MarkedAt = &t
	}
	return p
}

// Payouts is the payout runs' and payouts' repository.
type Payouts struct {
	runs, payouts *collection
}

// NewPayouts returns the payouts' repository of s.
func NewPayouts(s *Store) *Payouts {
	return &Payouts{runs: s.collection(payoutRunsCollection), payouts: s.collection(payoutsCollection)}
}

// PayoutID is the id of streamerID's payout in run key.
func PayoutID(runKey, streamerID string) string { return runKey + ":" + streamerID }

// StartRun creates run r under its key, or returns the run already stored
// under it (created false): one upsert that only inserts, so concurrent
// callers with one key all get the first one's run. CONFLICT when another
// key's run is unfinished (the one-running index).
func (r *Payouts) StartRun(ctx context.Context, run domain.PayoutRun) (domain.PayoutRun, bool, error) {
	doc := payoutRunDoc{Key: run.Key, Instant: run.Instant.UTC(), MinimumMicros: int64(run.Minimum), Status: string(domain.PayoutRunRunning),
		Lock: runLock, CreatedBy: run.CreatedBy, CreatedAt: run.CreatedAt.UTC()}
	for attempt := 0; ; attempt++ {
		var before payoutRunDoc
		err := r.runs.FindOneAndUpdate(ctx, bson.M{"_id": run.Key}, bson.M{"$setOnInsert": doc},
			options.FindOneAndUpdate().SetUpsert(true).SetReturnDocument(options.Before)).Decode(&before)
		switch {
		case err == nil:
			return before.toDomain(), false, nil
		case isNoDocuments(err):
			return doc.toDomain(), true, nil
		case isDuplicate(err) && attempt == 0:
			continue // a racer inserted this key, or another key holds the lock: read again
		case isDuplicate(err):
			running, ok, rerr := r.Running(ctx)
			if rerr == nil && ok && running.Key != run.Key {
				return domain.PayoutRun{}, false, domain.Errorf(domain.ECONFLICT,
					"payout run %q is unfinished; call runPayouts with its key to finish it before starting another", running.Key)
			}
			if rerr != nil {
				return domain.PayoutRun{}, false, rerr
			}
			continue
		default:
			return domain.PayoutRun{}, false, fmt.Errorf("start payout run %q: %w", run.Key, err)
		}
	}
}

// Run returns the run stored under key; NOT_FOUND when there is none.
func (r *Payouts) Run(ctx context.Context, key string) (domain.PayoutRun, error) {
	var d payoutRunDoc
	err := r.runs.FindOne(ctx, bson.M{"_id": key}).Decode(&d)
	if isNoDocuments(err) {
		return domain.PayoutRun{}, domain.Errorf(domain.ENOTFOUND, "payout run %q not found", key)
	}
	if err != nil {
		return domain.PayoutRun{}, fmt.Errorf("read payout run: %w", err)
	}
	return d.toDomain(), nil
}

// Running returns the unfinished run, if there is one.
func (r *Payouts) Running(ctx context.Context) (domain.PayoutRun, bool, error) {
	var d payoutRunDoc
	err := r.runs.FindOne(ctx, bson.M{"lock": runLock}).Decode(&d)
	if isNoDocuments(err) {
		return domain.PayoutRun{}, false, nil
	}
	if err != nil {
		return domain.PayoutRun{}, false, fmt.Errorf("read the running payout run: %w", err)
	}
	return d.toDomain(), true, nil
}

// FinishRun marks run key DONE and frees the lock (guarded: only a running
// run changes).
func (r *Payouts) FinishRun(ctx context.Context, key string, at time.Time) error {
	_, err := r.runs.UpdateOne(ctx, bson.M{"_id": key, "status": string(domain.PayoutRunRunning)},
		bson.M{"$set": bson.M{"status": string(domain.PayoutRunDone), "doneAt": at.UTC()}, "$unset": bson.M{"lock": ""}})
	if err != nil {
		return fmt.Errorf("finish payout run %q: %w", key, err)
	}
	return nil
}

// CreatePayout stores p as CLAIMING with its entry list, or returns the
// payout already stored under its id: one upsert that only inserts, so the
// first caller's list is everyone's.
func (r *Payouts) CreatePayout(ctx context.Context, p domain.Payout) (domain.Payout, error) {
	doc := payoutDoc{ID: p.ID, RunKey: p.RunKey, StreamerID: p.StreamerID, Status: string(domain.PayoutClaiming),
		AmountMicros: 0, Parts: []payoutPartDoc{}, Entries: p.Entries, CreatedAt: p.CreatedAt.UTC(),
		CarryMicros: int64(p.Carry), CarryPart: p.CarryParticipation, CarryCamp: p.CarryCampaign}
	for attempt := 0; ; attempt++ {
		var before payoutDoc
		err := r.payouts.FindOneAndUpdate(ctx, bson.M{"_id": p.ID}, bson.M{"$setOnInsert": doc},
			options.FindOneAndUpdate().SetUpsert(true).SetReturnDocument(options.Before)).Decode(&before)
		switch {
		case err == nil:
			return before.toDomain(), nil
		case isNoDocuments(err):
			return doc.toDomain(), nil
		case isDuplicate(err) && attempt < 2:
			continue
		default:
			return domain.Payout{}, fmt.Errorf("create payout %s: %w", p.ID, err)
		}
	}
}

// Claimed records a CLAIMING payout's amount and parts (what it claimed)
// and makes it PENDING: guarded by its status, so only the first of
// concurrent callers changes it (they computed the same sums).
func (r *Payouts) Claimed(ctx context.Context, id string, amount domain.Micros, parts []domain.PayoutPart) error {
	docs := make([]payoutPartDoc, len(parts))
	for i, part := range parts {
		docs[i] = payoutPartDoc{ParticipationID: part.ParticipationID, CampaignID: part.CampaignID, AmountMicros: int64(part.Amount)}
	}
	_, err := r.payouts.UpdateOne(ctx, bson.M{"_id": id, "status": string(domain.PayoutClaiming)},
		bson.M{"$set": bson.M{"status": string(domain.PayoutPending), "amountMicros": int64(amount), "parts": docs}})
	if err != nil {
		return fmt.Errorf("record the claims of payout %s: %w", id, err)
	}
	return nil
}

// Mark moves a PENDING payout to status with the transfer's reference:
// guarded by its status, so of two admins marking it at once one wins;
// ok is false when it was not PENDING any more.
func (r *Payouts) Mark(ctx context.Context, id string, status domain.PayoutStatus, reference, reason, by string, at time.Time) (bool, error) {
	set := bson.M{"status": string(status), "reference": reference, "markedAt": at.UTC(), "markedBy": by}
	if reason != "" {
		set["reason"] = reason
	}
	res, err := r.payouts.UpdateOne(ctx, bson.M{"_id": id, "status": string(domain.PayoutPending)}, bson.M{"$set": set})
	if err != nil {
		return false, fmt.Errorf("mark payout %s: %w", id, err)
	}
	return res.MatchedCount == 1, nil
}

// Payout returns payout id; NOT_FOUND when there is none.
func (r *Payouts) Payout(ctx context.Context, id string) (domain.Payout, error) {
	var d payoutDoc
	err := r.payouts.FindOne(ctx, bson.M{"_id": id}).Decode(&d)
	if isNoDocuments(err) {
		return domain.Payout{}, domain.Errorf(domain.ENOTFOUND, "payout %q not found", id)
	}
	if err != nil {
		return domain.Payout{}, fmt.Errorf("read payout: %w", err)
	}
	return d.toDomain(), nil
}

func (r *Payouts) find(ctx context.Context, filter bson.M, opts ...*options.FindOptions) ([]domain.Payout, error) {
	cur, err := r.payouts.Find(ctx, filter, opts...)
	if err != nil {
		return nil, fmt.Errorf("find payouts: %w", err)
	}
	var docs []payoutDoc
	if err := cur.All(ctx, &docs); err != nil {
		return nil, fmt.Errorf("decode payouts: %w", err)
	}
	out := make([]domain.Payout, len(docs))
	for i, d := range docs {
		out[i] = d.toDomain()
	}
	return out, nil
}

// OfRun are run key's payouts, by id.
func (r *Payouts) OfRun(ctx context.Context, key string) ([]domain.Payout, error) {
	return r.find(ctx, bson.M{"runKey": key}, options.Find().SetSort(bson.D{{Key: "_id", Value: 1}}))
}

// OfStreamer are a streamer's payouts, newest first.
func (r *Payouts) OfStreamer(ctx context.Context, streamerID string) ([]domain.Payout, error) {
	return r.find(ctx, bson.M{"streamerId": streamerID}, options.Find().SetSort(bson.D{{Key: "createdAt", Value: -1}, {Key: "_id", Value: 1}}))
}

// All are every payout (verify).
func (r *Payouts) All(ctx context.Context) ([]domain.Payout, error) {
	return r.find(ctx, bson.M{})
}
