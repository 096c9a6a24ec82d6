package main

import (
	"testing"
	"time"

	"tally/postback"
)

// waitRequests waits (up to 10 s) until the receiver has n requests, then a
// little longer to see that no more come, and returns them.
func waitRequests(t *testing.T, rc *receiver, n int) []receivedRequest {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for len(rc.requests()) < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d postbacks received, want %d", len(rc.requests()), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond)
	return rc.requests()
}

// TestPostbackFromConversion: the whole way from a partner's report to the
// partner's receiver. 500 racing reports of one conversion send one
// postback, after the conversion is stored and projected, with the click's
// sub-ids and encoded values; its rejection sends a second, with its own
// idempotency key; the brand sees both deliveries.
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
	wantField(t, "postbacks for 500 reports of one conversion", len(reqs), 1)
	q := reqs[0].Query
	wantField(t, "click_id", q.Get("cid"), "pf-1")
	wantField(t, "goal_id", q.Get("g"), "signup")
	wantField(t, "status", q.Get("s"), "approved")
	wantField(t, "payout", q.Get("p"), "1.50")
	wantField(t, "currency", q.Get("c"), "USD")
	wantField(t, "sub1, encoded and decoded", q.Get("s1"), "top banner & more")
	conv := q.Get("conv")
	wantField(t, "Idempotency-Key", reqs[0].Header.Get("Idempotency-Key"), conv+":0")

	a.setStatus(brand, "REJECTED", "fraud", conv)
	a.project()
	reqs = waitRequests(t, rc, 2)
	wantField(t, "postbacks after the rejection", len(reqs), 2)
	wantField(t, "the rejection's status", reqs[1].Query.Get("s"), "rejected")
	wantField(t, "the rejection's Idempotency-Key", reqs[1].Header.Get("Idempotency-Key"), conv+":1")
	a.waitDelivery(brand, conv+":1", "DELIVERED")
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
	reqs := waitRequests(t, rc, 1)
	wantField(t, "postbacks", len(reqs), 1)
	wantField(t, "for the stored conversion", reqs[0].Query.Get("conv"), conv.RecordConversion.Conversion.ID)
	second.wantVerified()
}
