package live

import (
	"context"
	"log/slog"
	"time"
)

// DefaultFollowEvery is how often Follow reads the high-water mark.
const DefaultFollowEvery = 250 * time.Millisecond

// Follow fans live updates out across processes through the database:
// until ctx ends it reads, every every (DefaultFollowEvery when <= 0), the
// number of the last batch applied (read; repository.AppliedMark), and when
// it has moved past every batch this process applied or saw, it wakes every
// subscription of this process. Each re-reads its object and pushes it
// only if it changed, so the subscriptions of a process that does not
// project get each update within a poll and a read. A failed read wakes
// every subscription once (the first of a run of failures): a subscription
// whose own read fails then ends with an error, rather than waiting in
// silence for batches nobody can see.
func (b *Broker) Follow(ctx context.Context, read func(context.Context) (int64, error), every time.Duration, log *slog.Logger) {
	if every <= 0 {
		every = DefaultFollowEvery
	}
	t := time.NewTicker(every)
	defer t.Stop()
	failing := false
	for {
		n, err := read(ctx)
		switch {
		case err == nil:
			failing = false
			b.advanced(n)
		case ctx.Err() != nil:
			return
		case !failing:
			failing = true
			if log != nil {
				log.WarnContext(ctx, "live fan-out: applied batch not read", "err", err.Error())
			}
			b.mu.Lock()
			b.notifyAll()
			b.mu.Unlock()
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
