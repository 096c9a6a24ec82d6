package projection

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"tally/domain"
	"tally/repository"
)

// Backlog bounds and defaults.
const (
	// BacklogLimit is where the pending count stops: past it the count
	// says "at least", and costs no more.
	BacklogLimit = 10_000
	// BacklogTTL is how long a read of the backlog is reused, so that
	// /readyz probes and metrics scrapes cost the store at most one read
	// (six calls) per process in that time.
	BacklogTTL = time.Second
	// BacklogEvery is how often each process looks at the backlog by
	// itself, for the lag warning.
	BacklogEvery = 5 * time.Second
)

// Monitor reports the database's projection backlog from any process —
// whether or not it holds the projector's lease — and logs the lag warning
// when it sees the oldest pending event waiting longer than lagWarning (at
// most once per lagWarnEvery per process). Reads are cached for BacklogTTL.
type Monitor struct {
	store *repository.Backlog
	log   *slog.Logger
	now   func() time.Time // the clock that stamps events (their age is by it)

	mu       sync.Mutex
	last     domain.Backlog
	readAt   time.Time // wall clock of the last read; zero: none yet
	warnedAt time.Time // wall clock
}

// NewMonitor returns the backlog monitor over store. now is the clock that
// stamps events (time.Now when nil).
func NewMonitor(store *repository.Backlog, log *slog.Logger, now func() time.Time) *Monitor {
	if now == nil {
		now = time.Now
	}
	return &Monitor{store: store, log: log, now: now}
}

// Backlog returns the database's backlog, read at most BacklogTTL ago,
// with the oldest event's age as of now. When the store cannot be read it
// returns the error and the last backlog read (zero before any).
func (m *Monitor) Backlog(ctx context.Context) (domain.Backlog, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var err error
	if m.readAt.IsZero() || time.Since(m.readAt) >= BacklogTTL {
		// Callers wait for one read rather than each making their own;
		// the read is bounded whatever the caller's deadline.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		var b domain.Backlog
		b, err = m.store.Read(rctx, BacklogLimit)
		cancel()
		if err == nil {
			m.last, m.readAt = b, time.Now()
		}
	}
	b := m.last
	if !b.Oldest.IsZero() {
		b.OldestAge = max(m.now().Sub(b.Oldest), 0)
	}
	if err == nil && b.OldestAge > lagWarning && time.Since(m.warnedAt) > lagWarnEvery {
		m.warnedAt = time.Now()
		m.log.Warn("projection lags behind the events: the oldest pending event has waited more than 5 s",
			"oldest_age", b.OldestAge.String(), "pending", b.Pending, "pending_capped", b.Capped)
	}
	return b, err
}

// Watch looks at the backlog every BacklogEvery until ctx ends, so that
// the lag warning is logged even with no probe or scrape.
func (m *Monitor) Watch(ctx context.Context) {
	t := time.NewTicker(BacklogEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if _, err := m.Backlog(ctx); err != nil && ctx.Err() == nil {
				m.log.Warn("reading the projection backlog failed; tried again shortly", "err", err.Error())
			}
		}
	}
}
