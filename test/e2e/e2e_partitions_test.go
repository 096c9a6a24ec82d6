package e2e

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/primitive"

	"tally/domain"
	"tally/projection"
	"tally/repository"
	"tally/repository/repotest"
)

// sharedStores opens n stores on one database: on a server engine n
// clients, as n processes would have; on the embedded engine the one store.
func sharedStores(t *testing.T, n int, fault repository.Fault) []*repository.Store {
	t.Helper()
	opts := repotest.Options(t)
	opts.Fault = fault
	first := repotest.MustOpenWith(t, opts)
	out := []*repository.Store{first}
	for range n - 1 {
		if opts.URI == "" {
			out = append(out, first)
			continue
		}
		out = append(out, repotest.MustOpenWith(t, opts))
	}
	return out
}

// owners returns each partition's lease holder ("" when released).
func owners(t testing.TB, s *repository.Store) []string {
	t.Helper()
	states, err := repository.NewProjection(s).States(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	out := make([]string, len(states))
	for i, st := range states {
		out[i] = st.Owner
	}
	return out
}

func count(owners []string, owner string) int {
	n := 0
	for _, o := range owners {
		if o == owner {
			n++
		}
	}
	return n
}

// campaignsInEveryPartition creates campaigns until every one of parts
// partitions has one, each joined by streamer, and returns the
// participations' tokens by campaign id.
func (a *testApp) campaignsInEveryPartition(brand, streamer testUser, parts int) map[string]string {
	a.t.Helper()
	toks := map[string]string{}
	seen := map[int]bool{}
	for i := 0; len(seen) < parts; i++ {
		c := a.mustBudgetCampaign(brand, fmt.Sprintf("Partition %d", i), "100000.00")
		toks[c.ID] = token(a.t, a.mustJoin(streamer, c.ID))
		seen[domain.PartitionOf(c.ID, parts)] = true
	}
	return toks
}

// TestThreeProjectorsInPartitions: three servers on one database project
// its partitions at once, with leases short enough to change hands and a
// fault after every fifth bulk write has landed (a batch fails midway and
// is finished by whoever holds the partition next). Clicks on campaigns in
// every partition, all for one streamer, race through all three: each
// campaign's counts and the streamer's daily bucket, which every partition
// writes, are exact, and verify finds no drift.
func TestThreeProjectorsInPartitions(t *testing.T) {
	t.Parallel()
	var bulks atomic.Int64
	var faulty atomic.Bool
	stores := sharedStores(t, 3, func(op string, after bool) error {
		if faulty.Load() && after && op == "bulkWrite" && bulks.Add(1)%5 == 0 {
			return fmt.Errorf("injected timeout after %s landed: %w", op, context.DeadlineExceeded)
		}
		return nil
	})
	const parts = 4
	apps := make([]*testApp, 3)
	for i := range apps {
		apps[i] = mustStartAppOn(t, stores[i], withProjector(projection.Options{Owner: fmt.Sprint("p", i), Partitions: parts,
			LeaseTTL: 100 * time.Millisecond, Poll: 10 * time.Millisecond, BatchSize: 16}))
	}
	a := apps[0]
	brand, streamer := a.mustSignUp("BRAND"), a.mustSignUp("STREAMER")
	toks := a.campaignsInEveryPartition(brand, streamer, parts)
	var ids []string
	for id := range toks {
		ids = append(ids, id)
	}
	faulty.Store(true)
	const distinct = 240
	var clicks tally
	race(t, 2*distinct, func(i int) {
		k := i % distinct
		id := ids[k%len(ids)]
		clicks.click(t, apps[i%3], toks[id], fmt.Sprintf("three-%d", k))
	})
	clicks.want(t, distinct)
	eventually(t, func() bool { return bulks.Load() >= 10 }, "bulk writes faulted")
	faulty.Store(false)
	for _, app := range apps {
		app.project()
	}
	perCampaign := map[string]int{}
	for k := range distinct {
		perCampaign[ids[k%len(ids)]]++
	}
	for id, want := range perCampaign {
		wantField(t, "clicks of campaign "+id, a.totals(brand, id).Campaign.Stats.Clicks, want)
	}
	var d dailyData
	a.mustDo(streamer.Token, dailyStatsQuery, map[string]any{"scope": "STREAMER", "id": streamer.ID, "from": "2026-11-23", "to": "2026-11-23"}, &d)
	wantField(t, "the streamer's daily clicks", d.DailyStats[0].Clicks, distinct)
	wantField(t, "the streamer's daily earnings", d.DailyStats[0].Earnings.Amount, fmt.Sprintf("%d.00", distinct))
	a.wantVerified()
}

// TestPartitionTakeover: the partitions of a process that died (it holds
// every lease and stopped renewing) stay its own until their leases expire
// by the projector's clock, then another process takes them over and
// projects what waited. The clock is moved, not waited for.
func TestPartitionTakeover(t *testing.T) {
	t.Parallel()
	stores := sharedStores(t, 2, nil)
	ctx := context.Background()
	leases := &testClock{now: time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)}
	const ttl = 5 * time.Second
	dead := repository.NewProjection(stores[0])
	parts, err := dead.Setup(ctx, 4)
	if err != nil {
		t.Fatal(err)
	}
	if err := dead.Heartbeat(ctx, "dead", leases.Now(), ttl); err != nil {
		t.Fatal(err)
	}
	for p := range parts {
		if ok, err := dead.Lease(ctx, p, "dead", leases.Now(), ttl); err != nil || !ok {
			t.Fatalf("lease %d: ok %v, err %v", p, ok, err)
		}
	}
	b := mustStartAppOn(t, stores[1], withProjector(projection.Options{Owner: "b", Clock: leases.Now, LeaseTTL: ttl, Poll: 10 * time.Millisecond}))
	brand, streamer := b.mustSignUp("BRAND"), b.mustSignUp("STREAMER")
	c := b.mustBudgetCampaign(brand, "Orphaned", "100.00")
	b.mustClick(token(t, b.mustJoin(streamer, c.ID)), "waits")
	part := domain.PartitionOf(c.ID, parts)
	if n, err := b.projector.Step(ctx, part); err != nil || n != 0 {
		t.Fatalf("a step on a partition whose lease is live: %d events, err %v; want 0, nil", n, err)
	}
	wantField(t, "BILLED clicks while the lease is live", b.billings(domain.EventClick)[domain.BillingBilled], 0)
	leases.Advance(ttl + time.Second)
	eventually(t, func() bool { return count(owners(t, stores[0]), "b") == parts }, "b holds every partition")
	eventually(t, func() bool { return b.billings(domain.EventClick)[domain.BillingBilled] == 1 }, "the click billed")
	b.wantVerified()
}

// TestGracefulHandover: a process that stops gracefully finishes its
// batches and releases its leases at once: the other takes its partitions
// although no lease can expire (the projectors' clock never moves), and
// projects what is recorded after.
func TestGracefulHandover(t *testing.T) {
	t.Parallel()
	stores := sharedStores(t, 2, nil)
	frozen := &testClock{now: time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)}
	const parts = 4
	opts := func(owner string) appOption {
		return withProjector(projection.Options{Owner: owner, Clock: frozen.Now, LeaseTTL: 250 * time.Millisecond, Poll: 10 * time.Millisecond, Partitions: parts})
	}
	a := mustStartAppOn(t, stores[0], opts("a"))
	eventually(t, func() bool { return count(owners(t, stores[0]), "a") == parts }, "a alone holds every partition")
	b := mustStartAppOn(t, stores[1], opts("b"))
	eventually(t, func() bool {
		o := owners(t, stores[0])
		return count(o, "a") == parts/2 && count(o, "b") == parts/2
	}, "a and b hold half each")
	brand, streamer := b.mustSignUp("BRAND"), b.mustSignUp("STREAMER")
	toks := b.campaignsInEveryPartition(brand, streamer, parts)
	i := 0
	for _, tok := range toks {
		a.mustClick(tok, fmt.Sprint("before-", i))
		i++
	}
	a.stop()
	wantField(t, "partitions a holds after its graceful stop", count(owners(t, stores[0]), "a"), 0)
	eventually(t, func() bool { return count(owners(t, stores[0]), "b") == parts }, "b takes a's partitions (no lease expired: a released them)")
	for _, tok := range toks {
		b.mustClick(tok, fmt.Sprint("after-", i))
		i++
	}
	eventually(t, func() bool { return b.billings(domain.EventClick)[domain.BillingBilled] == i }, "every click billed by b")
	b.wantVerified()
}

// TestMigrationToPartitions: a database an older release projected with
// one state document — batch 8 in flight, which had reached one of its two
// campaigns when that process died, and pending events stored without a
// partition — is taken over by this release: each partition finishes its
// part of batch 8 (the campaign it reached is not billed twice), every
// pending event is projected exactly once, and verify finds no drift.
func TestMigrationToPartitions(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store := repotest.MustOpen(t)
	old := mustStartAppOn(t, store, withManualProjection())
	brand, streamer := old.mustSignUp("BRAND"), old.mustSignUp("STREAMER")
	ca := old.mustBudgetCampaign(brand, "Old A", "100.00")
	cb := old.mustBudgetCampaign(brand, "Old B", "100.00")
	ta, tb := token(t, old.mustJoin(streamer, ca.ID)), token(t, old.mustJoin(streamer, cb.ID))
	for i := range 2 {
		old.mustClick(ta, fmt.Sprint("a-", i))
		old.mustClick(tb, fmt.Sprint("b-", i))
	}
	old.stop()
	pending, err := repository.NewProjection(store).PendingAny(ctx, 10)
	if err != nil || len(pending) != 4 {
		t.Fatalf("pending: %d, err %v", len(pending), err)
	}
	// The older release's state: no partitions, events without one, batch 8
	// (a click of each campaign) in flight, campaign A's update landed.
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	oid := func(hex string) primitive.ObjectID {
		id, err := primitive.ObjectIDFromHex(hex)
		must(err)
		return id
	}
	must(repository.DeleteRaw(ctx, store, "projection_partitions", bson.M{}))
	for _, coll := range []string{"clicks", "impressions", "conversions"} {
		must(repository.UpdateRaw(ctx, store, coll, bson.M{}, bson.M{"$unset": bson.M{"part": ""}}))
	}
	var inFlight bson.A
	var first = map[string]domain.EventRecord{}
	for _, e := range pending {
		if _, ok := first[e.CampaignID]; !ok {
			first[e.CampaignID] = e
			inFlight = append(inFlight, bson.M{"id": oid(e.ID), "kind": string(e.Kind), "campaignId": oid(e.CampaignID),
				"participationId": oid(e.ParticipationID), "streamerId": oid(e.StreamerID), "at": e.At, "priceMicros": int64(e.Price)})
		}
	}
	must(repository.UpdateRaw(ctx, store, "projector", bson.M{"_id": "projector"}, bson.M{
		"$set":   bson.M{"applied": int64(7), "batch": bson.M{"n": int64(8), "events": inFlight}, "owner": "old", "leaseUntil": time.Unix(0, 0)},
		"$unset": bson.M{"partitions": ""}}))
	must(repository.UpdateRaw(ctx, store, "campaigns", bson.M{"_id": oid(ca.ID)}, bson.M{
		"$inc": bson.M{"stats.clicks": int64(1), "spentMicros": int64(1_000_000), "remainingMicros": int64(-1_000_000)},
		"$set": bson.M{"projBatch": int64(8), "projUnbilled": bson.A{}, "projInvalid": bson.A{}, "projCapped": bson.A{}}}))

	a := mustStartAppOn(t, store, withProjector(projection.Options{Owner: "new", Poll: 10 * time.Millisecond}))
	a.project()
	for _, c := range []campaignData{ca, cb} {
		tt := a.totals(brand, c.ID).Campaign
		wantField(t, "clicks of "+c.Name, tt.Stats.Clicks, 2)
		wantField(t, "spent of "+c.Name, tt.Spent.Amount, "2.00")
	}
	var d dailyData
	a.mustDo(streamer.Token, dailyStatsQuery, map[string]any{"scope": "STREAMER", "id": streamer.ID, "from": "2026-11-23", "to": "2026-11-23"}, &d)
	wantField(t, "the streamer's daily clicks", d.DailyStats[0].Clicks, 4)
	wantField(t, "BILLED clicks", a.billings(domain.EventClick)[domain.BillingBilled], 4)
	a.wantVerified()
}
