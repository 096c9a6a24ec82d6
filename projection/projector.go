// Package projection applies what follows from new events, exactly once:
// campaign and participation counters, budget spend, streamer earnings,
// daily buckets, implied conversions and postbacks. It also verifies, at
// any time, that every counter is what the events say.
//
// Where a click gets counted: the request stores the click and nothing else
// (tracking.Service.RecordClick, one upsert that decides isNew). The
// projector then takes pending events in batches and folds each batch into
// the counters. Events are projected in partitions (by campaign,
// domain.PartitionOf), each with its own lease, batch numbers and batch in
// flight, so that several processes project at once; within a partition:
//
//  1. start: read up to MaxBatch pending events of the partition, oldest
//     first, and record them as its batch N = applied+1 in the partition's
//     state document (one guarded update: only the lease holder, only while
//     no batch is in flight and applied is still N−1);
//  2. decide, then bill: read the campaigns' ledgers and the click filter's
//     state, plan the whole batch with Decide (plan.go: pure, no store),
//     and apply each campaign's counters, spend and unbilled list in one
//     update guarded by the remaining budget decided against and by the
//     campaign's last applied batch (projBatch < N);
//  3. apply the participations' and the daily buckets' sums, each update
//     guarded by projBatch < N (a streamer's bucket, which several
//     partitions write, by the partition's own mark: repository guard);
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
// first run did. A partition's batches are strictly sequential, so a
// counter's projBatch is a high-water mark. No multi-document transaction
// is used: the design holds on MongoDB, FerretDB and the embedded engine
// alike.
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
	// DefaultMaxBatch bounds how big a batch grows when a backlog builds up
	// (see Step): its writes are then shared by up to that many events.
	DefaultMaxBatch = 1000
	DefaultLeaseTTL = 5 * time.Second
	DefaultPoll     = 250 * time.Millisecond
	DefaultWindow   = 200 * time.Millisecond
	// DefaultBatchTarget is how many new events end the wait for a batch
	// early: a batch's writes (about six, whatever it holds) are then
	// shared by enough events to keep a store write per event near one.
	DefaultBatchTarget = 64
	// lagWarning is the age of the oldest pending event past which every
	// process's Monitor logs a warning (at most once per lagWarnEvery).
	lagWarning   = 5 * time.Second
	lagWarnEvery = 30 * time.Second
	// stepTimeout bounds one batch's store calls once a stop has begun.
	stepTimeout = 30 * time.Second
)

// Projector folds pending events into the counters. Run it once per server
// process; any number may run against one database. Events are projected
// in partitions (by campaign, domain.PartitionOf); each partition is held
// by one process at a time through a lease, and each process takes a fair
// share of them, so N processes project in parallel; any of them finishes
// what another left.
type Projector struct {
	store     *repository.Projection
	owner     string
	log       *slog.Logger
	clock     func() time.Time
	batchSize int
	maxBatch  int
	leaseTTL  time.Duration
	poll      time.Duration
	window    time.Duration
	onApplied func(domain.Batch)
	rules     Rules
	want      int // the partitions setting, for a database's first start

	setupMu sync.Mutex
	parts   int // how many partitions the database has; 0 until setup

	mu      sync.Mutex
	workers map[int]*worker // the partitions this process projects now
	lag     lagStats
}

// worker projects one partition this process holds.
type worker struct {
	part     int
	nudge    chan struct{} // a notification: collect a batch, then drain
	found    chan struct{} // the poll found events: drain now
	notified atomic.Int64  // events notified since the last pass
	busy     atomic.Bool   // draining: the poll leaves it alone
	stop     chan struct{}
	done     chan struct{}
}

// Options are a Projector's knobs; zero values take the defaults.
type Options struct {
	// Owner names this process in the leases; default host:pid:random.
	Owner string
	// Clock is the wall clock for leases and lag (not the business clock
	// that stamps events); default time.Now.
	Clock func() time.Time
	// BatchSize is a batch's size when there is no backlog; MaxBatch how
	// far it grows with one (default DefaultMaxBatch, at least BatchSize).
	BatchSize int
	MaxBatch  int
	// LeaseTTL is how long a partition's lease (and a process's heartbeat)
	// lasts unless renewed: how soon the partitions of a process that died
	// are taken over. Leases are renewed every LeaseTTL/5.
	LeaseTTL time.Duration
	// Partitions is how many partitions a new database is projected in
	// (default domain.DefaultPartitions); a database keeps the number it
	// was first started with.
	Partitions int
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
	if o.MaxBatch <= 0 {
		o.MaxBatch = max(DefaultMaxBatch, o.BatchSize)
	}
	o.MaxBatch = max(o.MaxBatch, o.BatchSize)
	if o.LeaseTTL <= 0 {
		o.LeaseTTL = DefaultLeaseTTL
	}
	if o.Poll <= 0 {
		o.Poll = DefaultPoll
	}
	if o.Window <= 0 {
		o.Window = DefaultWindow
	}
	return &Projector{store: store, owner: o.Owner, log: log, clock: o.Clock, batchSize: o.BatchSize, maxBatch: o.MaxBatch,
		leaseTTL: o.LeaseTTL, poll: o.Poll, window: o.Window, onApplied: o.OnApplied, want: o.Partitions,
		rules: Rules{Filter: o.Filter, Currency: o.Currency, HoldDays: o.HoldDays}, workers: map[int]*worker{}}
}

// Setup makes the database projected in partitions (once; see
// repository.Projection.Setup) and learns how many: run it before the
// server takes requests, so that every event is stored with its partition.
// Run, Step and Flush run it themselves when it has not run.
func (p *Projector) Setup(ctx context.Context) (int, error) {
	p.setupMu.Lock()
	defer p.setupMu.Unlock()
	if p.parts > 0 {
		return p.parts, nil
	}
	n, err := p.store.Setup(ctx, p.want)
	if err != nil {
		return 0, err
	}
	if p.want > 0 && n != p.want && p.log != nil {
		p.log.Warn("the database is projected in the partitions it was first started with; the setting is ignored",
			"partitions", n, "setting", p.want)
	}
	p.parts = n
	return n, nil
}

// Owner is the name this projector holds leases under.
func (p *Projector) Owner() string { return p.owner }

// Notify tells the projector that a new event of campaignID is pending
// ("": of several campaigns): the worker of its partition, when this
// process holds it, looks at once (other processes find it by polling). It
// never blocks.
func (p *Projector) Notify(campaignID string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if parts := p.store.Partitions(); campaignID != "" && parts > 0 {
		if w, ok := p.workers[domain.PartitionOf(campaignID, parts)]; ok {
			w.notify()
		}
		return
	}
	for _, w := range p.workers {
		w.notify()
	}
}

func (w *worker) notify() {
	w.notified.Add(1)
	select {
	case w.nudge <- struct{}{}:
	default:
	}
}

// wake tells the worker the poll found events of its partition.
func (w *worker) wake() {
	select {
	case w.found <- struct{}{}:
	default:
	}
}

// collect waits, after a notification, until DefaultBatchTarget events have
// been notified or Window has passed, so that a batch holds what arrived
// meanwhile: busy servers project in big batches, quiet ones within Window.
func (p *Projector) collect(w *worker) bool {
	deadline := time.Now().Add(p.window)
	for w.notified.Load() < DefaultBatchTarget {
		wait := time.Until(deadline)
		if wait <= 0 {
			break
		}
		t := time.NewTimer(min(wait, 5*time.Millisecond))
		select {
		case <-w.stop:
			t.Stop()
			return false
		case <-t.C:
		}
	}
	w.notified.Store(0)
	return true
}

// Run projects until ctx ends. Every LeaseTTL/5 it says this process is
// alive, renews the leases it holds, and takes its fair share of the
// partitions (the number of partitions over the live processes, rounded
// up): it takes partitions whose lease has expired or was released, and
// gives back those beyond its share. Each partition it holds is projected
// by a worker: after each notification (waiting Window to collect a batch)
// and every Poll. When ctx ends, each worker finishes the batch it has
// under way (none is started after), gives its lease back at once so that
// another process takes the partition at its next look, and Run returns.
func (p *Projector) Run(ctx context.Context) {
	every := max(p.leaseTTL/5, time.Millisecond)
	tick := time.NewTicker(every)
	defer tick.Stop()
	pctx, stopPoll := context.WithCancel(ctx)
	polled := make(chan struct{})
	go func() { defer close(polled); p.pollLoop(pctx) }()
	defer func() { stopPoll(); <-polled }()
	for {
		if _, err := p.Setup(ctx); err == nil {
			if err := p.claim(ctx); err != nil && ctx.Err() == nil {
				p.log.Error("projection partitions: claim failed; retried shortly", "err", err.Error())
			}
		} else if ctx.Err() == nil {
			p.log.Error("projection partitions: setup failed; retried shortly", "err", err.Error())
		}
		select {
		case <-ctx.Done():
			p.stopAll()
			lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
			_ = p.store.Leave(lctx, p.owner)
			cancel()
			return
		case <-tick.C:
		}
	}
}

// pollLoop looks, every Poll, for pending events of the partitions this
// process holds whose workers are idle (recorded by other processes, which
// notify only their own workers): one query per event collection for all
// of them, which wakes the workers of the partitions it finds.
func (p *Projector) pollLoop(ctx context.Context) {
	tick := time.NewTicker(p.poll)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		p.mu.Lock()
		idle := map[int]*worker{}
		var parts []int
		for part, w := range p.workers {
			if !w.busy.Load() {
				idle[part] = w
				parts = append(parts, part)
			}
		}
		p.mu.Unlock()
		if len(parts) == 0 {
			continue
		}
		found, err := p.store.PendingParts(ctx, parts)
		if err != nil {
			if ctx.Err() == nil {
				p.log.Warn("projection poll failed; retried shortly", "err", err.Error())
			}
			continue
		}
		for _, part := range found {
			if w, ok := idle[part]; ok {
				w.wake()
			}
		}
	}
}

// claim is one look at the partitions: heartbeat, renew, give back extras,
// take a fair share.
func (p *Projector) claim(ctx context.Context) error {
	now := p.clock()
	if err := p.store.Heartbeat(ctx, p.owner, now, p.leaseTTL); err != nil {
		return err
	}
	live, err := p.store.Live(ctx, now)
	if err != nil {
		return err
	}
	states, err := p.store.Leases(ctx)
	if err != nil {
		return err
	}
	share := (len(states) + live - 1) / live
	var mine, free []int
	for _, st := range states {
		switch {
		case st.Owner == p.owner && !st.LeaseUntil.Before(now):
			mine = append(mine, st.Part)
		case st.LeaseUntil.Before(now):
			free = append(free, st.Part)
		}
	}
	// Lost leases (expired and taken, or released by Flush elsewhere):
	// stop their workers.
	p.mu.Lock()
	for part, w := range p.workers {
		if !slices.Contains(mine, part) {
			close(w.stop)
			delete(p.workers, part)
		}
	}
	p.mu.Unlock()
	if err := p.store.Renew(ctx, mine, p.owner, now, p.leaseTTL); err != nil {
		return err
	}
	// Give back the partitions beyond the share: the highest numbers
	// first, after their batch under way (the worker releases its lease).
	for len(mine) > share {
		part := mine[len(mine)-1]
		mine = mine[:len(mine)-1]
		if !p.stopWorker(part, false) {
			if err := p.store.Release(ctx, part, p.owner); err != nil {
				return err
			}
		}
	}
	// Take free ones up to the share, starting at a place of this
	// process's own so that processes starting together collide less.
	if len(free) > 0 && len(mine) < share {
		start := int(fnv32(p.owner) % uint32(len(free)))
		for i := range free {
			if len(mine) >= share {
				break
			}
			part := free[(start+i)%len(free)]
			ok, err := p.store.Lease(ctx, part, p.owner, now, p.leaseTTL)
			if err != nil {
				return err
			}
			if ok {
				mine = append(mine, part)
			}
		}
	}
	// Events stored without a partition (by an older release, or a
	// conversion of one whose status changed since) are given theirs.
	if _, err := p.store.AdoptStrays(ctx); err != nil {
		return err
	}
	for _, part := range mine {
		p.startWorker(ctx, part)
	}
	return nil
}

func fnv32(s string) uint32 {
	h := uint32(2166136261)
	for i := 0; i < len(s); i++ {
		h ^= uint32(s[i])
		h *= 16777619
	}
	return h
}

// startWorker starts partition part's worker, unless it runs.
func (p *Projector) startWorker(ctx context.Context, part int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := p.workers[part]; ok {
		return
	}
	w := &worker{part: part, nudge: make(chan struct{}, 1), found: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	p.workers[part] = w
	go p.work(context.WithoutCancel(ctx), w)
	w.notify()
}

// stopWorker stops partition part's worker, waiting for it when wait; it
// reports whether there was one (which then releases the lease itself).
func (p *Projector) stopWorker(part int, wait bool) bool {
	p.mu.Lock()
	w, ok := p.workers[part]
	if ok {
		close(w.stop)
		delete(p.workers, part)
	}
	p.mu.Unlock()
	if ok && wait {
		<-w.done
	}
	return ok
}

// stopAll stops every worker and waits for them: each finishes its batch
// under way and releases its lease.
func (p *Projector) stopAll() {
	p.mu.Lock()
	ws := make([]*worker, 0, len(p.workers))
	for part, w := range p.workers {
		close(w.stop)
		delete(p.workers, part)
		ws = append(ws, w)
	}
	p.mu.Unlock()
	for _, w := range ws {
		<-w.done
	}
}

// work projects partition w.part until stopped, then releases its lease:
// after each notification (waiting Window to collect a batch) and whenever
// the poll finds events of the partition.
// Store errors are logged and retried on the next pass, with a backoff;
// nothing is lost meanwhile, the events stay pending.
func (p *Projector) work(ctx context.Context, w *worker) {
	defer close(w.done)
	defer func() {
		rctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		if err := p.store.Release(rctx, w.part, p.owner); err != nil {
			p.log.Warn("projection partition not released; another process takes it when its lease ends", "partition", w.part, "err", err.Error())
		}
	}()
	backoff := time.Duration(0)
	for {
		select {
		case <-w.stop:
			return
		case <-w.nudge:
			if !p.collect(w) {
				return
			}
		case <-w.found:
		}
		w.busy.Store(true)
		err := p.drain(ctx, w.part, w.stop)
		w.busy.Store(false)
		if err != nil {
			backoff = min(max(2*backoff, 50*time.Millisecond), 5*time.Second)
			p.log.Error("projection pass failed; the events stay pending and are retried", "partition", w.part, "err", err.Error(), "retryIn", backoff.String())
			t := time.NewTimer(backoff)
			select {
			case <-w.stop:
				t.Stop()
				return
			case <-t.C:
			}
			w.notify()
			continue
		}
		backoff = 0
	}
}

// drain applies partition part's batches until none is pending, another
// process holds its lease, or stop is closed (the batch under way is
// finished first). Each batch's store calls are bounded by stepTimeout.
func (p *Projector) drain(ctx context.Context, part int, stop <-chan struct{}) error {
	var next *domain.Batch
	for {
		sctx, cancel := context.WithTimeout(ctx, stepTimeout)
		n, started, err := p.stepKnown(sctx, part, next)
		cancel()
		next = started
		if err != nil || (n < p.batchSize && next == nil) {
			return err
		}
		select {
		case <-stop:
			return nil
		default:
		}
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

// Drain applies partition part's batches until none is pending or another
// process holds its lease.
func (p *Projector) Drain(ctx context.Context, part int) error {
	var next *domain.Batch
	for {
		n, started, err := p.stepKnown(ctx, part, next)
		next = started
		if err != nil || (n < p.batchSize && next == nil) {
			return err
		}
	}
}

// DrainAll is Drain of every partition, one after the other; the first
// error ends it.
func (p *Projector) DrainAll(ctx context.Context) error {
	parts, err := p.Setup(ctx)
	if err != nil {
		return err
	}
	for part := range parts {
		if err := p.Drain(ctx, part); err != nil {
			return err
		}
	}
	return nil
}

// Flush returns once every event pending when it was called is projected,
// in every partition, by this process or another: tests and `tally verify
// -repair` use it. It projects the partitions no live process holds.
func (p *Projector) Flush(ctx context.Context) error {
	if _, err := p.Setup(ctx); err != nil {
		return err
	}
	for {
		if _, err := p.store.AdoptStrays(ctx); err != nil {
			return err
		}
		if err := p.DrainAll(ctx); err != nil {
			return err
		}
		states, err := p.store.States(ctx)
		if err != nil {
			return err
		}
		pending, err := p.store.PendingAny(ctx, 1)
		if err != nil {
			return err
		}
		if len(pending) == 0 && !slices.ContainsFunc(states, func(s domain.ProjectionState) bool { return s.InFlight != nil }) {
			return nil
		}
		if !sleep(ctx, 5*time.Millisecond) {
			return ctx.Err()
		}
	}
}

// errRace is a step that lost a race to start a batch: look again.
var errRace = errors.New("another step started the batch")

// Step applies at most one batch of partition part and reports how many
// events it held: 0 when nothing is pending or another process holds the
// partition's lease.
func (p *Projector) Step(ctx context.Context, part int) (int, error) {
	n, _, err := p.stepKnown(ctx, part, nil)
	return n, err
}

// stepKnown is Step, given the batch in flight when the previous step
// started it (nil: read the partition's state), and returns the batch it
// started in flight, if it did.
func (p *Projector) stepKnown(ctx context.Context, part int, known *domain.Batch) (int, *domain.Batch, error) {
	if _, err := p.Setup(ctx); err != nil {
		return 0, nil, err
	}
	for {
		n, next, err := p.step(ctx, part, known)
		if errors.Is(err, errRace) {
			known = nil
			continue
		}
		return n, next, err
	}
}

// notifiedFor is how many events were notified to part's worker since its
// last pass (0 without one).
func (p *Projector) notifiedFor(part int) *atomic.Int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	if w, ok := p.workers[part]; ok {
		return &w.notified
	}
	return new(atomic.Int64)
}

// step applies one batch: known, the batch this process started in flight
// with its last step's write (it holds the lease: no state to read), or
// else the batch in flight in the partition's state, or else a new one.
func (p *Projector) step(ctx context.Context, part int, known *domain.Batch) (int, *domain.Batch, error) {
	b := known
	if b == nil {
		st, err := p.store.State(ctx, part)
		if err != nil {
			return 0, nil, err
		}
		// Look for work before taking the lease: a partition with nothing
		// to do costs two reads and no write.
		var events []domain.EventRecord
		if st.InFlight == nil {
			if events, err = p.store.Pending(ctx, part, p.maxBatch); err != nil || len(events) == 0 {
				return 0, nil, err
			}
		}
		now := p.clock()
		if st.Owner != p.owner || st.LeaseUntil.Sub(now) < p.leaseTTL/2 {
			ok, err := p.store.Lease(ctx, part, p.owner, now, p.leaseTTL)
			if err != nil || !ok {
				return 0, nil, err
			}
		}
		b = st.InFlight
		if b == nil {
			b = &domain.Batch{Part: part, N: st.Applied + 1, Events: events}
			ok, err := p.store.StartBatch(ctx, p.owner, *b)
			if err != nil {
				return 0, nil, err
			}
			if !ok {
				return 0, nil, errRace
			}
		}
	}
	if err := p.apply(ctx, *b); err != nil {
		return 0, nil, fmt.Errorf("apply batch %d of partition %d: %w", b.N, part, err)
	}
	// Finish the batch; when enough events for another are pending (a
	// backlog, or a busy server), start the next one in the same write.
	// A batch takes every pending event up to MaxBatch: it grows with the
	// backlog, and its writes (about ten, whatever it holds) are shared by
	// more events the further behind the partition is.
	var next *domain.Batch
	notified := p.notifiedFor(part)
	if len(b.Events) >= p.batchSize || notified.Load() >= DefaultBatchTarget {
		events, err := p.store.Pending(ctx, part, p.maxBatch)
		if err != nil {
			return 0, nil, err
		}
		if len(events) >= DefaultBatchTarget || len(events) >= p.batchSize {
			notified.Store(0)
			nb := &domain.Batch{Part: part, N: b.N + 1, Events: events}
			ok, err := p.store.FinishAndStart(ctx, b.N, p.owner, *nb)
			if err != nil {
				return 0, nil, err
			}
			if ok {
				next = nb
			}
		}
	}
	if next == nil {
		if err := p.store.FinishBatch(ctx, part, b.N); err != nil {
			return 0, nil, err
		}
	}
	p.observe(*b)
	if p.onApplied != nil {
		p.onApplied(*b)
	}
	return len(b.Events), next, nil
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
		// From the step this batch projects: a conversion's last status
		// change, not its recording (a sale approved a week later waited
		// no week), as the backlog's oldest pending event is dated.
		d := max(now.Sub(e.OrderAt()), 0)
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

// LagWindow returns the lags of the recent events this process projected
// (the last lagWindow), in no order: load measurements merge them.
func (p *Projector) LagWindow() []time.Duration {
	p.lag.mu.Lock()
	defer p.lag.mu.Unlock()
	return slices.Clone(p.lag.ring)
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
