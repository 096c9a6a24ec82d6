// Package campaigns is the campaign and participation service: who may create,
// change, see and join which campaign, on top of the repositories' atomic
// writes.
package campaigns

import (
	"context"
	"errors"
	"time"

	"tally/auth"
	"tally/domain"
	"tally/repository"
)

// Service manages campaigns and participations.
type Service struct {
	Campaigns      *repository.Campaigns
	Participations *repository.Participations
	Outbox         *repository.Outbox // postback deliveries (postback.go)
	Alerts         *repository.Alerts // the projector's alerts (alerts.go)
	NewToken       func() string
	NewSecret      func() string // a campaign's postback signing secret
	Now            func() time.Time
	URLs           domain.PublicURLs // where landing and postback URLs may lead
}

// Create makes a DRAFT campaign owned by the calling brand. Only brands may
// create campaigns (UNAUTHENTICATED without a user, FORBIDDEN for another
// role). in is trimmed and validated here: BAD_USER_INPUT on input.<field>,
// every invalid field at once (domain.FieldErrors).
func (s *Service) Create(ctx context.Context, in domain.CampaignInput) (domain.Campaign, error) {
	c, err := auth.Require(ctx, domain.ActionCreateCampaign)
	if err != nil {
		return domain.Campaign{}, err
	}
	in.Normalize()
	if err := in.ValidateCreate("input"); err != nil {
		return domain.Campaign{}, err
	}
	if err := s.checkURLs(ctx, campaignURLs(in)); err != nil {
		return domain.Campaign{}, err
	}
	return s.Campaigns.Create(ctx, c.UserID, in, s.Now())
}

// Update changes a campaign: its brand or an admin (UNAUTHENTICATED without
// a user, FORBIDDEN for a streamer or another brand; NOT_FOUND for a
// campaign the caller may not see). u is trimmed and validated here, before
// the campaign is read: BAD_USER_INPUT on input.<field>. The status
// transition and the budget change are guarded in one atomic write; see
// repository.Campaigns.Update for the CONFLICT cases.
func (s *Service) Update(ctx context.Context, id string, u domain.CampaignUpdate) (domain.Campaign, error) {
	c, err := auth.Require(ctx, domain.ActionChangeCampaign)
	if err != nil {
		return domain.Campaign{}, err
	}
	u.Normalize()
	if err := u.Validate("input"); err != nil {
		return domain.Campaign{}, err
	}
	current, err := s.Get(ctx, id)
	if err != nil {
		return domain.Campaign{}, err
	}
	if !domain.CanManageCampaign(c.UserID, c.Role, current) {
		return domain.Campaign{}, domain.Errorf(domain.EFORBIDDEN, "only the campaign's brand or an admin may change it")
	}
	if u.StartsAt != nil || u.EndsAt != nil {
		start, end := current.StartsAt, current.EndsAt
		if u.StartsAt != nil {
			start = u.StartsAt
		}
		if u.EndsAt != nil {
			end = u.EndsAt
		}
		if start != nil && end != nil && !end.After(*start) {
			return domain.Campaign{}, domain.Invalid("input.endsAt", "endsAt must be after startsAt (%s)", start.Format(time.RFC3339))
		}
	}
	if err := s.checkURLs(ctx, campaignURLs(u.CampaignInput)); err != nil {
		return domain.Campaign{}, err
	}
	return s.Campaigns.Update(ctx, current, u, s.Now())
}

// Get returns a campaign the caller may see (domain.CanSeeCampaign): admins
// any, brands their own, streamers active ones and those they take part in.
// Any other is NOT_FOUND, so that ids do not reveal what exists;
// UNAUTHENTICATED without a user.
func (s *Service) Get(ctx context.Context, id string) (domain.Campaign, error) {
	c, err := auth.RequireUser(ctx)
	if err != nil {
		return domain.Campaign{}, err
	}
	camp, err := s.Campaigns.ByID(ctx, id)
	if err != nil {
		return domain.Campaign{}, err
	}
	if ok, err := s.canSee(ctx, c, camp); err != nil || !ok {
		if err == nil {
			err = domain.Errorf(domain.ENOTFOUND, "campaign %q not found", id)
		}
		return domain.Campaign{}, err
	}
	return camp, nil
}

func (s *Service) canSee(ctx context.Context, c auth.Caller, camp domain.Campaign) (bool, error) {
	return domain.CanSeeCampaign(c.UserID, c.Role, camp, func() (bool, error) {
		return s.Participations.Joined(ctx, camp.ID, c.UserID)
	})
}

// List returns a page of the campaigns the caller may list: streamers the
// active ones, brands their own, admins all; f narrows further.
// UNAUTHENTICATED without a user; BAD_USER_INPUT on the page arguments
// (domain.PageArgs.Validate) and on filter.search (domain.CampaignFilter.Validate).
func (s *Service) List(ctx context.Context, f domain.CampaignFilter, page domain.PageArgs) (domain.Page[domain.Campaign], error) {
	empty := domain.Page[domain.Campaign]{}
	c, err := auth.RequireUser(ctx)
	if err != nil {
		return empty, err
	}
	if err := page.Validate(); err != nil {
		return empty, err
	}
	if err := f.Validate("filter"); err != nil {
		return empty, err
	}
	switch c.Role {
	case domain.RoleStreamer:
		if f.Status != "" && f.Status != domain.CampaignActive {
			return empty, nil
		}
		f.Status = domain.CampaignActive
	case domain.RoleBrand:
		if f.BrandID != "" && f.BrandID != c.UserID {
			return empty, nil
		}
		f.BrandID = c.UserID
	}
	return s.Campaigns.List(ctx, f, page)
}

// Join makes the calling streamer a participant of an ACTIVE campaign
// (CONFLICT for any other status; NOT_FOUND for one the streamer may not
// see). Only streamers join (UNAUTHENTICATED without a user, FORBIDDEN for
// another role). Idempotent: joining again returns the same participation.
func (s *Service) Join(ctx context.Context, campaignID string) (domain.Participation, error) {
	c, err := auth.Require(ctx, domain.ActionJoinCampaign)
	if err != nil {
		return domain.Participation{}, err
	}
	camp, err := s.Get(ctx, campaignID)
	if err != nil {
		return domain.Participation{}, err
	}
	if camp.Status != domain.CampaignActive {
		return domain.Participation{}, domain.Errorf(domain.ECONFLICT, "the campaign is %s; only ACTIVE campaigns can be joined", camp.Status.Name())
	}
	return s.Participations.Join(ctx, camp.ID, c.UserID, s.NewToken, s.Now())
}

// Participation returns a participation the caller may see
// (domain.CanSeeParticipation): its streamer, the campaign's brand or an
// admin; NOT_FOUND for anyone else, UNAUTHENTICATED without a user.
func (s *Service) Participation(ctx context.Context, id string) (domain.Participation, error) {
	c, err := auth.RequireUser(ctx)
	if err != nil {
		return domain.Participation{}, err
	}
	p, err := s.Participations.ByID(ctx, id)
	if err != nil {
		return domain.Participation{}, err
	}
	ok, err := domain.CanSeeParticipation(c.UserID, c.Role, p, func() (string, error) {
		return s.Campaigns.BrandOf(ctx, p.CampaignID)
	})
	if err != nil {
		return domain.Participation{}, err
	}
	if !ok {
		return domain.Participation{}, domain.Errorf(domain.ENOTFOUND, "participation %q not found", id)
	}
	return p, nil
}

// SetCaps replaces what a campaign's brand lets one streamer spend of it:
// a total and a daily cap (the day in the campaign's time zone), each nil
// for none. The campaign's brand or an admin: UNAUTHENTICATED without a
// user, FORBIDDEN for a streamer (its own participation included) or
// another brand who may see it, NOT_FOUND for anyone else; BAD_USER_INPUT
// on input.totalCap and input.dailyCap. The projector applies the caps
// from its next batch; events already billed stay billed.
func (s *Service) SetCaps(ctx context.Context, participationID string, caps domain.ParticipationCaps) (domain.Participation, error) {
	c, err := auth.Require(ctx, domain.ActionChangeCampaign)
	if err != nil {
		return domain.Participation{}, err
	}
	if err := caps.Validate("input"); err != nil {
		return domain.Participation{}, err
	}
	p, err := s.Participation(ctx, participationID)
	if err != nil {
		return p, err
	}
	camp, err := s.Campaigns.ByID(ctx, p.CampaignID)
	if err != nil {
		return domain.Participation{}, err
	}
	if !domain.CanManageCampaign(c.UserID, c.Role, camp) {
		return domain.Participation{}, domain.Errorf(domain.EFORBIDDEN, "only the campaign's brand or an admin may cap its streamers")
	}
	return s.Participations.SetCaps(ctx, p.ID, caps)
}

// ownParticipation returns a participation the caller is the streamer of (or
// an admin): FORBIDDEN for others who may see it, NOT_FOUND for the rest.
func (s *Service) ownParticipation(ctx context.Context, id string) (domain.Participation, error) {
	p, err := s.Participation(ctx, id)
	if err != nil {
		return p, err
	}
	c := auth.CallerFrom(ctx)
	if !c.ActsFor(p.StreamerID) {
		return p, domain.Errorf(domain.EFORBIDDEN, "only the participation's streamer may do this")
	}
	return p, nil
}

// Leave ends the caller's participation; its token stops working at once.
// Its streamer or an admin: FORBIDDEN for the campaign's brand, NOT_FOUND for
// anyone else, UNAUTHENTICATED without a user.
func (s *Service) Leave(ctx context.Context, participationID string) (domain.Participation, error) {
	p, err := s.ownParticipation(ctx, participationID)
	if err != nil {
		return p, err
	}
	return s.Participations.Leave(ctx, p.ID, s.Now())
}

// RotateToken gives the caller's participation a new browser source token;
// the old one stops working at once. CONFLICT after leaving; who may, as for
// Leave.
func (s *Service) RotateToken(ctx context.Context, participationID string) (domain.Participation, error) {
	p, err := s.ownParticipation(ctx, participationID)
	if err != nil {
		return p, err
	}
	return s.Participations.SetToken(ctx, p.ID, s.NewToken, false)
}

// Token returns the browser source token of p if the caller may see it (its
// streamer or an admin; ok is false otherwise). An old participation without
// a token gets one the first time its streamer asks.
func (s *Service) Token(ctx context.Context, p domain.Participation) (token string, ok bool, err error) {
	c := auth.CallerFrom(ctx)
	if !c.ActsFor(p.StreamerID) {
		return "", false, nil
	}
	if p.BrowserSourceToken != "" || p.Status == domain.ParticipationLeft {
		return p.BrowserSourceToken, p.BrowserSourceToken != "", nil
	}
	if p.StreamerID != c.UserID {
		return "", false, nil
	}
	p, err = s.Participations.SetToken(ctx, p.ID, s.NewToken, true)
	if err != nil {
		return "", false, err
	}
	return p.BrowserSourceToken, p.BrowserSourceToken != "", nil
}

// StreamerParticipations lists a streamer's participations: the streamer
// themself and admins only (FORBIDDEN otherwise). BAD_USER_INPUT on the page
// arguments.
func (s *Service) StreamerParticipations(ctx context.Context, streamerID string, page domain.PageArgs) (domain.Page[domain.Participation], error) {
	c, err := auth.RequireUser(ctx)
	if err != nil {
		return domain.Page[domain.Participation]{}, err
	}
	if !c.ActsFor(streamerID) {
		return domain.Page[domain.Participation]{}, domain.Errorf(domain.EFORBIDDEN, "only the user themself or an admin may list their participations")
	}
	return s.Participations.ByStreamer(ctx, streamerID, page)
}

// CampaignParticipations lists a campaign's participations: its brand and
// admins only (FORBIDDEN otherwise). BAD_USER_INPUT on the page arguments.
func (s *Service) CampaignParticipations(ctx context.Context, camp domain.Campaign, page domain.PageArgs) (domain.Page[domain.Participation], error) {
	c, err := auth.RequireUser(ctx)
	if err != nil {
		return domain.Page[domain.Participation]{}, err
	}
	if !domain.CanManageCampaign(c.UserID, c.Role, camp) {
		return domain.Page[domain.Participation]{}, domain.Errorf(domain.EFORBIDDEN, "only the campaign's brand or an admin may list its participations")
	}
	return s.Participations.ByCampaign(ctx, camp.ID, page)
}

// PostbackURL returns camp's postback URL to whoever may manage the campaign
// (domain.CanManageCampaign); ok is false for anyone else and when it has
// none.
func (s *Service) PostbackURL(ctx context.Context, camp domain.Campaign) (url string, ok bool) {
	c := auth.CallerFrom(ctx)
	if !domain.CanManageCampaign(c.UserID, c.Role, camp) || camp.PostbackURL == "" {
		return "", false
	}
	return camp.PostbackURL, true
}

// publicURL is a URL being saved and the input path it came in.
type publicURL struct {
	field string
	url   *string
}

// campaignURLs are the URLs of a campaign input that lead somewhere.
func campaignURLs(in domain.CampaignInput) []publicURL {
	return []publicURL{{"input.landingUrl", in.LandingURL}, {"input.postbackUrl", in.PostbackURL}, {"input.alertWebhookUrl", in.AlertWebhookURL}}
}

// checkURLs applies the public-address rule (domain.PublicURLs) to the URLs
// being saved: BAD_USER_INPUT on each one's field, every one at once.
func (s *Service) checkURLs(ctx context.Context, urls []publicURL) error {
	var errs domain.FieldErrors
	for _, f := range urls {
		if f.url == nil || *f.url == "" {
			continue
		}
		err := s.URLs.Check(ctx, f.field, *f.url)
		var fe *domain.Error
		switch {
		case err == nil:
		case errors.As(err, &fe) && fe.Code == domain.EINVALID:
			errs = append(errs, fe)
		default:
			return err
		}
	}
	if len(errs) == 0 {
		return nil
	}
	return errs
}
