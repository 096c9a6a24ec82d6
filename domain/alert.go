package domain

import (
	"encoding/binary"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// AlertKind is the limit an alert is about. The Go value is the stored
// form ("daily_budget"); GraphQL shows DAILY_BUDGET.
type AlertKind string

const (
	// AlertBudget: the campaign's total budget.
	AlertBudget AlertKind = "budget"
	// AlertDailyBudget: the campaign's daily budget, on one day of its time zone.
	AlertDailyBudget AlertKind = "daily_budget"
	// AlertStreamerCap: one participation's total cap.
	AlertStreamerCap AlertKind = "streamer_cap"
	// AlertStreamerDailyCap: one participation's daily cap, on one day of
	// the campaign's time zone.
	AlertStreamerDailyCap AlertKind = "streamer_daily_cap"
)

// MarshalGQL writes the GraphQL enum name.
func (k AlertKind) MarshalGQL(w io.Writer) { marshalEnum(w, k) }

// UnmarshalGQL reads the GraphQL enum name.
func (k *AlertKind) UnmarshalGQL(v any) (err error) {
	*k, err = unmarshalEnum(v, "AlertKind", AlertBudget, AlertDailyBudget, AlertStreamerCap, AlertStreamerDailyCap)
	return err
}

// Name is the GraphQL enum name ("DAILY_BUDGET").
func (k AlertKind) Name() string { return enumName(k) }

// The thresholds, in percent of a limit. The campaign's budget and daily
// budget alert at both; a streamer's caps at AlertReached only.
const (
	AlertNearly  = 80
	AlertReached = 100
)

// Alert tells a campaign's brand that spend reached a threshold of one of
// its limits: 80% or 100% of the budget or of the daily budget (for one
// day), or a streamer's total or daily cap. The projector decides it in
// event order (DecideAlerts) and records it once under its natural key,
// its ID; a replay or a later batch crossing the same threshold again
// records nothing new.
type Alert struct {
	// ID is the natural key: the campaign, the kind, the threshold, the
	// limit's value, then the participation and the day where they apply
	// (AlertKey).
	ID         string
	CampaignID string
	BrandID    string
	Kind       AlertKind
	// Threshold is 80 or 100 (percent).
	Threshold int
	// Limit is the limit's value when it was reached; Spent what the limit
	// counts (the campaign's spend, the day's, the streamer's) just after
	// the event that reached it.
	Limit, Spent Micros
	// Day is the day of a daily limit, in the campaign's time zone; "" else.
	Day string
	// ParticipationID and StreamerID name the streamer of a streamer's cap.
	ParticipationID, StreamerID string
	// At is when the event that reached the threshold happened (a
	// conversion's approval).
	At time.Time
	// Seq orders a campaign's alerts: the batch that recorded it, shifted
	// left by 20 bits, plus its place in the batch's plan.
	Seq int64
}

// AlertSeq is an alert's Seq: batch n, place i in its plan. An event
// raises at most six alerts (two per campaign limit, one per streamer
// cap), so a batch of projection.DefaultBatchSize events stays far below
// the 2^20 places a batch has.
func AlertSeq(n int64, i int) int64 { return n<<20 | int64(i) }

// AlertBatchStart is the first Seq of the batch of the alert of sequence
// seq.
func AlertBatchStart(seq int64) int64 { return seq >> 20 << 20 }

// AlertKey is an alert's natural key:
// "<campaignId>:<KIND>:<threshold>:<limitMicros>[:<participationId>][:<day>]".
// The limit's value is part of it: a limit set to a new value alerts again
// at each threshold of the new value; a limit set back to a value it had
// does not alert twice for it (on the same day, for a daily one).
func AlertKey(campaignID string, kind AlertKind, threshold int, limit Micros, participationID, day string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s:%s:%d:%d", campaignID, kind.Name(), threshold, int64(limit))
	if participationID != "" {
		b.WriteString(":" + participationID)
	}
	if day != "" {
		b.WriteString(":" + day)
	}
	return b.String()
}

// DeliveryAlert is the event of an alert's webhook delivery in the outbox.
const DeliveryAlert = "alert"

// Delivery is the alert's webhook, for the outbox: keyed by the alert's
// ID, its values the body's fields (AlertWebhookBody).
func (a Alert) Delivery(currency string) Delivery {
	v := map[string]string{"alert_id": a.ID, "campaign_id": a.CampaignID, "kind": a.Kind.Name(),
		"threshold": strconv.Itoa(a.Threshold), "limit": a.Limit.String(), "spent": a.Spent.String(),
		"currency": currency, "at": a.At.UTC().Format(time.RFC3339Nano)}
	if a.Day != "" {
		v["day"] = a.Day
	}
	if a.ParticipationID != "" {
		v["participation_id"], v["streamer_id"] = a.ParticipationID, a.StreamerID
	}
	return Delivery{Key: a.ID, CampaignID: a.CampaignID, Event: DeliveryAlert, Values: v, CreatedAt: a.At}
}

// AlertWebhookBody is the JSON body of an alert's webhook request, from
// its delivery's values.
type AlertWebhookBody struct {
	Event           string `json:"event"` // "alert"
	AlertID         string `json:"alertId"`
	CampaignID      string `json:"campaignId"`
	Kind            string `json:"kind"`
	Threshold       int    `json:"threshold"`
	Limit           string `json:"limit"`
	Spent           string `json:"spent"`
	Currency        string `json:"currency"`
	Day             string `json:"day,omitempty"`
	ParticipationID string `json:"participationId,omitempty"`
	StreamerID      string `json:"streamerId,omitempty"`
	At              string `json:"at"`
}

// AlertBody builds the webhook body from a delivery's values.
func AlertBody(v map[string]string) AlertWebhookBody {
	th, _ := strconv.Atoi(v["threshold"])
	return AlertWebhookBody{Event: DeliveryAlert, AlertID: v["alert_id"], CampaignID: v["campaign_id"], Kind: v["kind"],
		Threshold: th, Limit: v["limit"], Spent: v["spent"], Currency: v["currency"], Day: v["day"],
		ParticipationID: v["participation_id"], StreamerID: v["streamer_id"], At: v["at"]}
}

// ValidateAlertWebhookURL checks a campaign's alertWebhookUrl: "" (none)
// or an absolute http(s) URL of at most 2048 bytes with no macro (an
// alert's values go in the body). BAD_USER_INPUT on field.
func ValidateAlertWebhookURL(field, s string) *Error {
	if s == "" {
		return nil
	}
	if strings.ContainsAny(s, "{}") {
		return Invalid(field, "alertWebhookUrl takes no macros: the alert is in the request's JSON body")
	}
	if !ValidCampaignURL(s) {
		return Invalid(field, "alertWebhookUrl must be an absolute http(s) URL such as https://brand.example/tally-alerts")
	}
	return nil
}

// DecideAlerts is the alert rule, for one campaign's events of one batch
// in event order, billed as d says (domain.Bill's decision against the
// same state): the alerts they raise, in order. It follows each limit's
// spend event by event, from the state before the batch — the campaign's
// spend (its budget less remaining), each day's spend, each streamer's
// total and day spend — and raises:
//
//   - 80% of the budget or of the daily budget when the spend goes from
//     below 80% of the limit to at least 80%;
//   - 100% of any limit (the budget, the daily budget, a streamer's total
//     or daily cap) when the limit is reached: when an event's money takes
//     the spend to the limit, or so close that the campaign's cheapest
//     price no longer fits (what the overlay calls capped), or when the
//     limit refused an event (NOT_BILLED with its reason).
//
// A threshold crossed again (money given back, then spent again) raises
// the same key: the store keeps the first. The rule reads only what the
// batch carries: the same batch and state give the same alerts.
func DecideAlerts(c Campaign, remaining Micros, events []EventRecord, d CampaignDelta, caps CapState) []Alert {
	loc := caps.Location
	if loc == nil {
		loc = time.UTC
	}
	unbilled := make(map[string]bool, len(d.Unbilled))
	for _, id := range d.Unbilled {
		unbilled[id] = true
	}
	var out []Alert
	type key struct {
		kind      AlertKind
		threshold int
		limit     Micros
		pid, day  string
	}
	seen := map[key]bool{} // the key's parts: a capped streamer's refusals raise it again and again
	emit := func(a Alert) {
		if k := (key{a.Kind, a.Threshold, a.Limit, a.ParticipationID, a.Day}); !seen[k] {
			seen[k] = true
			a.ID = AlertKey(a.CampaignID, a.Kind, a.Threshold, a.Limit, a.ParticipationID, a.Day)
			out = append(out, a)
		}
	}
	least := c.cheapestPrice() // CapRoomLeft's, read once
	reached := func(limit, spent Micros) bool { return spent >= limit || (least > 0 && limit-spent < least) }
	// check follows one limit across one event: before and after are its
	// spend around the event, refused whether the limit refused it.
	check := func(e EventRecord, a Alert, nearly bool, before, after Micros, refused bool) {
		a.CampaignID, a.BrandID, a.At, a.Spent = c.ID, c.BrandID, e.OrderAt(), after
		if nearly && before*5 < a.Limit*4 && after*5 >= a.Limit*4 {
			a.Threshold = AlertNearly
			emit(a)
		}
		if refused || (reached(a.Limit, after) && !reached(a.Limit, before)) {
			a.Threshold = AlertReached
			emit(a)
		}
	}
	spent := c.Budget - remaining
	day := map[CapSpendKey]Micros{}
	dayGet := func(k CapSpendKey) Micros {
		if v, ok := day[k]; ok {
			return v
		}
		return caps.DaySpend[k]
	}
	total := map[string]Micros{}
	totalGet := func(pid string) Micros {
		if v, ok := total[pid]; ok {
			return v
		}
		return caps.Total[pid]
	}
	for _, e := range events {
		_, bill, refund := e.Next()
		var money Micros
		var refusedBy NotBilledReason
		if refund > 0 {
			money -= refund
		}
		if bill > 0 {
			if unbilled[e.ID] {
				refusedBy = NotBilledBudget
				if r, ok := d.Capped[e.ID]; ok {
					refusedBy = r
				}
			} else {
				money += bill
			}
		}
		if money == 0 && refusedBy == "" {
			continue
		}
		on := LocalDay(e.OrderAt(), loc)
		check(e, Alert{Kind: AlertBudget, Limit: c.Budget}, true, spent, spent+money, refusedBy == NotBilledBudget)
		spent += money
		ck := CapSpendKey{CapSpendCampaign, c.ID, on}
		cBefore := dayGet(ck)
		if c.DailyBudget > 0 {
			check(e, Alert{Kind: AlertDailyBudget, Limit: c.DailyBudget, Day: on}, true, cBefore, cBefore+money, refusedBy == NotBilledDailyCap)
		}
		day[ck] = cBefore + money
		pc := caps.Caps[e.ParticipationID]
		pk := CapSpendKey{CapSpendParticipation, e.ParticipationID, on}
		tBefore, pBefore := totalGet(e.ParticipationID), dayGet(pk)
		streamer := refusedBy == NotBilledStreamerCap
		if pc.TotalCap != nil {
			check(e, Alert{Kind: AlertStreamerCap, Limit: *pc.TotalCap, ParticipationID: e.ParticipationID, StreamerID: e.StreamerID},
				false, tBefore, tBefore+money, streamer && *pc.TotalCap-tBefore < bill)
		}
		if pc.DailyCap != nil {
			check(e, Alert{Kind: AlertStreamerDailyCap, Limit: *pc.DailyCap, Day: on, ParticipationID: e.ParticipationID, StreamerID: e.StreamerID},
				false, pBefore, pBefore+money, streamer && *pc.DailyCap-pBefore < bill)
		}
		total[e.ParticipationID] = tBefore + money
		day[pk] = pBefore + money
	}
	return out
}

// SeqCursor is the cursor of an alert of sequence seq in a campaign's list:
// seq big-endian, then zeros, so that cursors compare as the alerts are
// ordered, bytewise as every list's (Cursor).
func SeqCursor(seq int64) Cursor {
	var c Cursor
	binary.BigEndian.PutUint64(c[:8], uint64(seq))
	return c
}

// ParseAlertCursor reads an alert cursor given as field ("" is none: 0,
// false): the Seq it names. BAD_USER_INPUT on field for a malformed one.
func ParseAlertCursor(field, s string) (seq int64, ok bool, err error) {
	c, err := parseCursor(field, s)
	if err != nil || s == "" {
		return 0, false, err
	}
	return int64(binary.BigEndian.Uint64(c[:8])), true, nil
}
