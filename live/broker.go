// Package live pushes dashboard updates: the projector tells the Broker which
// campaigns and participations each batch it applied touched, and the
// Service's subscriptions re-read those objects, through the same service
// methods and authorization as their queries, for every subscriber.
package live

import (
	"sync"
	"time"

	"tally/domain"
)

// DefaultMaxPerUser is how many live subscriptions one user may hold at once
// on one server when the configuration does not say
// (LIVE_SUBSCRIPTIONS_PER_USER).
const DefaultMaxPerUser = 10

// Broker is the in-process fan-out from the projector to subscriptions. It
// never blocks the projector: each subscription holds at most one pending
// notification, so several batches that land while a subscriber is busy
// come to one re-read of the latest state.
type Broker struct {
	maxPerUser int

	mu      sync.Mutex
	closed  bool
	topics  map[topic]map[*subscription]struct{}
	perUser map[string]int // subscriptions
	conns   map[string]int // WebSocket connections
	seen    int64          // the last high-water mark (the partitions' applied batches, summed) whose subscribers were notified
	broken  error          // set while the fan-out has not read the mark for GiveUpAfter

	// GiveUpAfter is how long Follow may fail to read the applied mark
	// before it ends every subscription with SERVICE_UNAVAILABLE and
	// refuses new ones until a read succeeds again (DefaultGiveUpAfter
	// when <= 0). Set it before Follow starts.
	GiveUpAfter time.Duration
}

type topic struct {
	kind domain.NodeKind
	id   string
}

type subscription struct {
	b      *Broker
	topic  topic
	userID string
	notify chan struct{} // capacity 1: "something changed", coalesced
	done   chan struct{} // closed when the subscription must end (stop)
	err    error         // why, written before done is closed
	once   sync.Once     // cancel
	ended  sync.Once     // stop
}

// stop ends the subscription's stream with err; the first call wins.
func (s *subscription) stop(err error) {
	s.ended.Do(func() {
		s.err = err
		close(s.done)
	})
}

// NewBroker returns a broker that allows maxPerUser subscriptions per user at
// once (DefaultMaxPerUser when maxPerUser <= 0).
func NewBroker(maxPerUser int) *Broker {
	if maxPerUser <= 0 {
		maxPerUser = DefaultMaxPerUser
	}
	return &Broker{maxPerUser: maxPerUser, topics: map[topic]map[*subscription]struct{}{},
		perUser: map[string]int{}, conns: map[string]int{}}
}

// Connect takes one of userID's places for a live connection (a
// WebSocket, which may carry several subscriptions): a user holds at most
// MaxPerUser connections at once, as many as subscriptions, so that idle
// connections cannot pile up either. RATE_LIMITED beyond; release gives the
// place back (call it once the connection has ended; more calls do nothing).
func (b *Broker) Connect(userID string) (release func(), err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil, domain.Errorf(domain.EUNAVAILABLE, "the server is shutting down; connect again shortly")
	}
	if b.conns[userID] >= b.maxPerUser {
		return nil, domain.Errorf(domain.ERATELIMITED, "at most %d live connections per user at once", b.maxPerUser)
	}
	b.conns[userID]++
	return sync.OnceFunc(func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		if b.conns[userID]--; b.conns[userID] <= 0 {
			delete(b.conns, userID)
		}
	}), nil
}

// MaxPerUser is the per-user limit on subscriptions, and on connections.
func (b *Broker) MaxPerUser() int { return b.maxPerUser }

// Applied is the projector's OnApplied hook: it notifies the subscriptions
// of every campaign and participation the batch's events counted for, and
// of those campaigns' alerts.
func (b *Broker) Applied(batch domain.Batch) {
	touched := map[topic]struct{}{}
	for _, e := range batch.Events {
		if e.CampaignID != "" {
			touched[topic{domain.NodeCampaign, e.CampaignID}] = struct{}{}
			touched[topic{alertsTopic, e.CampaignID}] = struct{}{}
		}
		if e.ParticipationID != "" {
			touched[topic{domain.NodeParticipation, e.ParticipationID}] = struct{}{}
		}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	// (seen is not moved: batch.N numbers one partition's batches, the
	// mark sums every partition's, so the next poll wakes every
	// subscription once, and each pushes only what changed)
	for t := range touched {
		for s := range b.topics[t] {
			select {
			case s.notify <- struct{}{}:
			default: // one is pending already
			}
		}
	}
}

// advanced is the fan-out's report that batches up to n are applied,
// some by another process: when n is past every batch this process saw
// applied, every subscription re-reads (each pushes only what changed).
func (b *Broker) advanced(n int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if n <= b.seen {
		return // applied here, or seen already
	}
	b.seen = n
	b.notifyAll()
}

// notifyAll wakes every subscription; b.mu is held.
func (b *Broker) notifyAll() {
	for _, subs := range b.topics {
		for s := range subs {
			select {
			case s.notify <- struct{}{}:
			default: // one is pending already
			}
		}
	}
}

// subscribe registers a subscription of userID to t: RATE_LIMITED when the
// user holds the most already, SERVICE_UNAVAILABLE once the broker is
// closed.
func (b *Broker) subscribe(userID string, t topic) (*subscription, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil, domain.Errorf(domain.EUNAVAILABLE, "the server is shutting down; subscribe again shortly")
	}
	if b.broken != nil {
		return nil, b.broken
	}
	if b.perUser[userID] >= b.maxPerUser {
		return nil, domain.Errorf(domain.ERATELIMITED, "at most %d live subscriptions per user at once; end one first", b.maxPerUser)
	}
	s := &subscription{b: b, topic: t, userID: userID, notify: make(chan struct{}, 1), done: make(chan struct{})}
	if b.topics[t] == nil {
		b.topics[t] = map[*subscription]struct{}{}
	}
	b.topics[t][s] = struct{}{}
	b.perUser[userID]++
	return s, nil
}

// cancel removes the subscription; it may be called more than once.
func (s *subscription) cancel() {
	s.once.Do(func() {
		b := s.b
		b.mu.Lock()
		defer b.mu.Unlock()
		delete(b.topics[s.topic], s)
		if len(b.topics[s.topic]) == 0 {
			delete(b.topics, s.topic)
		}
		if b.perUser[s.userID]--; b.perUser[s.userID] <= 0 {
			delete(b.perUser, s.userID)
		}
	})
}

// Active is how many subscriptions userID holds now.
func (b *Broker) Active(userID string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.perUser[userID]
}

// Close ends every subscription with SERVICE_UNAVAILABLE ("subscribe
// again") and refuses new ones: the server is shutting down, and open
// streams must not hold it.
func (b *Broker) Close() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return
	}
	b.closed = true
	for _, subs := range b.topics {
		for s := range subs {
			s.stop(errShuttingDown)
		}
	}
}

// errShuttingDown ends the streams of a server that shuts down: the client
// is told to subscribe again (to another process, or to this one once it
// is back), rather than seeing its stream complete as if nothing more
// would ever change.
var errShuttingDown = domain.Errorf(domain.EUNAVAILABLE, "the server is shutting down; subscribe again shortly")

// breakAll ends every subscription with err and refuses new ones with it
// until mend: this process cannot see the batches applied in the database,
// so its subscriptions would wait in silence.
func (b *Broker) breakAll(err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.broken = err
	for _, subs := range b.topics {
		for s := range subs {
			s.stop(err)
		}
	}
}

// mend takes subscriptions again once the fan-out reads the mark.
func (b *Broker) mend() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.broken = nil
}
