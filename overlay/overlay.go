// Package overlay decides what a streamer's overlay shows: the campaign of
// the current rotation slot, chosen among the streamer's eligible campaigns
// by their selection strategy, or nothing during a blackout period.
//
// A slot's choice is claimed with one guarded atomic upsert on the slot's key
// (repository.Slots.Claim), so every overlay instance and concurrent request
// in the slot agrees on it; the next slot chooses again. The ranking itself
// is the pure selection package.
package overlay

import (
	"context"
	"log/slog"
	"time"

	"tally/domain"
	"tally/overlay/selection"
	"tally/repository"
)

// Service answers what an overlay shows.
type Service struct {
	Users          *repository.Users
	Participations *repository.Participations
	Campaigns      *repository.Campaigns
	Slots          *repository.Slots
	CapSpend       *repository.CapSpend // today's spend, for the caps (nil: caps are not checked)
	NewToken       func() string        // for old participations chosen before they had a token
	Now            func() time.Time
	Log            *slog.Logger
}

// Current returns what the overlay of the streamer a browser source token
// belongs to shows now: any of a streamer's tokens opens that streamer's
// overlay. nil means nothing: a blackout period is in force, or no campaign
// is eligible. An unknown, rotated or left token is NOT_FOUND.
func (s *Service) Current(ctx context.Context, token string) (*domain.OverlaySlot, error) {
	p, err := s.Participations.ByToken(ctx, token)
	if err != nil {
		return nil, err
	}
	return s.forStreamer(ctx, p)
}

// forStreamer is Current for the streamer of p, a participation already
// read by its token.
func (s *Service) forStreamer(ctx context.Context, p domain.Participation) (*domain.OverlaySlot, error) {
	user, err := s.Users.ByID(ctx, p.StreamerID)
	if err != nil {
		return nil, err
	}
	now := s.Now()
	settings := user.CampaignRotationSettings
	blackout, err := selection.InBlackout(settings.BlackoutPeriods, now)
	if err != nil {
		// Validated on input; an unreadable period is skipped, not fatal.
		s.Log.WarnContext(ctx, "blackout period skipped", "streamer", user.ID, "err", err.Error())
	}
	if blackout {
		return nil, nil
	}
	interval := settings.RotationIntervalMinutes // ≥ 1: the users repository fills in the default
	start, end := selection.SlotBounds(now, interval)
	key := domain.SlotKey(user.ID, interval, start)

	stored, found, err := s.Slots.ByKey(ctx, key)
	if err != nil {
		return nil, err
	}
	if found {
		shown, ok, err := s.stillShowable(ctx, stored, p, now)
		if err != nil || ok {
			return shown, err
		}
	}

	// Choose: no slot yet, or its campaign can no longer be shown.
	cands, err := s.candidates(ctx, user.ID, now)
	if err != nil {
		return nil, err
	}
	strategy := user.CampaignSelectionStrategy
	best, ok := selection.Choose(strategy, settings.PriorityWeights, now, cands.list)
	if !ok {
		return nil, nil // none eligible, or every one capped
	}
	choice := domain.Slot{Key: key, StreamerID: user.ID, ParticipationID: best.ParticipationID,
		CampaignID: best.CampaignID, Strategy: strategy, StartsAt: start, EndsAt: end}
	var slot domain.Slot
	var won bool
	if found {
		slot, won, err = s.Slots.Replace(ctx, stored.ParticipationID, choice)
	} else {
		slot, won, err = s.Slots.Claim(ctx, choice)
	}
	if err != nil {
		return nil, err
	}
	if won {
		if err := s.Participations.MarkShown(ctx, slot.ParticipationID, slot.StartsAt); err != nil {
			return nil, err
		}
	}
	// Another request may have claimed the slot first with its own choice:
	// show that one, as every other overlay instance will.
	part, okP := cands.participations[slot.ParticipationID]
	camp, okC := cands.campaigns[slot.CampaignID]
	if !okP || !okC {
		if part, err = s.Participations.ByID(ctx, slot.ParticipationID); err != nil {
			return nil, err
		}
		if camp, err = s.Campaigns.ByID(ctx, slot.CampaignID); err != nil {
			return nil, err
		}
	}
	return s.shown(ctx, slot, part, camp)
}

// stillShowable returns the stored slot's choice if its participation is
// still active and its campaign still eligible.
func (s *Service) stillShowable(ctx context.Context, slot domain.Slot, byToken domain.Participation, now time.Time) (*domain.OverlaySlot, bool, error) {
	part := byToken
	if slot.ParticipationID != byToken.ID {
		var err error
		if part, err = s.Participations.ByID(ctx, slot.ParticipationID); err != nil {
			if domain.ErrorCode(err) == domain.ENOTFOUND {
				return nil, false, nil
			}
			return nil, false, err
		}
	}
	camp, err := s.Campaigns.ByID(ctx, slot.CampaignID)
	if err != nil {
		if domain.ErrorCode(err) == domain.ENOTFOUND {
			return nil, false, nil
		}
		return nil, false, err
	}
	if part.Status != domain.ParticipationActive || !camp.Eligible(now) {
		return nil, false, nil
	}
	capped, err := s.capped(ctx, []domain.Participation{part}, map[string]domain.Campaign{camp.ID: camp}, now)
	if err != nil || capped[part.ID] {
		return nil, false, err
	}
	shown, err := s.shown(ctx, slot, part, camp)
	return shown, err == nil, err
}

// shown assembles the answer, giving an old participation that never had a
// token one now, for its click link.
func (s *Service) shown(ctx context.Context, slot domain.Slot, part domain.Participation, camp domain.Campaign) (*domain.OverlaySlot, error) {
	if part.BrowserSourceToken == "" {
		var err error
		if part, err = s.Participations.SetToken(ctx, part.ID, s.NewToken, true); err != nil {
			return nil, err
		}
	}
	return &domain.OverlaySlot{SlotKey: slot.Key, Campaign: camp, Participation: part,
		SlotStartsAt: slot.StartsAt, SlotEndsAt: slot.EndsAt, Strategy: slot.Strategy}, nil
}

type candidates struct {
	list           []selection.Candidate
	participations map[string]domain.Participation
	campaigns      map[string]domain.Campaign
}

// candidates reads the streamer's active participations and their campaigns
// (two queries) and keeps those whose campaign is eligible now.
func (s *Service) candidates(ctx context.Context, streamerID string, now time.Time) (candidates, error) {
	parts, err := s.Participations.ActiveByStreamer(ctx, streamerID)
	if err != nil {
		return candidates{}, err
	}
	ids := make([]string, len(parts))
	for i, p := range parts {
		ids[i] = p.CampaignID
	}
	camps, err := s.Campaigns.ByIDs(ctx, ids)
	if err != nil {
		return candidates{}, err
	}
	out := candidates{participations: map[string]domain.Participation{}, campaigns: camps}
	capped, err := s.capped(ctx, parts, camps, now)
	if err != nil {
		return candidates{}, err
	}
	for _, p := range parts {
		c, ok := camps[p.CampaignID]
		if !ok || !c.Eligible(now) {
			continue
		}
		out.participations[p.ID] = p
		out.list = append(out.list, selection.Candidate{
			ParticipationID: p.ID, CampaignID: c.ID, JoinedAt: p.JoinedAt, LastShownAt: p.LastShownAt,
			Impressions: p.Stats.Impressions, Clicks: p.Stats.Clicks, Conversions: p.Stats.Conversions,
			CPMMicros: int64(c.CPM), CPCMicros: int64(c.CPC), GoalPayoutMicros: int64(c.MeanGoalPayout()),
			Capped: capped[p.ID],
		})
	}
	return out, nil
}

// capped reports, by participation id, which of parts a cap stops now
// (domain.CapsReached): the day's spend, in each campaign's time zone, is
// read in one query, and only when a daily budget or a daily cap is set.
func (s *Service) capped(ctx context.Context, parts []domain.Participation, camps map[string]domain.Campaign, now time.Time) (map[string]bool, error) {
	out := map[string]bool{}
	var keys []domain.CapSpendKey
	for _, p := range parts {
		if c, ok := camps[p.CampaignID]; ok && domain.HasDailyCaps(c, p) {
			day := domain.LocalDay(now, c.Location())
			keys = append(keys, domain.CapSpendKey{Scope: domain.CapSpendCampaign, ID: c.ID, Day: day},
				domain.CapSpendKey{Scope: domain.CapSpendParticipation, ID: p.ID, Day: day})
		}
	}
	spend := map[domain.CapSpendKey]domain.Micros{}
	if len(keys) > 0 && s.CapSpend != nil {
		var err error
		if spend, err = s.CapSpend.Read(ctx, keys); err != nil {
			return nil, err
		}
	}
	for _, p := range parts {
		c, ok := camps[p.CampaignID]
		if !ok {
			continue
		}
		day := domain.LocalDay(now, c.Location())
		out[p.ID] = domain.CapsReached(c, p, spend[domain.CapSpendKey{Scope: domain.CapSpendCampaign, ID: c.ID, Day: day}],
			spend[domain.CapSpendKey{Scope: domain.CapSpendParticipation, ID: p.ID, Day: day}])
	}
	return out, nil
}
