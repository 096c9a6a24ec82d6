package live

import (
	"context"
	"log/slog"
	"reflect"

	"tally/auth"
	"tally/campaigns"
	"tally/domain"
)

// Service is the subscriptions' service: it authorizes a subscription as its
// query, then pushes the object again after every projector batch that
// touched it.
type Service struct {
	Broker    *Broker
	Campaigns *campaigns.Service
	Log       *slog.Logger
}

// CampaignStats subscribes the caller to a campaign: its current state at
// once, then again each time the projector applies events of the campaign
// (counters, spent, remaining). Authorized exactly as campaign(id)
// (campaigns.Service.Get): UNAUTHENTICATED without a user, NOT_FOUND for a
// campaign the caller may not see; RATE_LIMITED over the per-user limit.
// Every push is read through Get again; the stream ends when the caller can
// no longer see the campaign, when ctx ends, and when the server shuts down.
func (s *Service) CampaignStats(ctx context.Context, id string) (<-chan domain.Campaign, error) {
	return watch(ctx, s, domain.NodeCampaign, func(ctx context.Context) (domain.Campaign, error) {
		return s.Campaigns.Get(ctx, id)
	}, func(c domain.Campaign) string { return c.ID })
}

// ParticipationStats subscribes the caller to a participation: its current
// state at once, then again each time the projector applies events of it
// (counters, earnings). Authorized exactly as participation(id)
// (campaigns.Service.Participation); otherwise as CampaignStats.
func (s *Service) ParticipationStats(ctx context.Context, id string) (<-chan domain.Participation, error) {
	return watch(ctx, s, domain.NodeParticipation, func(ctx context.Context) (domain.Participation, error) {
		return s.Campaigns.Participation(ctx, id)
	}, func(p domain.Participation) string { return p.ID })
}

// watch authorizes with a first read, subscribes, and reads again for the
// first push, so that a batch applied between the first read and the
// subscription is never missed.
func watch[T any](ctx context.Context, s *Service, kind domain.NodeKind, read func(context.Context) (T, error), idOf func(T) string) (<-chan T, error) {
	c, err := auth.RequireUser(ctx)
	if err != nil {
		return nil, err
	}
	// Authorize before taking a place under the limit: a refused
	// subscription does not count.
	v, err := read(ctx)
	if err != nil {
		return nil, err
	}
	sub, err := s.Broker.subscribe(c.UserID, topic{kind, idOf(v)})
	if err != nil {
		return nil, err
	}
	last, err := read(ctx)
	if err != nil {
		sub.cancel()
		return nil, err
	}
	out := make(chan T, 1)
	out <- last
	go func() {
		defer close(out)
		defer sub.cancel()
		for {
			select {
			case <-ctx.Done():
				return
			case <-sub.done:
				return
			case <-sub.notify:
			}
			v, err := read(ctx)
			switch domain.ErrorCode(err) {
			case "":
			case domain.ENOTFOUND, domain.EFORBIDDEN, domain.EUNAUTHENTICATED:
				return // no longer the caller's to see
			default:
				if ctx.Err() != nil {
					return
				}
				// The store is busy or down: skip this push; the next
				// batch brings the latest state again.
				if s.Log != nil {
					s.Log.WarnContext(ctx, "live update not read", "kind", string(kind), "err", err.Error())
				}
				continue
			}
			if reflect.DeepEqual(v, last) {
				continue // nothing changed (a batch replayed, or one already read)
			}
			last = v
			select {
			case out <- v:
			case <-ctx.Done():
				return
			case <-sub.done:
				return
			}
		}
	}()
	return out, nil
}
