// Package tracking records impressions, clicks and conversions exactly once.
//
// Where a click gets counted: RecordClick reads the token's participation and
// its campaign, then stores the click with one upsert on its natural key
// (repository.Clicks.Record), which decides isNew; that is the request's only
// write. The click is PENDING until the projector (package projection) bills
// it against the budget and counts it, exactly once, whatever fails.
package tracking

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"net/url"
	"strings"
	"time"

	"tally/auth"
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
	Overlay        *overlay.Service        // what an overlay shows, for impressions
	Notify         func(campaignID string) // tells the projector a new event of the campaign is pending ("": of several)
	Viewers        *auth.Viewers           // who clicked, as a keyed hash, for the invalid-traffic filter
	Now            func() time.Time
}

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
// billed. Reusing a click id of another participation is CONFLICT. The
// click id and sub-ids are validated here, every invalid one at once
// (BAD_USER_INPUT on input.clickId, input.subIds.sub1…); the sub-ids are
// passed on to the click's conversions.
func (s *Service) RecordClick(ctx context.Context, token, clickID string, subs domain.SubIDs) (domain.Click, bool, error) {
	click, _, isNew, err := s.recordClick(ctx, token, clickID, subs, "input")
	return click, isNew, err
}

// ClickRedirect records a click with a fresh id on the participation a token
// belongs to and returns where to send the viewer: the campaign's landing URL
// with {click_id} replaced by the URL-encoded click id. NOT_FOUND for an
// unknown token; sub-ids that are too long are BAD_USER_INPUT on sub1….
func (s *Service) ClickRedirect(ctx context.Context, token string, subs domain.SubIDs) (string, error) {
	click, camp, _, err := s.recordClick(ctx, token, "", subs, "")
	if err != nil {
		return "", err
	}
	return strings.ReplaceAll(camp.LandingURL, domain.ClickIDMacro, url.QueryEscape(click.ClickID)), nil
}

// recordClick is RecordClick, also returning the campaign. It stores the
// click and nothing else: one upsert decides isNew; the projector bills it
// (or not) and counts it.
func (s *Service) recordClick(ctx context.Context, token, clickID string, subs domain.SubIDs, prefix string) (domain.Click, domain.Campaign, bool, error) {
	if clickID == "" {
		clickID = NewClickID()
	}
	if err := (domain.ClickInput{ClickID: clickID, Subs: subs}).Validate(prefix); err != nil {
		return domain.Click{}, domain.Campaign{}, false, err
	}
	p, err := s.Participations.ByToken(ctx, token)
	if err != nil {
		return domain.Click{}, domain.Campaign{}, false, err
	}
	camp, err := s.Campaigns.ByID(ctx, p.CampaignID)
	if err != nil {
		return domain.Click{}, domain.Campaign{}, false, err
	}
	now := s.Now()
	price := domain.Micros(0)
	if camp.Billable(now) {
		price = camp.CPC
	}
	click, isNew, err := s.Clicks.Record(ctx, domain.Click{ClickID: clickID, ParticipationID: p.ID,
		CampaignID: p.CampaignID, StreamerID: p.StreamerID, Viewer: s.Viewers.Of(ctx), Subs: subs, Cost: price, CreatedAt: now})
	if err != nil {
		return domain.Click{}, domain.Campaign{}, false, err
	}
	if !isNew && click.ParticipationID != p.ID {
		return domain.Click{}, domain.Campaign{}, false, domain.Errorf(domain.ECONFLICT, "clickId %q is already used by another participation", clickID)
	}
	if isNew {
		s.notify(p.CampaignID)
	}
	return click, camp, isNew, nil
}

// RecordConversion records a conversion of a goal, attributed through its
// click. Allowed for an API key with the conversions:write scope whose owner
// may manage the campaign, the campaign's brand, and admins; UNAUTHENTICATED
// without either, FORBIDDEN for a key without the scope and for a streamer
// on their own click. The input is normalized and validated here, every
// invalid field at once (BAD_USER_INPUT on input.clickId, input.goalId,
// input.externalId, input.transactionId). An unknown click is NOT_FOUND, as
// is one of a campaign the principal may not see (domain.CanSeeConversion); a
// goal the campaign lacks is BAD_USER_INPUT on input.goalId. A conversion
// is recorded once per click and goal, or for a PER_TRANSACTION goal once
// per transaction id (then required). It starts in the status the input
// gives, PENDING included, else in the goal's approval status (APPROVED, or
// PENDING for review or a hold): domain.Goal.StartingStatus. Given for a
// conversion already recorded, the status is a change of it (CONFLICT when
// not allowed). It inherits the click's sub-ids. The
// store write is the conversion alone (or its status change); the projector
// counts it, bills it once APPROVED, and chains the goals it implies.
func (s *Service) RecordConversion(ctx context.Context, in domain.ConversionInput) (domain.Conversion, bool, error) {
	caller := auth.CallerFrom(ctx)
	ownerID, ownerRole, err := conversionPrincipal(caller)
	if err != nil {
		return domain.Conversion{}, false, err
	}
	in.Normalize()
	if err := in.Validate("input"); err != nil {
		return domain.Conversion{}, false, err
	}
	click, camp, err := s.clickOf(ctx, in.ClickID, ownerID, ownerRole)
	if err != nil {
		return domain.Conversion{}, false, err
	}
	goal, ok := camp.Goal(in.GoalID)
	if !ok {
		return domain.Conversion{}, false, domain.Invalid("input.goalId", "the campaign has no goal %q", in.GoalID)
	}
	if goal.Repeatable() && in.TransactionID == "" {
		return domain.Conversion{}, false, domain.Invalid("input.transactionId", "goal %q converts once per transaction: give the partner's transaction id", goal.GoalID)
	}
	now := s.Now()
	status, holdUntil := goal.StartingStatus(now, in.Status)
	price := domain.Micros(0)
	if camp.Billable(now) {
		price = goal.Payout
	}
	actor := actorOf(caller)
	conv, isNew, err := s.Conversions.Record(ctx, domain.Conversion{ClickID: click.ClickID, GoalID: goal.GoalID,
		ExternalID: in.ExternalID, TransactionID: in.TransactionID, ParticipationID: click.ParticipationID,
		CampaignID: click.CampaignID, StreamerID: click.StreamerID, Subs: click.Subs, Status: status, HoldUntil: holdUntil,
		History: []domain.StatusChange{{By: actor}}, Payout: goal.Payout, Cost: price, CreatedAt: now}, goal.Repeatable())
	if err != nil {
		return domain.Conversion{}, false, err
	}
	if !isNew && in.Status != nil && *in.Status != conv.Status {
		conv, err = s.Conversions.SetStatus(ctx, conv.ID, domain.StatusChange{By: actor, At: now, From: conv.Status.Ptr(),
			To: *in.Status, Reason: "reported by the partner"})
		switch {
		case err == nil:
			s.notify(conv.CampaignID)
		case domain.ErrorCode(err) == domain.ECONFLICT && conv.Status == *in.Status:
			// a racing report made the same change first
		default:
			return conv, false, err
		}
	}
	if isNew {
		s.notify(conv.CampaignID)
	}
	return conv, isNew, nil
}

// actorOf names who changes a conversion, for its history.
func actorOf(c auth.Caller) string {
	if c.APIKey != nil {
		return "apiKey:" + c.APIKey.ID
	}
	return "user:" + c.UserID
}

// SetConversionStatus changes the status of up to 100 conversions: the
// campaign's brand and admins (UNAUTHENTICATED without a user). The input
// is validated here (BAD_USER_INPUT: a rejection needs a reason). Each
// conversion changes alone: one the caller may not see
// (domain.CanSeeConversion) is NOT_FOUND, as an id that does not exist, one
// it may see but whose campaign it may not manage (its streamer)
// FORBIDDEN, a change the status does not
// allow CONFLICT (domain.ConversionStatus.CanBecome) — each a failure in
// the result, the others changed. A conversion already in the status is
// returned unchanged. The projector then moves the money: approval bills
// it, a rejection after approval gives the charge back, exactly once.
func (s *Service) SetConversionStatus(ctx context.Context, in domain.ConversionStatusInput) (domain.ConversionStatusResult, error) {
	var res domain.ConversionStatusResult
	c, err := auth.RequireUser(ctx)
	if err != nil {
		return res, err
	}
	if err := in.Validate("input"); err != nil {
		return res, err
	}
	convs, err := s.Conversions.ByIDs(ctx, in.ConversionIDs)
	if err != nil {
		return res, err
	}
	campIDs := make([]string, 0, len(convs))
	for _, cv := range convs {
		campIDs = append(campIDs, cv.CampaignID)
	}
	camps, err := s.Campaigns.ByIDs(ctx, campIDs)
	if err != nil {
		return res, err
	}
	now, changed := s.Now(), false
	for _, id := range in.ConversionIDs {
		cv, ok := convs[id]
		camp, known := camps[cv.CampaignID]
		switch {
		case !ok || !known:
			res.Fail(id, domain.Errorf(domain.ENOTFOUND, "conversion %q not found", id))
			continue
		case !domain.CanSeeConversion(c.UserID, c.Role, cv.StreamerID, camp):
			res.Fail(id, domain.Errorf(domain.ENOTFOUND, "conversion %q not found", id)) // as if it did not exist
			continue
		case !domain.CanManageCampaign(c.UserID, c.Role, camp):
			res.Fail(id, domain.Errorf(domain.EFORBIDDEN, "only the campaign's brand or an admin may review its conversions"))
			continue
		case cv.Status == in.Status:
			res.Conversions = append(res.Conversions, cv)
			continue
		}
		cv, err := s.Conversions.SetStatus(ctx, id, domain.StatusChange{By: actorOf(c), At: now, From: cv.Status.Ptr(), To: in.Status, Reason: in.Reason})
		switch code := domain.ErrorCode(err); {
		case err == nil:
			changed = true
		case code == domain.ECONFLICT && cv.Status == in.Status:
			// a racing request made the same change first: done
		case code == domain.EINTERNAL:
			return res, err
		default:
			res.Fail(id, err)
			continue
		}
		res.Conversions = append(res.Conversions, cv)
	}
	if changed {
		s.notify("")
	}
	return res, nil
}

// ReleaseHolds approves the PENDING conversions whose goal's hold has ended
// (a HOLD goal's conversions, unless rejected first). The server calls it
// every few seconds; it needs no caller.
func (s *Service) ReleaseHolds(ctx context.Context) error {
	n, err := s.Conversions.ReleaseHolds(ctx, s.Now())
	if n > 0 {
		s.notify("")
	}
	return err
}

// notify tells the projector a new event of campaignID is pending ("":
// events of several campaigns).
func (s *Service) notify(campaignID string) {
	if s.Notify != nil {
		s.Notify(campaignID)
	}
}

// maxClicksPerID bounds the campaigns read for one click id.
const maxClicksPerID = 20

// clickOf finds the click a conversion is reported for: click ids are
// unique per campaign, so among the clicks with that id it is the one of a
// campaign the principal manages. An id no campaign has is NOT_FOUND, and
// so is one only campaigns the principal may not see have (other brands');
// one only its own participations have (a streamer's) is FORBIDDEN; one
// that several of the
// principal's campaigns have is BAD_USER_INPUT (the generated ids never
// collide).
func (s *Service) clickOf(ctx context.Context, clickID, ownerID string, ownerRole domain.Role) (domain.Click, domain.Campaign, error) {
	clicks, err := s.Clicks.WithClickID(ctx, clickID, maxClicksPerID)
	if err != nil {
		return domain.Click{}, domain.Campaign{}, err
	}
	ids := make([]string, len(clicks))
	for i, c := range clicks {
		ids[i] = c.CampaignID
	}
	camps, err := s.Campaigns.ByIDs(ctx, ids)
	if err != nil {
		return domain.Click{}, domain.Campaign{}, err
	}
	var found []domain.Click
	seen := false
	for _, c := range clicks {
		camp, ok := camps[c.CampaignID]
		if ok && domain.CanManageCampaign(ownerID, ownerRole, camp) {
			found = append(found, c)
		}
		seen = seen || ok && domain.CanSeeConversion(ownerID, ownerRole, c.StreamerID, camp)
	}
	switch {
	case len(found) == 0 && seen:
		return domain.Click{}, domain.Campaign{}, domain.Errorf(domain.EFORBIDDEN, "only the campaign's brand, its API keys and admins may record its conversions")
	case len(found) == 0: // as for an id no campaign has: ids do not reveal what exists
		return domain.Click{}, domain.Campaign{}, domain.Errorf(domain.ENOTFOUND, "click %q not found", clickID)
	case len(found) == 1:
		return found[0], camps[found[0].CampaignID], nil
	}
	return domain.Click{}, domain.Campaign{}, domain.Invalid("input.clickId", "several of your campaigns have a click %q; report the click ids Tally generated, which are unique", clickID)
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
