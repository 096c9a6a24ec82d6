package campaigns

import (
	"context"

	"tally/auth"
	"tally/domain"
)

// The alerts: what the projector raised when a campaign's spend reached a
// threshold of its budget, its daily budget or a streamer's cap
// (domain.DecideAlerts). They are the brand's: the campaign's brand and
// admins (domain.CanManageCampaign) read them; FORBIDDEN for a streamer
// who may see the campaign, NOT_FOUND for anyone who may not.

// alertsOf returns campaign id for a caller who may read its alerts.
func (s *Service) alertsOf(ctx context.Context, id string) (domain.Campaign, error) {
	c, err := auth.RequireUser(ctx)
	if err != nil {
		return domain.Campaign{}, err
	}
	camp, err := s.Get(ctx, id)
	if err != nil {
		return domain.Campaign{}, err
	}
	if !domain.CanManageCampaign(c.UserID, c.Role, camp) {
		return domain.Campaign{}, domain.Errorf(domain.EFORBIDDEN, "only the campaign's brand or an admin may read its alerts")
	}
	return camp, nil
}

// ListAlerts returns one page of camp's alerts, newest first, to its brand and
// admins: UNAUTHENTICATED without a user, FORBIDDEN for anyone else (camp
// was read by a caller who may see it).
func (s *Service) ListAlerts(ctx context.Context, camp domain.Campaign, page domain.PageArgs) (domain.Page[domain.Alert], error) {
	c, err := auth.RequireUser(ctx)
	if err != nil {
		return domain.Page[domain.Alert]{}, err
	}
	if !domain.CanManageCampaign(c.UserID, c.Role, camp) {
		return domain.Page[domain.Alert]{}, domain.Errorf(domain.EFORBIDDEN, "only the campaign's brand or an admin may read its alerts")
	}
	if err := page.Validate(); err != nil {
		return domain.Page[domain.Alert]{}, err
	}
	return s.Alerts.List(ctx, camp.ID, page)
}

// AlertsSince returns up to limit of campaign id's alerts whose Seq is at
// least from, oldest first, authorized as ListAlerts each time (the live
// subscription reads through it, so a caller who loses access stops
// receiving): NOT_FOUND for a campaign the caller may not see.
func (s *Service) AlertsSince(ctx context.Context, id string, from int64, limit int) ([]domain.Alert, error) {
	camp, err := s.alertsOf(ctx, id)
	if err != nil {
		return nil, err
	}
	return s.Alerts.Since(ctx, camp.ID, from, limit)
}

// AlertsCampaign returns campaign id to a caller who may read its alerts:
// UNAUTHENTICATED without a user, NOT_FOUND for a campaign the caller may
// not see, FORBIDDEN for one they may see but not manage.
func (s *Service) AlertsCampaign(ctx context.Context, id string) (domain.Campaign, error) {
	return s.alertsOf(ctx, id)
}

// AlertWebhookURL returns camp's alertWebhookUrl to whoever may manage the
// campaign; ok is false for anyone else and when it has none.
func (s *Service) AlertWebhookURL(ctx context.Context, camp domain.Campaign) (url string, ok bool) {
	c := auth.CallerFrom(ctx)
	if !domain.CanManageCampaign(c.UserID, c.Role, camp) || camp.AlertWebhookURL == "" {
		return "", false
	}
	return camp.AlertWebhookURL, true
}

// AlertDelivery returns the webhook delivery of alert a to whoever may
// manage its campaign; ok is false when there is none (the campaign had
// no alertWebhookUrl when it was raised).
func (s *Service) AlertDelivery(ctx context.Context, a domain.Alert) (e domain.OutboxEntry, ok bool, err error) {
	e, err = s.Delivery(ctx, a.ID)
	if domain.ErrorCode(err) == domain.ENOTFOUND {
		return domain.OutboxEntry{}, false, nil
	}
	return e, err == nil, err
}
