package tracking

import (
	"context"
	"fmt"
	"io"

	"tally/domain"
	"tally/repository"
)

// totals are what the events say a campaign, participation or bucket holds.
// charged is both the campaign's spend and the streamer's earnings: the
// streamer earns what the campaign is billed (see applyEffects).
type totals struct {
	impressions, clicks, conversions int64
	charged                          domain.Micros
}

func (t *totals) add(kind domain.EventKind, money domain.Micros) {
	switch kind {
	case domain.EventImpression:
		t.impressions++
	case domain.EventClick:
		t.clicks++
	case domain.EventConversion:
		t.conversions++
	}
	t.charged += money
}

type bucketKey struct {
	owner repository.BucketOwner
	day   string
}

// ledger accumulates totals from the stored events.
type ledger struct {
	campaigns      map[string]*totals
	participations map[string]*totals
	buckets        map[bucketKey]*totals
	events         int
}

func (l *ledger) add(e domain.EventRecord) {
	total(l.campaigns, e.CampaignID).add(e.Kind, e.Charged)
	total(l.participations, e.ParticipationID).add(e.Kind, e.Charged)
	day := domain.Day(e.At)
	for _, o := range bucketOwners(e.CampaignID, e.ParticipationID, e.StreamerID) {
		total(l.buckets, bucketKey{o, day}).add(e.Kind, e.Charged)
	}
	l.events++
}

// total returns m[k], created empty if absent.
func total[K comparable](m map[K]*totals, k K) *totals {
	if m[k] == nil {
		m[k] = &totals{}
	}
	return m[k]
}

// scanEvents adds every event that each yields to the ledger, printing
// progress on long runs.
func scanEvents[E interface{ Event() domain.EventRecord }](ctx context.Context, each func(context.Context, func(E) error) error, l *ledger, out io.Writer) error {
	return each(ctx, func(e E) error {
		l.add(e.Event())
		if l.events%10000 == 0 {
			fmt.Fprintf(out, "… %d events scanned\n", l.events)
		}
		return nil
	})
}

// ReconcileReport says what Reconcile changed.
type ReconcileReport struct {
	Events, Campaigns, Participations, Buckets int // scanned
	Changed                                    int // documents rewritten
}

// Reconcile recomputes every counter and money total — campaign stats,
// spent and remaining; participation stats and earnings; daily buckets —
// from the stored events, and rewrites what has drifted (after a crash
// between an event and its effects, say). It prints each change and, on
// long runs, its progress to out. An event's money counts only if the event
// is marked billed.
//
// It reads every event, so run it when traffic is quiet: an event recorded
// while it runs may be counted by the live $inc and overwritten by the
// recomputed value (the next run repairs that too).
func (s *Service) Reconcile(ctx context.Context, out io.Writer) (ReconcileReport, error) {
	l := &ledger{campaigns: map[string]*totals{}, participations: map[string]*totals{}, buckets: map[bucketKey]*totals{}}
	err := scanEvents(ctx, s.Impressions.Each, l, out)
	if err == nil {
		err = scanEvents(ctx, s.Clicks.Each, l, out)
	}
	if err == nil {
		err = scanEvents(ctx, s.Conversions.Each, l, out)
	}
	if err != nil {
		return ReconcileReport{}, err
	}
	rep := ReconcileReport{Events: l.events}
	fmt.Fprintf(out, "scanned %d events\n", l.events)

	err = s.Campaigns.Each(ctx, func(c domain.Campaign) error {
		rep.Campaigns++
		t := l.campaigns[c.ID]
		if t == nil {
			t = &totals{}
		}
		want := domain.CampaignStats{Impressions: t.impressions, Clicks: t.clicks, Conversions: t.conversions}
		if c.Stats == want && c.Spent == t.charged {
			return nil
		}
		ok, err := s.Campaigns.SetTotals(ctx, c, want, t.charged)
		if err != nil {
			return err
		}
		if !ok {
			fmt.Fprintf(out, "campaign %s: budget changed while reconciling; run again\n", c.ID)
			return nil
		}
		rep.Changed++
		fmt.Fprintf(out, "campaign %s: impressions %d→%d clicks %d→%d conversions %d→%d spent %s→%s\n", c.ID,
			c.Stats.Impressions, want.Impressions, c.Stats.Clicks, want.Clicks, c.Stats.Conversions, want.Conversions, c.Spent, t.charged)
		return nil
	})
	if err != nil {
		return rep, err
	}
	err = s.Participations.Each(ctx, func(p domain.Participation) error {
		rep.Participations++
		t := l.participations[p.ID]
		if t == nil {
			t = &totals{}
		}
		want := domain.ParticipationStats{Impressions: t.impressions, Clicks: t.clicks, Conversions: t.conversions, Earnings: t.charged}
		if p.Stats == want {
			return nil
		}
		if err := s.Participations.SetTotals(ctx, p.ID, want); err != nil {
			return err
		}
		rep.Changed++
		fmt.Fprintf(out, "participation %s: impressions %d→%d clicks %d→%d conversions %d→%d earnings %s→%s\n", p.ID,
			p.Stats.Impressions, want.Impressions, p.Stats.Clicks, want.Clicks, p.Stats.Conversions, want.Conversions, p.Stats.Earnings, want.Earnings)
		return nil
	})
	if err != nil {
		return rep, err
	}
	// Buckets: rewrite the stored ones that differ (zeroing those no event
	// supports), then create the missing ones.
	seen := map[bucketKey]bool{}
	var fix []repository.Bucket
	err = s.DailyStatsRepo.EachBucket(ctx, func(b repository.Bucket) error {
		rep.Buckets++
		k := bucketKey{b.Owner, b.Day}
		seen[k] = true
		want := bucketStat(b.Day, l.buckets[k])
		if b.Stat != want {
			fmt.Fprintf(out, "daily %s %s %s: %+v→%+v\n", b.Owner.Scope, b.Owner.ID, b.Day, b.Stat, want)
			fix = append(fix, repository.Bucket{Owner: b.Owner, Day: b.Day, Stat: want})
		}
		return nil
	})
	if err != nil {
		return rep, err
	}
	for k, t := range l.buckets {
		if !seen[k] {
			fmt.Fprintf(out, "daily %s %s %s: missing, recreated\n", k.owner.Scope, k.owner.ID, k.day)
			fix = append(fix, repository.Bucket{Owner: k.owner, Day: k.day, Stat: bucketStat(k.day, t)})
		}
	}
	for _, b := range fix {
		if err := s.DailyStatsRepo.Replace(ctx, b); err != nil {
			return rep, err
		}
		rep.Changed++
	}
	fmt.Fprintf(out, "reconciled %d campaigns, %d participations, %d daily buckets: %d documents changed\n",
		rep.Campaigns, rep.Participations, rep.Buckets, rep.Changed)
	return rep, nil
}

func bucketStat(day string, t *totals) domain.DailyStat {
	if t == nil {
		return domain.DailyStat{Date: day}
	}
	return domain.DailyStat{Date: day, Impressions: t.impressions, Clicks: t.clicks, Conversions: t.conversions, Spend: t.charged, Earnings: t.charged}
}
