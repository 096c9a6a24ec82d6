package domain

import "time"

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
