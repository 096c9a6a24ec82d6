// Package reports answers the read side of tracking: daily stats from the
// pre-aggregated buckets the projector keeps, and lists of conversions. Each
// method authorizes its caller with the same access rules as the campaign
// and participation they are about.
package reports

import (
	"context"
	"time"

	"tally/auth"
	"tally/domain"
	"tally/repository"
)

// Service answers reports.
type Service struct {
	Campaigns      *repository.Campaigns
	Participations *repository.Participations
	Conversions    *repository.Conversions
	Buckets        *repository.DailyStats
	Quarters       *repository.ReportBuckets
}

// DailyStats returns one owner's daily buckets for the UTC days from..to
// (YYYY-MM-DD, inclusive, at most domain.MaxStatsDays). Who may read: a
// campaign's brand and admins for CAMPAIGN; whoever may see the
// participation for PARTICIPATION; the streamer themself and admins for
// STREAMER.
func (s *Service) DailyStats(ctx context.Context, scope domain.StatsScope, id, from, to string) ([]domain.DailyStat, error) {
	c, err := auth.RequireUser(ctx)
	if err != nil {
		return nil, err
	}
	start, err := time.Parse(time.DateOnly, from)
	if err != nil {
		return nil, domain.Invalid("from", "from must be a date as YYYY-MM-DD, got %q", from)
	}
	end, err := time.Parse(time.DateOnly, to)
	if err != nil {
		return nil, domain.Invalid("to", "to must be a date as YYYY-MM-DD, got %q", to)
	}
	if end.Before(start) {
		return nil, domain.Invalid("to", "to must not be before from")
	}
	if days := int(end.Sub(start).Hours()/24) + 1; days > domain.MaxStatsDays {
		return nil, domain.Invalid("to", "the range spans %d days; the most is %d", days, domain.MaxStatsDays)
	}
	switch scope {
	case domain.ScopeCampaign:
		if err := s.requireManage(ctx, id); err != nil {
			return nil, err
		}
	case domain.ScopeParticipation:
		if err := s.requireSee(ctx, id); err != nil {
			return nil, err
		}
	case domain.ScopeStreamer:
		if !c.ActsFor(id) {
			return nil, domain.Errorf(domain.EFORBIDDEN, "only the streamer themself or an admin may read their stats")
		}
	}
	return s.Buckets.Range(ctx, scope, id, start, end)
}

// requireManage allows the brand of campaign id and admins; others who may
// see it are FORBIDDEN, the rest NOT_FOUND.
func (s *Service) requireManage(ctx context.Context, campaignID string) error {
	c := auth.CallerFrom(ctx)
	camp, err := s.Campaigns.ByID(ctx, campaignID)
	if err != nil {
		return err
	}
	if domain.CanManageCampaign(c.UserID, c.Role, camp) {
		return nil
	}
	seen, err := domain.CanSeeCampaign(c.UserID, c.Role, camp, func() (bool, error) {
		return s.Participations.Joined(ctx, camp.ID, c.UserID)
	})
	switch {
	case err != nil:
		return err
	case seen:
		return domain.Errorf(domain.EFORBIDDEN, "only the campaign's brand or an admin may read this")
	}
	return domain.Errorf(domain.ENOTFOUND, "campaign %q not found", campaignID)
}

// requireSee allows whoever may see participation id (domain.CanSeeParticipation);
// NOT_FOUND for the rest.
func (s *Service) requireSee(ctx context.Context, participationID string) error {
	c := auth.CallerFrom(ctx)
	p, err := s.Participations.ByID(ctx, participationID)
	if err != nil {
		return err
	}
	ok, err := domain.CanSeeParticipation(c.UserID, c.Role, p, func() (string, error) {
		return s.Campaigns.BrandOf(ctx, p.CampaignID)
	})
	if err != nil {
		return err
	}
	if !ok {
		return domain.Errorf(domain.ENOTFOUND, "participation %q not found", participationID)
	}
	return nil
}

// ListConversions returns a page of a campaign's conversions (its brand,
// admins) or a participation's (whoever may see it). Exactly one of the
// filter's ids must be given.
func (s *Service) ListConversions(ctx context.Context, f domain.ConversionFilter, page domain.PageArgs) (domain.Page[domain.Conversion], error) {
	none := domain.Page[domain.Conversion]{}
	if _, err := auth.RequireUser(ctx); err != nil {
		return none, err
	}
	c := auth.CallerFrom(ctx)
	switch {
	case f.CampaignID != "" && f.ParticipationID != "":
		return none, domain.Invalid("campaignId", "give at most one of campaignId and participationId")
	case f.CampaignID == "" && f.ParticipationID == "":
		if !c.IsAdmin() {
			return none, domain.Invalid("campaignId", "give campaignId or participationId; only admins list conversions across campaigns")
		}
	case f.CampaignID != "":
		if err := s.requireManage(ctx, f.CampaignID); err != nil {
			return none, err
		}
	default:
		if err := s.requireSee(ctx, f.ParticipationID); err != nil {
			return none, err
		}
	}
	return s.Conversions.List(ctx, f, page)
}

// Conversion returns one conversion to whoever may list its campaign's
// conversions (its brand, admins) or see its participation; NOT_FOUND for
// anyone else.
func (s *Service) Conversion(ctx context.Context, id string) (domain.Conversion, error) {
	if _, err := auth.RequireUser(ctx); err != nil {
		return domain.Conversion{}, err
	}
	conv, err := s.Conversions.ByID(ctx, id)
	if err != nil {
		return domain.Conversion{}, err
	}
	if err := s.requireSee(ctx, conv.ParticipationID); err != nil {
		return domain.Conversion{}, domain.Errorf(domain.ENOTFOUND, "conversion %q not found", id)
	}
	return conv, nil
}
