package e2e

import "testing"

// withManualProjection leaves the projector's loop off, so that only the
// requests reach the store until the test calls a.project().
func withManualProjection() appOption { return func(o *startOptions) { o.ManualProjection = true } }

// TestRoundTrips counts the store calls and writes of the tracking
// mutations, on either engine (the repository counts every operation it
// sends; on MongoDB the driver's command monitor checks that count). The
// numbers are documented in docs/tracking.md; a change here must change the
// docs. A request writes at most one document: the event whose upsert
// decides isNew. Everything after it is the projector's.
func TestRoundTrips(t *testing.T) {
	t.Parallel()
	a := mustStartApp(t, withManualProjection())
	brand := a.mustSignUp("BRAND")
	streamer := a.mustSignUp("STREAMER")
	c := a.mustActiveCampaign(brand, "Counted")
	tok := token(t, a.mustJoin(streamer, c.ID))
	key, _ := a.mustAPIKey(brand)
	count := roundTrips(t, a)
	miss := embeddedMiss(a)
	const bareClick = `mutation($t: String!, $c: String) { recordClick(input: {browserSourceToken: $t, clickId: $c}) { isNew } }`
	const bareConversion = `mutation($c: String!) { recordConversion(input: {clickId: $c, goalId: "signup"}) { isNew } }`
	cases := []struct {
		name         string
		calls, write int64
		do           func()
	}{
		// token → participation; campaign (its price); click upsert.
		{"NewClick", 3 + miss, 1, func() { a.mustDo("", bareClick, map[string]any{"t": tok, "c": "rt-1"}, nil) }},
		// the same three; the upsert finds the click (on the embedded store
		// a read finds it, and nothing is written).
		{"DuplicateClick", 3, 1 - miss, func() { a.mustDo("", bareClick, map[string]any{"t": tok, "c": "rt-1"}, nil) }},
		// API key (find and stamp); click; campaign; conversion upsert.
		{"NewConversion", 4 + miss, 2, func() { mustOK(t, a.doWithKey(key, bareConversion, map[string]any{"c": "rt-1"})) }},
		// the same four; the upsert (or the embedded store's read) finds it.
		{"DuplicateConversion", 4, 2 - miss, func() { mustOK(t, a.doWithKey(key, bareConversion, map[string]any{"c": "rt-1"})) }},
	}
	for _, tc := range cases {
		writes := a.store.Writes()
		if got := count(tc.do); got != tc.calls {
			t.Errorf("%s: %d store calls, want %d", tc.name, got, tc.calls)
		}
		if got := a.store.Writes() - writes; got != tc.write {
			t.Errorf("%s: %d writes, want %d", tc.name, got, tc.write)
		}
	}
	// One batch projects both events: however many events it holds, it
	// writes the batch's start and finish, one update per campaign, one
	// bulk for its participations, one for its daily buckets and one for
	// the cap counters (the day's spend), one for the earning entries (the
	// click's money) and one for the balance counters they add to, one for
	// the report's quarter buckets (no sub-id list: the click carries
	// none), one bulk to the postback outbox (the campaign has a postback
	// URL), and one mark per kind of event.
	writes := a.store.Writes()
	a.project()
	if got := a.store.Writes() - writes; got != 13 {
		t.Errorf("projecting a click and a conversion: %d writes, want 13 (lease, start, campaign, participations, buckets, cap counters, earning entries, balance counters, quarter buckets, outbox, 2 marks, finish)", got)
	}
}

// embeddedMiss is the extra call of a new event (or slot) on the embedded
// engine: there recordOnce reads the natural key first, so that a repeat
// writes nothing (a matched upsert is a full commit there), and a new one
// costs that read too. It is 0 on MongoDB.
func embeddedMiss(a *testApp) int64 {
	if _, onMongo := a.store.ServerCommands(); onMongo {
		return 0
	}
	return 1
}

// roundTrips returns a function that runs f and returns how many store calls
// it made, as the repository counts them. On MongoDB it also checks that
// count against the driver's command monitor, which sees what actually went
// over the wire: every command, the postback sender's, the projector's and
// the monitors' too (the sender, the backlog monitor and the live fan-out
// poll beside the requests, whenever a busy machine lets them), so their
// own counts are added to the requests'.
func roundTrips(t *testing.T, a *testApp) func(f func()) int64 {
	return func(f func()) int64 {
		t.Helper()
		background := func() int64 { return a.store.SenderCalls() + a.store.ProjectorCalls() + a.store.MonitorCalls() }
		before, bgBefore := a.store.Calls(), background()
		wireBefore, onMongo := a.store.ServerCommands()
		f()
		n := a.store.Calls() - before
		bg := background() - bgBefore
		if wire, _ := a.store.ServerCommands(); onMongo && wire-wireBefore != n+bg {
			t.Errorf("the repository counted %d store calls (and %d of the sender, projector and monitors), MongoDB's command monitor %d", n, bg, wire-wireBefore)
		}
		return n
	}
}

func mustOK(t testing.TB, r gqlResponse) {
	t.Helper()
	if len(r.Errors) > 0 {
		t.Fatalf("errors: %+v", r.Errors)
	}
}

// TestRoundTripsOverlay counts the store calls of the overlay query and of
// recordImpression (documented in docs/overlay.md). The call that decides an
// impression's isNew is one of them, as is the call that claims a slot.
func TestRoundTripsOverlay(t *testing.T) {
	t.Parallel()
	a := mustStartApp(t, withManualProjection())
	brand := a.mustSignUp("BRAND")
	c := a.mustActiveCampaign(brand, "Counted")
	tok := a.mustStreamerIn(c).token(c.ID)
	count := roundTrips(t, a)
	miss := embeddedMiss(a)
	// The streamer's settings come from the embedded store's user cache
	// (repository.userCache) after the first read; MongoDB reads them.
	var settings int64 = 1
	if a.store.Embedded() {
		settings = 0
	}
	const bareOverlay = `query($t: String!) { overlay(browserSourceToken: $t) { campaign { id name } participation { id } clickUrl slotEndsAt } }`
	const bareImpression = `mutation($t: String!) { recordImpression(browserSourceToken: $t) { isNew } }`
	vars := map[string]any{"t": tok}
	cases := []struct {
		name string
		want int64
		do   func()
	}{
		// token → participation; streamer's settings; slot (none yet);
		// active participations; their campaigns; claim; mark shown.
		{"OverlayNewSlot", 6 + settings + miss, func() { a.mustDo("", bareOverlay, vars, nil) }},
		// token; settings; slot; its campaign (still eligible?).
		{"OverlayClaimedSlot", 3 + settings, func() { a.mustDo("", bareOverlay, vars, nil) }},
		// the overlay's 4; impression upsert.
		{"NewImpression", 4 + settings + miss, func() { a.mustDo("", bareImpression, vars, nil) }},
		// the overlay's 4; impression upsert (finds it).
		{"DuplicateImpression", 4 + settings, func() { a.mustDo("", bareImpression, vars, nil) }},
	}
	for _, tc := range cases {
		if got := count(tc.do); got != tc.want {
			t.Errorf("%s: %d store calls, want %d", tc.name, got, tc.want)
		}
	}
}
