package domain

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

// TestCountedBalancesEqualEntries: for random histories — earnings and
// reversals released before and after now (today and later days), payouts
// PENDING, PAID and FAILED claiming released entries with their carries —
// the balances from counters equal the balances summed entry by entry,
// in total and per participation.
func TestCountedBalancesEqualEntries(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	for seed := range 200 {
		r := rand.New(rand.NewPCG(uint64(seed), 1))
		var entries []Entry
		for i := range 40 {
			pid := fmt.Sprintf("p%d", r.IntN(3))
			e := Entry{ID: fmt.Sprintf("e%d", i), Kind: EntryEarning, ParticipationID: pid, CampaignID: "c" + pid, StreamerID: "s",
				Amount: Micros(r.IntN(5_000_000) + 1), ReleaseAt: now.Add(time.Duration(r.IntN(96)-48) * time.Hour)}
			if i > 0 && r.IntN(5) == 0 { // a reversal of an earlier earning, released with it
				o := entries[r.IntN(len(entries))]
				if o.Kind == EntryEarning {
					e.Kind, e.Reverses, e.ParticipationID, e.CampaignID, e.Amount, e.ReleaseAt = EntryReversal, o.ID, o.ParticipationID, o.CampaignID, -o.Amount, o.ReleaseAt
				}
			}
			entries = append(entries, e)
		}
		var payouts []Payout
		for k, status := range []PayoutStatus{PayoutPaid, PayoutFailed, PayoutPending} {
			p := Payout{ID: fmt.Sprintf("run%d:s", k), StreamerID: "s", Status: status, CreatedAt: now}
			var claim []Entry
			for i := range entries {
				if entries[i].PayoutID == "" && !entries[i].ReleaseAt.After(now) && r.IntN(2) == 0 {
					claim = append(claim, entries[i])
					if status != PayoutFailed {
						entries[i].PayoutID = p.ID
					}
				}
			}
			if len(claim) == 0 {
				continue
			}
			var sum Micros
			for _, e := range claim {
				sum += e.Amount
			}
			p.Carry = max(sum%Cent, 0)
			p.CarryParticipation, p.CarryCampaign = claim[0].ParticipationID, claim[0].CampaignID
			if p.Carry > 0 {
				out, in := CarryEntries(p)
				if status != PayoutFailed {
					out.PayoutID = p.ID
				}
				claim = append(claim, out)
				entries = append(entries, out, in)
			}
			p.Amount, p.Parts = PayoutParts(claim)
			payouts = append(payouts, p)
		}
		var unclaimed []Entry
		for _, e := range entries {
			if e.PayoutID == "" {
				unclaimed = append(unclaimed, e)
			}
		}
		owed := map[string]bool{}
		for _, p := range payouts {
			owed[p.ID] = p.Owed()
		}
		claimed := map[string]bool{}
		for _, e := range entries {
			claimed[e.ID] = e.PayoutID != "" && owed[e.PayoutID]
		}
		wantTotal, wantBy := sumBalances(now, unclaimed, payouts, claimed)
		gotTotal, gotBy := CountedBalances(now, ReleaseCounts(entries), entries, unclaimed, payouts, claimed)
		if gotTotal != wantTotal {
			t.Fatalf("seed %d: total %+v, want %+v", seed, gotTotal, wantTotal)
		}
		for pid, w := range wantBy {
			if gotBy[pid] != w {
				t.Fatalf("seed %d: %s %+v, want %+v", seed, pid, gotBy[pid], w)
			}
		}
	}
}

// sumBalances is the definition CountedBalances must agree with: it
// computes balances at now from a streamer's unclaimed entries
// and payouts (FAILED ones are ignored: their entries are unclaimed again),
// in total and by participation; claimed says whether an entry (by id) is
// claimed by a payout that is not FAILED, for the adjustments.
func sumBalances(now time.Time, unclaimed []Entry, payouts []Payout, claimed map[string]bool) (Balances, map[string]Balances) {
	var total Balances
	by := map[string]Balances{}
	add := func(pid string, f func(*Balances)) {
		b := by[pid]
		f(&b)
		by[pid] = b
		f(&total)
	}
	for _, e := range unclaimed {
		add(e.ParticipationID, func(b *Balances) {
			if e.ReleaseAt.After(now) {
				b.Held += e.Amount
			} else {
				b.Available += e.Amount
			}
			if e.Kind == EntryReversal && claimed[e.Reverses] {
				b.Adjustments += e.Amount
			}
			b.Lifetime += e.Amount
		})
	}
	for _, p := range payouts {
		if !p.Owed() {
			continue
		}
		for _, part := range p.Parts {
			add(part.ParticipationID, func(b *Balances) {
				b.owe(p, part)
				b.Lifetime += part.Amount
			})
		}
	}
	return total, by
}
