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
	// HoldDays is the hold period of a campaign without its own (HOLD_DAYS).
	HoldDays int
}

// State is what the writer read from the store to plan one batch.
type State struct {
	// Ledgers are the batch's campaigns, by id; a campaign absent from it
	// no longer exists, and nothing of it is billed.
	Ledgers map[string]domain.CampaignLedger
	// Filter is the click filter's state before the batch, by key (the keys
	// FilterKeys names; a key absent is zero).
	Filter map[string]int64
	// DaySpend are the cap counters the batch touches (CapKeys) before the
	// batch: each campaign's and participation's spend on a day of the
	// campaign's time zone; a key absent is zero.
	DaySpend map[domain.CapSpendKey]domain.Micros
	// Caps are the batch's participations' caps, and Spent what each has
	// spent so far (its earnings), by id; a participation absent has no cap.
	Caps  map[string]domain.ParticipationCaps
	Spent map[string]domain.Micros
	// Reversed are the earning entries the batch's reversals take back
	// (ReversedEntryIDs), by id; one absent (money billed before entries
	// existed) is reversed as released at the reversal's time.
	Reversed map[string]domain.Entry
	// SubValues are the sub-id values each campaign's report buckets keep
	// (SubValueKeys), in the order first met; a key absent keeps none yet.
	SubValues map[domain.SubValuesKey][]string
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
	// CapSpend are the cap counters' money (each campaign's and
	// participation's spend per day of the campaign's time zone), in the
	// order first touched; each is guarded by its batch like a bucket.
	CapSpend []domain.CapSpendDelta
	// Quarters are the report's quarter buckets' counts and money, in the
	// order first touched; each is guarded by its batch like a bucket.
	Quarters []domain.QuarterDelta
	// SubValues are the sub-id value lists that grew, whole, each guarded
	// by its batch.
	SubValues map[domain.SubValuesKey][]string
	// Filter is the click filter's state to save (empty when it is off).
	Filter FilterUpdate
	// Implied are the conversions the batch's new conversions imply, to
	// record under their natural keys (once, however often replayed).
	Implied []domain.Conversion
	// Alerts are the alerts the batch raises (domain.DecideAlerts), by
	// campaign in id order, then in event order, each with its Seq; to
	// record under their natural keys (once, however often replayed).
	Alerts []domain.Alert
	// Deliveries are the outbound postbacks: one per conversion step,
	// keyed "<conversionId>:<rev>"; then the alerts' webhooks, keyed by the
	// alert, for the campaigns that have an alertWebhookUrl.
	Deliveries []domain.Delivery
	// Conversions are the steps taken, one per conversion.
	Conversions []domain.ConversionMark
	// Marks are the impressions' and clicks' billing, by group.
	Marks []domain.EventMarks
	// Entries are the earning entries of the money the batch moved: one per
	// participation and kind for its impressions and clicks, one per
	// conversion billed or reversed; each is inserted once under its id.
	Entries []domain.Entry
	// Releases are the balance counters the entries add to: per
	// participation its total and per release day (domain.ReleaseCounts),
	// applied guarded by the batch like the daily buckets.
	Releases []domain.ReleaseCount
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
	return sortedIDs(b, func(e domain.EventRecord) string { return e.CampaignID })
}

// sortedIDs are the distinct ids of b's events, sorted.
func sortedIDs(b domain.Batch, id func(domain.EventRecord) string) []string {
	seen := map[string]bool{}
	var ids []string
	for _, e := range b.Events {
		if v := id(e); !seen[v] {
			seen[v] = true
			ids = append(ids, v)
		}
	}
	sort.Strings(ids)
	return ids
}

// CapKeys are the cap counters b's events touch, in order of first use:
// for each event of a campaign in ledgers, its campaign's and its
// participation's spend on the day of its step in the campaign's time
// zone. The writer reads them before planning.
func CapKeys(b domain.Batch, ledgers map[string]domain.CampaignLedger) []domain.CapSpendKey {
	seen := map[domain.CapSpendKey]bool{}
	var keys []domain.CapSpendKey
	for _, e := range b.Events {
		l, ok := ledgers[e.CampaignID]
		if !ok {
			continue
		}
		for _, k := range capKeysOf(e, l.Campaign.Location()) {
			if !seen[k] {
				seen[k] = true
				keys = append(keys, k)
			}
		}
	}
	return keys
}

// capKeysOf are the cap counters e's money moves: its campaign's and its
// participation's, on the day of its step in loc.
func capKeysOf(e domain.EventRecord, loc *time.Location) []domain.CapSpendKey {
	day := domain.LocalDay(e.OrderAt(), loc)
	return []domain.CapSpendKey{{Scope: domain.CapSpendCampaign, ID: e.CampaignID, Day: day},
		{Scope: domain.CapSpendParticipation, ID: e.ParticipationID, Day: day}}
}

// locationOf is the time zone of e's campaign (UTC for one that is gone).
func locationOf(ledgers map[string]domain.CampaignLedger, e domain.EventRecord) *time.Location {
	if l, ok := ledgers[e.CampaignID]; ok {
		return l.Campaign.Location()
	}
	return time.UTC
}

// ParticipationIDs are the participations of b's events, sorted: whose
// caps and spend to read.
func ParticipationIDs(b domain.Batch) []string {
	return sortedIDs(b, func(e domain.EventRecord) string { return e.ParticipationID })
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
// its budget and its caps (its daily budget, its streamers' total and
// daily caps), then derive from what was billed the participations' and the
// buckets' sums, the implied conversions, the postbacks and the events'
// marks. A campaign the batch already reached (a replay) is not billed
// again: what it did not bill is read back from its ledger, so the plan is
// the first run's. An error is a sum that would overflow; nothing of the
// batch is then written.
func Decide(b domain.Batch, st State, r Rules) (Plan, error) {
	p := Plan{N: b.N}
	p.Events, p.Filter = judge(b, st.Filter, r.Filter)
	billed := p.bill(st)
	if err := p.sum(billed, st.Ledgers); err != nil {
		return Plan{}, err
	}
	if err := p.quarters(billed, st.SubValues); err != nil {
		return Plan{}, err
	}
	p.imply(st.Ledgers)
	p.deliver(st.Ledgers, r.Currency)
	p.alert(st.Ledgers, r.Currency)
	p.mark(billed, st.Ledgers)
	p.earn(billed, st, r.HoldDays)
	p.Releases = domain.ReleaseCounts(p.Entries)
	return p, nil
}

// ReversedEntryIDs are the earning entries b's reversals take back: the
// entries of the conversions whose charge b gives back. The writer reads
// them before planning (a reversal is released when what it reverses is).
func ReversedEntryIDs(b domain.Batch) []string {
	var ids []string
	for _, e := range b.Events {
		if _, _, refund := e.Next(); e.Kind == domain.EventConversion && refund > 0 {
			ids = append(ids, domain.ConversionEntryID(e.ID, false))
		}
	}
	return ids
}

// earn lists the earning entries of the money the batch moved, each
// exactly the money sum adds to its participation: the billed impressions
// and the billed clicks of each participation in each quarter hour (UTC) as
// one entry each (at the latest of their times, released after the
// campaign's hold period; a quarter hour lies in one day of every time
// zone, so statements of any zone sum entries exactly), a
// conversion's approval as one entry, its reversal as one more, negative,
// released when the entry it takes back is (so that it takes the money
// from held or available, wherever that is; after a payout claimed the
// original, it is an adjustment carried into the next payout).
func (p *Plan) earn(billed billedFunc, st State, defaultHold int) {
	type group struct {
		participation string
		kind          domain.EventKind
		slot          time.Time
	}
	groups := map[group]int{} // index into p.Entries
	for _, e := range p.Events {
		bill, _ := billed(e)
		_, _, _, money := e.Outcome(bill)
		if money == 0 {
			continue
		}
		at := e.OrderAt().UTC()
		hold := domain.HoldDaysOf(st.Ledgers[e.CampaignID].Campaign, defaultHold)
		entry := domain.Entry{Kind: domain.EntryEarning, ParticipationID: e.ParticipationID, CampaignID: e.CampaignID,
			StreamerID: e.StreamerID, Amount: money, At: at, ReleaseAt: domain.ReleaseAt(at, hold), FirstEvent: e.ID, Events: 1, Batch: p.N}
		switch {
		case e.Kind == domain.EventConversion && money > 0:
			entry.ID = domain.ConversionEntryID(e.ID, false)
		case e.Kind == domain.EventConversion:
			entry.ID, entry.Kind = domain.ConversionEntryID(e.ID, true), domain.EntryReversal
			entry.Reverses = domain.ConversionEntryID(e.ID, false)
			entry.ReleaseAt = at
			if orig, ok := st.Reversed[entry.Reverses]; ok {
				entry.ReleaseAt = orig.ReleaseAt
			}
		default:
			key := group{e.ParticipationID, e.Kind, domain.EntrySlot(at)}
			if i, ok := groups[key]; ok {
				g := &p.Entries[i]
				g.Amount += money
				g.Events++
				g.Spans(e.ID)
				if at.After(g.At) {
					g.At, g.ReleaseAt = at, entry.ReleaseAt
				}
				continue
			}
			groups[key] = len(p.Entries)
			entry.ID = domain.EarningEntryID(e.Kind, e.ID)
			entry.Spans(e.ID)
		}
		p.Entries = append(p.Entries, entry)
	}
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
// which events its remaining budget and its caps cover (domain.Bill), and
// returns whether each event is billed and, when a rule refused it, why.
func (p *Plan) bill(st State) billedFunc {
	byCampaign := map[string][]domain.EventRecord{}
	for _, e := range p.Events {
		byCampaign[e.CampaignID] = append(byCampaign[e.CampaignID], e)
	}
	unbilled := map[string]domain.NotBilledReason{}
	refuse := func(ids []string, capped map[string]domain.NotBilledReason) {
		for _, id := range ids {
			unbilled[id] = domain.NotBilledBudget
			if r, ok := capped[id]; ok {
				unbilled[id] = r
			}
		}
	}
	for _, id := range CampaignIDs(domain.Batch{Events: p.Events}) {
		l, ok := st.Ledgers[id]
		if !ok {
			continue // the campaign is gone: nothing of it is billed
		}
		if l.Batch >= p.N { // applied before: decide as then
			refuse(l.Unbilled, l.Capped)
			p.Alerts = append(p.Alerts, l.Alerts...)
			continue
		}
		caps := domain.CapState{Location: l.Campaign.Location(), DailyBudget: l.Campaign.DailyBudget,
			DaySpend: st.DaySpend, Caps: st.Caps, Total: st.Spent}
		d := domain.Bill(l.Remaining, byCampaign[id], caps)
		d.Exhaust = d.Exhaust && l.Status == domain.CampaignActive
		d.Invalid = invalidOf(byCampaign[id])
		camp := l.Campaign
		camp.ID = id
		d.Alerts = domain.DecideAlerts(camp, l.Remaining, byCampaign[id], d, caps)
		p.Alerts = append(p.Alerts, d.Alerts...)
		refuse(d.Unbilled, d.Capped)
		p.Campaigns = append(p.Campaigns, CampaignUpdate{ID: id, Remaining: l.Remaining, Delta: d})
	}
	return func(e domain.EventRecord) (bool, domain.NotBilledReason) {
		_, bill, _ := e.Next()
		if _, exists := st.Ledgers[e.CampaignID]; bill <= 0 || e.Invalid != "" || !exists {
			return false, ""
		}
		if r, ok := unbilled[e.ID]; ok {
			return false, r
		}
		return true, ""
	}
}

// billedFunc says whether an event is billed and, when a money rule refused
// its price, which.
type billedFunc func(domain.EventRecord) (billed bool, refused domain.NotBilledReason)

// sum adds each event's count and money to its participation and its
// daily buckets (campaign, participation, streamer): counts on the day it
// was recorded, money (and a refusal by a money rule) on the day of its
// step; and its money to its cap counters (its campaign's and its
// participation's spend on the day of its step in the campaign's time
// zone). Every sum is checked for overflow.
func (p *Plan) sum(billed billedFunc, ledgers map[string]domain.CampaignLedger) error {
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
	capSpend := map[domain.CapSpendKey]int{} // index into p.CapSpend
	var ok bool
	for _, e := range p.Events {
		count, _, _ := e.Next()
		bill, refused := billed(e)
		_, _, _, money := e.Outcome(bill)
		pd := p.Participations[e.ParticipationID]
		if count {
			pd.Counts.Count(e)
		}
		pd.Counts.NotBilled.Add(refused)
		if pd.Earnings, ok = domain.AddMicros(pd.Earnings, money); !ok {
			return fmt.Errorf("participation %s: earnings overflow", e.ParticipationID)
		}
		p.Participations[e.ParticipationID] = pd
		for _, o := range e.BucketOwners() {
			if count {
				bucket(o, domain.Day(e.At)).Counts.Count(e)
			}
			if refused != "" {
				bucket(o, domain.Day(e.OrderAt())).Counts.NotBilled.Add(refused)
			}
			if money != 0 {
				bd := bucket(o, domain.Day(e.OrderAt()))
				if bd.Spend, ok = domain.AddMicros(bd.Spend, money); !ok {
					return fmt.Errorf("daily %s %s: spend overflow", o.Scope, o.ID)
				}
				bd.Earnings = bd.Spend // the streamer earns what the campaign is billed
			}
		}
		if money == 0 {
			continue
		}
		for _, k := range capKeysOf(e, locationOf(ledgers, e)) {
			i, found := capSpend[k]
			if !found {
				i = len(p.CapSpend)
				capSpend[k] = i
				p.CapSpend = append(p.CapSpend, domain.CapSpendDelta{Key: k})
			}
			if p.CapSpend[i].Spend, ok = domain.AddMicros(p.CapSpend[i].Spend, money); !ok {
				return fmt.Errorf("cap spend %s: overflow", k)
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

// alert numbers the batch's alerts in plan order (their Seq) and lists the
// webhook of each alert whose campaign has an alertWebhookUrl, keyed by the
// alert: one delivery per alert however often the batch is replayed.
func (p *Plan) alert(ledgers map[string]domain.CampaignLedger, currency string) {
	for i := range p.Alerts {
		a := &p.Alerts[i]
		a.Seq = domain.AlertSeq(p.N, i)
		if ledgers[a.CampaignID].Campaign.AlertWebhookURL != "" {
			p.Deliveries = append(p.Deliveries, a.Delivery(currency))
		}
	}
}

// mark records what became of each event: a conversion's step and its state
// after it; the impressions' and clicks' billing, grouped by kind, billing,
// invalid reason and the money rule that refused them.
func (p *Plan) mark(billed billedFunc, ledgers map[string]domain.CampaignLedger) {
	for _, e := range p.Events {
		if e.Kind != domain.EventConversion {
			continue
		}
		count, _, _ := e.Next()
		bill, refused := billed(e)
		charged, decided, billing, money := e.Outcome(bill)
		capDay := ""
		if money != 0 {
			capDay = capKeysOf(e, locationOf(ledgers, e))[0].Day
		}
		p.Conversions = append(p.Conversions, domain.ConversionMark{ID: e.ID, Rev: e.Rev, Charged: charged, Decided: decided,
			Billing: billing, Step: domain.Step{Counted: count, Delta: money, CountDay: domain.Day(e.At), MoneyDay: domain.Day(e.OrderAt()),
				Refused: refused, CapDay: capDay, Status: QuarterStatus(e), MoneyAt: e.OrderAt()}})
	}
	for _, kind := range []domain.EventKind{domain.EventImpression, domain.EventClick} {
		type group struct {
			billing   domain.Billing
			invalid   domain.InvalidReason
			notBilled domain.NotBilledReason
			capDay    string
		}
		index := map[group]int{}
		for _, e := range p.Events {
			if e.Kind != kind {
				continue
			}
			bill, refused := billed(e)
			key := group{domain.BillingNotBilled, e.Invalid, refused, ""}
			if bill {
				key.billing = domain.BillingBilled
				key.capDay = capKeysOf(e, locationOf(ledgers, e))[0].Day
			}
			i, ok := index[key]
			if !ok {
				i = len(p.Marks)
				index[key] = i
				p.Marks = append(p.Marks, domain.EventMarks{Kind: kind, Billing: key.billing, Invalid: key.invalid, NotBilled: key.notBilled, CapDay: key.capDay})
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
