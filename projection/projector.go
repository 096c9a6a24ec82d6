// Package projection applies what follows from new events, exactly once:
// campaign and participation counters, budget spend, streamer earnings,
// daily buckets, implied conversions and postbacks. It also verifies, at
// any time, that every counter is what the events say.
//
// Where a click gets counted: the request stores the click and nothing else
// (tracking.Service.RecordClick, one upsert that decides isNew). The
// projector then takes pending events in batches and folds each batch into
// the counters:
//
//  1. start: read up to BatchSize pending events, oldest first, and record
//     them as batch N = applied+1 in the projector's state document (one
//     guarded update: only the lease holder, only while no batch is in
//     flight and applied is still N−1);
//  2. decide, then bill: read the campaigns' ledgers and the click filter's
//     state, plan the whole batch with Decide (plan.go: pure, no store),
//     and apply each campaign's counters, spend and unbilled list in one
//     update guarded by the remaining budget decided against and by the
//     campaign's last applied batch (projBatch < N);
//  3. apply the participations' and the daily buckets' sums, each update
//     guarded by projBatch < N;
//  4. save the click filter's state, record the implied conversions, and
//     enqueue the postbacks (each idempotent);
//  5. mark the batch's conversions' steps and its events BILLED or
//     NOT_BILLED (only while pending);
//  6. finish: applied = N.
//
// Where money moves is Decide; the writer (writer.go) applies its plan and
// decides nothing. A crash, a timeout or a store error at any step leaves
// batch N in flight; whoever holds the lease next (this process on its
// next pass, or another) runs it again from step 2, where every guarded
// update that already landed matches nothing, and a campaign already
// billed reports what it did not bill, so the replay plans exactly as the
// first run did. Batches are strictly sequential, so a counter's projBatch
// is a high-water mark. No multi-document transaction is used: the design
// holds on MongoDB, FerretDB and the embedded engine alike.
package projection

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"tally/domain"
	"tally/repository"
)

// Defaults of a Projector's knobs.
const (
	DefaultBatchSize = 500
	DefaultLeaseTTL  = 10 * time.Second
	DefaultPoll      = 250 * time.Millisecond
	DefaultWindow    = 200 * time.Millisecond
	// DefaultBatchTarget is how many new events end the wait for a batch
	// early: a batch's writes (about six, whatever it holds) are then
	// shared by enough events to keep a store write per event near one.
	DefaultBatchTarget = 64
	// lagWarning is the age of the oldest pending event past which every
	// process's Monitor logs a warning (at most once per lagWarnEvery).
	lagWarning   = 5 * time.Second
	lagWarnEvery = 30 * time.Second
)

// Projector folds pending events into the counters. Run it once per server
// process; any number may run against one database (one projects at a time,
// by lease, and any of them finishes what another left).
type Projector struct {
	store     *repository.Projection
	owner     string
	log       *slog.Logger
	clock     func() time.Time
	batchSize int
	leaseTTL  time.Duration
	poll      time.Duration
	window    time.Duration
	onApplied func(domain.Batch)
	rules     Rules

	nudge    chan struct{}
	notified atomic.Int64 // events notified since the last pass
	lag      lagStats
}

// Options are a Projector's knobs; zero values take the defaults.
type Options struct {
	// Owner names this process in the lease; default host:pid:random.
	Owner string
	// Clock is the wall clock for leases and lag (not the business clock
	// that stamps events); default time.Now.
	Clock     func() time.Time
	BatchSize int
	LeaseTTL  time.Duration
	// Poll is how often Run looks for events it was not told about (those
	// recorded by other processes, or left by a crash).
	Poll time.Duration
	// Window is how long Run waits at most after a notification, so that a
	// batch collects the events recorded meanwhile (it stops waiting once
	// DefaultBatchTarget have been).
	Window time.Duration
	// OnApplied, if set, is called after each batch is applied.
	OnApplied func(domain.Batch)
	// Filter tells valid clicks from invalid traffic; the zero value judges
	// every click valid.
	Filter domain.ClickFilter
	// Currency is the platform's currency, for postbacks' {currency}.
	Currency string
	// HoldDays is the hold period of a campaign without its own.
	HoldDays int
}

// New returns a projector over store.
func New(store *repository.Projection, log *slog.Logger, o Options) *Projector {
	if o.Owner == "" {
		host, _ := os.Hostname()
		b := make([]byte, 4)
		_, _ = rand.Read(b)
		o.Owner = fmt.Sprintf("%s:%d:%s", host, os.Getpid(), hex.EncodeToString(b))
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	if o.BatchSize <= 0 {
		o.BatchSize = DefaultBatchSize
	}
	if o.LeaseTTL <= 0 {
		o.LeaseTTL = DefaultLeaseTTL
	}
	if o.Poll <= 0 {
		o.Poll = DefaultPoll
	}
	if o.Window <= 0 {
		o.Window = DefaultWindow
	}
	return &Projector{store: store, owner: o.Owner, log: log, clock: o.Clock, batchSize: o.BatchSize,
		leaseTTL: o.LeaseTTL, poll: o.Poll, window: o.Window, onApplied: o.OnApplied, rules: Rules{Filter: o.Filter, Currency: o.Currency, HoldDays: o.HoldDays}, nudge: make(chan struct{}, 1)}
}

// Notify tells the projector that a new event is pending. It never blocks.
func (p *Projector) Notify() {
	p.notified.Add(1)
	select {
	case p.nudge <- struct{}{}:
	default:
	}
}

// collect waits, after a notification, until DefaultBatchTarget events have
// been notified or Window has passed, so that a batch holds what arrived
// meanwhile: busy servers project in big batches, quiet ones within Window.
func (p *Projector) collect(ctx context.Context) bool {
	deadline := time.Now().Add(p.window)
	for p.notified.Load() < DefaultBatchTarget {
		wait := time.Until(deadline)
		if wait <= 0 {
			break
		}
		t := time.NewTimer(min(wait, 5*time.Millisecond))
		select {
		case <-ctx.Done():
			t.Stop()
			return false
		case <-t.C:
		}
	}
	p.notified.Store(0)
	return true
}

// Run projects until ctx ends: after each notification (waiting Window to
// collect a batch) and every Poll. Store errors are logged and retried on
// the next pass, with a backoff; nothing is lost meanwhile, the events stay
// pending.
func (p *Projector) Run(ctx context.Context) {
	tick := time.NewTicker(p.poll)
	defer tick.Stop()
	backoff := time.Duration(0)
	for {
		select {
		case <-ctx.Done():
			return
		case <-p.nudge:
			if !p.collect(ctx) {
				return
			}
		case <-tick.C:
		}
		if err := p.Drain(ctx); err != nil && ctx.Err() == nil {
			backoff = min(max(2*backoff, 50*time.Millisecond), 5*time.Second)
			p.log.Error("projection pass failed; the events stay pending and are retried", "err", err.Error(), "retryIn", backoff.String())
			if !sleep(ctx, backoff) {
				return
			}
			p.Notify()
			continue
		}
		backoff = 0
	}
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// Drain applies batches until none is pending or another process holds the
// lease. A batch smaller than BatchSize took every pending event, so Drain
// stops after it without looking again: events recorded meanwhile notify
// the projector themselves.
func (p *Projector) Drain(ctx context.Context) error {
	for {
		n, err := p.Step(ctx)
		if err != nil || n < p.batchSize {
			return err
		}
	}
}

// Flush returns once every event pending when it was called is projected,
// by this process or another: tests and `tally verify` use it.
func (p *Projector) Flush(ctx context.Context) error {
	for {
		if err := p.Drain(ctx); err != nil {
			return err
		}
		st, err := p.store.State(ctx)
		if err != nil {
			return err
		}
		pending, err := p.store.Pending(ctx, 1)
		if err != nil {
			return err
		}
		if st.InFlight == nil && len(pending) == 0 {
			return nil
		}
		if !sleep(ctx, 5*time.Millisecond) {
			return ctx.Err()
		}
	}
}

// errRace is a step that lost a race to start a batch: look again.
var errRace = errors.New("another step started the batch")

// Step applies at most one batch and reports how many events it held: 0
// when nothing is pending or another process holds the lease.
func (p *Projector) Step(ctx context.Context) (int, error) {
	for {
		n, err := p.step(ctx)
		if errors.Is(err, errRace) {
			continue
		}
		return n, err
	}
}

func (p *Projector) step(ctx context.Context) (int, error) {
	st, err := p.store.State(ctx)
	if err != nil {
		return 0, err
	}
	now := p.clock()
	if st.Owner != p.owner || st.LeaseUntil.Sub(now) < p.leaseTTL/2 {
		ok, err := p.store.Lease(ctx, p.owner, now, p.leaseTTL)
		if err != nil || !ok {
			return 0, err
		}
	}
	b := st.InFlight
	if b == nil {
		events, err := p.store.Pending(ctx, p.batchSize)
		if err != nil || len(events) == 0 {
			return 0, err
		}
		b = &domain.Batch{N: st.Applied + 1, Events: events}
		ok, err := p.store.StartBatch(ctx, p.owner, *b)
		if err != nil {
			return 0, err
		}
		if !ok {
			return 0, errRace
		}
	}
	if err := p.apply(ctx, *b); err != nil {
		return 0, fmt.Errorf("apply batch %d: %w", b.N, err)
	}
	// Finish the batch; when enough events for another are pending (a
	// backlog, or a busy server), start the next one in the same write.
	more := false
	if len(b.Events) == p.batchSize || p.notified.Load() >= DefaultBatchTarget {
		next, err := p.store.Pending(ctx, p.batchSize)
		if err != nil {
			return 0, err
		}
		if len(next) >= DefaultBatchTarget || len(next) == p.batchSize {
			p.notified.Store(0)
			if more, err = p.store.FinishAndStart(ctx, b.N, p.owner, domain.Batch{N: b.N + 1, Events: next}); err != nil {
				return 0, err
			}
		}
	}
	if !more {
		if err := p.store.FinishBatch(ctx, b.N); err != nil {
			return 0, err
		}
	}
	p.observe(*b)
	if p.onApplied != nil {
		p.onApplied(*b)
	}
	if more {
		return p.batchSize, nil // the next batch is in flight: go on
	}
	return len(b.Events), nil
}

// lagWindow is how many recent events Lag's percentiles cover.
const lagWindow = 10000

type lagStats struct {
	mu     sync.Mutex
	ring   []time.Duration
	next   int
	events int64
	last   time.Duration
}

func (p *Projector) observe(b domain.Batch) {
	now := p.clock()
	s := &p.lag
	s.mu.Lock()
	defer s.mu.Unlock()
	var oldest time.Duration
	for _, e := range b.Events {
		d := max(now.Sub(e.At), 0)
		oldest = max(oldest, d)
		if len(s.ring) < lagWindow {
			s.ring = append(s.ring, d)
		} else {
			s.ring[s.next] = d
			s.next = (s.next + 1) % lagWindow
		}
	}
	s.events += int64(len(b.Events))
	s.last = oldest
}

// Lag reports the projection lag this process has seen.
func (p *Projector) Lag() domain.ProjectionLag {
	s := &p.lag
	s.mu.Lock()
	sorted := slices.Clone(s.ring)
	l := domain.ProjectionLag{Events: s.events, Last: s.last}
	s.mu.Unlock()
	if len(sorted) == 0 {
		return l
	}
	slices.Sort(sorted)
	l.P99 = sorted[(len(sorted)*99)/100]
	l.Max = sorted[len(sorted)-1]
	return l
}
