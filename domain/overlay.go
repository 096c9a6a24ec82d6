package domain

import (
	"fmt"
	"time"
)

// Slot is the campaign a streamer's overlay shows during one rotation slot.
// Key names the slot (streamer, interval, start): every overlay instance and
// every request in the slot computes the same key, and the first to claim it
// decides the campaign for all of them.
type Slot struct {
	Key             string
	StreamerID      string
	ParticipationID string
	CampaignID      string
	Strategy        Strategy
	StartsAt        time.Time
	EndsAt          time.Time
}

// SlotKey is the key of the slot of a streamer with the given interval that
// starts at start.
func SlotKey(streamerID string, intervalMinutes int, start time.Time) string {
	return fmt.Sprintf("%s:%d:%d", streamerID, intervalMinutes, start.Unix())
}

// OverlaySlot is what an overlay shows now: the slot's campaign and
// participation (its token ready for the click link), the slot's bounds and
// the strategy that chose it.
type OverlaySlot struct {
	SlotKey       string
	Campaign      Campaign
	Participation Participation
	SlotStartsAt  time.Time
	SlotEndsAt    time.Time
	Strategy      Strategy
}

// Impression is one displayed slot: a streamer's overlay showing a campaign
// for one rotation slot counts one impression however often it reloads.
// SlotKey is its natural key.
type Impression struct {
	ID              string
	SlotKey         string
	ParticipationID string
	CampaignID      string
	StreamerID      string
	SlotStartsAt    time.Time
	Billing         Billing
	NotBilled       NotBilledReason // NOT_BILLED by a money rule: which
	Cost            Micros          // cpm/1000 when recorded; 0 when it was not billable
	CreatedAt       time.Time
}

// ImpressionCost is what one impression costs at a CPM (a price per 1000
// impressions): cpm/1000, rounded down to a whole micro-unit. A CPM below
// 0.001 therefore bills nothing per impression.
func ImpressionCost(cpm Micros) Micros { return cpm / 1000 }

// Eligible reports whether a campaign may be shown at t: ACTIVE, inside its
// startsAt/endsAt window, and with budget left.
func (c Campaign) Eligible(t time.Time) bool {
	return c.Billable(t) && c.Remaining() > 0
}
