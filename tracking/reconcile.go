package tracking

import (
	"context"
	"fmt"
	"io"
	"time"

	"tally/domain"
	"tally/repository"
)

// totals are what the events say a campaign, participation or bucket holds.
type totals struct {
	impressions, clicks, conversions int64
	spend, earnings                  domain.Micros
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
	t.spend += money
	t.earnings += money
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

func (l *ledger) add(kind domain.EventKind, campaignID, participationID, streamerID string, at time.Time, billed domain.Micros) {
	get := func(m map[string]*totals, k string) *totals {
		if m[k] == nil {
			m[k] = &totals{}
		}
		return m[k]
	}
	get(l.campaigns, campaignID).add(kind, billed)
	get(l.participations, participationID).add(kind, billed)
	day := domain.Day(at)
	for _, o := range []repository.BucketOwner{
		{Scope: domain.ScopeCampaign, ID: campaignID},
		{Scope: domain.ScopeParticipation, ID: participationID},
		{Scope: domain.ScopeStreamer, ID: streamerID},
	} {
		k := bucketKey{o, day}
		if l.buckets[k] == nil {
			l.buckets[k] = &totals{}
		}
		l.buckets[k].add(kind, billed)
	}
	l.events++
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
	progress := func() {
		if l.events%10000 == 0 && l.events > 0 {
			fmt.Fprintf(out, "… %d events scanned\n", l.events)
		}
	}
	err := s.Impressions.Each(ctx, func(im domain.Impression) error {
		billed := domain.Micros(0)
		if im.Billed {
			billed = im.Cost
		}
		l.add(domain.EventImpression, im.CampaignID, im.ParticipationID, im.StreamerID, im.CreatedAt, billed)
		progress()
		return nil
	})
	if err != nil {
		return ReconcileReport{}, err
	}
	err = s.Clicks.Each(ctx, func(c domain.Click) error {
		billed := domain.Micros(0)
		if c.Billed {
			billed = c.Cost
		}
		l.add(domain.EventClick, c.CampaignID, c.ParticipationID, c.StreamerID, c.CreatedAt, billed)
		progress()
		return nil
	})
	if err != nil {
		return ReconcileReport{}, err
	}
	err = s.Conversions.Each(ctx, func(c domain.Conversion) error {
		billed := domain.Micros(0)
		if c.Billed {
			billed = c.Payout
		}
		l.add(domain.EventConversion, c.CampaignID, c.ParticipationID, c.StreamerID, c.CreatedAt, billed)
		progress()
		return nil
	})
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
		if c.Stats == want && c.Spent == t.spend {
			return nil
		}
		ok, err := s.Campaigns.SetTotals(ctx, c, want, t.spend)
		if err != nil {
			return err
		}
		if !ok {
			fmt.Fprintf(out, "campaign %s: budget changed while reconciling; run again\n", c.ID)
			return nil
		}
		rep.Changed++
		fmt.Fprintf(out, "campaign %s: impressions %d→%d clicks %d→%d conversions %d→%d spent %s→%s\n", c.ID,
			c.Stats.Impressions, want.Impressions, c.Stats.Clicks, want.Clicks, c.Stats.Conversions, want.Conversions, c.Spent, t.spend)
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
		want := domain.ParticipationStats{Impressions: t.impressions, Clicks: t.clicks, Conversions: t.conversions, Earnings: t.earnings}
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
	return domain.DailyStat{Date: day, Impressions: t.impressions, Clicks: t.clicks, Conversions: t.conversions, Spend: t.spend, Earnings: t.earnings}
}
