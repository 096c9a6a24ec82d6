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
	Billed          bool
	Cost            Micros
	CreatedAt       time.Time
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
	Payout          Micros
	Billed          bool
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

// EventRecord is what every stored event says about its effects: its kind,
// whom it counts for, when, and what its campaign was charged for it (0 when
// unbilled). Reconcile recomputes every total from these.
type EventRecord struct {
	Kind            EventKind
	CampaignID      string
	ParticipationID string
	StreamerID      string
	At              time.Time
	Charged         Micros
}

// Event is the click as an EventRecord.
func (c Click) Event() EventRecord {
	return EventRecord{EventClick, c.CampaignID, c.ParticipationID, c.StreamerID, c.CreatedAt, charged(c.Billed, c.Cost)}
}

// Event is the conversion as an EventRecord.
func (c Conversion) Event() EventRecord {
	return EventRecord{EventConversion, c.CampaignID, c.ParticipationID, c.StreamerID, c.CreatedAt, charged(c.Billed, c.Payout)}
}

// Event is the impression as an EventRecord.
func (im Impression) Event() EventRecord {
	return EventRecord{EventImpression, im.CampaignID, im.ParticipationID, im.StreamerID, im.CreatedAt, charged(im.Billed, im.Cost)}
}

func charged(billed bool, amount Micros) Micros {
	if billed {
		return amount
	}
	return 0
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
	Date        string // YYYY-MM-DD, UTC
	Impressions int64
	Clicks      int64
	Conversions int64
	Spend       Micros // billed to the campaign
	Earnings    Micros // earned by the streamer
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
