package domain

import (
	"io"
	"strconv"
	"strings"
	"time"
)

// Role is what a user is on the platform. The Go value is the stored form
// ("streamer"); GraphQL shows the upper-case enum name (STREAMER).
type Role string

const (
	RoleStreamer Role = "streamer"
	RoleBrand    Role = "brand"
	RoleAdmin    Role = "admin"
)

// ParseRole accepts the stored form or the GraphQL name, in any letter case.
func ParseRole(s string) (Role, bool) {
	switch r := Role(strings.ToLower(strings.TrimSpace(s))); r {
	case RoleStreamer, RoleBrand, RoleAdmin:
		return r, true
	}
	return "", false
}

// MarshalGQL writes the GraphQL enum name.
func (r Role) MarshalGQL(w io.Writer) { marshalEnum(w, r) }

// UnmarshalGQL reads the GraphQL enum name.
func (r *Role) UnmarshalGQL(v any) (err error) {
	*r, err = unmarshalEnum(v, "Role", RoleStreamer, RoleBrand, RoleAdmin)
	return err
}

// User is a person on the platform: a streamer, a brand, or an admin.
type User struct {
	ID                        string
	Email                     string
	DisplayName               string
	Role                      Role
	CreatedAt                 time.Time
	CampaignSelectionStrategy Strategy
	CampaignRotationSettings  RotationSettings
	// SessionVersion is carried in every session token issued to the user;
	// logOut and changePassword raise it, and a token of an older version
	// no longer authenticates.
	SessionVersion int
	// SignedIn marks the user a signUp or logIn of this request returns: the
	// caller proved to be them, though the request carried no token yet.
	// Never stored.
	SignedIn bool
}

// RotationSettings says how a streamer's overlay picks and rotates campaigns.
type RotationSettings struct {
	PreferredStrategy       Strategy         `json:"preferredStrategy"`
	RotationIntervalMinutes int              `json:"rotationIntervalMinutes"`
	PriorityWeights         PriorityWeights  `json:"priorityWeights"`
	BlackoutPeriods         []BlackoutPeriod `json:"blackoutPeriods"`
}

// PriorityWeights are the WEIGHTED strategy's factors: each in [0,1], summing to 1.
type PriorityWeights struct {
	PaymentRate float64 `json:"paymentRate" validate:"gte=0,lte=1"`
	Performance float64 `json:"performance" validate:"gte=0,lte=1"`
	Fairness    float64 `json:"fairness" validate:"gte=0,lte=1"`
}

// BlackoutPeriod is a weekly window, in its own time zone, during which the
// overlay shows nothing. EndTime before StartTime means the window crosses
// midnight into the next day.
type BlackoutPeriod struct {
	DaysOfWeek []Weekday `json:"daysOfWeek" validate:"required,min=1,max=7,unique,dive,weekday"`
	StartTime  string    `json:"startTime" validate:"required,hhmm"`
	EndTime    string    `json:"endTime" validate:"required,hhmm,necsfield=StartTime"`
	Timezone   string    `json:"timezone" validate:"required,iana_tz"`
	Reason     string    `json:"reason" validate:"max=200"`
}

// Defaults for users that have never changed their settings, and for documents
// written before the settings existed: the values the platform's data uses.
const (
	DefaultStrategy                = StrategyFairRotation
	DefaultRotationIntervalMinutes = 3
	weightsTolerance               = 1e-6
)

// DefaultPriorityWeights returns paymentRate 0.4, performance 0.3, fairness 0.3.
func DefaultPriorityWeights() PriorityWeights {
	return PriorityWeights{PaymentRate: 0.4, Performance: 0.3, Fairness: 0.3}
}

// DefaultRotationSettings returns the settings of a new user.
func DefaultRotationSettings() RotationSettings {
	return RotationSettings{
		PreferredStrategy:       DefaultStrategy,
		RotationIntervalMinutes: DefaultRotationIntervalMinutes,
		PriorityWeights:         DefaultPriorityWeights(),
		BlackoutPeriods:         []BlackoutPeriod{},
	}
}

// SelectionSettingsUpdate is a partial change of a user's campaign selection
// settings: a nil field is not given and stays as it is. BlackoutPeriods
// replaces the whole list when given (an empty list clears it); it holds at
// most 20 periods (the max=20 of its tag is the one statement of the limit).
type SelectionSettingsUpdate struct {
	Strategy                *Strategy        `json:"strategy"`
	RotationIntervalMinutes *int             `json:"rotationIntervalMinutes" validate:"omitnil,min=1,max=1440"`
	PriorityWeights         *PriorityWeights `json:"priorityWeights" validate:"omitnil"`
	BlackoutPeriods         []BlackoutPeriod `json:"blackoutPeriods" validate:"omitnil,max=20,dive"`
}

// Validate checks every given field; the errors name paths under prefix
// (normally "input").
func (u *SelectionSettingsUpdate) Validate(prefix string) error {
	errs := validateStruct(prefix, u)
	if u.PriorityWeights != nil && !hasFieldError(errs, prefix+".priorityWeights") {
		if err := u.PriorityWeights.validateSum(prefix + ".priorityWeights"); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) == 0 {
		return nil
	}
	return errs
}

func (w PriorityWeights) validateSum(field string) *Error {
	sum := w.PaymentRate + w.Performance + w.Fairness
	if sum < 1-weightsTolerance || sum > 1+weightsTolerance {
		return Invalid(field, "priority weights must add up to 1 (paymentRate + performance + fairness = %s)",
			strconv.FormatFloat(sum, 'f', -1, 64))
	}
	return nil
}

// SignUp is what a new user gives to create an account.
type SignUp struct {
	Email       string `json:"email" validate:"required,max=254,email"`
	Password    string `json:"password" validate:"required,min=8,max=72"`
	DisplayName string `json:"displayName" validate:"required,max=64"`
	Role        Role   `json:"role" validate:"required,signup_role"`
}

// Normalize trims what should be trimmed and lower-cases the email.
func (s *SignUp) Normalize() {
	s.Email = NormalizeEmail(s.Email)
	s.DisplayName = strings.TrimSpace(s.DisplayName)
}

// Validate checks the sign-up fields; the errors name paths under prefix.
func (s *SignUp) Validate(prefix string) error {
	if errs := validateStruct(prefix, s); len(errs) > 0 {
		return errs
	}
	return nil
}

// LogIn is an email and password pair.
type LogIn struct {
	Email    string `json:"email" validate:"required"`
	Password string `json:"password" validate:"required"`
}

// Validate checks that both are given; the errors name paths under prefix.
// It says nothing about any account: a wrong pair is the service's
// UNAUTHENTICATED.
func (l *LogIn) Validate(prefix string) error {
	if errs := validateStruct(prefix, l); len(errs) > 0 {
		return errs
	}
	return nil
}

// ChangePassword is a signed-in user's new password, with the current one
// as proof that the session's holder knows it.
type ChangePassword struct {
	CurrentPassword string `json:"currentPassword" validate:"required"`
	NewPassword     string `json:"newPassword" validate:"required,min=8,max=72"`
}

// Validate checks the fields; the errors name paths under prefix.
func (c *ChangePassword) Validate(prefix string) error {
	if errs := validateStruct(prefix, c); len(errs) > 0 {
		return errs
	}
	return nil
}

// NormalizeEmail is the form emails are stored, compared and indexed in:
// trimmed and lower-cased.
func NormalizeEmail(email string) string { return strings.ToLower(strings.TrimSpace(email)) }
