package campaigns

import (
	"context"
	"fmt"

	"tally/auth"
	"tally/domain"
)

// The postback methods: a campaign's outbound postback settings, its signing
// secret, its deliveries and their replay. Each is for the campaign's brand
// and admins (domain.CanManageCampaign): UNAUTHENTICATED without a user,
// FORBIDDEN for a streamer or another brand who may see the campaign,
// NOT_FOUND for one the caller may not see.

// manage returns campaign id for a caller who may manage it.
func (s *Service) manage(ctx context.Context, id string) (domain.Campaign, error) {
	c, err := auth.Require(ctx, domain.ActionChangeCampaign)
	if err != nil {
		return domain.Campaign{}, err
	}
	camp, err := s.Get(ctx, id)
	if err != nil {
		return domain.Campaign{}, err
	}
	if !domain.CanManageCampaign(c.UserID, c.Role, camp) {
		return domain.Campaign{}, domain.Errorf(domain.EFORBIDDEN, "only the campaign's brand or an admin may manage its postbacks")
	}
	return camp, nil
}

// Postback returns camp's postback settings and state, with its signing
// secret, to whoever may manage the campaign; ok is false for anyone else.
// A campaign without a secret gets one the first time it is asked for.
func (s *Service) Postback(ctx context.Context, camp domain.Campaign) (p domain.Postback, ok bool, err error) {
	c := auth.CallerFrom(ctx)
	if !domain.CanManageCampaign(c.UserID, c.Role, camp) {
		return domain.Postback{}, false, nil
	}
	if camp.Postback.Secret == "" {
		if camp, err = s.Campaigns.EnsurePostbackSecret(ctx, camp.ID, s.NewSecret()); err != nil {
			return domain.Postback{}, false, err
		}
	}
	return camp.Postback, true, nil
}

// SetPostback changes a campaign's postback settings (nil fields stay).
// in is trimmed and validated against the campaign: BAD_USER_INPUT on
// input.<field>, among them an unknown macro in a template and an override
// for a goal the campaign lacks, and a URL that leads to an address that is
// not public (domain.PublicURLs).
func (s *Service) SetPostback(ctx context.Context, campaignID string, in domain.PostbackInput) (domain.Campaign, error) {
	camp, err := s.manage(ctx, campaignID)
	if err != nil {
		return domain.Campaign{}, err
	}
	in.Normalize()
	if err := in.Validate("input", camp); err != nil {
		return domain.Campaign{}, err
	}
	urls := []publicURL{{"input.url", in.URL}}
	for i := range in.GoalURLs {
		urls = append(urls, publicURL{fmt.Sprintf("input.goalUrls[%d].url", i), &in.GoalURLs[i].URL})
	}
	if err := s.checkURLs(ctx, urls); err != nil {
		return domain.Campaign{}, err
	}
	return s.Campaigns.SetPostback(ctx, camp.ID, in, s.Now())
}

// RotatePostbackSecret gives a campaign a new signing secret; requests are
// signed with it from the next attempt on.
func (s *Service) RotatePostbackSecret(ctx context.Context, campaignID string) (domain.Campaign, error) {
	camp, err := s.manage(ctx, campaignID)
	if err != nil {
		return domain.Campaign{}, err
	}
	return s.Campaigns.RotatePostbackSecret(ctx, camp.ID, s.NewSecret(), s.Now())
}

// EnablePostbacks turns a campaign's postbacks on again after the sender
// disabled them, and makes the deliveries held meanwhile due now.
// Idempotent.
func (s *Service) EnablePostbacks(ctx context.Context, campaignID string) (domain.Campaign, error) {
	camp, err := s.manage(ctx, campaignID)
	if err != nil {
		return domain.Campaign{}, err
	}
	camp, err = s.Campaigns.EnablePostbacks(ctx, camp.ID, s.Now())
	if err != nil {
		return domain.Campaign{}, err
	}
	if _, err := s.Outbox.Requeue(ctx, camp.ID, domain.DeliveryHeld, s.Now()); err != nil {
		return domain.Campaign{}, err
	}
	return camp, nil
}

// Delivery returns one delivery by its key to whoever may manage its
// campaign; NOT_FOUND for anyone else, as for a key that does not exist;
// UNAUTHENTICATED without a user, whether or not the key exists.
func (s *Service) Delivery(ctx context.Context, key string) (domain.OutboxEntry, error) {
	if _, err := auth.RequireUser(ctx); err != nil {
		return domain.OutboxEntry{}, err
	}
	e, err := s.Outbox.Get(ctx, key)
	if err != nil {
		return domain.OutboxEntry{}, err
	}
	if _, err := s.manage(ctx, e.CampaignID); err != nil {
		if code := domain.ErrorCode(err); code == domain.EFORBIDDEN || code == domain.ENOTFOUND {
			return domain.OutboxEntry{}, domain.Errorf(domain.ENOTFOUND, "postback delivery %q not found", key)
		}
		return domain.OutboxEntry{}, err
	}
	return e, nil
}

// ReplayPostback sends one delivery again, now, with a fresh run of the
// retry ladder and the same Idempotency-Key (the partner deduplicates);
// CONFLICT while it is being sent. Who may: as for Delivery.
func (s *Service) ReplayPostback(ctx context.Context, key string) (domain.OutboxEntry, error) {
	e, err := s.Delivery(ctx, key)
	if err != nil {
		return domain.OutboxEntry{}, err
	}
	return s.Outbox.Replay(ctx, e.Key, s.Now())
}

// ReplayFailedPostbacks sends every failed delivery of a campaign again and
// returns how many.
func (s *Service) ReplayFailedPostbacks(ctx context.Context, campaignID string) (int, error) {
	camp, err := s.manage(ctx, campaignID)
	if err != nil {
		return 0, err
	}
	n, err := s.Outbox.Requeue(ctx, camp.ID, domain.DeliveryFailed, s.Now())
	return int(n), err
}

// Deliveries lists a campaign's postback deliveries, newest first, in one
// state or all: its brand and admins only (FORBIDDEN otherwise).
// BAD_USER_INPUT on first or after.
func (s *Service) Deliveries(ctx context.Context, camp domain.Campaign, state domain.DeliveryState, page domain.PageArgs) (domain.Page[domain.OutboxEntry], error) {
	c, err := auth.RequireUser(ctx)
	if err != nil {
		return domain.Page[domain.OutboxEntry]{}, err
	}
	if !domain.CanManageCampaign(c.UserID, c.Role, camp) {
		return domain.Page[domain.OutboxEntry]{}, domain.Errorf(domain.EFORBIDDEN, "only the campaign's brand or an admin may list its postback deliveries")
	}
	if err := page.Validate(); err != nil {
		return domain.Page[domain.OutboxEntry]{}, err
	}
	return s.Outbox.List(ctx, camp.ID, state, page)
}
