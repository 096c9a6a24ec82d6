package projection

import (
	"fmt"

	"tally/domain"
)

// This file is the plan's report step: the quarter buckets (docs/reports.md).

// SubValueKeys are the sub-id value lists b's clicks and conversions need,
// in order of first use: the state to read before planning.
func SubValueKeys(b domain.Batch) []domain.SubValuesKey {
	seen := map[domain.SubValuesKey]bool{}
	var keys []domain.SubValuesKey
	for _, e := range b.Events {
		for i, v := range e.Subs {
			k := domain.SubValuesKey{CampaignID: e.CampaignID, Sub: i + 1}
			if v != "" && !seen[k] {
				seen[k] = true
				keys = append(keys, k)
			}
		}
	}
	return keys
}

// QuarterStatus is the status a conversion's step counts it under in the
// quarter buckets: its status now when the step counts it, or when an
// earlier step counted it there; "" for a conversion counted before the
// quarter buckets existed (it stays out of them) and for other events.
func QuarterStatus(e domain.EventRecord) domain.ConversionStatus {
	if e.Kind != domain.EventConversion {
		return ""
	}
	if count, _, _ := e.Next(); count || e.Projected != "" {
		return e.Status
	}
	return ""
}

// QuarterKeys are the buckets an event counts in, in the quarter at: its
// campaign's, its participation's, its goal's (conversions) and one per
// sub-id it carries, the value as kept (value), all in the quarter of its
// recording; a step's money goes to the same keys in its own quarter.
func QuarterKeys(e domain.EventRecord, value func(sub int, v string) (string, bool)) []domain.QuarterKey {
	t := domain.Quarter(e.At)
	keys := []domain.QuarterKey{
		{Level: domain.LevelCampaign, CampaignID: e.CampaignID, At: t},
		{Level: domain.LevelParticipation, CampaignID: e.CampaignID, ParticipationID: e.ParticipationID, At: t},
	}
	if e.Kind == domain.EventConversion {
		keys = append(keys, domain.QuarterKey{Level: domain.LevelGoal, CampaignID: e.CampaignID, ParticipationID: e.ParticipationID, Goal: e.GoalID, At: t})
	}
	if e.Kind == domain.EventImpression {
		return keys
	}
	for i, v := range e.Subs {
		if v == "" {
			continue
		}
		kept, ok := value(i+1, v)
		keys = append(keys, domain.QuarterKey{Level: domain.LevelSub, CampaignID: e.CampaignID, ParticipationID: e.ParticipationID,
			Sub: i + 1, Value: kept, Other: !ok, At: t})
	}
	return keys
}

// QuarterSteps are what one projection step of e adds to the quarter
// buckets: counts (and a conversion's status) in the quarter of its
// recording, money in the quarter of the step (moneyAt). prev is the
// status an earlier step counted a conversion under ("" when none), status
// the one this step counts it under ("" when it stays out).
func QuarterSteps(e domain.EventRecord, counted bool, prev, status domain.ConversionStatus, money domain.Micros) (atCount, atMoney domain.QuarterCounts) {
	if counted {
		atCount.Count(e)
	}
	if status != "" {
		if counted {
			atCount.Status(status, 1)
		} else if prev != "" && prev != status {
			atCount.Status(prev, -1)
			atCount.Status(status, 1)
		}
	}
	atMoney.Spend, atMoney.Earnings = money, money // the streamer earns what the campaign is billed
	return atCount, atMoney
}

// quarters adds each event's step to the report's quarter buckets
// (QuarterSteps), deciding in event order which sub-id values each
// campaign keeps: a value already kept, or a new one while the campaign
// keeps fewer than domain.MaxSubValues of that sub-id; the others count as
// "other". Lists only grow, so a replay that reads the lists a first run
// already saved decides as it did.
func (p *Plan) quarters(billed billedFunc, lists map[domain.SubValuesKey][]string) error {
	known := map[domain.SubValuesKey]map[string]bool{}
	grown := map[domain.SubValuesKey][]string{}
	value := func(e domain.EventRecord) func(int, string) (string, bool) {
		return func(sub int, v string) (string, bool) {
			k := domain.SubValuesKey{CampaignID: e.CampaignID, Sub: sub}
			if known[k] == nil {
				known[k] = map[string]bool{}
				for _, x := range lists[k] {
					known[k][x] = true
				}
				grown[k] = lists[k]
			}
			if known[k][v] {
				return v, true
			}
			if len(known[k]) >= domain.MaxSubValues {
				return "", false
			}
			known[k][v] = true
			grown[k] = append(append([]string(nil), grown[k]...), v)
			return v, true
		}
	}
	index := map[string]int{}
	add := func(k domain.QuarterKey, c domain.QuarterCounts) error {
		if c == (domain.QuarterCounts{}) {
			return nil
		}
		id := k.ID()
		i, ok := index[id]
		if !ok {
			i = len(p.Quarters)
			index[id] = i
			p.Quarters = append(p.Quarters, domain.QuarterDelta{Key: k})
		}
		if !p.Quarters[i].Counts.Add(c, 1) {
			return fmt.Errorf("quarter %s: overflow", id)
		}
		return nil
	}
	for _, e := range p.Events {
		count, _, _ := e.Next()
		bill, _ := billed(e)
		_, _, _, money := e.Outcome(bill)
		atCount, atMoney := QuarterSteps(e, count, e.Projected, QuarterStatus(e), money)
		keys := QuarterKeys(e, value(e))
		for _, k := range keys {
			if err := add(k, atCount); err != nil {
				return err
			}
			if money != 0 {
				k.At = domain.Quarter(e.OrderAt())
				if err := add(k, atMoney); err != nil {
					return err
				}
			}
		}
	}
	for k, vs := range grown {
		if len(vs) > len(lists[k]) {
			if p.SubValues == nil {
				p.SubValues = map[domain.SubValuesKey][]string{}
			}
			p.SubValues[k] = vs
		}
	}
	return nil
}
