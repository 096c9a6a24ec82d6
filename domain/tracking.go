package domain

import (
	"fmt"
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
	Viewer          string // a keyed hash of the viewer's address and user agent, never either in clear
	Subs            SubIDs
	Invalid         InvalidReason // set once projected, for invalid traffic
	Billing         Billing
	NotBilled       NotBilledReason // NOT_BILLED by a money rule: which
	Cost            Micros          // the campaign's cpc when the click was recorded; 0 when it was not billable
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
	// BillingReversed: a conversion billed, then rejected: the charge was
	// given back to the budget and taken from the streamer's earnings.
	BillingReversed Billing = "reversed"
)

// Name is the GraphQL enum name: not_billed → NOT_BILLED.
func (b Billing) Name() string { return enumName(b) }

// MarshalGQL writes the GraphQL enum name.
func (b Billing) MarshalGQL(w io.Writer) { marshalEnum(w, b) }

// UnmarshalGQL reads the GraphQL enum name.
func (b *Billing) UnmarshalGQL(v any) (err error) {
	*b, err = unmarshalEnum(v, "BillingState", BillingPending, BillingBilled, BillingNotBilled, BillingReversed)
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
	TransactionID   string // the partner's transaction id: a repeatable goal's key
	ParticipationID string
	CampaignID      string
	StreamerID      string
	Subs            SubIDs // inherited from the click
	Status          ConversionStatus
	StatusAt        time.Time
	RejectReason    string
	HoldUntil       *time.Time // a HOLD goal's PENDING conversion is approved then, unless rejected first
	History         []StatusChange
	Rev             int64  // counts the status changes; a delivery's key
	Implied         bool   // recorded because another goal implies this one
	CauseID         string // the conversion that implied it
	Payout          Micros // the goal's payout when the conversion was recorded
	Cost            Micros // what approval charges: Payout, or 0 when the campaign was not billable
	Charged         Micros // what the campaign is charged for it now, once projected
	Billing         Billing
	NotBilled       NotBilledReason // NOT_BILLED by a money rule: which
	CreatedAt       time.Time
}

// StatusChange is one entry of a conversion's history: who changed its
// status, when, from what to what, and why.
type StatusChange struct {
	By     string // "user:<id>", "apiKey:<id>", or "system" (a hold that ended)
	At     time.Time
	From   *ConversionStatus // nil for the status it was recorded with
	To     ConversionStatus
	Reason string
}

// Ptr returns a pointer to a copy of s, for StatusChange.From.
func (s ConversionStatus) Ptr() *ConversionStatus { return &s }

// CanBecome reports whether a conversion may change from s to to: PENDING
// to APPROVED or REJECTED, APPROVED to REJECTED (which gives the charge
// back). REJECTED is final, and nothing returns to PENDING. This is the one
// statement of the transitions; anything else is CONFLICT.
func (s ConversionStatus) CanBecome(to ConversionStatus) bool {
	switch s {
	case ConversionPending:
		return to == ConversionApproved || to == ConversionRejected
	case ConversionApproved:
		return to == ConversionRejected
	}
	return false
}

// Sources are the statuses from which a conversion may become to.
func (to ConversionStatus) Sources() []ConversionStatus {
	var out []ConversionStatus
	for _, s := range []ConversionStatus{ConversionPending, ConversionApproved, ConversionRejected} {
		if s.CanBecome(to) {
			out = append(out, s)
		}
	}
	return out
}

// Name is the GraphQL enum name.
func (s ConversionStatus) Name() string { return enumName(s) }

// ParseConversionStatus reads a status in either form, stored (approved)
// or GraphQL (APPROVED), as a partner's postback may send it.
func ParseConversionStatus(s string) (ConversionStatus, bool) {
	for _, st := range []ConversionStatus{ConversionPending, ConversionApproved, ConversionRejected} {
		if strings.EqualFold(s, string(st)) {
			return st, true
		}
	}
	return "", false
}

// SubIDs are the five free sub-ids a click carries (a partner's or a
// streamer's own tracking: placement, creative…), inherited by its
// conversions.
type SubIDs [5]string

// MaxSubIDLength bounds each sub-id.
const MaxSubIDLength = 100

// Validate checks each sub-id: at most MaxSubIDLength printable characters.
// Errors name paths under prefix (prefix.sub1…, or sub1… with no prefix),
// every invalid one at once.
func (s SubIDs) Validate(prefix string) error {
	if errs := s.check(prefix); len(errs) > 0 {
		return errs
	}
	return nil
}

func (s SubIDs) check(prefix string) FieldErrors {
	var errs FieldErrors
	for i, v := range s {
		if len(v) > MaxSubIDLength || strings.IndexFunc(v, func(r rune) bool { return r < 0x20 || r == 0x7f }) >= 0 {
			errs = append(errs, Invalid(joinPath(prefix, fmt.Sprintf("sub%d", i+1)), "sub%d must be at most %d printable characters", i+1, MaxSubIDLength))
		}
	}
	return errs
}

// joinPath is the input path of field under prefix.
func joinPath(prefix, field string) string {
	if prefix == "" {
		return field
	}
	return prefix + "." + field
}

// ClickInput is what a click is recorded with: its idempotency key and its
// sub-ids.
type ClickInput struct {
	ClickID string
	Subs    SubIDs
}

// Validate checks the click id (ValidClickID) and the sub-ids, every
// invalid field at once: prefix.clickId and prefix.subIds.sub1…; with no
// prefix (the query of /r), clickId and sub1….
func (in ClickInput) Validate(prefix string) error {
	var errs FieldErrors
	if !ValidClickID(in.ClickID) {
		errs = append(errs, Invalid(joinPath(prefix, "clickId"), "clickId must be 1–64 characters of letters, digits, '.', '_' and '-'"))
	}
	subs := prefix
	if prefix != "" {
		subs = prefix + ".subIds"
	}
	errs = append(errs, in.Subs.check(subs)...)
	if len(errs) == 0 {
		return nil
	}
	return errs
}

// ConversionInput is what recordConversion and /postback take.
type ConversionInput struct {
	ClickID    string `json:"clickId" validate:"required,clickid"`
	GoalID     string `json:"goalId" validate:"required,max=64,goalid"`
	ExternalID string `json:"externalId" validate:"max=128"`
	// TransactionID is the partner's transaction id: required for a
	// PER_TRANSACTION goal, whose conversions it tells apart.
	TransactionID string `json:"transactionId" validate:"max=128"`
	// Status, when given, is the partner's status for the conversion: the
	// status a new one starts in (instead of the goal's approval rule), or
	// a change of an existing one's.
	Status *ConversionStatus `json:"status"`
}

// Normalize trims the fields.
func (in *ConversionInput) Normalize() {
	in.ClickID = strings.TrimSpace(in.ClickID)
	in.GoalID = strings.TrimSpace(in.GoalID)
	in.ExternalID = strings.TrimSpace(in.ExternalID)
	in.TransactionID = strings.TrimSpace(in.TransactionID)
}

// ConversionStatusResult is what setConversionStatus did: the conversions
// in the status asked for, and those it could not change, each with why.
type ConversionStatusResult struct {
	Conversions []Conversion
	Failures    []ConversionStatusFailure
}

// ConversionStatusFailure is a conversion setConversionStatus could not
// change, with the error's code and its message.
type ConversionStatusFailure struct {
	ConversionID string
	Code         string
	Message      string
}

// Fail records that the conversion id could not change, and why.
func (r *ConversionStatusResult) Fail(id string, err error) {
	r.Failures = append(r.Failures, ConversionStatusFailure{ConversionID: id, Code: ErrorCode(err), Message: ErrorMessage(err)})
}

// ConversionStatusInput is setConversionStatus's input.
type ConversionStatusInput struct {
	ConversionIDs []string         `json:"conversionIds" validate:"required,min=1,max=100,unique"`
	Status        ConversionStatus `json:"status" validate:"required"`
	Reason        string           `json:"reason" validate:"max=500"`
}

// Validate checks the fields: a rejection needs a reason. Errors name paths
// under prefix.
func (in *ConversionStatusInput) Validate(prefix string) error {
	in.Reason = strings.TrimSpace(in.Reason)
	errs := validateStruct(prefix, in)
	if in.Status == ConversionRejected && in.Reason == "" && !hasFieldError(errs, prefix+".reason") {
		errs = append(errs, Invalid(prefix+".reason", "a rejection needs a reason"))
	}
	if len(errs) == 0 {
		return nil
	}
	return errs
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
	Batch           int64           // the projector batch that applied it; 0 while pending and for events older than the projector
	Viewer          string          // clicks: a keyed hash of the viewer's address and user agent ("" when unknown)
	Invalid         InvalidReason   // clicks judged invalid traffic: counted apart, never billed
	NotBilled       NotBilledReason // the money rule that refused its price, once projected NOT_BILLED
	CapDay          string          // impressions and clicks billed: the day of their cap counters (their campaign's time zone)
	Todo            bool            // the projector has work to do for it
	Subs            SubIDs          // clicks and conversions: the click's sub-ids
	Quarters        bool            // impressions and clicks: projected into the report's quarter buckets

	// Conversions only: the status now and what the projector applied of
	// the steps before (counted, charged, billing decided), the step's time
	// (the last status change) and every step applied so far.
	Status        ConversionStatus
	Rev           int64
	Counted       bool
	AppliedCharge Micros // what its campaign is charged for it now
	Decided       bool
	MoneyAt       time.Time
	GoalID        string
	ClickID       string
	ExternalID    string
	Payout        Micros
	Billable      bool // the campaign was billable when the conversion was recorded
	Steps         []Step
	// History is the conversion's status changes the projector has not
	// projected yet, oldest first: History[i] is the change of rev
	// HistoryRev+i, and the last one is the current status (Rev). A
	// conversion projected twice in one batch's time, or changed twice
	// between two projections, has several; each is one postback delivery.
	History    []StatusChange
	HistoryRev int64
	// Projected is the status the conversion's last step counted it
	// under in the quarter buckets; "" before its first such step.
	Projected ConversionStatus
}

// OrderAt is when the event's step happened, the order the projector bills
// in: a conversion's last status change, any other event's recording.
func (e EventRecord) OrderAt() time.Time {
	if e.Kind == EventConversion && !e.MoneyAt.IsZero() {
		return e.MoneyAt
	}
	return e.At
}

// Step is one projection of an event: the batch that applied it, whether it
// counted the event, the money it moved (negative for a charge given back),
// and the days it counted and moved money in. Verify sums the steps of the
// batches a counter has reached.
type Step struct {
	Batch    int64
	Counted  bool
	Delta    Micros
	CountDay string
	MoneyDay string
	Refused  NotBilledReason // the money rule that refused the step's price, if one did
	CapDay   string          // the day of the step in its campaign's time zone, when it moved money: its cap counters' day
	// Quarter buckets (steps projected since they exist; zero before):
	// the status the step counts the conversion under, in the quarter of
	// its recording, and the step's time, whose quarter its money is in.
	Status  ConversionStatus
	MoneyAt time.Time
}

// Next is what projecting the event does now, from what was applied before:
// whether it is counted (its first projection), the price to bill against
// the budget, and the charge to give back. A click or an impression is
// projected once: counted and, when priced and not invalid traffic, billed.
// A conversion is projected at each status change: approval bills its
// price once, a rejection after approval gives the charge back, PENDING
// moves no money.
func (e EventRecord) Next() (count bool, bill, refund Micros) {
	if e.Kind != EventConversion {
		if e.Invalid != "" {
			return true, 0, 0
		}
		return true, e.Price, 0
	}
	count = !e.Counted
	if e.Status == ConversionApproved && !e.Decided {
		bill = e.Price
	}
	if e.Status == ConversionRejected && e.AppliedCharge > 0 {
		refund = e.AppliedCharge
	}
	return count, bill, refund
}

// Outcome is the event's state once the projector applied Next, billed
// saying whether the budget covered the price: what it is charged now,
// whether its approval was decided, its billing, and the money this step
// moved.
func (e EventRecord) Outcome(billed bool) (charged Micros, decided bool, billing Billing, delta Micros) {
	_, bill, refund := e.Next()
	if e.Kind != EventConversion {
		if billed && bill > 0 {
			return bill, true, BillingBilled, bill
		}
		return 0, true, BillingNotBilled, 0
	}
	charged, decided = e.AppliedCharge, e.Decided
	if bill > 0 && billed {
		charged, delta = bill, bill
	}
	if e.Status == ConversionApproved {
		decided = true
	}
	if refund > 0 {
		charged, delta = 0, -refund
	}
	switch {
	case e.Status == ConversionPending:
		billing = BillingPending
	case e.Status == ConversionApproved && charged > 0:
		billing = BillingBilled
	case e.Status == ConversionRejected && (refund > 0 || e.Billing == BillingReversed):
		billing = BillingReversed
	default:
		billing = BillingNotBilled
	}
	return charged, decided, billing, delta
}

// Billed reports whether the click's campaign was charged for it.
func (c Click) Billed() bool { return c.Billing == BillingBilled }

// Billed reports whether the conversion's campaign was charged for it.
func (c Conversion) Billed() bool { return c.Billing == BillingBilled }

// Billed reports whether the impression's campaign was charged for it.
func (im Impression) Billed() bool { return im.Billing == BillingBilled }

// Charged is what the event's campaign is charged for it.
func (e EventRecord) Charged() Micros {
	if e.Kind == EventConversion && e.Billing != "" && (e.AppliedCharge > 0 || e.Decided) {
		return e.AppliedCharge
	}
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
		StreamerID: c.StreamerID, At: c.CreatedAt, Price: c.Cost, Billing: c.Billing, Status: c.Status, Rev: c.Rev,
		AppliedCharge: c.Charged, MoneyAt: c.StatusAt, GoalID: c.GoalID}
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
	NotBilled     NotBilledCounts // priced events a money rule refused, by reason
	Spend         Micros          // billed to the campaign
	Earnings      Micros          // earned by the streamer
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
