package repository

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/primitive"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"

	"tally/domain"
)

const campaignsCollection = "campaigns"

// campaignIndexes: brands list their own campaigns, streamers the active ones
// (both newest first, by _id); search matches stored word prefixes, never a
// regex, so both engines answer it.
func campaignIndexes() []mongo.IndexModel {
	return []mongo.IndexModel{
		{Keys: bson.D{{Key: "brandId", Value: 1}, {Key: "_id", Value: -1}}, Options: options.Index().SetName("brandId_1__id_-1")},
		{Keys: bson.D{{Key: "status", Value: 1}, {Key: "_id", Value: -1}}, Options: options.Index().SetName("status_1__id_-1")},
		{Keys: bson.D{{Key: "searchTerms", Value: 1}}, Options: options.Index().SetName("searchTerms_1")},
	}
}

// Campaigns is the campaigns collection.
type Campaigns struct {
	c *collection
}

// NewCampaigns returns the campaigns repository of s.
func NewCampaigns(s *Store) *Campaigns { return &Campaigns{c: s.collection(campaignsCollection)} }

type campaignDoc struct {
	ID              primitive.ObjectID `bson:"_id"`
	BrandID         primitive.ObjectID `bson:"brandId"`
	Name            string             `bson:"name"`
	Description     string             `bson:"description"`
	Status          string             `bson:"status"`
	LandingURL      string             `bson:"landingUrl"`
	PostbackURL     string             `bson:"postbackUrl,omitempty"`
	AlertWebhookURL string             `bson:"alertWebhookUrl,omitempty"`
	Postback        *postbackDoc       `bson:"postback,omitempty"`
	BudgetMicros    int64              `bson:"budgetMicros"`
	DailyBudget     int64              `bson:"dailyBudgetMicros,omitempty"`
	TimeZone        string             `bson:"timeZone,omitempty"`
	HoldDays        *int               `bson:"holdDays,omitempty"`
	SpentMicros     int64              `bson:"spentMicros"`
	RemainingMicros int64              `bson:"remainingMicros"`
	CPMMicros       int64              `bson:"cpmMicros"`
	CPCMicros       int64              `bson:"cpcMicros"`
	Goals           []goalDoc          `bson:"goals"`
	StartsAt        *time.Time         `bson:"startsAt,omitempty"`
	EndsAt          *time.Time         `bson:"endsAt,omitempty"`
	Stats           statsDoc           `bson:"stats"`
	SearchTerms     []string           `bson:"searchTerms"`
	CreatedAt       time.Time          `bson:"createdAt"`
	UpdatedAt       time.Time          `bson:"updatedAt"`
}

type goalDoc struct {
	GoalID       string   `bson:"goalId"`
	Name         string   `bson:"name"`
	PayoutMicros int64    `bson:"payoutMicros"`
	Approval     string   `bson:"approval,omitempty"`
	HoldDays     int      `bson:"holdDays,omitempty"`
	Duplicates   string   `bson:"duplicates,omitempty"`
	Implies      []string `bson:"implies,omitempty"`
}

func goalsOf(docs []goalDoc) []domain.Goal {
	out := make([]domain.Goal, 0, len(docs))
	for _, g := range docs {
		out = append(out, domain.Goal{GoalID: g.GoalID, Name: g.Name, Payout: domain.Micros(g.PayoutMicros),
			Approval: domain.Approval(g.Approval), HoldDays: g.HoldDays, Duplicates: domain.DuplicateRule(g.Duplicates),
			Implies: append([]string{}, g.Implies...)})
	}
	return out
}

type statsDoc struct {
	Impressions    int64        `bson:"impressions"`
	Clicks         int64        `bson:"clicks"`
	InvalidClicks  int64        `bson:"invalidClicks"`
	Conversions    int64        `bson:"conversions"`
	EarningsMicros int64        `bson:"earningsMicros,omitempty"`
	NotBilled      notBilledDoc `bson:"notBilled,omitempty"`
}

// notBilledDoc counts the priced events a money rule refused, by reason.
type notBilledDoc struct {
	Budget      int64 `bson:"budget,omitempty"`
	DailyCap    int64 `bson:"dailyCap,omitempty"`
	StreamerCap int64 `bson:"streamerCap,omitempty"`
}

func (d notBilledDoc) toDomain() domain.NotBilledCounts {
	return domain.NotBilledCounts{Budget: d.Budget, DailyCap: d.DailyCap, StreamerCap: d.StreamerCap}
}

// capsDoc is a participation's caps (absent: none).
type capsDoc struct {
	TotalMicros *int64 `bson:"totalMicros,omitempty"`
	DailyMicros *int64 `bson:"dailyMicros,omitempty"`
}

func (d capsDoc) toDomain() domain.ParticipationCaps {
	var c domain.ParticipationCaps
	if d.TotalMicros != nil {
		v := domain.Micros(*d.TotalMicros)
		c.TotalCap = &v
	}
	if d.DailyMicros != nil {
		v := domain.Micros(*d.DailyMicros)
		c.DailyCap = &v
	}
	return c
}

func (d *campaignDoc) toDomain() domain.Campaign {
	status, ok := domain.ParseCampaignStatus(d.Status)
	if !ok {
		status = domain.CampaignDraft
	}
	c := domain.Campaign{
		ID: d.ID.Hex(), BrandID: d.BrandID.Hex(), Name: d.Name, Description: d.Description, Status: status,
		LandingURL: d.LandingURL, PostbackURL: d.PostbackURL, AlertWebhookURL: d.AlertWebhookURL,
		Budget: domain.Micros(d.BudgetMicros), Spent: domain.Micros(d.SpentMicros),
		DailyBudget: domain.Micros(d.DailyBudget), TimeZone: cmp.Or(d.TimeZone, domain.DefaultTimeZone), HoldDays: d.HoldDays,
		CPM: domain.Micros(d.CPMMicros), CPC: domain.Micros(d.CPCMicros),
		Goals:    goalsOf(d.Goals),
		StartsAt: utcPtr(d.StartsAt), EndsAt: utcPtr(d.EndsAt),
		Stats: domain.CampaignStats{Impressions: d.Stats.Impressions, Clicks: d.Stats.Clicks, InvalidClicks: d.Stats.InvalidClicks,
			Conversions: d.Stats.Conversions, NotBilled: d.Stats.NotBilled.toDomain()},
		CreatedAt: d.CreatedAt.UTC(), UpdatedAt: d.UpdatedAt.UTC(),
	}
	c.Postback = d.Postback.toDomain()
	return c
}

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

func goalDocs(goals []domain.Goal) []goalDoc {
	out := make([]goalDoc, 0, len(goals))
	for _, g := range goals {
		out = append(out, goalDoc{GoalID: g.GoalID, Name: g.Name, PayoutMicros: int64(g.Payout), Approval: string(g.Approval),
			HoldDays: g.HoldDays, Duplicates: string(g.Duplicates), Implies: g.Implies})
	}
	return out
}

// searchTerms are every prefix (up to 20 characters) of every lower-cased word
// of a campaign's name: search "sum sal" finds "Summer Sale" with an equality
// match on an indexed array, which both engines answer without regexes.
func searchTerms(name string) []string {
	seen := map[string]bool{}
	terms := []string{}
	for _, w := range searchWords(name) {
		r := []rune(w)
		for i := 1; i <= len(r) && i <= 20; i++ {
			if p := string(r[:i]); !seen[p] {
				seen[p] = true
				terms = append(terms, p)
			}
		}
	}
	return terms
}

func searchWords(s string) []string {
	return strings.FieldsFunc(strings.ToLower(s), func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) })
}

// Create inserts a new DRAFT campaign.
func (r *Campaigns) Create(ctx context.Context, brandID string, in domain.CampaignInput, now time.Time) (domain.Campaign, error) {
	bid, err := objectID(brandID, "brand")
	if err != nil {
		return domain.Campaign{}, err
	}
	now = now.UTC().Truncate(time.Millisecond)
	doc := campaignDoc{ID: primitive.NewObjectID(), BrandID: bid, Status: string(domain.CampaignDraft),
		Goals: []goalDoc{}, CreatedAt: now, UpdatedAt: now}
	str := func(p *string) string {
		if p == nil {
			return ""
		}
		return *p
	}
	mic := func(p *domain.Micros) int64 {
		if p == nil {
			return 0
		}
		return int64(*p)
	}
	doc.Name, doc.Description, doc.LandingURL, doc.PostbackURL = str(in.Name), str(in.Description), str(in.LandingURL), str(in.PostbackURL)
	doc.BudgetMicros, doc.RemainingMicros = mic(in.Budget), mic(in.Budget)
	doc.CPMMicros, doc.CPCMicros = mic(in.CPM), mic(in.CPC)
	doc.DailyBudget, doc.TimeZone = mic(in.DailyBudget), str(in.TimeZone)
	doc.AlertWebhookURL = str(in.AlertWebhookURL)
	doc.HoldDays = in.EarningsHoldDays
	if in.Goals != nil {
		doc.Goals = goalDocs(in.Goals)
	}
	doc.StartsAt, doc.EndsAt = utcPtr(in.StartsAt), utcPtr(in.EndsAt)
	doc.SearchTerms = searchTerms(doc.Name)
	if _, err := r.c.InsertOne(ctx, doc); err != nil {
		return domain.Campaign{}, fmt.Errorf("insert campaign: %w", err)
	}
	return doc.toDomain(), nil
}

// ByID returns one campaign; NOT_FOUND when there is none.
func (r *Campaigns) ByID(ctx context.Context, id string) (domain.Campaign, error) {
	oid, err := objectID(id, "campaign")
	if err != nil {
		return domain.Campaign{}, err
	}
	var doc campaignDoc
	err = r.c.FindOne(ctx, bson.M{"_id": oid}).Decode(&doc)
	if isNoDocuments(err) {
		return domain.Campaign{}, domain.Errorf(domain.ENOTFOUND, "campaign %q not found", id)
	}
	if err != nil {
		return domain.Campaign{}, fmt.Errorf("find campaign: %w", err)
	}
	return doc.toDomain(), nil
}

// ByIDs returns the campaigns with the given ids in one query, keyed by id.
func (r *Campaigns) ByIDs(ctx context.Context, ids []string) (map[string]domain.Campaign, error) {
	cur, err := r.c.Find(ctx, bson.M{"_id": bson.M{"$in": objectIDs(ids)}})
	if err != nil {
		return nil, fmt.Errorf("find campaigns: %w", err)
	}
	var docs []campaignDoc
	if err := cur.All(ctx, &docs); err != nil {
		return nil, fmt.Errorf("decode campaigns: %w", err)
	}
	out := make(map[string]domain.Campaign, len(docs))
	for i := range docs {
		c := docs[i].toDomain()
		out[c.ID] = c
	}
	return out, nil
}

// List returns one page of campaigns matching f, newest first.
func (r *Campaigns) List(ctx context.Context, f domain.CampaignFilter, page domain.PageArgs) (domain.Page[domain.Campaign], error) {
	filter := bson.M{}
	if f.Status != "" {
		filter["status"] = string(f.Status)
	}
	if f.BrandID != "" {
		bid, err := primitive.ObjectIDFromHex(f.BrandID)
		if err != nil {
			return domain.Page[domain.Campaign]{}, nil
		}
		filter["brandId"] = bid
	}
	if words := searchWords(f.Search); len(words) > 0 {
		for i, w := range words {
			if r := []rune(w); len(r) > 20 {
				words[i] = string(r[:20])
			}
		}
		filter["searchTerms"] = bson.M{"$all": words}
	}
	return findPage(ctx, r.c, filter, page,
		func(d *campaignDoc) primitive.ObjectID { return d.ID },
		func(d *campaignDoc) domain.Campaign { return d.toDomain() })
}

// Update applies a validated update to a campaign as one guarded atomic
// write. current is the campaign as the caller read it (for authorization);
// the write only lands if, at that instant:
//   - a requested status change is allowed from the stored status
//     (domain.TransitionSources), and an activation leaves budget to spend;
//   - a budget change still starts from current's budget (the change is
//     applied as a delta to budget and remaining, so concurrent spends are
//     never lost) and does not fall below what is spent.
//
// Otherwise nothing is written and the error says why: CONFLICT with the
// stored status, or BAD_USER_INPUT on input.budget.
func (r *Campaigns) Update(ctx context.Context, current domain.Campaign, u domain.CampaignUpdate, now time.Time) (domain.Campaign, error) {
	oid, err := objectID(current.ID, "campaign")
	if err != nil {
		return domain.Campaign{}, err
	}
	filter := bson.M{"_id": oid}
	set := bson.M{"updatedAt": now.UTC().Truncate(time.Millisecond)}
	inc := bson.M{}
	in := u.CampaignInput
	if in.Name != nil {
		set["name"] = *in.Name
		set["searchTerms"] = searchTerms(*in.Name)
	}
	if in.Description != nil {
		set["description"] = *in.Description
	}
	if in.LandingURL != nil {
		set["landingUrl"] = *in.LandingURL
	}
	if in.PostbackURL != nil {
		set["postbackUrl"] = *in.PostbackURL
	}
	if in.AlertWebhookURL != nil {
		set["alertWebhookUrl"] = *in.AlertWebhookURL
	}
	if in.CPM != nil {
		set["cpmMicros"] = int64(*in.CPM)
	}
	if in.CPC != nil {
		set["cpcMicros"] = int64(*in.CPC)
	}
	if in.DailyBudget != nil {
		set["dailyBudgetMicros"] = int64(*in.DailyBudget)
	}
	if in.EarningsHoldDays != nil {
		set["holdDays"] = *in.EarningsHoldDays
	}
	if in.TimeZone != nil {
		set["timeZone"] = *in.TimeZone
	}
	if in.Goals != nil {
		set["goals"] = goalDocs(in.Goals)
	}
	if in.StartsAt != nil {
		set["startsAt"] = in.StartsAt.UTC()
	}
	if in.EndsAt != nil {
		set["endsAt"] = in.EndsAt.UTC()
	}
	var delta int64
	if in.Budget != nil {
		delta = int64(*in.Budget) - int64(current.Budget)
		filter["budgetMicros"] = int64(current.Budget)
		if delta != 0 {
			inc["budgetMicros"] = delta
			inc["remainingMicros"] = delta
		}
	}
	activating := u.Status != nil && *u.Status == domain.CampaignActive
	switch {
	case activating:
		filter["remainingMicros"] = bson.M{"$gt": -delta}
	case delta < 0:
		filter["remainingMicros"] = bson.M{"$gte": -delta}
	}
	if u.Status != nil {
		from, _ := domain.TransitionSources(*u.Status)
		names := make(bson.A, len(from))
		for i, s := range from {
			names[i] = string(s)
		}
		filter["status"] = bson.M{"$in": names}
		set["status"] = string(*u.Status)
	}
	update := bson.M{"$set": set}
	if len(inc) > 0 {
		update["$inc"] = inc
	}
	var doc campaignDoc
	err = r.c.FindOneAndUpdate(ctx, filter, update, options.FindOneAndUpdate().SetReturnDocument(options.After)).Decode(&doc)
	if err == nil {
		return doc.toDomain(), nil
	}
	if !isNoDocuments(err) {
		return domain.Campaign{}, fmt.Errorf("update campaign: %w", err)
	}
	// Nothing matched: read the campaign once to say why.
	now2, rerr := r.ByID(ctx, current.ID)
	if rerr != nil {
		return domain.Campaign{}, rerr
	}
	if u.Status != nil {
		if from, _ := domain.TransitionSources(*u.Status); !slices.Contains(from, now2.Status) {
			return domain.Campaign{}, domain.Errorf(domain.ECONFLICT, "the campaign is %s and cannot change to %s", now2.Status.Name(), u.Status.Name())
		}
	}
	if in.Budget != nil && now2.Budget != current.Budget {
		return domain.Campaign{}, domain.Errorf(domain.ECONFLICT, "the campaign's budget changed meanwhile (now %s); read it again and retry", now2.Budget)
	}
	if activating && now2.Remaining()+domain.Micros(delta) <= 0 {
		return domain.Campaign{}, domain.Invalid("input.budget", "the campaign has no budget left to spend (spent %s of %s); raise the budget to activate it", now2.Spent, now2.Budget)
	}
	if delta < 0 {
		return domain.Campaign{}, domain.Invalid("input.budget", "budget cannot be less than what is already spent (%s)", now2.Spent)
	}
	return domain.Campaign{}, domain.Errorf(domain.ECONFLICT, "the campaign changed meanwhile; read it again and retry")
}

// BrandOf returns the brand id of campaign id, "" when it does not exist
// (the question domain.CanSeeParticipation asks).
func (r *Campaigns) BrandOf(ctx context.Context, id string) (string, error) {
	camp, err := r.ByID(ctx, id)
	if domain.ErrorCode(err) == domain.ENOTFOUND {
		return "", nil
	}
	return camp.BrandID, err
}
