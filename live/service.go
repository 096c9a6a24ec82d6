package live

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"time"

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
	// Users, when set, ends a stream whose caller's session has ended
	// (logOut, changePassword, the account gone) before its next push.
	Users interface {
		ByID(ctx context.Context, id string) (domain.User, error)
	}
	Log *slog.Logger
}

// errSessionEnded ends the stream of a caller whose session has ended.
var errSessionEnded = domain.Errorf(domain.EUNAUTHENTICATED,
	"the session has ended (logOut, changePassword, or the account is gone); log in again")

// session is c as its stored user says it is now (its role), or
// UNAUTHENTICATED when its session has ended. A partner's API key has no
// session: it stands as it is.
func (s *Service) session(ctx context.Context, c auth.Caller) (auth.Caller, error) {
	if c.APIKey != nil {
		return c, nil
	}
	u, err := s.Users.ByID(ctx, c.UserID)
	if domain.ErrorCode(err) == domain.ENOTFOUND {
		return auth.Caller{}, errSessionEnded
	}
	if err != nil {
		return auth.Caller{}, err
	}
	now, ok := auth.Session(c, u)
	if !ok {
		return auth.Caller{}, errSessionEnded
	}
	return now, nil
}

// Stream is one subscription's pushes. C carries the object, first as it
// is now and then each time it changed; once C is closed, Err says why:
// nil when the caller left (ctx ended), otherwise the error the client
// must see, for a stream never ends in silence: NOT_FOUND or FORBIDDEN when
// the object is no longer the caller's to see (deleted, access revoked),
// UNAUTHENTICATED when the caller's session has ended (Service.Users);
// SERVICE_UNAVAILABLE ("subscribe again") when
// the store could not be read (retried for a few seconds first), when this
// server cannot follow the updates applied in the database, and when it
// shuts down.
type Stream[T any] struct {
	C   <-chan T
	err error // written before C is closed
}

// Err is why the stream ended; call it once C is closed.
func (s *Stream[T]) Err() error { return s.err }

// readRetries are the waits before each new attempt at a read that failed
// for a reason other than access (the store busy or down): about 4 s in
// all, then the stream ends with SERVICE_UNAVAILABLE.
var readRetries = []time.Duration{250 * time.Millisecond, 500 * time.Millisecond, time.Second, 2 * time.Second}

// errStoreDown ends a stream whose object could not be read.
var errStoreDown = domain.Errorf(domain.EUNAVAILABLE, "live updates stopped: the store could not be read; subscribe again shortly")

// CampaignStats subscribes the caller to a campaign: its current state at
// once, then again each time events of the campaign are applied, by this
// process's projector or another's (counters, spent, remaining). Authorized
// exactly as campaign(id) (campaigns.Service.Get): UNAUTHENTICATED without
// a user, NOT_FOUND for a campaign the caller may not see; RATE_LIMITED
// over the per-user limit; SERVICE_UNAVAILABLE while the server cannot
// follow updates. Every push is read through Get again; the stream ends
// with an error as Stream says, and without one when ctx ends.
func (s *Service) CampaignStats(ctx context.Context, id string) (*Stream[domain.Campaign], error) {
	return watch(ctx, s, domain.NodeCampaign, func(ctx context.Context) (domain.Campaign, error) {
		return s.Campaigns.Get(ctx, id)
	}, func(c domain.Campaign) string { return c.ID })
}

// ParticipationStats subscribes the caller to a participation: its current
// state at once, then again each time events of it are applied (counters,
// earnings). Authorized exactly as participation(id)
// (campaigns.Service.Participation); otherwise as CampaignStats.
func (s *Service) ParticipationStats(ctx context.Context, id string) (*Stream[domain.Participation], error) {
	return watch(ctx, s, domain.NodeParticipation, func(ctx context.Context) (domain.Participation, error) {
		return s.Campaigns.Participation(ctx, id)
	}, func(p domain.Participation) string { return p.ID })
}

// watch authorizes with a first read, subscribes, and reads again for the
// first push, so that a batch applied between the first read and the
// subscription is never missed.
func watch[T any](ctx context.Context, s *Service, kind domain.NodeKind, read func(context.Context) (T, error), idOf func(T) string) (*Stream[T], error) {
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
	st := &Stream[T]{C: out}
	go func() {
		defer close(out)
		defer sub.cancel()
		rctx := ctx // carries the caller as the last session check found it
		for {
			select {
			case <-ctx.Done():
				return
			case <-sub.done:
				st.err = sub.err
				return
			case <-sub.notify:
			}
			v, err := readRetrying(rctx, sub, read)
			if err == nil && s.Users != nil && !reflect.DeepEqual(v, last) {
				// A change is pushed only while the caller's session holds,
				// as the caller is now (a changed role reads again).
				var now auth.Caller
				now, err = readRetrying(rctx, sub, func(ctx context.Context) (auth.Caller, error) { return s.session(ctx, c) })
				if err == nil && now.Role != c.Role {
					c, rctx = now, auth.WithCaller(rctx, now)
					v, err = readRetrying(rctx, sub, read)
				}
			}
			if err != nil {
				select {
				case <-sub.done: // shut down, or the fan-out given up, while retrying
					st.err = sub.err
					return
				default:
				}
				if ctx.Err() != nil {
					return // the caller left
				}
				if s.Log != nil && errors.Is(err, errStoreDown) {
					s.Log.WarnContext(ctx, "live update not read; stream ended", "kind", string(kind), "err", err.Error())
				}
				st.err = err
				return
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
				st.err = sub.err
				return
			}
		}
	}()
	return st, nil
}

// readRetrying reads the object again for a push. An answer about access
// (NOT_FOUND, FORBIDDEN, UNAUTHENTICATED) is final; any other failure is
// tried again after each of readRetries, and then ends the stream with
// SERVICE_UNAVAILABLE (the store's own words go to the log). The
// subscription's end (shutdown, the fan-out given up) and ctx's stop the
// waits.
func readRetrying[T any](ctx context.Context, sub *subscription, read func(context.Context) (T, error)) (T, error) {
	var zero T
	for attempt := 0; ; attempt++ {
		v, err := read(ctx)
		switch domain.ErrorCode(err) {
		case "":
			return v, nil
		case domain.ENOTFOUND, domain.EFORBIDDEN, domain.EUNAUTHENTICATED:
			return zero, err
		}
		if ctx.Err() != nil {
			return zero, ctx.Err()
		}
		if attempt == len(readRetries) {
			return zero, fmt.Errorf("%w (%w)", errStoreDown, err)
		}
		t := time.NewTimer(readRetries[attempt])
		select {
		case <-ctx.Done():
			t.Stop()
			return zero, ctx.Err()
		case <-sub.done:
			t.Stop()
			return zero, context.Canceled // the caller reads sub.err
		case <-t.C:
		}
	}
}
