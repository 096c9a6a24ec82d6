package e2e

import (
	"fmt"
	"testing"
	"time"

	"tally/postback"
)

// TestEveryStatusChangeIsDelivered: status changes made faster than the
// projector projects them each get their postback, in order, with their own
// status (issue 18.6). One conversion is projected once recorded, then
// approved and rejected before the next projection; another is approved
// and rejected before its first. The partner hears of every step history
// records: <id>:0 (recorded, PENDING), <id>:1 (APPROVED), <id>:2 (REJECTED).
func TestEveryStatusChangeIsDelivered(t *testing.T) {
	t.Parallel()
	// one sender worker: the outbox hands deliveries out in step order
	a := mustStartApp(t, append(fastPostbacks(postback.Options{Workers: 1}), withManualProjection())...)
	rc := newReceiver(t, nil)
	brand := a.mustSignUp("BRAND")
	in := campaignInput("Quick changes")
	in["goals"] = []any{map[string]any{"goalId": "sale", "name": "Sale", "payout": "2.00", "approval": "REVIEW"}}
	c := a.mustCreateCampaign(brand, in)
	a.mustSetStatus(brand, c.ID, "ACTIVE")
	a.mustSetPostback(brand, c.ID, map[string]any{"url": rc.srv.URL + "/pb?conv={conversion_id}&s={status}", "method": "GET"})
	streamer := a.mustSignUp("STREAMER")
	tok := token(t, a.mustJoin(streamer, c.ID))
	key, _ := a.mustAPIKey(brand)

	record := func(clickID string) string {
		t.Helper()
		a.mustClick(tok, clickID)
		var conv conversionPayload
		r := a.doWithKey(key, recordConversionMutation, conversionVars(clickID, "sale"))
		mustOK(t, r)
		mustDecode(t, r.Data, &conv)
		wantField(t, clickID+" starts", conv.RecordConversion.Conversion.Status, "PENDING")
		return conv.RecordConversion.Conversion.ID
	}
	change := func(id, status string) {
		t.Helper()
		a.clock.Advance(time.Second) // each step at its own time
		p := a.setStatus(brand, status, "changed quickly", id)
		if len(p.SetConversionStatus.Failures) > 0 {
			t.Fatalf("set %s %s: %+v", id, status, p.SetConversionStatus.Failures)
		}
	}

	between := record("qc-between")
	a.project() // between:0 is enqueued here
	change(between, "APPROVED")
	change(between, "REJECTED")
	before := record("qc-before")
	change(before, "APPROVED")
	change(before, "REJECTED")
	a.project()

	steps := []struct{ event, status string }{{"conversion", "pending"}, {"status", "approved"}, {"status", "rejected"}}
	for _, id := range []string{between, before} {
		for rev, want := range steps {
			k := fmt.Sprintf("%s:%d", id, rev)
			d := a.waitDelivery(brand, k, "DELIVERED")
			wantField(t, k+" event", d.Event, want.event)
			for _, v := range d.Values {
				if v.Macro == "status" {
					wantField(t, k+" status", v.Value, want.status)
				}
			}
		}
		// what the partner received for the conversion, in arrival order,
		// each key once (a retry repeats its key, never a new one)
		var got []string
		seen := map[string]bool{}
		for _, r := range rc.requests() {
			k := r.Header.Get(postback.HeaderIdempotencyKey)
			if r.Query.Get("conv") != id || seen[k] {
				continue
			}
			seen[k] = true
			got = append(got, k+" "+r.Query.Get("s"))
		}
		want := []string{id + ":0 pending", id + ":1 approved", id + ":2 rejected"}
		wantField(t, "steps received for "+id, fmt.Sprint(got), fmt.Sprint(want))
	}
	a.wantVerified()
}
