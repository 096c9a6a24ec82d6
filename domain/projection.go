package domain

import (
	"hash/fnv"
	"time"
)

// Batch is a numbered set of pending events of one partition that the
// projector folds into every counter at once. A partition's batches are
// applied in number order, one at a time: its batch N is planned only once
// its batch N−1 is applied everywhere. Partitions go at their own pace.
type Batch struct {
	Part   int // the partition (PartitionOf its events' campaigns)
	N      int64
	Events []EventRecord // in event order: At, then ID
}

// ProjectionState is one partition's shared state: the last batch applied
// everywhere, the batch being applied (nil when none), and which process
// holds the lease to plan the next one.
type ProjectionState struct {
	Part       int
	Applied    int64
	InFlight   *Batch
	Owner      string
	LeaseUntil time.Time
}

// DefaultPartitions is how many partitions a database is projected in
// unless PROJECTION_PARTITIONS says otherwise at its first start.
const DefaultPartitions = 8

// PartitionOf is the partition of a campaign's events among count: a stable
// hash (FNV-1a of the id's text), the same in every process and release.
// Everything the projector keeps about one campaign (its ledger, its
// participations, their buckets and cap counters, the click filter's
// state) is therefore written by one partition only.
func PartitionOf(campaignID string, count int) int {
	if count <= 1 {
		return 0
	}
	h := fnv.New32a()
	_, _ = h.Write([]byte(campaignID))
	return int(h.Sum32() % uint32(count))
}

// CampaignLedger is what the projector reads of a campaign to bill a batch:
// its remaining budget and status, the last batch applied to it, and the
// events of that batch that it did not bill.
type CampaignLedger struct {
	ID        string
	Remaining Micros
	Status    CampaignStatus
	Batch     int64
	Unbilled  []string
	Invalid   map[string]InvalidReason   // the clicks of that batch judged invalid traffic
	Capped    map[string]NotBilledReason // the events of Unbilled a cap refused (the others: the budget)
	Alerts    []Alert                    // the alerts that batch raised (DecideAlerts), in order
	Campaign  Campaign                   // the rest of it: its goals (what they imply), its postbacks
}

// Counts are event counters by kind. Clicks are the valid ones;
// InvalidClicks the invalid traffic, counted apart and never billed.
type Counts struct {
	Impressions, Clicks, InvalidClicks, Conversions int64
	// NotBilled count the priced events a money rule refused, by reason, on
	// the day of the step it refused (a conversion's approval).
	NotBilled NotBilledCounts
}

// Count counts one event.
func (c *Counts) Count(e EventRecord) {
	switch {
	case e.Invalid != "":
		c.InvalidClicks++
	case e.Kind == EventImpression:
		c.Impressions++
	case e.Kind == EventClick:
		c.Clicks++
	case e.Kind == EventConversion:
		c.Conversions++
	}
}

// CampaignDelta is what one batch adds to a campaign: its events, the spend
// taken from its budget, the priced events it could not bill, and whether it
// turns EXHAUSTED.
type CampaignDelta struct {
	Counts   Counts
	Spend    Micros
	Unbilled []string
	Invalid  map[string]InvalidReason // recorded with the delta, so that a replay judges as the first run did
	// Capped are the events of Unbilled a cap refused, with its reason
	// (the others the budget refused); recorded with the delta, so that a
	// replay marks them as the first run did.
	Capped  map[string]NotBilledReason
	Exhaust bool
	// Alerts are the alerts the batch raises for the campaign
	// (DecideAlerts); recorded with the delta, so that a replay raises what
	// the first run did, whatever the counters say by then.
	Alerts []Alert
}

// ParticipationDelta is what one batch adds to a participation.
type ParticipationDelta struct {
	Counts   Counts
	Earnings Micros
}

// BucketDelta is what one batch adds to one daily bucket.
type BucketDelta struct {
	Owner    BucketOwner
	Day      string
	Counts   Counts
	Spend    Micros
	Earnings Micros
}

// BucketOwner names one daily bucket's owner: a campaign, a participation or
// a streamer.
type BucketOwner struct {
	Scope StatsScope
	ID    string
}

// BucketOwners are the daily buckets an event counts in: its campaign's, its
// participation's and its streamer's.
func (e EventRecord) BucketOwners() []BucketOwner {
	return []BucketOwner{
		{Scope: ScopeCampaign, ID: e.CampaignID},
		{Scope: ScopeParticipation, ID: e.ParticipationID},
		{Scope: ScopeStreamer, ID: e.StreamerID},
	}
}

// Bill decides a batch's events of one campaign, in event order, against
// the campaign's remaining budget and its caps (each event's step is
// EventRecord.Next): a charge given back returns to the budget and to the
// caps' spend at once; a price to bill is billed when the remaining budget,
// the campaign's daily budget for the event's day (in its time zone) and the
// streamer's total and daily caps all cover it whole, and is not billed
// otherwise. When several refuse, the reason is the first of: the budget
// (an ACTIVE campaign then turns EXHAUSTED), the daily budget (DAILY_CAP),
// the streamer's caps (STREAMER_CAP). A later, cheaper event may still fit.
// This is the one statement of the budget and cap rules; the store applies
// the result with a guarded update that checks the remaining budget is
// still the one decided against.
func Bill(remaining Micros, events []EventRecord, caps CapState) CampaignDelta {
	var d CampaignDelta
	loc := caps.Location
	if loc == nil {
		loc = time.UTC
	}
	moved := map[CapSpendKey]Micros{}
	movedTotal := map[string]Micros{}
	move := func(e EventRecord, m Micros) {
		day := LocalDay(e.OrderAt(), loc)
		moved[CapSpendKey{CapSpendCampaign, e.CampaignID, day}] += m
		moved[CapSpendKey{CapSpendParticipation, e.ParticipationID, day}] += m
		movedTotal[e.ParticipationID] += m
	}
	for _, e := range events {
		count, bill, refund := e.Next()
		if count {
			d.Counts.Count(e)
		}
		if refund > 0 {
			remaining += refund
			d.Spend -= refund
			move(e, -refund)
		}
		if bill <= 0 {
			continue
		}
		daily, streamer := caps.room(e.CampaignID, e.ParticipationID, LocalDay(e.OrderAt(), loc), moved, movedTotal)
		var reason NotBilledReason
		switch {
		case remaining < bill:
			reason = NotBilledBudget
			d.Exhaust = true
		case daily >= 0 && daily < bill:
			reason = NotBilledDailyCap
		case streamer >= 0 && streamer < bill:
			reason = NotBilledStreamerCap
		default:
			remaining -= bill
			d.Spend += bill
			move(e, bill)
			continue
		}
		d.Unbilled = append(d.Unbilled, e.ID)
		d.Counts.NotBilled.Add(reason)
		if reason != NotBilledBudget {
			if d.Capped == nil {
				d.Capped = map[string]NotBilledReason{}
			}
			d.Capped[e.ID] = reason
		}
	}
	return d
}

// CounterKind names the kinds of counter documents.
type CounterKind string

const (
	CounterCampaign      CounterKind = "campaign"
	CounterParticipation CounterKind = "participation"
	CounterDaily         CounterKind = "daily"
	CounterCapSpend      CounterKind = "capspend"
)

// Counter is one counter document as stored: a campaign's, a
// participation's or a daily bucket's counts and money, and the last batch
// applied to it. Verify compares each with what the events say.
type Counter struct {
	Kind     CounterKind
	ID       string        // the campaign's or participation's id; the bucket's owner id
	Day      string        // daily buckets and cap counters only
	Scope    StatsScope    // daily buckets only
	CapScope CapSpendScope // cap counters only
	Counts   Counts
	Spend    Micros // a campaign's spent, a bucket's spend
	Earnings Micros // a participation's or a bucket's earnings
	Budget   Micros // campaigns only
	Remain   Micros // campaigns only: the stored remainingMicros
	Batch    int64
	// Batches are, on a document that gathers several campaigns (a
	// streamer's daily bucket: Shared), the last batch of each partition
	// applied to it; Batch is then the last batch from before partitions.
	Batches map[int]int64
	// Part is the partition whose batches reach the counter, when it belongs
	// to one campaign and is known (-1 otherwise); repair sets its mark.
	Part     int
	Unbilled []string                   // campaigns only
	Invalid  map[string]InvalidReason   // campaigns only
	Capped   map[string]NotBilledReason // campaigns only
	TimeZone string                     // campaigns only
}

// Shared reports a counter that gathers events of several campaigns, so of
// several partitions: a streamer's daily bucket.
func (c Counter) Shared() bool { return c.Kind == CounterDaily && c.Scope == ScopeStreamer }

// Reached reports whether the counter has taken batch n of partition part.
func (c Counter) Reached(part int, n int64) bool {
	if c.Shared() {
		return n <= c.Batch || n <= c.Batches[part]
	}
	return n <= c.Batch
}

// Key identifies the counter across kinds.
func (c Counter) Key() string {
	switch c.Kind {
	case CounterDaily:
		return string(c.Kind) + ":" + string(c.Scope) + ":" + c.ID + ":" + c.Day
	case CounterCapSpend:
		return string(c.Kind) + ":" + string(c.CapScope) + ":" + c.ID + ":" + c.Day
	}
	return string(c.Kind) + ":" + c.ID
}

// EventMarks are a group of one batch's impressions or clicks that end up
// alike: their kind, billing and (for invalid traffic) reason.
type EventMarks struct {
	Kind      EventKind
	Billing   Billing
	Invalid   InvalidReason
	NotBilled NotBilledReason // the money rule that refused them
	CapDay    string          // billed: the day of their cap counters, in their campaign's time zone
	IDs       []string
}

// ConversionMark is what a batch applied of one conversion: its state after
// the step (what it is charged, whether its approval was decided, its
// billing) and the step itself.
type ConversionMark struct {
	ID      string
	Rev     int64 // the status change the batch projected
	Charged Micros
	Decided bool
	Billing Billing
	Step    Step
}

// ProjectionLag is how far projection trails the events: over the recent
// events a projector applied, the time from recording to projection.
type ProjectionLag struct {
	Events int64         // events projected by this process since it started
	Last   time.Duration // lag of the newest batch's oldest event
	P99    time.Duration // over the projector's recent events (its lag window)
	Max    time.Duration // over the projector's recent events (its lag window)
}

// Backlog is what waits for projection in the whole database, as every
// process reports it (whichever holds the projector): the events not yet
// projected, counted up to a bound, and how long the oldest has waited.
type Backlog struct {
	Pending   int64         // events pending, up to the bound
	Capped    bool          // Pending reached the bound: at least that many wait
	Oldest    time.Time     // when the oldest pending event happened (its last status change for a conversion); zero with none
	OldestAge time.Duration // how long the oldest has waited, as of the report
}

// VerifyReport is what verify found: the counters recomputed from the
// events, and each that differs.
type VerifyReport struct {
	Events   int      // events read
	Pending  int      // of which not yet projected
	Counters int      // counter documents read
	Drift    []string // one line per counter that differs from its events; empty when all agree
	Repaired int      // counters rewritten (repair mode only)
}

// OK reports that every counter is what the events say.
func (r VerifyReport) OK() bool { return len(r.Drift) == 0 }
