package live

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"tally/auth"
	"tally/domain"
)

// watchOne subscribes user u1 to campaign c1 through watch, with read as
// the object's every read, and takes the first push.
func watchOne(t *testing.T, b *Broker, read func(context.Context) (domain.Campaign, error)) *Stream[domain.Campaign] {
	t.Helper()
	ctx, cancel := context.WithCancel(auth.WithCaller(context.Background(), auth.Caller{UserID: "u1", Role: domain.RoleBrand}))
	t.Cleanup(cancel)
	st, err := watch(ctx, &Service{Broker: b}, domain.NodeCampaign, read, func(c domain.Campaign) string { return c.ID })
	if err != nil {
		t.Fatalf("watch: %v", err)
	}
	<-st.C
	return st
}

// ended waits for st to end and returns why.
func ended(t *testing.T, st *Stream[domain.Campaign]) error {
	t.Helper()
	timeout := time.After(time.Minute)
	for {
		select {
		case _, ok := <-st.C:
			if !ok {
				return st.Err()
			}
		case <-timeout:
			t.Fatal("the stream did not end")
		}
	}
}

func wantCode(t *testing.T, what string, err error, code string) {
	t.Helper()
	if got := domain.ErrorCode(err); got != code {
		t.Errorf("%s: got %q (%v), want %s", what, got, err, code)
	}
}

// TestStreamEndsWithAnError: a push whose read says the object is no longer
// the caller's ends the stream with that error at once; a read that keeps
// failing otherwise ends it with SERVICE_UNAVAILABLE after the retries; a
// read that fails and then succeeds pushes, and the stream goes on.
func TestStreamEndsWithAnError(t *testing.T) {
	defer func(r []time.Duration) { readRetries = r }(readRetries)
	readRetries = []time.Duration{time.Millisecond, time.Millisecond}
	campaign := func(clicks int64) domain.Campaign {
		return domain.Campaign{ID: "c1", Stats: domain.CampaignStats{Clicks: clicks}}
	}
	t.Run("NotFound", func(t *testing.T) {
		b := NewBroker(0)
		var gone atomic.Bool
		st := watchOne(t, b, func(context.Context) (domain.Campaign, error) {
			if gone.Load() {
				return domain.Campaign{}, domain.Errorf(domain.ENOTFOUND, "campaign %q not found", "c1")
			}
			return campaign(0), nil
		})
		gone.Store(true)
		b.advanced(1)
		wantCode(t, "end", ended(t, st), domain.ENOTFOUND)
	})
	t.Run("StoreDown", func(t *testing.T) {
		b := NewBroker(0)
		var down atomic.Bool
		st := watchOne(t, b, func(context.Context) (domain.Campaign, error) {
			if down.Load() {
				return domain.Campaign{}, errors.New("connection refused")
			}
			return campaign(0), nil
		})
		down.Store(true)
		b.advanced(1)
		err := ended(t, st)
		wantCode(t, "end", err, domain.EUNAVAILABLE)
		if !errors.Is(err, errStoreDown) {
			t.Errorf("end: got %v, want the store-down error", err)
		}
	})
	t.Run("Transient", func(t *testing.T) {
		b := NewBroker(0)
		var fails atomic.Int32
		var clicks atomic.Int64
		st := watchOne(t, b, func(context.Context) (domain.Campaign, error) {
			if fails.Add(-1) >= 0 {
				return domain.Campaign{}, errors.New("busy")
			}
			return campaign(clicks.Load()), nil
		})
		clicks.Store(1)
		fails.Store(2) // as many failures as retries, then an answer
		b.advanced(1)
		if v := <-st.C; v.Stats.Clicks != 1 {
			t.Errorf("pushed clicks: got %d, want 1", v.Stats.Clicks)
		}
	})
	t.Run("Shutdown", func(t *testing.T) {
		b := NewBroker(0)
		st := watchOne(t, b, func(context.Context) (domain.Campaign, error) { return campaign(0), nil })
		b.Close()
		wantCode(t, "end at shutdown", ended(t, st), domain.EUNAVAILABLE)
	})
}

// TestFollowGivesUp: while the applied mark cannot be read for
// GiveUpAfter, the broker ends every subscription with SERVICE_UNAVAILABLE
// (the objects may be readable, but no other process's update would
// arrive) and refuses new ones; once the mark reads again, it takes them.
func TestFollowGivesUp(t *testing.T) {
	b := NewBroker(0)
	b.GiveUpAfter = time.Millisecond
	st := watchOne(t, b, func(context.Context) (domain.Campaign, error) { return domain.Campaign{ID: "c1"}, nil })
	var readable atomic.Bool
	readOK := make(chan struct{}, 2)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go b.Follow(ctx, func(context.Context) (int64, error) {
		if !readable.Load() {
			return 0, errors.New("connection refused")
		}
		select {
		case readOK <- struct{}{}:
		default:
		}
		return 0, nil
	}, time.Millisecond, nil)
	wantCode(t, "end", ended(t, st), domain.EUNAVAILABLE)
	_, err := b.subscribe("u1", topic{domain.NodeCampaign, "c1"})
	wantCode(t, "a new subscription while the mark is unread", err, domain.EUNAVAILABLE)

	readable.Store(true)
	<-readOK
	<-readOK // the first successful read has returned: the broker mended
	s, err := b.subscribe("u1", topic{domain.NodeCampaign, "c1"})
	if err != nil {
		t.Fatalf("a new subscription once the mark reads: %v", err)
	}
	s.cancel()
}
