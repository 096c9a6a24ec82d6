// Package tracking records impressions, clicks and conversions exactly once
// and applies what follows from a new one: billing through the budget guard,
// counters, the streamer's earnings and the daily buckets.
//
// Where a click gets counted: RecordClick decides isNew with one store call
// (repository.Clicks.Record); only a new click has effects, each one atomic
// update (applyEffects). A crash between the event and its effects leaves
// counters short; Reconcile recomputes them from the events.
package tracking

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"tally/auth"
	"tally/campaigns"
	"tally/domain"
	"tally/overlay"
	"tally/repository"
)

// Service records tracked events.
type Service struct {
	Participations *repository.Participations
	Campaigns      *repository.Campaigns
	Clicks         *repository.Clicks
	Conversions    *repository.Conversions
	Impressions    *repository.Impressions
	Overlay        *overlay.Service // what an overlay shows, for impressions
	DailyStatsRepo *repository.DailyStats
	Visibility     *campaigns.Service // who may see which campaign and participation
	Now            func() time.Time
	Log            *slog.Logger
}

// effectsTimeout bounds the effects of one event. They run on a context that
// a client hanging up cannot cancel: once an event is stored, its effects
// must follow.
const effectsTimeout = 10 * time.Second

// NewClickID returns a fresh click id: 16 random bytes, base64url (22
// characters of [A-Za-z0-9_-]).
func NewClickID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// RecordClick records a click on the participation a browser source token
// belongs to. clickID is the caller's idempotency key; empty means a fresh
// one. The token is the credential: an unknown, rotated or left token is
// NOT_FOUND. A click on a campaign that is not ACTIVE is recorded but never
// billed. Reusing a click id of another participation is CONFLICT.
func (s *Service) RecordClick(ctx context.Context, token, clickID string) (domain.Click, bool, error) {
	click, _, isNew, err := s.recordClick(ctx, token, clickID)
	return click, isNew, err
}

// ClickRedirect records a click with a fresh id on the participation a token
// belongs to and returns where to send the viewer: the campaign's landing URL
// with {click_id} replaced by the URL-encoded click id. NOT_FOUND for an
// unknown token.
func (s *Service) ClickRedirect(ctx context.Context, token string) (string, error) {
	click, camp, _, err := s.recordClick(ctx, token, "")
	if err != nil {
		return "", err
	}
	if camp == nil {
		c, err := s.Campaigns.ByID(ctx, click.CampaignID)
		if err != nil {
			return "", err
		}
		camp = &c
	}
	return strings.ReplaceAll(camp.LandingURL, domain.ClickIDMacro, url.QueryEscape(click.ClickID)), nil
}

// recordClick is RecordClick, also returning the campaign when it was read.
func (s *Service) recordClick(ctx context.Context, token, clickID string) (domain.Click, *domain.Campaign, bool, error) {
	if clickID == "" {
		clickID = NewClickID()
	}
	if !domain.ValidClickID(clickID) {
		return domain.Click{}, nil, false, domain.Invalid("input.clickId", "clickId must be 1–64 characters of letters, digits, '.', '_' and '-'")
	}
	p, err := s.Participations.ByToken(ctx, token)
	if err != nil {
		return domain.Click{}, nil, false, err
	}
	click, isNew, err := s.Clicks.Record(ctx, domain.Click{ClickID: clickID, ParticipationID: p.ID,
		CampaignID: p.CampaignID, StreamerID: p.StreamerID, CreatedAt: s.Now()})
	if err != nil {
		return domain.Click{}, nil, false, err
	}
	if !isNew {
		if click.ParticipationID != p.ID {
			return domain.Click{}, nil, false, domain.Errorf(domain.ECONFLICT, "clickId %q is already used by another participation", clickID)
		}
		return click, nil, false, nil
	}
	camp, err := s.Campaigns.ByID(ctx, p.CampaignID)
	if err != nil {
		return click, nil, true, s.effectsFailed(ctx, "click", click.ID, err)
	}
	cost := domain.Micros(0)
	if camp.Billable(click.CreatedAt) {
		cost = camp.CPC
	}
	ectx, cancel := context.WithTimeout(context.WithoutCancel(ctx), effectsTimeout)
	defer cancel()
	billed, err := s.applyEffects(ectx, event{kind: domain.EventClick, campaign: camp, participation: p, cost: cost, at: click.CreatedAt},
		func(ctx context.Context) error { return s.Clicks.MarkBilled(ctx, click.ID, cost) })
	if err != nil {
		return click, &camp, true, s.effectsFailed(ctx, "click", click.ID, err)
	}
	if billed {
		click.Billed, click.Cost = true, cost
	}
	return click, &camp, true, nil
}

// RecordConversion records a conversion of a goal, attributed through its
// click. Allowed for an API key with the conversions:write scope whose owner
// may manage the campaign, the campaign's brand, and admins; FORBIDDEN for
// anyone else. An unknown click is NOT_FOUND; a goal the campaign lacks is
// BAD_USER_INPUT on input.goalId. (clickId, goalId) is recorded once.
func (s *Service) RecordConversion(ctx context.Context, in domain.ConversionInput) (domain.Conversion, bool, error) {
	caller := auth.CallerFrom(ctx)
	ownerID, ownerRole, err := conversionPrincipal(caller)
	if err != nil {
		return domain.Conversion{}, false, err
	}
	click, err := s.Clicks.ByClickID(ctx, in.ClickID)
	if err != nil {
		return domain.Conversion{}, false, err
	}
	camp, err := s.Campaigns.ByID(ctx, click.CampaignID)
	if err != nil {
		return domain.Conversion{}, false, err
	}
	if !domain.CanManageCampaign(ownerID, ownerRole, camp) {
		return domain.Conversion{}, false, domain.Errorf(domain.EFORBIDDEN, "only the campaign's brand, its API keys and admins may record its conversions")
	}
	goal, ok := camp.Goal(in.GoalID)
	if !ok {
		return domain.Conversion{}, false, domain.Invalid("input.goalId", "the campaign has no goal %q", in.GoalID)
	}
	conv, isNew, err := s.Conversions.Record(ctx, domain.Conversion{ClickID: click.ClickID, GoalID: goal.GoalID,
		ExternalID: in.ExternalID, ParticipationID: click.ParticipationID, CampaignID: click.CampaignID,
		StreamerID: click.StreamerID, Status: domain.ConversionApproved, Payout: goal.Payout, CreatedAt: s.Now()})
	if err != nil || !isNew {
		return conv, false, err
	}
	cost := domain.Micros(0)
	if camp.Billable(conv.CreatedAt) {
		cost = goal.Payout
	}
	p := domain.Participation{ID: click.ParticipationID, CampaignID: click.CampaignID, StreamerID: click.StreamerID}
	ectx, cancel := context.WithTimeout(context.WithoutCancel(ctx), effectsTimeout)
	defer cancel()
	billed, err := s.applyEffects(ectx, event{kind: domain.EventConversion, campaign: camp, participation: p, cost: cost, at: conv.CreatedAt},
		func(ctx context.Context) error { return s.Conversions.MarkBilled(ctx, conv.ID) })
	if err != nil {
		return conv, true, s.effectsFailed(ctx, "conversion", conv.ID, err)
	}
	conv.Billed = billed
	return conv, true, nil
}

// conversionPrincipal is who a conversion is recorded for: a user, or the
// owner of an API key with the conversions:write scope.
func conversionPrincipal(c auth.Caller) (string, domain.Role, error) {
	switch {
	case c.APIKey != nil:
		if !c.APIKey.Has(domain.ScopeConversionsWrite) {
			return "", "", domain.Errorf(domain.EFORBIDDEN, "this API key lacks the CONVERSIONS_WRITE scope")
		}
		return c.APIKey.OwnerID, c.APIKey.OwnerRole, nil
	case c.Authenticated():
		return c.UserID, c.Role, nil
	}
	return "", "", domain.Errorf(domain.EUNAUTHENTICATED, "send an API key (X-Api-Key) or sign in")
}

// event is a new event whose effects are to be applied.
type event struct {
	kind          domain.EventKind
	campaign      domain.Campaign
	participation domain.Participation
	cost          domain.Micros
	at            time.Time
}

// applyEffects applies a new event's effects, each one atomic update:
// campaign counter and spend (through the budget guard), the event's billed
// mark, the participation's counter and the streamer's earnings, and the
// campaign, participation and streamer daily buckets. The streamer earns
// what the campaign is billed.
func (s *Service) applyEffects(ctx context.Context, e event, markBilled func(context.Context) error) (bool, error) {
	billed, err := s.Campaigns.RecordEvent(ctx, e.campaign.ID, e.kind, e.cost)
	if err != nil {
		return false, err
	}
	spend := domain.Micros(0)
	if billed {
		spend = e.cost
		if err := markBilled(ctx); err != nil {
			return billed, err
		}
	}
	if err := s.Participations.RecordEvent(ctx, e.participation.ID, e.kind, spend); err != nil {
		return billed, err
	}
	err = s.DailyStatsRepo.Add(ctx, domain.Day(e.at), bucketOwners(e.campaign.ID, e.participation.ID, e.participation.StreamerID),
		e.kind, spend, spend)
	return billed, err
}

// bucketOwners are the daily buckets an event counts in: its campaign's, its
// participation's and its streamer's.
func bucketOwners(campaignID, participationID, streamerID string) []repository.BucketOwner {
	return []repository.BucketOwner{
		{Scope: domain.ScopeCampaign, ID: campaignID},
		{Scope: domain.ScopeParticipation, ID: participationID},
		{Scope: domain.ScopeStreamer, ID: streamerID},
	}
}

// effectsFailed logs effects that did not complete. The event itself is
// stored, so the caller still gets it with isNew true: a retry would find it
// and apply nothing, and reconcile repairs the counters.
func (s *Service) effectsFailed(ctx context.Context, kind, id string, err error) error {
	s.Log.ErrorContext(ctx, "event effects failed; run reconcile", "event", kind, "id", id, "err", err.Error())
	return nil
}
