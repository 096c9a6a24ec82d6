package projection

import (
	"fmt"
	"sort"
	"time"

	"tally/domain"
)

// This file is where money moves: what a batch's events do to counters,
// budgets, earnings, daily buckets, invalid-traffic marks, implied
// conversions and postbacks, decided as a pure function of the batch and
// the state the writer read for it. No store, no clock: the same batch and
// the same state give the same plan, which is why a replay changes nothing
// and why the rules have table tests that need no store (plan_test.go).
// The writer (writer.go) applies a plan in the documented order.
//
// A new money rule (a cap, a hold, a fee) is a new step of Decide: what it
// needs to read goes into State (read by the writer in one query before
// planning), what it decides comes out in the Plan, as the deltas and
// marks the writer already knows how to apply (a counter's delta guarded
// by its projBatch, an event's mark guarded by its pending state), or, for
// a new kind of document, as one more list applied by one more guarded
// write. docs/decisions.md ("The money as pure code") says more.

// Rules are the settings the decisions depend on; they come from the
// server's configuration, not from the store.
type Rules struct {
	// Filter tells valid clicks from invalid traffic; its zero value judges
	// every click valid.
	Filter domain.ClickFilter
	// Currency is the platform's currency, for postbacks' {currency}.
	Currency string
}

// State is what the writer read from the store to plan one batch.
type State struct {
	// Ledgers are the batch's campaigns, by id; a campaign absent from it
	// no longer exists, and nothing of it is billed.
	Ledgers map[string]domain.CampaignLedger
	// Filter is the click filter's state before the batch, by key (the keys
	// FilterKeys names; a key absent is zero).
	Filter map[string]int64
}

// Plan is everything one batch does, decided: the writes that apply it.
type Plan struct {
	N int64
	// Events are the batch's events as judged: invalid clicks carry their
	// reason.
	Events []domain.EventRecord
	// Campaigns are the campaign updates, in id order, of the campaigns
	// the batch has not reached yet (projBatch < N); each is guarded by the
	// remaining budget decided against.
	Campaigns []CampaignUpdate
	// Participations are the participations' counts and earnings, by id.
	Participations map[string]domain.ParticipationDelta
	// Buckets are the daily buckets' counts and money, in the order first
	// touched.
	Buckets []domain.BucketDelta
	// Filter is the click filter's state to save (empty when it is off).
	Filter FilterUpdate
	// Implied are the conversions the batch's new conversions imply, to
	// record under their natural keys (once, however often replayed).
	Implied []domain.Conversion
	// Deliveries are the outbound postbacks: one per conversion step,
	// keyed "<conversionId>:<rev>".
	Deliveries []domain.Delivery
	// Conversions are the steps taken, one per conversion.
	Conversions []domain.ConversionMark
	// Marks are the impressions' and clicks' billing, by group.
	Marks []domain.EventMarks
}

// CampaignUpdate is one campaign's part of a batch: its delta, decided
// against Remaining, which the update checks is still the campaign's.
type CampaignUpdate struct {
	ID        string
	Remaining domain.Micros
	Delta     domain.CampaignDelta
}

// FilterUpdate is the click filter's state after a batch, beside its state
// before (kept so that a replay judges as the first run did) and when each
// key may expire.
type FilterUpdate struct {
	After, Before map[string]int64
	Expires       map[string]time.Time
}

// CampaignIDs are the campaigns of b's events, sorted: the ledgers to read.
func CampaignIDs(b domain.Batch) []string {
	seen := map[string]bool{}
	var ids []string
	for _, e := range b.Events {
		if !seen[e.CampaignID] {
			seen[e.CampaignID] = true
			ids = append(ids, e.CampaignID)
		}
	}
	sort.Strings(ids)
	return ids
}

// FilterKeys are the click filter's keys b's clicks touch, in order of
// first use, and when each may expire: the state to read before planning.
func FilterKeys(b domain.Batch, f domain.ClickFilter) (keys []string, expires map[string]time.Time) {
	if !f.On() {
		return nil, nil
	}
	expires = map[string]time.Time{}
	for _, e := range b.Events {
		if e.Kind != domain.EventClick {
			continue
		}
		if k := f.RateKey(e); k != "" && expires[k].IsZero() {
			keys = append(keys, k)
			expires[k] = e.At.Truncate(f.RateWindow).Add(2 * f.RateWindow)
		}
		if k := f.ViewerKey(e); k != "" {
			if _, seen := expires[k]; !seen {
				keys = append(keys, k)
			}
			expires[k] = e.At.Add(f.ViewerWindow) // events are in order: the last one's is the latest
		}
	}
	return keys, expires
}

// Decide plans batch b from the state read for it. Its steps, in order:
// judge the clicks (invalid traffic), bill each campaign's events against
// its budget, then derive from what was billed the participations' and the
// buckets' sums, the implied conversions, the postbacks and the events'
// marks. A campaign the batch already reached (a replay) is not billed
// again: what it did not bill is read back from its ledger, so the plan is
// the first run's. An error is a sum that would overflow; nothing of the
// batch is then written.
func Decide(b domain.Batch, st State, r Rules) (Plan, error) {
	p := Plan{N: b.N}
	p.Events, p.Filter = judge(b, st.Filter, r.Filter)
	billed := p.bill(st.Ledgers)
	if err := p.sum(billed); err != nil {
		return Plan{}, err
	}
	p.imply(st.Ledgers)
	p.deliver(st.Ledgers, r.Currency)
	p.mark(billed)
	return p, nil
}

// judge applies the click filter to the batch's clicks, in event order,
// from the filter's state before the batch, and returns the events with
// each invalid click's reason set, and the state to save.
func judge(b domain.Batch, before map[string]int64, f domain.ClickFilter) ([]domain.EventRecord, FilterUpdate) {
	events := make([]domain.EventRecord, len(b.Events))
	copy(events, b.Events)
	if !f.On() {
		return events, FilterUpdate{}
	}
	keys, expires := FilterKeys(b, f)
	u := FilterUpdate{After: make(map[string]int64, len(keys)), Before: make(map[string]int64, len(keys)), Expires: expires}
	for _, k := range keys {
		u.Before[k] = before[k]
		u.After[k] = before[k]
	}
	for i := range events {
		events[i].Invalid = f.Judge(events[i], u.After)
	}
	return events, u
}

// bill decides, per campaign in id order and within it in event order,
// which events its remaining budget covers (domain.Bill), and returns
// whether each event is billed.
func (p *Plan) bill(ledgers map[string]domain.CampaignLedger) func(domain.EventRecord) bool {
	byCampaign := map[string][]domain.EventRecord{}
	for _, e := range p.Events {
		byCampaign[e.CampaignID] = append(byCampaign[e.CampaignID], e)
	}
	unbilled := map[string]bool{}
	for _, id := range CampaignIDs(domain.Batch{Events: p.Events}) {
		l, ok := ledgers[id]
		if !ok {
			continue // the campaign is gone: nothing of it is billed
		}
		if l.Batch >= p.N { // applied before: decide as then
			for _, e := range l.Unbilled {
				unbilled[e] = true
			}
			continue
		}
		d := domain.Bill(l.Remaining, byCampaign[id])
		d.Exhaust = d.Exhaust && l.Status == domain.CampaignActive
		d.Invalid = invalidOf(byCampaign[id])
		for _, e := range d.Unbilled {
			unbilled[e] = true
		}
		p.Campaigns = append(p.Campaigns, CampaignUpdate{ID: id, Remaining: l.Remaining, Delta: d})
	}
	return func(e domain.EventRecord) bool {
		_, bill, _ := e.Next()
		_, exists := ledgers[e.CampaignID]
		return bill > 0 && e.Invalid == "" && exists && !unbilled[e.ID]
	}
}

// sum adds each event's count and money to its participation and its
// daily buckets (campaign, participation, streamer): counts on the day it
// was recorded, money on the day of its step. Every sum is checked for
// overflow.
func (p *Plan) sum(billed func(domain.EventRecord) bool) error {
	p.Participations = map[string]domain.ParticipationDelta{}
	buckets := map[domain.BucketOwner]map[string]int{} // index into p.Buckets
	bucket := func(o domain.BucketOwner, day string) *domain.BucketDelta {
		if buckets[o] == nil {
			buckets[o] = map[string]int{}
		}
		i, ok := buckets[o][day]
		if !ok {
			i = len(p.Buckets)
			buckets[o][day] = i
			p.Buckets = append(p.Buckets, domain.BucketDelta{Owner: o, Day: day})
		}
		return &p.Buckets[i]
	}
	var ok bool
	for _, e := range p.Events {
		count, _, _ := e.Next()
		_, _, _, money := e.Outcome(billed(e))
		pd := p.Participations[e.ParticipationID]
		if count {
			pd.Counts.Count(e)
		}
		if pd.Earnings, ok = domain.AddMicros(pd.Earnings, money); !ok {
			return fmt.Errorf("participation %s: earnings overflow", e.ParticipationID)
		}
		p.Participations[e.ParticipationID] = pd
		for _, o := range e.BucketOwners() {
			if count {
				bucket(o, domain.Day(e.At)).Counts.Count(e)
			}
			if money != 0 {
				bd := bucket(o, domain.Day(e.OrderAt()))
				if bd.Spend, ok = domain.AddMicros(bd.Spend, money); !ok {
					return fmt.Errorf("daily %s %s: spend overflow", o.Scope, o.ID)
				}
				bd.Earnings = bd.Spend // the streamer earns what the campaign is billed
			}
		}
	}
	return nil
}

// imply lists the conversions the batch's new conversions imply (their
// goal's Implies): only a conversion's first projection implies, and an
// implied goal that is repeatable is skipped. The implied conversions wait
// for the projector like any other: the next batch counts and bills them.
func (p *Plan) imply(ledgers map[string]domain.CampaignLedger) {
	for _, e := range p.Events {
		if e.Kind != domain.EventConversion || e.Counted {
			continue
		}
		l, ok := ledgers[e.CampaignID]
		if !ok {
			continue
		}
		cause, ok := l.Campaign.Goal(e.GoalID)
		if !ok {
			continue
		}
		for _, id := range cause.Implies {
			g, ok := l.Campaign.Goal(id)
			if !ok || g.Repeatable() {
				continue
			}
			status, hold := g.InitialStatus(e.At)
			price := domain.Micros(0)
			if e.Billable {
				price = g.Payout
			}
			p.Implied = append(p.Implied, domain.Conversion{ClickID: e.ClickID, GoalID: g.GoalID,
				ParticipationID: e.ParticipationID, CampaignID: e.CampaignID, StreamerID: e.StreamerID, Subs: e.Subs,
				Status: status, HoldUntil: hold, Implied: true, CauseID: e.ID, Payout: g.Payout, Cost: price, CreatedAt: e.At,
				History: []domain.StatusChange{{By: "system", Reason: "implied by goal " + cause.GoalID}}})
		}
	}
}

// deliver lists the outbound postbacks: one per conversion step the batch
// projects — every status change since the conversion's last projection,
// in order, each with its own status and time — when the campaign has a
// template for the goal and sends that kind of step. The key
// "<conversionId>:<rev>" makes each step one delivery however often the
// batch is replayed.
func (p *Plan) deliver(ledgers map[string]domain.CampaignLedger, currency string) {
	for _, e := range p.Events {
		if e.Kind != domain.EventConversion {
			continue
		}
		camp := ledgers[e.CampaignID].Campaign
		if camp.PostbackTemplate(e.GoalID) == "" {
			continue
		}
		for i, h := range e.History {
			rev := e.HistoryRev + int64(i)
			event := domain.DeliveryStatus
			if rev == 0 {
				event = domain.DeliveryNew
			}
			if !camp.Postback.Sends(event) {
				continue // not sent for this kind of step
			}
			status, at := h.To, h.At
			if status == "" {
				status = e.Status
			}
			if at.IsZero() {
				at = e.OrderAt()
			}
			values := map[string]string{"click_id": e.ClickID, "goal_id": e.GoalID, "conversion_id": e.ID,
				"status": string(status), "payout": e.Payout.String(), "currency": currency, "external_id": e.ExternalID}
			for j, v := range e.Subs {
				values[fmt.Sprintf("sub%d", j+1)] = v
			}
			p.Deliveries = append(p.Deliveries, domain.Delivery{Key: fmt.Sprintf("%s:%d", e.ID, rev), CampaignID: e.CampaignID,
				ConversionID: e.ID, GoalID: e.GoalID, Event: event, Values: values, CreatedAt: at})
		}
	}
}

// mark records what became of each event: a conversion's step and its state
// after it; the impressions' and clicks' billing, grouped by kind, billing
// and invalid reason.
func (p *Plan) mark(billed func(domain.EventRecord) bool) {
	for _, e := range p.Events {
		if e.Kind != domain.EventConversion {
			continue
		}
		count, _, _ := e.Next()
		charged, decided, billing, money := e.Outcome(billed(e))
		p.Conversions = append(p.Conversions, domain.ConversionMark{ID: e.ID, Rev: e.Rev, Charged: charged, Decided: decided,
			Billing: billing, Step: domain.Step{Counted: count, Delta: money, CountDay: domain.Day(e.At), MoneyDay: domain.Day(e.OrderAt())}})
	}
	for _, kind := range []domain.EventKind{domain.EventImpression, domain.EventClick} {
		type group struct {
			billing domain.Billing
			invalid domain.InvalidReason
		}
		index := map[group]int{}
		for _, e := range p.Events {
			if e.Kind != kind {
				continue
			}
			key := group{domain.BillingNotBilled, e.Invalid}
			if billed(e) {
				key.billing = domain.BillingBilled
			}
			i, ok := index[key]
			if !ok {
				i = len(p.Marks)
				index[key] = i
				p.Marks = append(p.Marks, domain.EventMarks{Kind: kind, Billing: key.billing, Invalid: key.invalid})
			}
			p.Marks[i].IDs = append(p.Marks[i].IDs, e.ID)
		}
	}
}

// invalidOf is the invalid traffic among events, by event id.
func invalidOf(events []domain.EventRecord) map[string]domain.InvalidReason {
	out := map[string]domain.InvalidReason{}
	for _, e := range events {
		if e.Invalid != "" {
			out[e.ID] = e.Invalid
		}
	}
	return out
}
