package repository

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"

	"tally/domain"
)

// reportBucketsCollection holds the report's quarter buckets: for each
// campaign, participation, goal or sub-id value within one campaign
// (domain.QuarterKey without its time), one document per UTC day holding
// that day's 15-minute quarters as slots ("q.h09m15"), so that a month's
// report reads 30 documents, not 2,880. The projector keeps them like the
// daily buckets: a guarded $inc upsert per document and batch.
const reportBucketsCollection = "report_buckets"

// reportSubsCollection holds, per campaign and sub-id, the values its
// buckets keep (at most domain.MaxSubValues), in the order first met.
const reportSubsCollection = "report_subs"

// reportBucketIndexes: a report reads one campaign's documents of one
// level over a range of days (and, for a streamer, of some participations).
func reportBucketIndexes() []indexModel {
	return []indexModel{plainIndex("campaignId_1_level_1_day_1", bson.D{{Key: "campaignId", Value: 1}, {Key: "level", Value: 1}, {Key: "day", Value: 1}})}
}

func reportSubsIndexes() []indexModel { return nil }

// quarterSlotDoc is one quarter's figures in its day's document.
type quarterSlotDoc struct {
	Impressions    int64 `bson:"impressions"`
	Clicks         int64 `bson:"clicks"`
	InvalidClicks  int64 `bson:"invalidClicks"`
	Conversions    int64 `bson:"conversions"`
	Pending        int64 `bson:"pending"`
	Approved       int64 `bson:"approved"`
	Rejected       int64 `bson:"rejected"`
	SpendMicros    int64 `bson:"spendMicros"`
	EarningsMicros int64 `bson:"earningsMicros"`
}

func (d quarterSlotDoc) counts() domain.QuarterCounts {
	return domain.QuarterCounts{Impressions: d.Impressions, Clicks: d.Clicks, InvalidClicks: d.InvalidClicks, Conversions: d.Conversions,
		Pending: d.Pending, Approved: d.Approved, Rejected: d.Rejected, Spend: domain.Micros(d.SpendMicros), Earnings: domain.Micros(d.EarningsMicros)}
}

// quarterDayHead is what names a day document, and the batch it reached.
type quarterDayHead struct {
	ID              string    `bson:"_id"`
	Level           string    `bson:"level"`
	CampaignID      string    `bson:"campaignId"`
	ParticipationID string    `bson:"participationId,omitempty"`
	Goal            string    `bson:"goal,omitempty"`
	Sub             int       `bson:"sub,omitempty"`
	Value           string    `bson:"value,omitempty"`
	Other           bool      `bson:"other,omitempty"`
	Day             time.Time `bson:"day"`
	ProjBatch       int64     `bson:"projBatch"`
}

type quarterDayDoc struct {
	H quarterDayHead            `bson:",inline"` // named: the codec skips an unexported embedded type
	Q map[string]quarterSlotDoc `bson:"q"`
}

// quarters calls fn with each quarter of the document, in no order.
func (d quarterDayDoc) quarters(fn func(domain.QuarterDelta)) {
	h := d.H
	k := domain.QuarterKey{Level: domain.QuarterLevel(h.Level), CampaignID: h.CampaignID, ParticipationID: h.ParticipationID,
		Goal: h.Goal, Sub: h.Sub, Value: h.Value, Other: h.Other}
	day := h.Day.UTC()
	for slot, c := range d.Q {
		if len(slot) != 6 || slot[0] != 'h' || slot[3] != 'm' {
			continue // not a quarter's slot
		}
		hour, minute := int(slot[1]-'0')*10+int(slot[2]-'0'), int(slot[4]-'0')*10+int(slot[5]-'0')
		k.At = day.Add(time.Duration(hour)*time.Hour + time.Duration(minute)*time.Minute)
		fn(domain.QuarterDelta{Key: k, Counts: c.counts()})
	}
}

// dayOf is the UTC day of a quarter, and its slot's name in the day's
// document.
func dayOf(at time.Time) (day time.Time, slot string) {
	at = at.UTC()
	day = at.Truncate(24 * time.Hour)
	return day, fmt.Sprintf("h%02dm%02d", at.Hour(), at.Minute())
}

// dayDocID is the _id of the day document holding quarter k: the key's id
// with the day's start for the quarter's.
func dayDocID(k domain.QuarterKey) string {
	k.At, _ = dayOf(k.At)
	return k.ID()
}

// keyFields are the fields naming a day document, set on every upsert.
func keyFields(k domain.QuarterKey) bson.M {
	day, _ := dayOf(k.At)
	m := bson.M{"level": string(k.Level), "campaignId": k.CampaignID, "day": day}
	if k.ParticipationID != "" {
		m["participationId"] = k.ParticipationID
	}
	switch k.Level {
	case domain.LevelGoal:
		m["goal"] = k.Goal
	case domain.LevelSub:
		m["sub"] = k.Sub
		if k.Other {
			m["other"] = true
		} else {
			m["value"] = k.Value
		}
	}
	return m
}

// quarterFields are a quarter's figures by field, under prefix.
func quarterFields(prefix string, c domain.QuarterCounts, zeros bool) bson.M {
	out := bson.M{}
	for f, v := range map[string]int64{"impressions": c.Impressions, "clicks": c.Clicks, "invalidClicks": c.InvalidClicks,
		"conversions": c.Conversions, "pending": c.Pending, "approved": c.Approved, "rejected": c.Rejected,
		"spendMicros": int64(c.Spend), "earningsMicros": int64(c.Earnings)} {
		if v != 0 || zeros {
			out[prefix+f] = v
		}
	}
	return out
}

// ApplyQuarters applies batch n's deltas to the quarter buckets: one bulk
// write of guarded upserts, one per day document, however many buckets the
// batch touches. A document batch n already reached does not match, so its
// upsert collides with the document's own _id: that duplicate key means
// "already applied".
func (r *Projection) ApplyQuarters(ctx context.Context, n int64, deltas []domain.QuarterDelta) error {
	type update struct {
		filter, set, inc bson.M
	}
	var order []string
	docs := map[string]*update{}
	for _, d := range deltas {
		id := dayDocID(d.Key)
		u := docs[id]
		if u == nil {
			u = &update{filter: bson.M{"_id": id}, set: keyFields(d.Key), inc: bson.M{}}
			guard(u.filter, u.set, n, oneCampaign)
			docs[id] = u
			order = append(order, id)
		}
		_, slot := dayOf(d.Key.At)
		for f, v := range quarterFields("q."+slot+".", d.Counts, false) {
			u.inc[f] = v.(int64) + asInt64(u.inc[f])
		}
	}
	models := make([]mongo.WriteModel, 0, len(order))
	for _, id := range order {
		u := docs[id]
		update := bson.M{"$set": u.set}
		if len(u.inc) > 0 {
			update["$inc"] = u.inc
		}
		models = append(models, mongo.NewUpdateOneModel().
			SetFilter(u.filter).SetUpdate(update).SetUpsert(true))
	}
	if len(models) == 0 {
		return nil
	}
	if err := guardedUpserts(ctx, r.quarters, models); err != nil {
		return fmt.Errorf("apply batch %d to report buckets: %w", n, err)
	}
	return nil
}

func asInt64(v any) int64 {
	i, _ := v.(int64)
	return i
}

type subValuesDoc struct {
	ID        string   `bson:"_id"`
	Values    []string `bson:"values"`
	ProjBatch int64    `bson:"projBatch"`
}

// SubValues reads the sub-id value lists keys name (one query); a list not
// stored is absent.
func (r *Projection) SubValues(ctx context.Context, keys []domain.SubValuesKey) (map[domain.SubValuesKey][]string, error) {
	out := map[domain.SubValuesKey][]string{}
	if len(keys) == 0 {
		return out, nil
	}
	ids := make(bson.A, len(keys))
	byID := map[string]domain.SubValuesKey{}
	for i, k := range keys {
		ids[i] = k.String()
		byID[k.String()] = k
	}
	cur, err := r.subs.Find(ctx, bson.M{"_id": bson.M{"$in": ids}})
	if err != nil {
		return nil, fmt.Errorf("read sub-id values: %w", err)
	}
	var docs []subValuesDoc
	if err := cur.All(ctx, &docs); err != nil {
		return nil, fmt.Errorf("decode sub-id values: %w", err)
	}
	for _, d := range docs {
		out[byID[d.ID]] = d.Values
	}
	return out, nil
}

// AllSubValues reads every sub-id value list: verify uses it.
func (r *Projection) AllSubValues(ctx context.Context) (map[domain.SubValuesKey][]string, error) {
	out := map[domain.SubValuesKey][]string{}
	err := each(ctx, r.subs, func(d *subValuesDoc) error {
		camp, sub, _ := strings.Cut(d.ID, "|")
		n, _ := strconv.Atoi(sub)
		out[domain.SubValuesKey{CampaignID: camp, Sub: n}] = d.Values
		return nil
	})
	return out, err
}

// SaveSubValues saves the lists batch n grew, whole: one bulk of upserts
// guarded by the batch (a duplicate key means "already applied"). Lists
// only grow, and only the projector writes them.
func (r *Projection) SaveSubValues(ctx context.Context, n int64, lists map[domain.SubValuesKey][]string) error {
	models := make([]mongo.WriteModel, 0, len(lists))
	for k, vs := range lists {
		filter, set := bson.M{"_id": k.String()}, bson.M{"values": vs}
		guard(filter, set, n, oneCampaign)
		models = append(models, mongo.NewUpdateOneModel().SetFilter(filter).SetUpdate(bson.M{"$set": set}).SetUpsert(true))
	}
	if len(models) == 0 {
		return nil
	}
	if err := guardedUpserts(ctx, r.subs, models); err != nil {
		return fmt.Errorf("save batch %d sub-id values: %w", n, err)
	}
	return nil
}

// EachQuarter calls fn with every quarter bucket and the batch its day
// document reached: verify.
func (r *Projection) EachQuarter(ctx context.Context, fn func(domain.QuarterDelta, int64) error) error {
	return each(ctx, r.quarters, func(d *quarterDayDoc) error {
		var err error
		d.quarters(func(q domain.QuarterDelta) {
			if err == nil {
				err = fn(q, d.H.ProjBatch)
			}
		})
		return err
	})
}

// RepairQuarter overwrites one quarter bucket with recomputed figures
// (the rest of its day document is left alone).
func (r *Projection) RepairQuarter(ctx context.Context, q domain.QuarterDelta, batch int64) error {
	_, slot := dayOf(q.Key.At)
	set := keyFields(q.Key)
	for f, v := range quarterFields("q."+slot+".", q.Counts, true) {
		set[f] = v
	}
	set["projBatch"] = batch
	if _, err := r.quarters.UpdateOne(ctx, bson.M{"_id": dayDocID(q.Key)}, bson.M{"$set": set}, options.Update().SetUpsert(true)); err != nil {
		return fmt.Errorf("repair report bucket: %w", err)
	}
	return nil
}

// ReportBuckets reads the report's quarter buckets.
type ReportBuckets struct {
	c *collection
}

// NewReportBuckets returns the report buckets' reader of s.
func NewReportBuckets(s *Store) *ReportBuckets {
	return &ReportBuckets{c: s.collection(reportBucketsCollection)}
}

// QuarterRange is one read of a report: one campaign's buckets of one
// level over [From, To), of the participations given (all when nil).
type QuarterRange struct {
	CampaignID       string
	Level            domain.QuarterLevel
	ParticipationIDs []string
	Sub              int // LevelSub: which sub-id
	From, To         time.Time
}

// ErrTooManyBuckets is returned by Read when a report would read more than
// its limit of buckets.
var ErrTooManyBuckets = domain.Invalid("to", "the report reads more than %d buckets: narrow the range, the granularity's span or the filters", domain.MaxReportBuckets)

// Read calls fn with every quarter bucket of each range (one indexed query
// per range over its days, streamed); it stops with ErrTooManyBuckets once
// more than limit buckets have been read in all.
func (r *ReportBuckets) Read(ctx context.Context, ranges []QuarterRange, limit int, fn func(domain.QuarterDelta)) error {
	read := 0
	for _, q := range ranges {
		firstDay, _ := dayOf(q.From)
		filter := bson.D{{Key: "campaignId", Value: q.CampaignID}, {Key: "level", Value: string(q.Level)},
			{Key: "day", Value: bson.M{"$gte": firstDay, "$lt": q.To}}}
		if q.Sub > 0 {
			filter = append(filter, bson.E{Key: "sub", Value: q.Sub})
		}
		if q.ParticipationIDs != nil {
			filter = append(filter, bson.E{Key: "participationId", Value: bson.M{"$in": q.ParticipationIDs}})
		}
		cur, err := r.c.Find(ctx, filter)
		if err != nil {
			return fmt.Errorf("find report buckets: %w", err)
		}
		for cur.Next(ctx) {
			var d quarterDayDoc
			if err := decodeDayDoc(cur, &d); err != nil {
				cur.Close(ctx)
				return fmt.Errorf("decode report bucket: %w", err)
			}
			d.quarters(func(b domain.QuarterDelta) {
				if !b.Key.At.Before(q.From) && b.Key.At.Before(q.To) {
					read++
					fn(b)
				}
			})
			if read > limit {
				cur.Close(ctx)
				return ErrTooManyBuckets
			}
		}
		err = cur.Err()
		cur.Close(ctx)
		if err != nil {
			return fmt.Errorf("read report buckets: %w", err)
		}
	}
	return nil
}

// decodeDayDoc decodes the cursor's document into d: the key fields by
// reflection, the slots from the raw document (a quarter's nine counters
// by name, without reflection per slot: a month's report by participation
// decodes tens of thousands of them).
func decodeDayDoc(cur interface{ Decode(any) error }, d *quarterDayDoc) error {
	var raw bson.Raw
	if err := cur.Decode(&raw); err != nil {
		return err
	}
	if err := bson.Unmarshal(raw, &d.H); err != nil {
		return err
	}
	q, err := raw.LookupErr("q")
	if err != nil {
		return nil // no quarter yet
	}
	slots, ok := q.DocumentOK()
	if !ok {
		return nil
	}
	elems, err := slots.Elements()
	if err != nil {
		return err
	}
	d.Q = make(map[string]quarterSlotDoc, len(elems))
	for _, e := range elems {
		fields, ok := e.Value().DocumentOK()
		if !ok {
			continue
		}
		vals, err := fields.Elements()
		if err != nil {
			return err
		}
		var c quarterSlotDoc
		for _, v := range vals {
			n, _ := v.Value().AsInt64OK()
			switch v.Key() {
			case "impressions":
				c.Impressions = n
			case "clicks":
				c.Clicks = n
			case "invalidClicks":
				c.InvalidClicks = n
			case "conversions":
				c.Conversions = n
			case "pending":
				c.Pending = n
			case "approved":
				c.Approved = n
			case "rejected":
				c.Rejected = n
			case "spendMicros":
				c.SpendMicros = n
			case "earningsMicros":
				c.EarningsMicros = n
			}
		}
		d.Q[e.Key()] = c
	}
	return nil
}

// SeedReportBuckets inserts quarter buckets whole, as the projector's
// upserts would leave them at batch n, in bulks of 1,000 day documents:
// for benchmarks that need millions of events' worth of buckets without
// projecting them one batch at a time (the embedded engine scans its
// collection per upsert). Production never calls it.
func SeedReportBuckets(ctx context.Context, s *Store, n int64, buckets []domain.QuarterDelta) error {
	var order []string
	docs := map[string]bson.M{}
	for _, q := range buckets {
		id := dayDocID(q.Key)
		d := docs[id]
		if d == nil {
			d = keyFields(q.Key)
			d["_id"], d["projBatch"], d["q"] = id, n, bson.M{}
			docs[id] = d
			order = append(order, id)
		}
		_, slot := dayOf(q.Key.At)
		d["q"].(bson.M)[slot] = quarterFields("", q.Counts, true)
	}
	c := s.db.Collection(reportBucketsCollection)
	for len(order) > 0 {
		chunk := order[:min(len(order), 1_000)]
		order = order[len(chunk):]
		batch := make([]any, len(chunk))
		for i, id := range chunk {
			batch[i] = docs[id]
		}
		if _, err := c.InsertMany(ctx, batch); err != nil {
			return fmt.Errorf("seed report buckets: %w", err)
		}
	}
	return nil
}
