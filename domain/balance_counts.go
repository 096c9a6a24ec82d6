package domain

import (
	"sort"
	"time"
)

// ReleaseCount is a balance counter of one participation: the sum of its
// earning entries (carries aside, which sum to zero in pairs) released on
// one UTC day (Day "YYYY-MM-DD"), or of all of them (Day "": its lifetime).
// The projector adds each batch's entries to them (ReleaseCounts), so that
// balances read a participation's counters instead of its entries
// (CountedBalances); verify recomputes them from the entries.
type ReleaseCount struct {
	ParticipationID string
	CampaignID      string
	StreamerID      string
	Day             string // "" for the participation's total
	Amount          Micros
	Reversals       int64 // on a total: how many of its entries are reversals (balances read them only when there are some)
}

// Key is the counter's id: "<participation>:<day>", "<participation>:total".
func (c ReleaseCount) Key() string {
	if c.Day == "" {
		return c.ParticipationID + ":total"
	}
	return c.ParticipationID + ":" + c.Day
}

// ReleaseDay is the UTC day of a release instant.
func ReleaseDay(t time.Time) string { return t.UTC().Format("2006-01-02") }

// ReleaseCounts sums entries into counters: per participation its total
// and per release day, sorted by key. Carries are left out.
func ReleaseCounts(entries []Entry) []ReleaseCount {
	sums := map[string]*ReleaseCount{}
	add := func(e Entry, day string) {
		c := ReleaseCount{ParticipationID: e.ParticipationID, CampaignID: e.CampaignID, StreamerID: e.StreamerID, Day: day}
		have := sums[c.Key()]
		if have == nil {
			have = &c
			sums[c.Key()] = have
		}
		have.Amount += e.Amount
		if day == "" && e.Kind == EntryReversal {
			have.Reversals++
		}
	}
	for _, e := range entries {
		if e.Kind == EntryCarry {
			continue
		}
		add(e, "")
		add(e, ReleaseDay(e.ReleaseAt))
	}
	out := make([]ReleaseCount, 0, len(sums))
	for _, c := range sums {
		out = append(out, *c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key() < out[j].Key() })
	return out
}

// CountedBalances computes balances at now from counters instead of every
// unclaimed entry:
//
//	lifetime    the participations' total counters
//	held        the day counters of days after now's (UTC) day, and the
//	            entries of now's day released after now (later)
//	inPayout, paid   the payouts' parts (FAILED ones aside)
//	available   lifetime − held − inPayout − paid
//	adjustments the unclaimed reversals whose earning a payout not FAILED
//	            claimed (claimed, by id)
//
// Exact because every entry a payout claims was released at its run's
// instant (never held), and a payout's parts are the sum of what it claims
// (its carry included, whose pair sums to zero): lifetime − claimed is
// the unclaimed entries, of which held are those released later.
func CountedBalances(now time.Time, counts []ReleaseCount, later []Entry, reversals []Entry, payouts []Payout, claimed map[string]bool) (Balances, map[string]Balances) {
	var total Balances
	by := map[string]Balances{}
	add := func(pid string, f func(*Balances)) {
		b := by[pid]
		f(&b)
		by[pid] = b
		f(&total)
	}
	today := ReleaseDay(now)
	for _, c := range counts {
		switch {
		case c.Day == "":
			add(c.ParticipationID, func(b *Balances) { b.Lifetime += c.Amount; b.Available += c.Amount })
		case c.Day > today:
			add(c.ParticipationID, func(b *Balances) { b.Held += c.Amount; b.Available -= c.Amount })
		}
	}
	for _, e := range later {
		if e.Kind == EntryCarry || ReleaseDay(e.ReleaseAt) != today || !e.ReleaseAt.After(now) {
			continue
		}
		add(e.ParticipationID, func(b *Balances) { b.Held += e.Amount; b.Available -= e.Amount })
	}
	for _, e := range reversals {
		if e.PayoutID == "" && e.Kind == EntryReversal && claimed[e.Reverses] {
			add(e.ParticipationID, func(b *Balances) { b.Adjustments += e.Amount })
		}
	}
	for _, p := range payouts {
		if !p.Owed() {
			continue
		}
		for _, part := range p.Parts {
			add(part.ParticipationID, func(b *Balances) {
				b.owe(p, part)
				b.Available -= part.Amount
			})
		}
	}
	return total, by
}

// owe counts payout p's part in b: paid once p is PAID, in payout while
// it is PENDING (a FAILED payout owes nothing: its entries are unclaimed).
func (b *Balances) owe(p Payout, part PayoutPart) {
	if p.Status == PayoutPaid {
		b.Paid += part.Amount
	} else {
		b.InPayout += part.Amount
	}
}
