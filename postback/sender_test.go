package postback_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/bson/primitive"

	"tally/domain"
	"tally/postback"
	"tally/repository"
	"tally/repository/repotest"
)

// fixture is a store with one campaign whose postbacks go to a real
// receiver, and the outbox the projector would write into.
type fixture struct {
	store    *repository.Store
	outbox   *repository.Outbox
	campaign domain.Campaign
	mu       sync.Mutex
	keys     []string // Idempotency-Key of every request received, in order
}

func mustFixture(t *testing.T, answer http.HandlerFunc) *fixture {
	t.Helper()
	f := &fixture{store: repotest.MustOpen(t)}
	f.outbox = repository.NewOutbox(f.store)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.keys = append(f.keys, r.Header.Get(postback.HeaderIdempotencyKey))
		f.mu.Unlock()
		answer(w, r)
	}))
	t.Cleanup(srv.Close)
	ctx := context.Background()
	campaigns := repository.NewCampaigns(f.store)
	name, landing := "Sender", "https://shop.example/"
	c, err := campaigns.Create(ctx, primitive.NewObjectID().Hex(), domain.CampaignInput{Name: &name, LandingURL: &landing}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	tpl := srv.URL + "/pb?c={click_id}"
	if f.campaign, err = campaigns.SetPostback(ctx, c.ID, domain.PostbackInput{URL: &tpl}, time.Now()); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *fixture) enqueue(t *testing.T, keys ...string) {
	t.Helper()
	ds := make([]domain.Delivery, len(keys))
	for i, k := range keys {
		ds[i] = domain.Delivery{Key: k, CampaignID: f.campaign.ID, ConversionID: k, GoalID: "g", Event: domain.DeliveryNew,
			Values: map[string]string{"click_id": "clk-" + k}, CreatedAt: time.Now().Add(-time.Second)}
	}
	if err := f.outbox.Enqueue(context.Background(), ds); err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) received() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.keys...)
}

func (f *fixture) sender(o postback.Options) *postback.Sender {
	o.AllowPrivate = true
	if o.Poll == 0 {
		o.Poll = 5 * time.Millisecond
	}
	if o.Timeout == 0 {
		o.Timeout = time.Second
	}
	return postback.New(f.store, slog.New(slog.NewTextHandler(io.Discard, nil)), o)
}

// TestStoppedSender: a sender stopped while a request is under way records
// nothing; its claim holds the delivery until the lease expires, then the
// next sender delivers it, with the same Idempotency-Key.
func TestStoppedSender(t *testing.T) {
	first := make(chan struct{})
	var once sync.Once
	f := mustFixture(t, func(w http.ResponseWriter, r *http.Request) {
		isFirst := false
		once.Do(func() { isFirst = true; close(first) })
		if isFirst {
			<-r.Context().Done() // hangs until the sender goes away
			return
		}
		_, _ = io.WriteString(w, "ok")
	})
	f.enqueue(t, "stop:1")
	ctx := context.Background()

	rctx, stop := context.WithCancel(ctx)
	ran := make(chan struct{})
	// The lease is an hour, so that however slowly a busy machine runs this
	// test, the claim is still held below until the clock is moved past it.
	const lease = time.Hour
	go func() { defer close(ran); f.sender(postback.Options{Lease: lease}).Run(rctx) }()
	select {
	case <-first:
	case <-time.After(2 * time.Minute):
		t.Fatal("the first sender never sent")
	}
	stop()
	<-ran

	e, err := f.outbox.Get(ctx, "stop:1")
	if err != nil {
		t.Fatal(err)
	}
	if e.State != domain.DeliverySending || e.Attempts != 1 || len(e.Log) != 0 {
		t.Fatalf("after the stop: state %s, attempts %d, log %d; want sending, 1, none", e.State, e.Attempts, len(e.Log))
	}
	// Before the claim expires nobody else takes it.
	if sent, err := f.sender(postback.Options{Lease: lease}).Step(ctx); err != nil || sent {
		t.Fatalf("a sender took a claimed delivery: sent %v, err %v", sent, err)
	}
	// After it expires (a clock past the lease), the next sender delivers it.
	later := func() time.Time { return time.Now().Add(lease + time.Minute) }
	if sent, err := f.sender(postback.Options{Lease: lease, Clock: later}).Step(ctx); err != nil || !sent {
		t.Fatalf("the next sender: sent %v, err %v", sent, err)
	}
	e, err = f.outbox.Get(ctx, "stop:1")
	if err != nil {
		t.Fatal(err)
	}
	if e.State != domain.DeliveryDelivered || e.Attempts != 2 || len(e.Log) != 1 || e.Log[0].N != 2 || e.Log[0].StatusCode != 200 {
		t.Errorf("delivered: state %s, attempts %d, log %+v", e.State, e.Attempts, e.Log)
	}
	keys := f.received()
	if len(keys) != 2 || keys[0] != "stop:1" || keys[1] != "stop:1" {
		t.Errorf("Idempotency-Keys received: %q, want stop:1 twice", keys)
	}
}

// TestStaleClaim: a sender whose claim expired and was taken over cannot
// record its attempt over the new claim's.
func TestStaleClaim(t *testing.T) {
	f := mustFixture(t, func(w http.ResponseWriter, _ *http.Request) {})
	f.enqueue(t, "stale:1")
	ctx, now := context.Background(), time.Now()
	if _, ok, err := f.outbox.Claim(ctx, now, time.Second, "A"); err != nil || !ok {
		t.Fatalf("claim A: %v %v", ok, err)
	}
	if _, ok, err := f.outbox.Claim(ctx, now.Add(500*time.Millisecond), time.Second, "B"); err != nil || ok {
		t.Fatalf("claim B before A's lease expired: ok %v, err %v", ok, err)
	}
	e, ok, err := f.outbox.Claim(ctx, now.Add(2*time.Second), time.Second, "B")
	if err != nil || !ok {
		t.Fatalf("claim B after A's lease expired: %v %v", ok, err)
	}
	done := repository.Outcome{State: domain.DeliveryDelivered, NextAt: now, Now: now, Attempt: &domain.Attempt{N: 1, At: now, StatusCode: 200}}
	if ok, err := f.outbox.Settle(ctx, e.Key, "A", done); err != nil || ok {
		t.Errorf("settle with the stale claim A: ok %v, err %v; want refused", ok, err)
	}
	done.Attempt.N = 2
	if ok, err := f.outbox.Settle(ctx, e.Key, "B", done); err != nil || !ok {
		t.Errorf("settle with claim B: ok %v, err %v", ok, err)
	}
}

// TestSendersRace: many senders step at once over one outbox; every
// delivery is sent exactly once.
func TestSendersRace(t *testing.T) {
	f := mustFixture(t, func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") })
	const n = 30
	keys := make([]string, n)
	for i := range keys {
		keys[i] = "race-" + string(rune('a'+i%26)) + string(rune('a'+i/26)) + ":1"
	}
	f.enqueue(t, keys...)
	repotest.Race(t, 8, func(int) {
		s := f.sender(postback.Options{})
		for {
			sent, err := s.Step(context.Background())
			if err != nil {
				t.Errorf("step: %v", err)
				return
			}
			if !sent {
				return
			}
		}
	})
	per := map[string]int{}
	for _, k := range f.received() {
		per[k]++
	}
	for _, k := range keys {
		if per[k] != 1 {
			t.Errorf("%s sent %d times, want 1", k, per[k])
		}
	}
}

func TestPublic(t *testing.T) {
	for _, tc := range []struct {
		addr string
		want bool
	}{
		{"93.184.216.34", true},
		{"2606:2800:220:1:248:1893:25c8:1946", true},
		{"127.0.0.1", false},
		{"::1", false},
		{"10.1.2.3", false},
		{"172.16.0.1", false},
		{"192.168.1.1", false},
		{"169.254.169.254", false}, // cloud metadata
		{"fe80::1", false},
		{"fc00::1", false},
		{"0.0.0.0", false},
		{"::", false},
		{"224.0.0.1", false},
		{"ff02::1", false},
		{"100.64.0.1", false},
		{"255.255.255.255", false},
		{"::ffff:127.0.0.1", false}, // IPv4-mapped loopback
		{"::ffff:10.0.0.1", false},
	} {
		if got := postback.Public(netip.MustParseAddr(tc.addr)); got != tc.want {
			t.Errorf("Public(%s): got %v, want %v", tc.addr, got, tc.want)
		}
	}
}

// TestSignature pins the example of docs/postbacks.md.
func TestSignature(t *testing.T) {
	const secret, ts, payload = "pbs_example", int64(1764576000), "click=abc&status=approved"
	sig := postback.Sign(secret, ts, []byte(payload))
	if want := "sha256=aa8ad0a0fd4ec3108efafc6c2b1dce849a8427a6a39af759654ee9b44b28646f"; sig != want {
		t.Errorf("signature of the docs' example: got %s, want %s", sig, want)
	}
	at := time.Unix(ts, 0)
	if !postback.Verify(secret, "1764576000", sig, []byte(payload), at.Add(time.Minute), 5*time.Minute) {
		t.Error("the signature does not verify")
	}
	if postback.Verify(secret, "1764576000", sig, []byte(payload+"x"), at, 5*time.Minute) {
		t.Error("a changed payload verifies")
	}
	if postback.Verify(secret, "1764576001", sig, []byte(payload), at, 5*time.Minute) {
		t.Error("a changed timestamp verifies")
	}
	if postback.Verify(secret, "1764576000", sig, []byte(payload), at.Add(time.Hour), 5*time.Minute) {
		t.Error("an old request verifies")
	}
}
