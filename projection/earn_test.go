package projection

import (
	"fmt"
	"testing"
	"time"

	"tally/domain"
)

// The earning entries a batch writes (Plan.Entries): what each holds, its
// id and its release time, decided with the batch's money.

// entries is a plan's entries as "id kind amount participation release".
func entries(p Plan) []string {
	var out []string
	for _, e := range p.Entries {
		s := fmt.Sprintf("%s %s %s %s +%s", e.ID, e.Kind, e.Amount, e.ParticipationID, e.ReleaseAt.Sub(t0))
		if e.Reverses != "" {
			s += " reverses " + e.Reverses
		}
		out = append(out, s)
	}
	return out
}

func TestEarningEntries(t *testing.T) {
	approved := func(id string) domain.EventRecord {
		return conversion(id, domain.ConversionApproved, domain.ConversionApproved)
	}
	rejectedAfterBilling := func(id string) domain.EventRecord {
		e := conversion(id, domain.ConversionRejected, domain.ConversionRejected)
		e.Counted, e.Decided, e.AppliedCharge, e.Billing = true, true, 3*unit/2, domain.BillingBilled
		e.MoneyAt = t0.Add(48 * time.Hour)
		return e
	}
	other := func(e domain.EventRecord) domain.EventRecord { e.ParticipationID = "p2"; return e }
	hold := func(days int) map[string]domain.CampaignLedger {
		l := ledger(1000 * unit)
		c := l["c1"]
		c.Campaign.HoldDays = &days
		l["c1"] = c
		return l
	}
	tests := []struct {
		name     string
		events   []domain.EventRecord
		ledgers  map[string]domain.CampaignLedger
		reversed map[string]domain.Entry
		want     []string
	}{
		{"clicks of one participation are one entry, released a hold after the latest",
			[]domain.EventRecord{click("a", 0, unit), click("b", 5, unit), other(click("c", 9, unit))}, ledger(1000 * unit), nil,
			[]string{"clicks:a earning 2.00 p1 +720h0m5s", "clicks:c earning 1.00 p2 +720h0m9s"}},
		{"a quarter hour (UTC) starts a new entry: one lies in one day of every zone",
			[]domain.EventRecord{click("a", 0, unit), click("b", 15*60-1, unit), click("c", 15*60, unit)}, ledger(1000 * unit), nil,
			[]string{"clicks:a earning 2.00 p1 +720h14m59s", "clicks:c earning 1.00 p1 +720h15m0s"}},
		{"the campaign's own hold; 0 is payable at once",
			[]domain.EventRecord{click("a", 0, unit)}, hold(0), nil,
			[]string{"clicks:a earning 1.00 p1 +0s"}},
		{"what the budget refused earns nothing",
			[]domain.EventRecord{click("a", 0, unit), click("b", 1, unit)}, ledger(unit), nil,
			[]string{"clicks:a earning 1.00 p1 +720h0m0s"}},
		{"a conversion approved is its own entry",
			[]domain.EventRecord{approved("v1"), click("a", 0, unit)}, hold(3), nil,
			[]string{"conversion:v1 earning 1.50 p1 +72h0m0s", "clicks:a earning 1.00 p1 +72h0m0s"}},
		{"a reversal is released when what it reverses is",
			[]domain.EventRecord{rejectedAfterBilling("v1")}, hold(3),
			map[string]domain.Entry{"conversion:v1": {ID: "conversion:v1", ReleaseAt: t0.Add(72 * time.Hour)}},
			[]string{"conversion:v1:reversal reversal -1.50 p1 +72h0m0s reverses conversion:v1"}},
		{"a reversal of money billed before entries existed is released at once",
			[]domain.EventRecord{rejectedAfterBilling("v1")}, hold(3), nil,
			[]string{"conversion:v1:reversal reversal -1.50 p1 +48h0m0s reverses conversion:v1"}},
		{"a pending conversion earns nothing",
			[]domain.EventRecord{conversion("v1", domain.ConversionPending, domain.ConversionPending)}, ledger(1000 * unit), nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := domain.Batch{N: 7, Events: tt.events}
			p := mustDecide(t, b, State{Ledgers: tt.ledgers, Reversed: tt.reversed}, Rules{HoldDays: 30})
			wantEqual(t, "entries", entries(p), tt.want)
			var sum, earned domain.Micros
			for _, e := range p.Entries {
				sum += e.Amount
				if e.Batch != 7 {
					t.Errorf("entry %s: batch %d, want 7", e.ID, e.Batch)
				}
			}
			for _, d := range p.Participations {
				earned += d.Earnings
			}
			wantEqual(t, "entries sum to the participations' earnings", sum, earned)
		})
	}
}

func TestReversedEntryIDs(t *testing.T) {
	e := conversion("v1", domain.ConversionRejected, domain.ConversionRejected)
	e.AppliedCharge = unit
	wantEqual(t, "ids", ReversedEntryIDs(domain.Batch{Events: []domain.EventRecord{click("a", 0, unit), e}}), []string{"conversion:v1"})
}
