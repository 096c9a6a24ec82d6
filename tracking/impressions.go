package tracking

import (
	"context"

	"tally/domain"
)

// RecordImpression counts what the overlay of the streamer a browser source
// token belongs to shows now: one impression per streamer per rotation slot,
// however often the page reloads or how many overlay instances run. The
// impression is for the slot's campaign (the one Overlay answers), priced
// cpm/1000; like a click, it is stored PENDING and the projector bills and
// counts it. During a blackout, or with nothing eligible, nothing is
// shown and nothing is recorded: the result is nil with isNew false.
func (s *Service) RecordImpression(ctx context.Context, token string) (*domain.Impression, bool, error) {
	shown, err := s.Overlay.Current(ctx, token)
	if err != nil || shown == nil {
		return nil, false, err
	}
	p, camp := shown.Participation, shown.Campaign
	now := s.Now()
	price := domain.Micros(0)
	if camp.Billable(now) {
		price = domain.ImpressionCost(camp.CPM)
	}
	im, isNew, err := s.Impressions.Record(ctx, domain.Impression{SlotKey: shown.SlotKey, ParticipationID: p.ID,
		CampaignID: camp.ID, StreamerID: p.StreamerID, SlotStartsAt: shown.SlotStartsAt, Cost: price, CreatedAt: now})
	if err != nil {
		return nil, false, err
	}
	if isNew {
		s.notify(camp.ID)
	}
	return &im, isNew, nil
}
