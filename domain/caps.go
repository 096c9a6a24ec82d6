package domain

import (
	"io"
	"strings"
	"time"
	_ "time/tzdata" // a campaign's time zone must load the same on every machine
)

// NotBilledReason is why a priced event was recorded NOT_BILLED: the money
// rule that refused it. Invalid traffic has its own reason (InvalidReason);
// an event with no price (its campaign was not billable) has none.
type NotBilledReason string

const (
	// NotBilledBudget: the campaign's remaining budget did not cover it (the
	// campaign turns EXHAUSTED).
	NotBilledBudget NotBilledReason = "budget"
	// NotBilledDailyCap: the campaign's daily budget, for the day in its
	// time zone, did not cover it.
	NotBilledDailyCap NotBilledReason = "daily_cap"
	// NotBilledStreamerCap: the participation's total or daily cap did not
	// cover it.
	NotBilledStreamerCap NotBilledReason = "streamer_cap"
)

// MarshalGQL writes the GraphQL enum name.
func (r NotBilledReason) MarshalGQL(w io.Writer) { marshalEnum(w, r) }

// UnmarshalGQL reads the GraphQL enum name.
func (r *NotBilledReason) UnmarshalGQL(v any) (err error) {
	*r, err = unmarshalEnum(v, "NotBilledReason", NotBilledBudget, NotBilledDailyCap, NotBilledStreamerCap)
	return err
}

// NotBilledCounts count the priced events a money rule refused, by reason,
// on the day the rule refused them.
type NotBilledCounts struct {
	Budget, DailyCap, StreamerCap int64
}

// Add counts one event refused for r.
func (c *NotBilledCounts) Add(r NotBilledReason) {
	switch r {
	case NotBilledBudget:
		c.Budget++
	case NotBilledDailyCap:
		c.DailyCap++
	case NotBilledStreamerCap:
		c.StreamerCap++
	}
}

// DefaultTimeZone is a campaign's time zone when none is set.
const DefaultTimeZone = "UTC"

// LoadTimeZone returns the location of an IANA time zone name ("" is
// UTC); ok is false for a name that is not one.
func LoadTimeZone(name string) (*time.Location, bool) {
	if name == "" {
		return time.UTC, true
	}
	if strings.EqualFold(name, "local") {
		return nil, false // the server's own zone is not a campaign's
	}
	loc, err := time.LoadLocation(name)
	return loc, err == nil
}

// Location is the campaign's time zone: the one its days (the daily
// budget, the streamers' daily caps) are counted in. An unreadable stored
// name (validated on input) counts as UTC.
func (c Campaign) Location() *time.Location {
	if loc, ok := LoadTimeZone(c.TimeZone); ok {
		return loc
	}
	return time.UTC
}

// LocalDay is the calendar day of t in loc, "2006-01-02".
func LocalDay(t time.Time, loc *time.Location) string { return t.In(loc).Format("2006-01-02") }

// ParticipationCaps are what a brand lets one streamer spend of its
// campaign: in total, and per day (in the campaign's time zone). nil is no
// cap.
type ParticipationCaps struct {
	TotalCap *Micros `json:"totalCap"`
	DailyCap *Micros `json:"dailyCap"`
}

// Validate checks the caps: each at most MaxBudget.
func (c ParticipationCaps) Validate(prefix string) error {
	var errs FieldErrors
	for _, f := range []struct {
		name string
		v    *Micros
	}{{"totalCap", c.TotalCap}, {"dailyCap", c.DailyCap}} {
		if f.v != nil && *f.v > MaxBudget {
			errs = append(errs, Invalid(prefix+"."+f.name, "%s must be at most %s", f.name, MaxBudget))
		}
	}
	if len(errs) == 0 {
		return nil
	}
	return errs
}

// CapSpendScope names whose day spend a cap counter keeps.
type CapSpendScope string

const (
	CapSpendCampaign      CapSpendScope = "campaign"
	CapSpendParticipation CapSpendScope = "participation"
)

// CapSpendKey names one cap counter: a campaign's or a participation's
// spend on one day of its campaign's time zone.
type CapSpendKey struct {
	Scope CapSpendScope
	ID    string
	Day   string
}

// String is the counter's id in the store.
func (k CapSpendKey) String() string { return string(k.Scope) + ":" + k.ID + ":" + k.Day }

// CapSpendDelta is what one batch adds to one cap counter.
type CapSpendDelta struct {
	Key   CapSpendKey
	Spend Micros
}

// CapState is what the cap rule reads for one campaign's events in a
// batch: the campaign's daily budget and time zone, its day spend on each
// day the batch touches, and each participation's caps, total spend (its
// earnings) and day spend, all from before the batch.
type CapState struct {
	Location    *time.Location
	DailyBudget Micros                       // 0: none
	DaySpend    map[CapSpendKey]Micros       // by key; absent is 0
	Caps        map[string]ParticipationCaps // by participation id
	Total       map[string]Micros            // each participation's spend so far, by id
}

// room is how much more the campaign's daily budget lets it spend on day
// (-1: no daily budget), and how much more participation pid may spend in
// total and on day (-1: no cap), given spend: what the batch moved so far,
// by key, and by participation.
func (s CapState) room(cid, pid, day string, moved map[CapSpendKey]Micros, movedTotal map[string]Micros) (daily, streamer Micros) {
	daily, streamer = -1, -1
	ck := CapSpendKey{CapSpendCampaign, cid, day}
	if s.DailyBudget > 0 {
		daily = s.DailyBudget - s.DaySpend[ck] - moved[ck]
	}
	caps := s.Caps[pid]
	if caps.TotalCap != nil {
		streamer = *caps.TotalCap - s.Total[pid] - movedTotal[pid]
	}
	if caps.DailyCap != nil {
		pk := CapSpendKey{CapSpendParticipation, pid, day}
		if r := *caps.DailyCap - s.DaySpend[pk] - moved[pk]; streamer < 0 || r < streamer {
			streamer = r
		}
	}
	return daily, streamer
}

// CapRoomLeft reports whether room (-1: no cap) still covers one event of
// the campaign: at least its smallest positive price (an impression, a
// click or a goal). A campaign with no price at all is never capped.
func (c Campaign) CapRoomLeft(room Micros) bool {
	if room < 0 {
		return true
	}
	least := c.cheapestPrice()
	return least == 0 || room >= least
}

// cheapestPrice is the campaign's smallest positive price (an impression,
// a click or a goal); 0 when it has none.
func (c Campaign) cheapestPrice() Micros {
	least := Micros(0)
	for _, p := range c.prices() {
		if p > 0 && (least == 0 || p < least) {
			least = p
		}
	}
	return least
}

// CapsReached reports whether a cap leaves the campaign no room for one
// more event of participation p (CapRoomLeft): the campaign's daily budget
// given campaignDay, what the campaign spent today (in its time zone); the
// streamer's total cap given what p earned; the streamer's daily cap given
// participationDay, what p spent today. The overlay stops choosing such a
// campaign for that streamer until the next day or a raised cap.
func CapsReached(c Campaign, p Participation, campaignDay, participationDay Micros) bool {
	rooms := []Micros{}
	if c.DailyBudget > 0 {
		rooms = append(rooms, c.DailyBudget-campaignDay)
	}
	if p.Caps.TotalCap != nil {
		rooms = append(rooms, *p.Caps.TotalCap-p.Stats.Earnings)
	}
	if p.Caps.DailyCap != nil {
		rooms = append(rooms, *p.Caps.DailyCap-participationDay)
	}
	for _, r := range rooms {
		if !c.CapRoomLeft(max(r, 0)) {
			return true
		}
	}
	return false
}

// HasDailyCaps reports whether the day's spend matters to CapsReached.
func HasDailyCaps(c Campaign, p Participation) bool {
	return c.DailyBudget > 0 || p.Caps.DailyCap != nil
}

func (c Campaign) prices() []Micros {
	out := []Micros{c.CPM / 1000, c.CPC}
	for _, g := range c.Goals {
		out = append(out, g.Payout)
	}
	return out
}
