package live

import (
	"context"
	"errors"

	"tally/auth"
	"tally/domain"
)

// alertsTopic is the topic kind of a campaign's alerts: the projector's
// batches that touch a campaign notify it beside the campaign's own.
const alertsTopic domain.NodeKind = "Alerts"

// alertPage is how many alerts one read of a subscription takes at most.
const alertPage = 100

// CampaignAlerts subscribes the caller to a campaign's alerts: every alert
// after the cursor after ("": all of them; BAD_USER_INPUT on after for a
// malformed one), oldest first, then each new one once the projector has
// recorded it, each pushed once. Authorized as
// the campaign's alerts (campaigns.Service.AlertsCampaign): UNAUTHENTICATED
// without a user, NOT_FOUND for a campaign the caller may not see,
// FORBIDDEN for a streamer; RATE_LIMITED over the per-user limit. Every
// read is authorized again; the stream ends when the caller may no longer
// read the alerts (with that error), when the store cannot be read for a
// few seconds (SERVICE_UNAVAILABLE), when the server shuts down (Stream says
// how), and in silence only when ctx ends.
//
// Alerts of one batch may become visible in any order (one unordered bulk
// of inserts, replayed after a crash), those of a later batch only after
// every alert of the earlier ones is stored: so each read starts at the
// first Seq of the latest batch pushed, and skips the alerts already
// pushed from it.
func (s *Service) CampaignAlerts(ctx context.Context, id, after string) (*Stream[domain.Alert], error) {
	c, err := auth.RequireUser(ctx)
	if err != nil {
		return nil, err
	}
	from, ok, err := domain.ParseAlertCursor("after", after)
	if err != nil {
		return nil, err
	}
	if ok {
		from++
	}
	camp, err := s.Campaigns.AlertsCampaign(ctx, id)
	if err != nil {
		return nil, err
	}
	sub, err := s.Broker.subscribe(c.UserID, topic{alertsTopic, camp.ID})
	if err != nil {
		return nil, err
	}
	w := &alertWatch{floor: from, window: from, sent: map[string]int64{}, read: func(ctx context.Context, from int64) ([]domain.Alert, error) {
		// Access answers end the stream at once; a store that fails is
		// tried again for a few seconds first (readRetrying).
		return readRetrying(ctx, sub, func(ctx context.Context) ([]domain.Alert, error) {
			return s.Campaigns.AlertsSince(ctx, camp.ID, from, alertPage)
		})
	}}
	out := make(chan domain.Alert)
	st := &Stream[domain.Alert]{C: out}
	go func() {
		defer close(out)
		defer sub.cancel()
		for {
			if err := w.drain(ctx, out, sub.done); err != nil {
				// The stream ends: in silence only when the caller left.
				select {
				case <-sub.done: // shut down, or the fan-out given up
					st.err = sub.err
					return
				default:
				}
				if ctx.Err() != nil {
					return
				}
				if s.Log != nil && errors.Is(err, errStoreDown) {
					s.Log.WarnContext(ctx, "live alerts not read; stream ended", "campaign", camp.ID, "err", err.Error())
				}
				st.err = err
				return
			}
			select {
			case <-ctx.Done():
				return
			case <-sub.done:
				st.err = sub.err
				return
			case <-sub.notify:
			}
		}
	}()
	return st, nil
}

// alertWatch is what one alerts subscription has pushed: the first Seq of
// the latest batch it pushed from (window; never below floor, the first Seq
// it was asked for), and the alerts pushed from it.
type alertWatch struct {
	floor  int64
	window int64
	sent   map[string]int64 // id → Seq, from window on
	read   func(ctx context.Context, from int64) ([]domain.Alert, error)
}

// errEnded is a push refused because the subscription ended.
var errEnded = domain.Errorf(domain.EUNAVAILABLE, "the subscription ended")

// drain pushes every alert from the window on that was not pushed yet.
func (w *alertWatch) drain(ctx context.Context, out chan<- domain.Alert, done <-chan struct{}) error {
	from, top := w.window, w.window
	for {
		page, err := w.read(ctx, from)
		if err != nil {
			return err
		}
		for _, a := range page {
			top = max(top, a.Seq)
			if _, ok := w.sent[a.ID]; ok {
				continue
			}
			select {
			case out <- a:
				w.sent[a.ID] = a.Seq
			case <-ctx.Done():
				return errEnded
			case <-done:
				return errEnded
			}
		}
		if len(page) < alertPage {
			break
		}
		from = page[len(page)-1].Seq + 1
	}
	w.window = max(domain.AlertBatchStart(top), w.floor)
	for id, seq := range w.sent {
		if seq < w.window {
			delete(w.sent, id)
		}
	}
	return nil
}
