package projection

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"time"

	"tally/domain"
	"tally/repository"
)

// quarterCheck recomputes the report's quarter buckets from the events'
// steps, beside verify's other counters: the same rule as the plan
// (QuarterKeys, QuarterSteps), the same reach (a bucket holds the steps of
// the batches it has reached).
type quarterCheck struct {
	stored  map[string]storedQuarter
	days    map[string]int64 // the batch each day document reached, by dayKey
	subs    map[domain.SubValuesKey][]string
	applied []int64 // each partition's last applied batch
	want    map[string]*domain.QuarterDelta
}

type storedQuarter struct {
	q     domain.QuarterDelta
	batch int64
}

// readQuarters reads every quarter bucket, then the sub-id lists (after
// the buckets: a value a bucket counts is in its list by then).
func readQuarters(ctx context.Context, store *repository.Projection) (*quarterCheck, error) {
	qc := &quarterCheck{stored: map[string]storedQuarter{}, days: map[string]int64{}, want: map[string]*domain.QuarterDelta{}}
	err := store.EachQuarter(ctx, func(q domain.QuarterDelta, batch int64) error {
		qc.stored[q.Key.ID()] = storedQuarter{q, batch}
		qc.days[dayKey(q.Key)] = batch
		return nil
	})
	if err != nil {
		return nil, err
	}
	if qc.subs, err = store.AllSubValues(ctx); err != nil {
		return nil, err
	}
	return qc, nil
}

// add adds e's steps to the buckets they reach. Impressions and clicks
// count once they were projected with the quarter buckets (or while in
// flight); a conversion's step counts when it carries its status (counts)
// or its time (money): steps projected before the quarter buckets existed
// are in none.
func (qc *quarterCheck) add(e domain.EventRecord, steps []domain.Step) {
	keys := QuarterKeys(e, func(sub int, v string) (string, bool) {
		if slices.Contains(qc.subs[domain.SubValuesKey{CampaignID: e.CampaignID, Sub: sub}], v) {
			return v, true
		}
		return "", false
	})
	var prev domain.ConversionStatus
	for _, st := range steps {
		counted, moneyAt := st.Counted, st.MoneyAt
		if e.Kind == domain.EventConversion {
			counted = counted && st.Status != ""
		} else {
			if !e.Quarters && e.Billing != domain.BillingPending {
				continue // projected before the quarter buckets
			}
			moneyAt = e.At
		}
		money := st.Delta
		if moneyAt.IsZero() {
			money = 0
		}
		atCount, atMoney := QuarterSteps(e, counted, prev, st.Status, money)
		if st.Status != "" {
			prev = st.Status
		}
		for _, k := range keys {
			qc.reach(k, st.Batch, atCount)
			if money != 0 {
				k.At = domain.Quarter(moneyAt)
				qc.reach(k, st.Batch, atMoney)
			}
		}
	}
}

// dayKey names the document holding quarter k: the buckets of one key
// and one UTC day are stored together, with one batch.
func dayKey(k domain.QuarterKey) string {
	k.At = k.At.UTC().Truncate(24 * time.Hour)
	return k.ID()
}

// reach adds c to bucket k when the document holding it has reached batch
// (or, not stored, when the batch was applied before the buckets were
// read).
func (qc *quarterCheck) reach(k domain.QuarterKey, batch int64, c domain.QuarterCounts) {
	if c == (domain.QuarterCounts{}) {
		return
	}
	id := k.ID()
	docBatch, exists := qc.days[dayKey(k)]
	if exists && batch > docBatch {
		return
	}
	if !exists && batch > qc.applied[domain.PartitionOf(k.CampaignID, len(qc.applied))] {
		return
	}
	w := qc.want[id]
	if w == nil {
		w = &domain.QuarterDelta{Key: k}
		qc.want[id] = w
	}
	w.Counts.Add(c, 1)
}

// drift compares: one line per bucket that differs, and the buckets as
// the events give them, for repair.
func (qc *quarterCheck) drift() (lines []string, fix []domain.QuarterDelta) {
	ids := make([]string, 0, len(qc.stored)+len(qc.want))
	for id := range qc.stored {
		ids = append(ids, id)
	}
	for id := range qc.want {
		if _, ok := qc.stored[id]; !ok {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	for _, id := range ids {
		have, exists := qc.stored[id]
		w := qc.want[id]
		if w == nil {
			w = &domain.QuarterDelta{Key: have.q.Key}
		}
		switch {
		case !exists:
			lines = append(lines, fmt.Sprintf("quarter:%s: missing; the events give %s", id, describeQuarter(w.Counts)))
		case have.q.Counts != w.Counts:
			lines = append(lines, fmt.Sprintf("quarter:%s: stored %s; the events give %s", id, describeQuarter(have.q.Counts), describeQuarter(w.Counts)))
		default:
			continue
		}
		fix = append(fix, *w)
	}
	return lines, fix
}

func describeQuarter(c domain.QuarterCounts) string {
	return fmt.Sprintf("impressions %d clicks %d invalid clicks %d conversions %d (pending %d approved %d rejected %d) spend %s earnings %s",
		c.Impressions, c.Clicks, c.InvalidClicks, c.Conversions, c.Pending, c.Approved, c.Rejected, c.Spend, c.Earnings)
}
