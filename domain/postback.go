package domain

import (
	"fmt"
	"io"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Delivery is one outbound postback to a partner: what happened to a
// conversion, with the value of every macro as it was when it happened. The
// projector enqueues one for each step of a conversion (recorded, approved,
// rejected) of a campaign that has a postback template, in the same batch
// that applies the step, so a crash can neither lose nor double it; the
// postback package sends it, from the outbox, with retries.
type Delivery struct {
	// Key is the delivery's identity and the idempotency key partners see:
	// "<conversionId>:<rev>", one per conversion step.
	Key          string
	CampaignID   string
	ConversionID string
	GoalID       string
	// Event is what the step was: DeliveryNew for a conversion recorded,
	// DeliveryStatus for a status change.
	Event string
	// Values are the macros' values, by name without braces: click_id,
	// goal_id, conversion_id, status, payout, currency, sub1…sub5,
	// external_id.
	Values    map[string]string
	CreatedAt time.Time
}

// The steps a delivery reports.
const (
	DeliveryNew    = "conversion"
	DeliveryStatus = "status"
)

// PostbackMacros are the macros a postback template may use.
var PostbackMacros = []string{"click_id", "goal_id", "conversion_id", "status", "payout", "currency",
	"sub1", "sub2", "sub3", "sub4", "sub5", "external_id"}

// PostbackMethod is how a postback is sent. The Go value is the stored form
// ("get"); GraphQL shows GET.
type PostbackMethod string

const (
	// PostbackGET sends the macros in the URL only.
	PostbackGET PostbackMethod = "get"
	// PostbackPOST sends to the expanded URL with a JSON body of the values.
	PostbackPOST PostbackMethod = "post"
)

// MarshalGQL writes the GraphQL enum name.
func (m PostbackMethod) MarshalGQL(w io.Writer) { marshalEnum(w, m) }

// UnmarshalGQL reads the GraphQL enum name.
func (m *PostbackMethod) UnmarshalGQL(v any) (err error) {
	*m, err = unmarshalEnum(v, "PostbackMethod", PostbackGET, PostbackPOST)
	return err
}

// Postback is a campaign's outbound postback configuration and state. Its
// URL template is the campaign's PostbackURL; a goal may override it.
type Postback struct {
	Method PostbackMethod
	// OnNew and OnStatus say which steps are sent: a conversion recorded,
	// a conversion's status changed. Both default to true.
	OnNew, OnStatus bool
	GoalURLs        []GoalPostbackURL
	// Secret signs every request (HMAC-SHA256); shown to the campaign's
	// brand and admins, never logged.
	Secret string
	// DisabledAt is set when the sender stopped the campaign's postbacks
	// after DisableAfter consecutive failed deliveries; DisabledReason says
	// why. Deliveries wait (held) until the postbacks are enabled again.
	DisabledAt     *time.Time
	DisabledReason string
	// Failures is the current run of consecutive failed deliveries.
	Failures int64
}

// Enabled reports whether the sender may send the campaign's postbacks.
func (p Postback) Enabled() bool { return p.DisabledAt == nil }

// GoalPostbackURL is a per-goal URL template that replaces the campaign's.
type GoalPostbackURL struct {
	GoalID string `json:"goalId" validate:"required,max=64,goalid"`
	URL    string `json:"url" validate:"required,max=2048"`
}

// PostbackTemplate returns the URL template for a conversion of goalID: the goal's
// override, else the campaign's postbackUrl ("" when there is none).
func (c Campaign) PostbackTemplate(goalID string) string {
	for _, g := range c.Postback.GoalURLs {
		if g.GoalID == goalID {
			return g.URL
		}
	}
	return c.PostbackURL
}

// Sends reports whether the campaign sends deliveries of event.
func (p Postback) Sends(event string) bool {
	if event == DeliveryStatus {
		return p.OnStatus
	}
	return p.OnNew
}

// PostbackInput is setCampaignPostback's input: nil fields stay as they are.
// URL "" removes the campaign's template (postbacks stop).
type PostbackInput struct {
	URL             *string         `json:"url"`
	Method          *PostbackMethod `json:"method"`
	OnNewConversion *bool           `json:"onNewConversion"`
	OnStatusChange  *bool           `json:"onStatusChange"`
	// GoalURLs replaces the whole list of per-goal overrides.
	GoalURLs []GoalPostbackURL `json:"goalUrls" validate:"omitnil,max=50,unique=GoalID,dive"`
}

// Normalize trims the URLs.
func (in *PostbackInput) Normalize() {
	if in.URL != nil {
		*in.URL = strings.TrimSpace(*in.URL)
	}
	for i := range in.GoalURLs {
		in.GoalURLs[i].GoalID = strings.TrimSpace(in.GoalURLs[i].GoalID)
		in.GoalURLs[i].URL = strings.TrimSpace(in.GoalURLs[i].URL)
	}
}

// Validate checks the input against the campaign's goals (an override for a
// goal the campaign lacks is refused): BAD_USER_INPUT on prefix.<field>,
// every bad field at once.
func (in *PostbackInput) Validate(prefix string, c Campaign) error {
	errs := validateStruct(prefix, in)
	if in.URL != nil && *in.URL != "" {
		if err := ValidatePostbackTemplate(prefix+".url", *in.URL); err != nil {
			errs = append(errs, err)
		}
	}
	for i, g := range in.GoalURLs {
		field := fmt.Sprintf("%s.goalUrls[%d]", prefix, i)
		if hasFieldError(errs, field) {
			continue
		}
		if _, ok := c.Goal(g.GoalID); !ok {
			errs = append(errs, Invalid(field+".goalId", "the campaign has no goal %q", g.GoalID))
		}
		if err := ValidatePostbackTemplate(field+".url", g.URL); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) == 0 {
		return nil
	}
	return errs
}

var macroPattern = regexp.MustCompile(`\{([^{}]*)\}`)

// ValidatePostbackTemplate checks a postback URL template: an absolute
// http(s) URL (ValidCampaignURL) whose every {macro} is one of
// PostbackMacros, in its path or query (never its host), with no other
// brace. An unknown macro is refused here,
// when the template is saved, rather than sent raw: BAD_USER_INPUT on
// field, naming it.
func ValidatePostbackTemplate(field, s string) *Error {
	for _, m := range macroPattern.FindAllStringSubmatch(s, -1) {
		if !slices.Contains(PostbackMacros, m[1]) {
			return Invalid(field, "unknown macro {%s}; the macros are {%s}", m[1], strings.Join(PostbackMacros, "}, {"))
		}
	}
	if strings.ContainsAny(macroPattern.ReplaceAllString(s, ""), "{}") {
		return Invalid(field, "a brace must be part of a {macro}; write a literal one as %%7B or %%7D")
	}
	if _, rest, ok := strings.Cut(s, "://"); ok {
		if i := strings.IndexAny(rest, "/?#"); i >= 0 {
			rest = rest[:i]
		}
		if strings.Contains(rest, "{") {
			return Invalid(field, "macros may appear in the URL's path and query, not in its host: a value must never choose where a postback goes")
		}
	}
	if !ValidCampaignURL(macroPattern.ReplaceAllString(s, "x")) {
		return Invalid(field, "must be an absolute http(s) URL such as https://partner.example/pb?click={click_id}; macros may appear in its path and query")
	}
	return nil
}

// ExpandPostback fills a template's macros with values, each query-escaped
// (url.QueryEscape), so that no value can change the URL's structure. A
// macro without a value becomes empty.
func ExpandPostback(template string, values map[string]string) string {
	return macroPattern.ReplaceAllStringFunc(template, func(m string) string {
		return url.QueryEscape(values[m[1:len(m)-1]])
	})
}

// DeliveryState is where a delivery is in the outbox.
type DeliveryState string

// The states of a delivery. pending and sending are the sender's; the others
// stay until a replay (or, for held, until the postbacks are enabled).
const (
	DeliveryPendingState DeliveryState = "pending"   // due at NextAt (first send or retry)
	DeliverySending      DeliveryState = "sending"   // claimed by a sender until NextAt (its lease)
	DeliveryDelivered    DeliveryState = "delivered" // the partner answered 2xx
	DeliveryFailed       DeliveryState = "failed"    // the retry ladder ran out
	DeliveryHeld         DeliveryState = "held"      // the campaign's postbacks are disabled
	DeliverySkipped      DeliveryState = "skipped"   // no template, or the step is not sent
)

// MarshalGQL writes the GraphQL enum name.
func (s DeliveryState) MarshalGQL(w io.Writer) { marshalEnum(w, s) }

// UnmarshalGQL reads the GraphQL enum name.
func (s *DeliveryState) UnmarshalGQL(v any) (err error) {
	*s, err = unmarshalEnum(v, "PostbackDeliveryState", DeliveryPendingState, DeliverySending,
		DeliveryDelivered, DeliveryFailed, DeliveryHeld, DeliverySkipped)
	return err
}

// Attempt is one try at sending a delivery.
type Attempt struct {
	N          int64 // 1 for the first attempt
	At         time.Time
	StatusCode int // 0 when no answer came
	Latency    time.Duration
	// Response is the first MaxResponseBytes of the answer's body.
	Response string
	// Error is what went wrong, in Tally's words ("timeout", "connection
	// refused", "status 500"…); "" on success.
	Error string
}

// MaxResponseBytes is how much of a partner's answer an attempt keeps;
// MaxAttemptLog how many attempts a delivery keeps (the latest).
const (
	MaxResponseBytes = 512
	MaxAttemptLog    = 20
)

// OutboxEntry is a delivery as the outbox holds it: what to send and how
// sending it went.
type OutboxEntry struct {
	Delivery
	State DeliveryState
	// NextAt is when a pending delivery is due, or when a sending one's
	// claim expires.
	NextAt time.Time
	// Attempts counts every attempt ever made; Retries those of the current
	// run of the ladder (a replay starts a new run).
	Attempts, Retries int64
	Log               []Attempt // oldest first, the latest MaxAttemptLog
	DeliveredAt       *time.Time
	LastError         string
}
