package domain

import (
	"io"
	"sort"
	"time"
)

// StatementKind says what a statement line is.
type StatementKind string

const (
	StatementEarning    StatementKind = "earning"    // money billed
	StatementReversal   StatementKind = "reversal"   // a billed conversion rejected before its earning was paid
	StatementAdjustment StatementKind = "adjustment" // a billed conversion rejected after a payout claimed its earning
	StatementPayout     StatementKind = "payout"     // a payout (not FAILED), negative
)

// MarshalGQL writes the GraphQL enum name.
func (k StatementKind) MarshalGQL(w io.Writer) { marshalEnum(w, k) }

// UnmarshalGQL reads the GraphQL enum name.
func (k *StatementKind) UnmarshalGQL(v any) (err error) {
	*k, err = unmarshalEnum(v, "StatementLineKind", StatementEarning, StatementReversal, StatementAdjustment, StatementPayout)
	return err
}

// StatementLine is one line of a statement: one earning entry (traceable
// to its events: the first, how many, and the batch that projected them)
// or one payout.
type StatementLine struct {
	At              time.Time
	Kind            StatementKind
	CampaignID      string // "" for a payout
	ParticipationID string
	Amount          Micros
	EntryID         string
	FirstEvent      string
	Events          int
	Batch           int64
	PayoutID        string
}

// StatementCampaign is one campaign's part of a statement.
type StatementCampaign struct {
	CampaignID                       string
	Earnings, Reversals, Adjustments Micros
}

// Statement is a streamer's month: the balance not yet paid out at its
// start (opening) and end (closing), and what moved it between, line by
// line: closing = opening + earnings + reversals + adjustments − payouts.
type Statement struct {
	StreamerID  string
	Month       string // YYYY-MM
	TimeZone    string
	From, To    time.Time // [From, To): the month in TimeZone
	Opening     Micros
	Earnings    Micros
	Reversals   Micros // negative
	Adjustments Micros // negative
	Payouts     Micros // positive: what left the balance
	Closing     Micros
	Campaigns   []StatementCampaign // by campaign id
	Lines       []StatementLine     // in time order
}

// MonthRange is the month "YYYY-MM" in loc: its first instant and the
// next month's; ok is false for anything else.
func MonthRange(month string, loc *time.Location) (from, to time.Time, ok bool) {
	t, err := time.ParseInLocation("2006-01", month, loc)
	if err != nil || t.Format("2006-01") != month {
		return time.Time{}, time.Time{}, false
	}
	return t, t.AddDate(0, 1, 0), true
}

// BuildStatement computes streamerID's statement of [from, to) from every
// entry of the streamer stepped before to and every payout of the streamer.
// A payout counts when it was created; a FAILED one never (its entries are
// unclaimed again, so they stay in the balance). A carry pair (a payout's
// cents) sums to zero at one instant and makes no line.
func BuildStatement(streamerID, month, zone string, from, to time.Time, entries []Entry, payouts []Payout) Statement {
	st := Statement{StreamerID: streamerID, Month: month, TimeZone: zone, From: from, To: to}
	byID := make(map[string]Entry, len(entries))
	for _, e := range entries {
		byID[e.ID] = e
	}
	created := map[string]time.Time{}
	for _, p := range payouts {
		if p.Owed() {
			created[p.ID] = p.CreatedAt
		}
	}
	campaigns := map[string]*StatementCampaign{}
	for _, e := range entries {
		if e.Kind == EntryCarry || !e.At.Before(to) {
			continue
		}
		if e.At.Before(from) {
			st.Opening += e.Amount
			continue
		}
		line := StatementLine{At: e.At, Kind: StatementEarning, CampaignID: e.CampaignID, ParticipationID: e.ParticipationID, Amount: e.Amount,
			EntryID: e.ID, FirstEvent: e.FirstEvent, Events: e.Events, Batch: e.Batch}
		c := campaigns[e.CampaignID]
		if c == nil {
			c = &StatementCampaign{CampaignID: e.CampaignID}
			campaigns[e.CampaignID] = c
		}
		switch {
		case e.Kind == EntryEarning:
			st.Earnings += e.Amount
			c.Earnings += e.Amount
		case reversedAfterPayout(e, byID, created):
			line.Kind = StatementAdjustment
			st.Adjustments += e.Amount
			c.Adjustments += e.Amount
		default:
			line.Kind = StatementReversal
			st.Reversals += e.Amount
			c.Reversals += e.Amount
		}
		st.Lines = append(st.Lines, line)
	}
	for _, p := range payouts {
		if !p.Owed() || !p.CreatedAt.Before(to) {
			continue
		}
		if p.CreatedAt.Before(from) {
			st.Opening -= p.Amount
			continue
		}
		st.Payouts += p.Amount
		st.Lines = append(st.Lines, StatementLine{At: p.CreatedAt, Kind: StatementPayout, Amount: -p.Amount, PayoutID: p.ID})
	}
	st.Closing = st.Opening + st.Earnings + st.Reversals + st.Adjustments - st.Payouts
	for _, c := range campaigns {
		st.Campaigns = append(st.Campaigns, *c)
	}
	sort.Slice(st.Campaigns, func(i, j int) bool { return st.Campaigns[i].CampaignID < st.Campaigns[j].CampaignID })
	sortLines(st.Lines)
	return st
}

// sortLines puts lines in time order, then by entry or payout id.
func sortLines(lines []StatementLine) {
	sort.SliceStable(lines, func(i, j int) bool {
		a, b := lines[i], lines[j]
		if !a.At.Equal(b.At) {
			return a.At.Before(b.At)
		}
		return a.EntryID+a.PayoutID < b.EntryID+b.PayoutID
	})
}

// reversedAfterPayout reports a reversal whose earning a payout (not
// FAILED) created at or before the reversal had claimed.
func reversedAfterPayout(e Entry, byID map[string]Entry, created map[string]time.Time) bool {
	orig, ok := byID[e.Reverses]
	if !ok || orig.PayoutID == "" {
		return false
	}
	at, owed := created[orig.PayoutID]
	return owed && !at.After(e.At)
}

// MarshalGQL writes the GraphQL enum name (IMPRESSIONS, CLICKS, CONVERSIONS).
func (k EventKind) MarshalGQL(w io.Writer) { marshalEnum(w, k) }

// UnmarshalGQL reads the GraphQL enum name.
func (k *EventKind) UnmarshalGQL(v any) (err error) {
	*k, err = unmarshalEnum(v, "EntryEventKind", EventImpression, EventClick, EventConversion)
	return err
}

// SpendKind is what a campaign statement's item bills for.
type SpendKind string

const (
	SpendImpressions SpendKind = "impressions"
	SpendClicks      SpendKind = "clicks"
	SpendConversions SpendKind = "conversions"
	SpendReversals   SpendKind = "reversals" // conversions rejected after they were billed: money given back
)

// MarshalGQL writes the GraphQL enum name.
func (k SpendKind) MarshalGQL(w io.Writer) { marshalEnum(w, k) }

// UnmarshalGQL reads the GraphQL enum name.
func (k *SpendKind) UnmarshalGQL(v any) (err error) {
	*k, err = unmarshalEnum(v, "SpendKind", SpendImpressions, SpendClicks, SpendConversions, SpendReversals)
	return err
}

// SpendItem is one kind of spend of a campaign statement: how many events
// and how much.
type SpendItem struct {
	Kind   SpendKind
	Events int64
	Amount Micros
}

// SpendShare is one participation's part of a campaign statement.
type SpendShare struct {
	ParticipationID string
	StreamerID      string
	Amount          Micros
}

// CampaignStatement is what a campaign spent in a calendar month of a
// time zone, on what and with which streamers: what an invoice is built
// from. Its spend is its streamers' earnings, entry by entry.
type CampaignStatement struct {
	CampaignID string
	Month      string
	TimeZone   string
	From, To   time.Time
	Spend      Micros
	Items      []SpendItem     // impressions, clicks, conversions, reversals
	Streamers  []SpendShare    // by participation id
	Lines      []StatementLine // every entry of the month, in time order: each traceable to its events
}

// BuildCampaignStatement sums a campaign's entries of [from, to).
func BuildCampaignStatement(campaignID, month, zone string, from, to time.Time, entries []Entry) CampaignStatement {
	st := CampaignStatement{CampaignID: campaignID, Month: month, TimeZone: zone, From: from, To: to}
	items := map[SpendKind]*SpendItem{}
	for _, k := range []SpendKind{SpendImpressions, SpendClicks, SpendConversions, SpendReversals} {
		items[k] = &SpendItem{Kind: k}
	}
	shares := map[string]*SpendShare{}
	for _, e := range entries {
		if e.Kind == EntryCarry || e.CampaignID != campaignID || e.At.Before(from) || !e.At.Before(to) {
			continue
		}
		var kind SpendKind
		switch {
		case e.Kind == EntryReversal:
			kind = SpendReversals
		case e.ID == EarningEntryID(EventImpression, e.FirstEvent):
			kind = SpendImpressions
		case e.ID == EarningEntryID(EventClick, e.FirstEvent):
			kind = SpendClicks
		default:
			kind = SpendConversions
		}
		items[kind].Events += int64(e.Events)
		items[kind].Amount += e.Amount
		st.Spend += e.Amount
		sh := shares[e.ParticipationID]
		if sh == nil {
			sh = &SpendShare{ParticipationID: e.ParticipationID, StreamerID: e.StreamerID}
			shares[e.ParticipationID] = sh
		}
		sh.Amount += e.Amount
		line := StatementLine{At: e.At, Kind: StatementEarning, CampaignID: e.CampaignID, ParticipationID: e.ParticipationID, Amount: e.Amount,
			EntryID: e.ID, FirstEvent: e.FirstEvent, Events: e.Events, Batch: e.Batch}
		if e.Kind == EntryReversal {
			line.Kind = StatementReversal
		}
		st.Lines = append(st.Lines, line)
	}
	sortLines(st.Lines)
	for _, k := range []SpendKind{SpendImpressions, SpendClicks, SpendConversions, SpendReversals} {
		st.Items = append(st.Items, *items[k])
	}
	for _, sh := range shares {
		st.Streamers = append(st.Streamers, *sh)
	}
	sort.Slice(st.Streamers, func(i, j int) bool { return st.Streamers[i].ParticipationID < st.Streamers[j].ParticipationID })
	return st
}
