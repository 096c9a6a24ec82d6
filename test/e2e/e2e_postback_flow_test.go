package e2e

import (
	"fmt"
	"testing"

	"tally/postback"
)

// waitRequests waits until the receiver has at least n requests and
// returns them (a delivery may be sent more than once: at least once is
// the promise).
func waitRequests(t *testing.T, rc *receiver, n int) []receivedRequest {
	t.Helper()
	eventually(t, func() bool { return len(rc.requests()) >= n }, "%v postbacks received, want %d",
		func() any { return len(rc.requests()) }, n)
	return rc.requests()
}

// wantOneKeyPerStep checks the postback promise on everything rc received:
// every request is for conversion conv, and each step (the status it
// reports) came with one idempotency key, conv:step, whatever the number
// of attempts.
func wantOneKeyPerStep(t *testing.T, rc *receiver, conv string, steps map[string]int) {
	t.Helper()
	keys := map[string]map[string]bool{} // status → keys seen
	for _, r := range rc.requests() {
		status := r.Query.Get("s")
		if r.Query.Get("conv") != conv {
			t.Errorf("a postback for conversion %q, want only %q", r.Query.Get("conv"), conv)
		}
		if keys[status] == nil {
			keys[status] = map[string]bool{}
		}
		keys[status][r.Header.Get(postback.HeaderIdempotencyKey)] = true
	}
	for status, step := range steps {
		want := fmt.Sprintf("%s:%d", conv, step)
		if len(keys[status]) != 1 || !keys[status][want] {
			t.Errorf("step %d (%s): idempotency keys %v, want only %s", step, status, keys[status], want)
		}
	}
	if len(keys) != len(steps) {
		t.Errorf("postbacks for the statuses %v, want %v", keys, steps)
	}
}

// TestPostbackFromConversion: the whole way from a partner's report to the
// partner's receiver. 500 racing reports of one conversion make one step,
// delivered (at least once, with one idempotency key) after the conversion
// is stored and projected, with the click's sub-ids and encoded values; its
// rejection is a second step with its own key; the brand sees both
// deliveries acknowledged.
func TestPostbackFromConversion(t *testing.T) {
	t.Parallel()
	a := mustStartApp(t, fastPostbacks(postback.Options{})...)
	rc := newReceiver(t, failFirst(0))
	brand, c := a.mustPostbackCampaign(rc.srv.URL+"/pb?cid={click_id}&g={goal_id}&s={status}&p={payout}&c={currency}&s1={sub1}&conv={conversion_id}", "GET")
	a.mustSetStatus(brand, c.ID, "ACTIVE")
	streamer := a.mustSignUp("STREAMER")
	tok := token(t, a.mustJoin(streamer, c.ID))
	key, _ := a.mustAPIKey(brand)
	a.mustDo("", recordClickMutation, map[string]any{"input": map[string]any{"browserSourceToken": tok, "clickId": "pf-1",
		"subIds": map[string]any{"sub1": "top banner & more"}}}, nil)

	race(t, 500, func(int) { mustOK(t, a.doWithKey(key, recordConversionMutation, conversionVars("pf-1", "signup"))) })
	a.project()
	reqs := waitRequests(t, rc, 1)
	q := reqs[0].Query
	wantField(t, "click_id", q.Get("cid"), "pf-1")
	wantField(t, "goal_id", q.Get("g"), "signup")
	wantField(t, "status", q.Get("s"), "approved")
	wantField(t, "payout", q.Get("p"), "1.50")
	wantField(t, "currency", q.Get("c"), "USD")
	wantField(t, "sub1, encoded and decoded", q.Get("s1"), "top banner & more")
	conv := q.Get("conv")
	a.waitDelivery(brand, conv+":0", "DELIVERED")

	a.setStatus(brand, "REJECTED", "fraud", conv)
	a.project()
	a.waitDelivery(brand, conv+":1", "DELIVERED")
	wantOneKeyPerStep(t, rc, conv, map[string]int{"approved": 0, "rejected": 1})
	a.wantVerified()
}

// TestPostbackAfterACrash: a conversion stored by a server that died before
// projecting it is projected and its postback delivered by the next server,
// with no command run.
func TestPostbackAfterACrash(t *testing.T) {
	t.Parallel()
	rc := newReceiver(t, failFirst(0))
	first := mustStartApp(t, append(fastPostbacks(postback.Options{}), withManualProjection())...)
	brand, c := first.mustPostbackCampaign(rc.srv.URL+"/pb?conv={conversion_id}", "GET")
	first.mustSetStatus(brand, c.ID, "ACTIVE")
	streamer := first.mustSignUp("STREAMER")
	tok := token(t, first.mustJoin(streamer, c.ID))
	key, _ := first.mustAPIKey(brand)
	first.mustClick(tok, "crash-1")
	var conv conversionPayload
	r := first.doWithKey(key, recordConversionMutation, conversionVars("crash-1", "signup"))
	mustOK(t, r)
	mustDecode(t, r.Data, &conv)
	if got := len(rc.requests()); got != 0 {
		t.Fatalf("%d postbacks before any projection", got)
	}
	// The first server goes away without projecting; the next one, on the
	// same store, finishes its work by itself.
	second := mustStartAppOn(t, first.store, fastPostbacks(postback.Options{})...)
	id := conv.RecordConversion.Conversion.ID
	second.waitDelivery(brand, id+":0", "DELIVERED")
	reqs := waitRequests(t, rc, 1)
	for _, r := range reqs {
		wantField(t, "the postback's conversion", r.Query.Get("conv"), id)
		wantField(t, "the postback's idempotency key", r.Header.Get(postback.HeaderIdempotencyKey), id+":0")
	}
	second.wantVerified()
}
