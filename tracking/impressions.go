package tracking

import (
	"context"

	"tally/domain"
)

// RecordImpression counts what the overlay of the streamer a browser source
// token belongs to shows now: one impression per streamer per rotation slot,
// however often the page reloads or how many overlay instances run. The
// impression is for the slot's campaign (the one Overlay answers), billed
// cpm/1000 through the budget guard, with the same counters and daily
// buckets as a click. During a blackout, or with nothing eligible, nothing is
// shown and nothing is recorded: the result is nil with isNew false.
func (s *Service) RecordImpression(ctx context.Context, token string) (*domain.Impression, bool, error) {
	shown, err := s.Overlay.Current(ctx, token)
	if err != nil || shown == nil {
		return nil, false, err
	}
	p, camp := shown.Participation, shown.Campaign
	im, isNew, err := s.Impressions.Record(ctx, domain.Impression{SlotKey: shown.SlotKey, ParticipationID: p.ID,
		CampaignID: camp.ID, StreamerID: p.StreamerID, SlotStartsAt: shown.SlotStartsAt, CreatedAt: s.Now()})
	if err != nil || !isNew {
		return &im, false, err
	}
	cost := domain.Micros(0)
	if camp.Billable(im.CreatedAt) {
		cost = domain.ImpressionCost(camp.CPM)
	}
	ectx, cancel := context.WithTimeout(context.WithoutCancel(ctx), effectsTimeout)
	defer cancel()
	billed, err := s.applyEffects(ectx, event{kind: domain.EventImpression, campaign: camp, participation: p, cost: cost, at: im.CreatedAt},
		func(ctx context.Context) error { return s.Impressions.MarkBilled(ctx, im.ID, cost) })
	if err != nil {
		return &im, true, s.effectsFailed(ctx, "impression", im.ID, err)
	}
	if billed {
		im.Billed, im.Cost = true, cost
	}
	return &im, true, nil
}
