package domain

import (
	"fmt"
	"io"
	"net/url"
	"strings"
	"time"
)

// CampaignStatus is where a campaign is in its life. The Go value is the
// stored form ("active"); GraphQL shows the upper-case name (ACTIVE).
type CampaignStatus string

const (
	CampaignDraft     CampaignStatus = "draft"
	CampaignActive    CampaignStatus = "active"
	CampaignPaused    CampaignStatus = "paused"
	CampaignExhausted CampaignStatus = "exhausted"
	CampaignEnded     CampaignStatus = "ended"
)

// ParseCampaignStatus accepts the stored form or the GraphQL name.
func ParseCampaignStatus(s string) (CampaignStatus, bool) {
	switch st := CampaignStatus(strings.ToLower(strings.TrimSpace(s))); st {
	case CampaignDraft, CampaignActive, CampaignPaused, CampaignExhausted, CampaignEnded:
		return st, true
	}
	return "", false
}

// Name is the GraphQL enum name.
func (s CampaignStatus) Name() string { return enumName(s) }

// MarshalGQL writes the GraphQL enum name.
func (s CampaignStatus) MarshalGQL(w io.Writer) { marshalEnum(w, s) }

// UnmarshalGQL reads the GraphQL enum name.
func (s *CampaignStatus) UnmarshalGQL(v any) (err error) {
	*s, err = unmarshalEnum(v, "CampaignStatus", CampaignDraft, CampaignActive, CampaignPaused, CampaignExhausted, CampaignEnded)
	return err
}

// TransitionSources returns the statuses a campaign may move to target from,
// when a person asks for it. This is the one statement of the status rules:
//
//	DRAFT → ACTIVE | ENDED
//	ACTIVE → PAUSED | ENDED
//	PAUSED → ACTIVE | ENDED
//	EXHAUSTED → ACTIVE (only with budget left) | ENDED
//	ENDED is final; EXHAUSTED is set by the system alone.
//
// The repository turns the list into the filter of one guarded update, so two
// concurrent transitions cannot both win. ok is false for targets no person
// may set.
func TransitionSources(target CampaignStatus) (from []CampaignStatus, ok bool) {
	switch target {
	case CampaignActive:
		return []CampaignStatus{CampaignDraft, CampaignPaused, CampaignExhausted}, true
	case CampaignPaused:
		return []CampaignStatus{CampaignActive}, true
	case CampaignEnded:
		return []CampaignStatus{CampaignDraft, CampaignActive, CampaignPaused, CampaignExhausted}, true
	}
	return nil, false
}

// Goal is a conversion a campaign pays for, with its rules: how a new
// conversion of it is approved, what makes a report of it a duplicate, and
// which goals it completes as well.
type Goal struct {
	GoalID string `json:"goalId" validate:"required,max=64,goalid"`
	Name   string `json:"name" validate:"required,max=120"`
	Payout Micros `json:"payout"`
	// Approval is AUTO (the default), REVIEW (held until the brand decides)
	// or HOLD (approved automatically HoldDays after it was recorded, unless
	// rejected first).
	Approval Approval `json:"approval"`
	HoldDays int      `json:"holdDays" validate:"min=0,max=365"`
	// Duplicates is ONCE_PER_CLICK (the default) or PER_TRANSACTION (a
	// repeatable goal: one conversion per partner transaction id).
	Duplicates DuplicateRule `json:"duplicates"`
	// Implies names goals a conversion of this one completes too
	// ("registration completes FTD"): recorded, marked implied, once.
	Implies []string `json:"implies" validate:"omitempty,max=10,unique,dive,goalid"`
}

// Approval is how a new conversion of a goal is approved.
type Approval string

const (
	ApprovalAuto   Approval = "auto"
	ApprovalReview Approval = "review"
	ApprovalHold   Approval = "hold"
)

// MarshalGQL writes the GraphQL enum name.
func (a Approval) MarshalGQL(w io.Writer) { marshalEnum(w, a.orDefault()) }

// UnmarshalGQL reads the GraphQL enum name.
func (a *Approval) UnmarshalGQL(v any) (err error) {
	*a, err = unmarshalEnum(v, "GoalApproval", ApprovalAuto, ApprovalReview, ApprovalHold)
	return err
}

func (a Approval) orDefault() Approval {
	if a == "" {
		return ApprovalAuto
	}
	return a
}

// DuplicateRule is what makes a second report of a goal a duplicate.
type DuplicateRule string

const (
	OncePerClick   DuplicateRule = "once_per_click"
	PerTransaction DuplicateRule = "per_transaction"
)

// MarshalGQL writes the GraphQL enum name.
func (d DuplicateRule) MarshalGQL(w io.Writer) { marshalEnum(w, d.orDefault()) }

// UnmarshalGQL reads the GraphQL enum name.
func (d *DuplicateRule) UnmarshalGQL(v any) (err error) {
	*d, err = unmarshalEnum(v, "GoalDuplicates", OncePerClick, PerTransaction)
	return err
}

func (d DuplicateRule) orDefault() DuplicateRule {
	if d == "" {
		return OncePerClick
	}
	return d
}

// Repeatable reports whether the goal converts once per transaction rather
// than once per click.
func (g Goal) Repeatable() bool { return g.Duplicates.orDefault() == PerTransaction }

// InitialStatus is the status a new conversion of the goal starts in, and
// until when a HOLD keeps it PENDING.
func (g Goal) InitialStatus(now time.Time) (ConversionStatus, *time.Time) {
	switch g.Approval.orDefault() {
	case ApprovalReview:
		return ConversionPending, nil
	case ApprovalHold:
		until := now.Add(time.Duration(g.HoldDays) * 24 * time.Hour)
		return ConversionPending, &until
	}
	return ConversionApproved, nil
}

// StartingStatus is the status a new conversion of the goal starts in when
// the partner reports it with status given (nil: none), and until when a
// HOLD keeps it PENDING: the partner's status when given, else the goal's
// (InitialStatus). A partner's PENDING stays PENDING whatever the goal's
// approval, and is then the goal's to release: a HOLD goal's hold still
// runs from now, a REVIEW or AUTO goal's conversion waits for a status
// change (the brand's setConversionStatus, or the partner's report of it).
// A partner's APPROVED or REJECTED is final as given: no hold.
func (g Goal) StartingStatus(now time.Time, given *ConversionStatus) (ConversionStatus, *time.Time) {
	status, holdUntil := g.InitialStatus(now)
	switch {
	case given == nil:
		return status, holdUntil
	case *given == ConversionPending:
		return ConversionPending, holdUntil
	}
	return *given, nil
}

// CampaignStats are a campaign's (or participation's) event counters.
type CampaignStats struct {
	Impressions   int64
	Clicks        int64 // valid clicks
	InvalidClicks int64 // invalid traffic: counted apart, never billed
	Conversions   int64
	NotBilled     NotBilledCounts // priced events a money rule refused, by reason
}

// Campaign is a brand's sponsorship, shown by the streamers who join it.
type Campaign struct {
	ID          string
	BrandID     string
	Name        string
	Description string
	Status      CampaignStatus
	LandingURL  string
	PostbackURL string
	Postback    Postback // postback settings and state; the template is PostbackURL
	// AlertWebhookURL is where the campaign's alerts are posted (signed
	// with the postback secret); "" is none.
	AlertWebhookURL string
	Budget          Micros
	Spent           Micros
	// DailyBudget is the most the campaign may spend in one day of its
	// TimeZone; 0 is none.
	DailyBudget Micros
	// TimeZone is the IANA name of the zone its days are counted in
	// (the daily budget, the streamers' daily caps); "" is UTC.
	TimeZone string
	// HoldDays is how many days its billed money is held before it is
	// payable; nil is the server's default (HOLD_DAYS), 0 at once.
	HoldDays  *int
	CPM       Micros // price per 1000 impressions
	CPC       Micros // price per click
	Goals     []Goal
	StartsAt  *time.Time
	EndsAt    *time.Time
	Stats     CampaignStats
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Remaining is the budget not yet spent.
func (c Campaign) Remaining() Micros { return c.Budget - c.Spent }

// MeanGoalPayout is the mean payout of the campaign's goals, 0 without goals.
func (c Campaign) MeanGoalPayout() Micros {
	if len(c.Goals) == 0 {
		return 0
	}
	var sum Micros
	for _, g := range c.Goals {
		sum += g.Payout
	}
	return sum / Micros(len(c.Goals))
}

// Goal returns the goal with id goalID.
func (c Campaign) Goal(goalID string) (Goal, bool) {
	for _, g := range c.Goals {
		if g.GoalID == goalID {
			return g, true
		}
	}
	return Goal{}, false
}

// CampaignInput is createCampaign's input; every field of updateCampaign's
// too, where a nil field is not given.
type CampaignInput struct {
	Name        *string `json:"name" validate:"omitnil,min=1,max=120"`
	Description *string `json:"description" validate:"omitnil,max=2000"`
	LandingURL  *string `json:"landingUrl" validate:"omitnil,campaign_url"`
	PostbackURL *string `json:"postbackUrl" validate:"omitnil,campaign_url"`
	// AlertWebhookURL is where alerts are posted; "" removes it.
	AlertWebhookURL  *string    `json:"alertWebhookUrl"`
	Budget           *Micros    `json:"budget"`
	DailyBudget      *Micros    `json:"dailyBudget"`
	TimeZone         *string    `json:"timeZone"`
	EarningsHoldDays *int       `json:"earningsHoldDays"`
	CPM              *Micros    `json:"cpm"`
	CPC              *Micros    `json:"cpc"`
	Goals            []Goal     `json:"goals" validate:"omitnil,max=50,unique=GoalID,dive"`
	StartsAt         *time.Time `json:"startsAt"`
	EndsAt           *time.Time `json:"endsAt"`
}

// Normalize trims text fields.
func (in *CampaignInput) Normalize() {
	for _, p := range []*string{in.Name, in.Description, in.LandingURL, in.PostbackURL, in.TimeZone, in.AlertWebhookURL} {
		if p != nil {
			*p = strings.TrimSpace(*p)
		}
	}
	for i := range in.Goals {
		in.Goals[i].GoalID = strings.TrimSpace(in.Goals[i].GoalID)
		in.Goals[i].Name = strings.TrimSpace(in.Goals[i].Name)
	}
}

// ValidateCreate checks a new campaign: name and landingUrl are required.
func (in *CampaignInput) ValidateCreate(prefix string) error {
	errs := validateStruct(prefix, in)
	if in.Name == nil && !hasFieldError(errs, prefix+".name") {
		errs = append(errs, Invalid(prefix+".name", "name is required"))
	}
	if in.LandingURL == nil && !hasFieldError(errs, prefix+".landingUrl") {
		errs = append(errs, Invalid(prefix+".landingUrl", "landingUrl is required"))
	}
	return in.finish(prefix, errs)
}

// ValidateUpdate checks the given fields of an update.
func (in *CampaignInput) ValidateUpdate(prefix string) error {
	return in.finish(prefix, validateStruct(prefix, in))
}

func (in *CampaignInput) finish(prefix string, errs FieldErrors) error {
	if in.Budget != nil && *in.Budget > MaxBudget {
		errs = append(errs, Invalid(prefix+".budget", "budget must be at most %s", MaxBudget))
	}
	if in.DailyBudget != nil && *in.DailyBudget > MaxBudget {
		errs = append(errs, Invalid(prefix+".dailyBudget", "dailyBudget must be at most %s", MaxBudget))
	}
	if in.EarningsHoldDays != nil && (*in.EarningsHoldDays < 0 || *in.EarningsHoldDays > MaxHoldDays) {
		errs = append(errs, Invalid(prefix+".earningsHoldDays", "earningsHoldDays must be from 0 to %d", MaxHoldDays))
	}
	if in.TimeZone != nil {
		if _, ok := LoadTimeZone(*in.TimeZone); !ok || *in.TimeZone == "" {
			errs = append(errs, Invalid(prefix+".timeZone", "timeZone must be an IANA time zone name, such as \"Europe/Berlin\" or \"UTC\""))
		}
	}
	for _, p := range []struct {
		name  string
		price *Micros
	}{{"cpm", in.CPM}, {"cpc", in.CPC}} {
		if p.price != nil && *p.price > MaxPrice {
			errs = append(errs, Invalid(prefix+"."+p.name, "%s must be at most %s", p.name, MaxPrice))
		}
	}
	errs = append(errs, validateGoals(prefix, in.Goals)...)
	if in.StartsAt != nil && in.EndsAt != nil && !in.EndsAt.After(*in.StartsAt) {
		errs = append(errs, Invalid(prefix+".endsAt", "endsAt must be after startsAt"))
	}
	if in.AlertWebhookURL != nil {
		if err := ValidateAlertWebhookURL(prefix+".alertWebhookUrl", *in.AlertWebhookURL); err != nil {
			errs = append(errs, err)
		}
	}
	if in.PostbackURL != nil && !hasFieldError(errs, prefix+".postbackUrl") {
		if err := ValidatePostbackTemplate(prefix+".postbackUrl", *in.PostbackURL); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) == 0 {
		return nil
	}
	return errs
}

// CampaignUpdate is updateCampaign's input: the fields to change and an
// optional status transition.
type CampaignUpdate struct {
	CampaignInput
	Status *CampaignStatus `json:"status"`
}

// Validate checks the given fields and that a requested status is one a
// person may set.
func (u *CampaignUpdate) Validate(prefix string) error {
	var errs FieldErrors
	if err := u.CampaignInput.ValidateUpdate(prefix); err != nil {
		errs = append(errs, err.(FieldErrors)...)
	}
	if u.Status != nil {
		if _, ok := TransitionSources(*u.Status); !ok {
			errs = append(errs, Invalid(prefix+".status", "status can be set to ACTIVE, PAUSED or ENDED; %s is set by the system", u.Status.Name()))
		}
	}
	if len(errs) == 0 {
		return nil
	}
	return errs
}

// ValidCampaignURL reports whether s is an absolute http(s) URL with a host.
// The macro {click_id} may appear anywhere; it is filled in when a click is
// redirected or a postback is sent.
func ValidCampaignURL(s string) bool {
	if len(s) > 2048 {
		return false
	}
	u, err := url.Parse(strings.ReplaceAll(s, ClickIDMacro, "x"))
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" && u.User == nil
}

// ClickIDMacro is replaced by the click id in landing and postback URLs.
const ClickIDMacro = "{click_id}"

// Billable reports whether an event at t is billed to the campaign: it is
// ACTIVE and t is inside startsAt/endsAt. Events outside are recorded but
// never billed. (The budget guard decides the rest, atomically.)
func (c Campaign) Billable(t time.Time) bool {
	if c.Status != CampaignActive {
		return false
	}
	if c.StartsAt != nil && t.Before(*c.StartsAt) {
		return false
	}
	return c.EndsAt == nil || t.Before(*c.EndsAt)
}

// validateGoals checks each goal's payout and rules, and that what a goal
// implies is another goal of the campaign that converts once per click.
func validateGoals(prefix string, goals []Goal) FieldErrors {
	var errs FieldErrors
	byID := map[string]Goal{}
	for _, g := range goals {
		byID[g.GoalID] = g
	}
	for i, g := range goals {
		path := fmt.Sprintf("%s.goals[%d]", prefix, i)
		if g.Payout > MaxPrice {
			errs = append(errs, Invalid(path+".payout", "payout must be at most %s", MaxPrice))
		}
		if g.Approval.orDefault() == ApprovalHold && g.HoldDays < 1 {
			errs = append(errs, Invalid(path+".holdDays", "a HOLD goal holds for 1 to 365 days"))
		}
		for _, id := range g.Implies {
			implied, ok := byID[id]
			switch {
			case id == g.GoalID:
				errs = append(errs, Invalid(path+".implies", "a goal cannot imply itself"))
			case !ok:
				errs = append(errs, Invalid(path+".implies", "the campaign has no goal %q", id))
			case implied.Repeatable():
				errs = append(errs, Invalid(path+".implies", "goal %q is PER_TRANSACTION: only goals that convert once per click can be implied", id))
			}
		}
	}
	return errs
}
