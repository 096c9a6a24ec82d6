package domain

import (
	"io"
	"regexp"
	"strings"
	"time"
)

// Click is one recorded click on a participation's link. ClickID is the
// caller's idempotency key: a click with the same ClickID is the same click.
type Click struct {
	ID              string
	ClickID         string
	ParticipationID string
	CampaignID      string
	StreamerID      string
	Viewer          string        // a keyed hash of the viewer's address and user agent, never either in clear
	Invalid         InvalidReason // set once projected, for invalid traffic
	Billing         Billing
	Cost            Micros // the campaign's cpc when the click was recorded; 0 when it was not billable
	CreatedAt       time.Time
}

// Billing is what became of an event's cost. The request that records an
// event only stores it (PENDING); the projector then decides, in event
// order against the campaign's remaining budget, whether it is BILLED or
// NOT_BILLED, exactly once.
type Billing string

const (
	BillingPending   Billing = "pending"
	BillingBilled    Billing = "billed"
	BillingNotBilled Billing = "not_billed"
)

// Name is the GraphQL enum name: not_billed → NOT_BILLED.
func (b Billing) Name() string { return enumName(b) }

// MarshalGQL writes the GraphQL enum name.
func (b Billing) MarshalGQL(w io.Writer) { marshalEnum(w, b) }

// UnmarshalGQL reads the GraphQL enum name.
func (b *Billing) UnmarshalGQL(v any) (err error) {
	*b, err = unmarshalEnum(v, "BillingState", BillingPending, BillingBilled, BillingNotBilled)
	return err
}

// ConversionStatus is a conversion's review state.
type ConversionStatus string

const (
	ConversionPending  ConversionStatus = "pending"
	ConversionApproved ConversionStatus = "approved"
	ConversionRejected ConversionStatus = "rejected"
)

// MarshalGQL writes the GraphQL enum name.
func (s ConversionStatus) MarshalGQL(w io.Writer) { marshalEnum(w, s) }

// UnmarshalGQL reads the GraphQL enum name.
func (s *ConversionStatus) UnmarshalGQL(v any) (err error) {
	*s, err = unmarshalEnum(v, "ConversionStatus", ConversionPending, ConversionApproved, ConversionRejected)
	return err
}

// Conversion is one recorded conversion of a goal, attributed through a
// click. (ClickID, GoalID) is unique: a partner reporting it again changes
// nothing.
type Conversion struct {
	ID              string
	ClickID         string
	GoalID          string
	ExternalID      string
	ParticipationID string
	CampaignID      string
	StreamerID      string
	Status          ConversionStatus
	Payout          Micros // the goal's payout when the conversion was recorded
	Cost            Micros // what the campaign is charged once billed: Payout, or 0 when it was not billable
	Billing         Billing
	CreatedAt       time.Time
}

// ConversionInput is what recordConversion and /postback take.
type ConversionInput struct {
	ClickID    string `json:"clickId" validate:"required,clickid"`
	GoalID     string `json:"goalId" validate:"required,max=64,goalid"`
	ExternalID string `json:"externalId" validate:"max=128"`
}

// Normalize trims the fields.
func (in *ConversionInput) Normalize() {
	in.ClickID = strings.TrimSpace(in.ClickID)
	in.GoalID = strings.TrimSpace(in.GoalID)
	in.ExternalID = strings.TrimSpace(in.ExternalID)
}

// Validate checks the fields; errors name paths under prefix.
func (in *ConversionInput) Validate(prefix string) error {
	if errs := validateStruct(prefix, in); len(errs) > 0 {
		return errs
	}
	return nil
}

var clickIDPattern = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// ValidClickID reports whether s is a click id: 1–64 characters of
// [A-Za-z0-9._-].
func ValidClickID(s string) bool { return clickIDPattern.MatchString(s) }

// EventKind names a tracked event and its counter.
type EventKind string

const (
	EventImpression EventKind = "impressions"
	EventClick      EventKind = "clicks"
	EventConversion EventKind = "conversions"
)

// EventRecord is what every stored event says about its effects: which
// event, its kind, whom it counts for, when, what it costs if billed (its
// price, 0 when it was not billable) and what became of that cost. The
// projector folds new events into every counter from these, and verify
// recomputes every counter from them.
type EventRecord struct {
	ID              string
	Kind            EventKind
	CampaignID      string
	ParticipationID string
	StreamerID      string
	At              time.Time
	Price           Micros
	Billing         Billing
	Batch           int64         // the projector batch that applied it; 0 while pending and for events older than the projector
	Viewer          string        // clicks: a keyed hash of the viewer's address and user agent ("" when unknown)
	Invalid         InvalidReason // clicks judged invalid traffic: counted apart, never billed
}

// Billed reports whether the click's campaign was charged for it.
func (c Click) Billed() bool { return c.Billing == BillingBilled }

// Billed reports whether the conversion's campaign was charged for it.
func (c Conversion) Billed() bool { return c.Billing == BillingBilled }

// Billed reports whether the impression's campaign was charged for it.
func (im Impression) Billed() bool { return im.Billing == BillingBilled }

// Charged is what the event's campaign was charged for it.
func (e EventRecord) Charged() Micros {
	if e.Billing == BillingBilled {
		return e.Price
	}
	return 0
}

// Event is the click as an EventRecord.
func (c Click) Event() EventRecord {
	return EventRecord{ID: c.ID, Kind: EventClick, CampaignID: c.CampaignID, ParticipationID: c.ParticipationID,
		StreamerID: c.StreamerID, At: c.CreatedAt, Price: c.Cost, Billing: c.Billing, Viewer: c.Viewer, Invalid: c.Invalid}
}

// Event is the conversion as an EventRecord.
func (c Conversion) Event() EventRecord {
	return EventRecord{ID: c.ID, Kind: EventConversion, CampaignID: c.CampaignID, ParticipationID: c.ParticipationID,
		StreamerID: c.StreamerID, At: c.CreatedAt, Price: c.Cost, Billing: c.Billing}
}

// Event is the impression as an EventRecord.
func (im Impression) Event() EventRecord {
	return EventRecord{ID: im.ID, Kind: EventImpression, CampaignID: im.CampaignID, ParticipationID: im.ParticipationID,
		StreamerID: im.StreamerID, At: im.CreatedAt, Price: im.Cost, Billing: im.Billing}
}

// StatsScope is what a daily bucket counts for.
type StatsScope string

const (
	ScopeCampaign      StatsScope = "campaign"
	ScopeParticipation StatsScope = "participation"
	ScopeStreamer      StatsScope = "streamer"
)

// MarshalGQL writes the GraphQL enum name.
func (s StatsScope) MarshalGQL(w io.Writer) { marshalEnum(w, s) }

// UnmarshalGQL reads the GraphQL enum name.
func (s *StatsScope) UnmarshalGQL(v any) (err error) {
	*s, err = unmarshalEnum(v, "StatsScope", ScopeCampaign, ScopeParticipation, ScopeStreamer)
	return err
}

// DailyStat is one UTC day's counters and money for one campaign,
// participation or streamer.
type DailyStat struct {
	Date          string // YYYY-MM-DD, UTC
	Impressions   int64
	Clicks        int64 // valid clicks
	InvalidClicks int64 // invalid traffic
	Conversions   int64
	Spend         Micros // billed to the campaign
	Earnings      Micros // earned by the streamer
}

// Day is the UTC date of t as YYYY-MM-DD, the key of daily buckets.
func Day(t time.Time) string { return t.UTC().Format(time.DateOnly) }

// MaxStatsDays is the longest range one dailyStats query may span.
const MaxStatsDays = 366

// Scope is what an API key may do.
type Scope string

// ScopeConversionsWrite lets a partner server record conversions.
const ScopeConversionsWrite Scope = "conversions:write"

// Scopes lists every scope.
var Scopes = []Scope{ScopeConversionsWrite}

// Name is the GraphQL enum name: conversions:write → CONVERSIONS_WRITE.
func (s Scope) Name() string { return enumName(s) }

// MarshalGQL writes the GraphQL enum name.
func (s Scope) MarshalGQL(w io.Writer) { marshalEnum(w, s) }

// UnmarshalGQL reads the GraphQL enum name.
func (s *Scope) UnmarshalGQL(v any) (err error) {
	*s, err = unmarshalEnum(v, "ApiKeyScope", Scopes...)
	return err
}

// APIKey is a credential for partner servers. Only a hash of the key is
// stored; the key itself is shown once, when it is created.
type APIKey struct {
	ID         string
	Name       string
	OwnerID    string
	OwnerRole  Role
	Scopes     []Scope
	CreatedAt  time.Time
	LastUsedAt *time.Time
	RevokedAt  *time.Time
}

// Has reports whether the key carries scope s.
func (k APIKey) Has(s Scope) bool {
	for _, sc := range k.Scopes {
		if sc == s {
			return true
		}
	}
	return false
}

// APIKeyInput is createApiKey's input.
type APIKeyInput struct {
	Name   string  `json:"name" validate:"required,max=80"`
	Scopes []Scope `json:"scopes" validate:"required,min=1,unique"`
}

// Validate checks the fields; errors name paths under prefix.
func (in *APIKeyInput) Validate(prefix string) error {
	in.Name = strings.TrimSpace(in.Name)
	if errs := validateStruct(prefix, in); len(errs) > 0 {
		return errs
	}
	return nil
}
