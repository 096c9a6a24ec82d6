package live

import (
	"context"
	"log/slog"
	"time"

	"tally/domain"
)

// DefaultFollowEvery is how often Follow reads the high-water mark.
const DefaultFollowEvery = 250 * time.Millisecond

// DefaultGiveUpAfter is how long Follow may fail to read the mark before
// the subscriptions end (Broker.GiveUpAfter).
const DefaultGiveUpAfter = 10 * time.Second

// errUnfollowed ends the subscriptions of a process that cannot read the
// applied mark: they would miss every update applied by another process.
var errUnfollowed = domain.Errorf(domain.EUNAVAILABLE,
	"live updates stopped: this server cannot follow the updates applied in the database; subscribe again shortly")

// Follow fans live updates out across processes through the database:
// until ctx ends it reads, every every (DefaultFollowEvery when <= 0), the
// number of the last batch applied (read; repository.AppliedMark), and when
// it has moved past every batch this process applied or saw, it wakes every
// subscription of this process. Each re-reads its object and pushes it
// only if it changed, so the subscriptions of a process that does not
// project get each update within a poll and a read. A failed read wakes
// every subscription once (the first of a run of failures): a subscription
// whose own read fails then ends with an error, rather than waiting in
// silence for batches nobody can see. When reads keep failing for
// b.GiveUpAfter, every subscription ends with SERVICE_UNAVAILABLE and new
// ones are refused with it until a read succeeds: the objects may still
// be readable, but no update from another process would reach them.
func (b *Broker) Follow(ctx context.Context, read func(context.Context) (int64, error), every time.Duration, log *slog.Logger) {
	if every <= 0 {
		every = DefaultFollowEvery
	}
	t := time.NewTicker(every)
	defer t.Stop()
	giveUp := b.GiveUpAfter
	if giveUp <= 0 {
		giveUp = DefaultGiveUpAfter
	}
	var failingSince time.Time // zero while reads succeed
	for {
		n, err := read(ctx)
		switch {
		case err == nil:
			if !failingSince.IsZero() {
				failingSince = time.Time{}
				b.mend()
			}
			b.advanced(n)
		case ctx.Err() != nil:
			return
		case failingSince.IsZero():
			failingSince = time.Now()
			if log != nil {
				log.WarnContext(ctx, "live fan-out: applied batch not read", "err", err.Error())
			}
			b.mu.Lock()
			b.notifyAll()
			b.mu.Unlock()
		case time.Since(failingSince) >= giveUp:
			if log != nil && b.isWhole() {
				log.ErrorContext(ctx, "live fan-out: applied batch not read for too long; ending live subscriptions",
					"since", failingSince, "err", err.Error())
			}
			b.breakAll(errUnfollowed)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// isWhole reports whether the broker takes subscriptions (it has not given
// up on the fan-out).
func (b *Broker) isWhole() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.broken == nil
}
