package e2e

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"tally/postback"
	"tally/repository/repotest"
)

// TestPostbackRetries: a partner that fails the first k attempts still gets
// the delivery, with the same Idempotency-Key on every attempt, and the log
// shows each attempt.
func TestPostbackRetries(t *testing.T) {
	t.Parallel()
	a := mustStartApp(t, fastPostbacks(postback.Options{})...)
	for _, k := range []int{0, 1, 3} {
		t.Run(fmt.Sprintf("FailsFirst%d", k), func(t *testing.T) {
			a := a.in(t)
			rc := newReceiver(t, failFirst(k))
			brand, c := a.mustPostbackCampaign(rc.srv.URL+"/pb?click={click_id}&payout={payout}", "GET")
			key := fmt.Sprintf("conv-k%d:1", k)
			a.enqueue(c.ID, key)
			d := a.waitDelivery(brand, key, "DELIVERED")
			wantField(t, "attempts", d.Attempts, k+1)
			wantField(t, "log entries", len(d.Log), k+1)
			for i, at := range d.Log {
				wantField(t, fmt.Sprintf("log[%d].number", i), at.Number, i+1)
				want, wantErr := 500, "status 500"
				if i == k {
					want, wantErr = 200, "<nil>"
				}
				if at.StatusCode == nil || *at.StatusCode != want {
					t.Errorf("log[%d].statusCode: got %v, want %d", i, at.StatusCode, want)
				}
				wantField(t, fmt.Sprintf("log[%d].error", i), strOr(at.Error), wantErr)
			}
			if n := len(d.Log); n > 0 {
				wantField(t, "last response", d.Log[n-1].Response, `{"ok":true}`)
			}
			if k > 0 {
				wantField(t, "first response", d.Log[0].Response, "try later")
			}
			wantField(t, "lastError", strOr(d.LastError), "<nil>")
			if d.DeliveredAt == nil {
				t.Error("deliveredAt: null")
			}
			reqs := rc.requests()
			wantField(t, "requests received", len(reqs), k+1)
			for i, r := range reqs {
				wantField(t, fmt.Sprintf("request %d Idempotency-Key", i), r.Header.Get("Idempotency-Key"), key)
				wantField(t, fmt.Sprintf("request %d click", i), r.Query.Get("click"), "clk-conv-k"+fmt.Sprint(k))
			}
		})
	}
}

// TestPostbackSlowAndGone: a receiver slower than the timeout is recorded as
// a timeout and retried; one that went away is recorded as refused until the
// ladder runs out. The timeout is a second: on a busy machine the quick
// second answer must still come within it (the slow first one never does:
// it waits for the sender to give up).
func TestPostbackSlowAndGone(t *testing.T) {
	t.Parallel()
	const timeout = time.Second
	a := mustStartApp(t, fastPostbacks(postback.Options{Timeout: timeout,
		Ladder: []time.Duration{10 * time.Millisecond, 10 * time.Millisecond}})...)

	t.Run("Slow", func(t *testing.T) {
		a := a.in(t)
		rc := newReceiver(t, func(n int, w http.ResponseWriter, r *http.Request) {
			if n == 1 {
				<-r.Context().Done() // slower than any timeout: the sender gives up
				return
			}
			_, _ = io.WriteString(w, "ok")
		})
		brand, c := a.mustPostbackCampaign(rc.srv.URL+"/slow?c={click_id}", "GET")
		a.enqueue(c.ID, "slow:1")
		d := a.waitDelivery(brand, "slow:1", "DELIVERED")
		wantField(t, "attempts", d.Attempts, 2)
		if len(d.Log) != 2 {
			t.Fatalf("log: %+v", d.Log)
		}
		wantField(t, "log[0].error", strOr(d.Log[0].Error), "timeout")
		if d.Log[0].StatusCode != nil {
			t.Errorf("log[0].statusCode: got %d, want null", *d.Log[0].StatusCode)
		}
		if d.Log[0].LatencyMs < int(timeout.Milliseconds())-5 {
			t.Errorf("log[0].latencyMs: got %d, want at least the %v timeout", d.Log[0].LatencyMs, timeout)
		}
		wantField(t, "log[1].error", strOr(d.Log[1].Error), "<nil>")
	})

	t.Run("Gone", func(t *testing.T) {
		a := a.in(t)
		rc := newReceiver(t, nil)
		target := rc.srv.URL
		rc.srv.Close() // the partner went away: its port refuses connections
		brand, c := a.mustPostbackCampaign(target+"/pb?c={click_id}", "GET")
		a.enqueue(c.ID, "gone:1")
		d := a.waitDelivery(brand, "gone:1", "FAILED")
		wantField(t, "attempts", d.Attempts, 3) // the first and the ladder's 2 retries
		wantField(t, "log entries", len(d.Log), 3)
		for i, at := range d.Log {
			wantField(t, fmt.Sprintf("log[%d].error", i), strOr(at.Error), "connection refused")
		}
		wantField(t, "lastError", strOr(d.LastError), "connection refused")
		if d.NextAttemptAt != nil {
			t.Errorf("nextAttemptAt: got %s, want null once failed", *d.NextAttemptAt)
		}
	})
}

// TestPostbackRequest: what a partner receives — the signature verifies
// with the campaign's secret (GET over the query, POST over the body),
// values are query-escaped, a rotated secret signs from the next delivery.
func TestPostbackRequest(t *testing.T) {
	t.Parallel()
	a := mustStartApp(t, fastPostbacks(postback.Options{})...)

	t.Run("SignedGET", func(t *testing.T) {
		a := a.in(t)
		rc := newReceiver(t, nil)
		brand, c := a.mustPostbackCampaign(rc.srv.URL+"/pb?c={click_id}&s={status}", "GET")
		a.enqueue(c.ID, "get:1")
		a.waitDelivery(brand, "get:1", "DELIVERED")
		r := rc.requests()[0]
		wantField(t, "method", r.Method, "GET")
		wantField(t, "event header", r.Header.Get(postback.HeaderEvent), "conversion")
		secret := c.Postback.Secret
		if !strings.HasPrefix(secret, "pbs_") {
			t.Fatalf("secret: got %q", secret)
		}
		if !r.signedBy(secret, []byte(r.RawQuery)) {
			t.Errorf("signature %q does not verify over the query %q", r.Header.Get(postback.HeaderSignature), r.RawQuery)
		}
		if r.signedBy("another secret", []byte(r.RawQuery)) {
			t.Error("signature verifies with another secret")
		}
	})

	t.Run("SignedPOST", func(t *testing.T) {
		a := a.in(t)
		rc := newReceiver(t, nil)
		brand, c := a.mustPostbackCampaign(rc.srv.URL+"/pb/{goal_id}?c={click_id}", "POST")
		a.enqueue(c.ID, "post:1")
		a.waitDelivery(brand, "post:1", "DELIVERED")
		r := rc.requests()[0]
		wantField(t, "method", r.Method, "POST")
		wantField(t, "path", r.Path, "/pb/signup")
		wantField(t, "content type", r.Header.Get("Content-Type"), "application/json")
		if !r.signedBy(c.Postback.Secret, r.Body) {
			t.Errorf("signature does not verify over the body %s", r.Body)
		}
		var body map[string]string
		if !mustDecode(t, r.Body, &body) {
			return
		}
		wantField(t, "body click_id", body["click_id"], "clk-post")
		wantField(t, "body payout", body["payout"], "1.50")
		wantField(t, "body event", body["event"], "conversion")
		wantField(t, "body url", body["url"], rc.srv.URL+"/pb/signup?c=clk-post")
	})

	t.Run("Rotated", func(t *testing.T) {
		a := a.in(t)
		rc := newReceiver(t, nil)
		brand, c := a.mustPostbackCampaign(rc.srv.URL+"/pb?c={click_id}", "GET")
		var data struct{ RotatePostbackSecret postbackSettingsData }
		a.mustDo(brand.Token, `mutation($id: ID!) { rotatePostbackSecret(campaignId: $id) { `+postbackSettingsFields+` } }`,
			map[string]any{"id": c.ID}, &data)
		rotated := data.RotatePostbackSecret.Postback.Secret
		if rotated == c.Postback.Secret || rotated == "" {
			t.Fatalf("rotated secret: got %q, was %q", rotated, c.Postback.Secret)
		}
		wantField(t, "secret read again", a.postbackSettings(brand, c.ID).Postback.Secret, rotated)
		a.enqueue(c.ID, "rot:1")
		a.waitDelivery(brand, "rot:1", "DELIVERED")
		r := rc.requests()[0]
		if !r.signedBy(rotated, []byte(r.RawQuery)) {
			t.Error("signature does not verify with the rotated secret")
		}
	})

	t.Run("MacrosEncoded", func(t *testing.T) {
		a := a.in(t)
		rc := newReceiver(t, nil)
		brand, c := a.mustPostbackCampaign(rc.srv.URL+"/pb?c={click_id}&s1={sub1}&x={external_id}&s2={sub2}", "GET")
		nasty := "a b&c=d/é?#%+"
		a.enqueueValues(c.ID, "conversion", map[string]string{"sub1": nasty, "external_id": "x&s2=injected"}, "enc:1")
		d := a.waitDelivery(brand, "enc:1", "DELIVERED")
		r := rc.requests()[0]
		wantField(t, "sub1 as received", r.Query.Get("s1"), nasty)
		wantField(t, "external_id as received", r.Query.Get("x"), "x&s2=injected")
		wantField(t, "sub2 (no value: empty, not injected)", r.Query.Get("s2"), "")
		wantField(t, "raw query", r.RawQuery, "c=clk-enc&s1=a+b%26c%3Dd%2F%C3%A9%3F%23%25%2B&x=x%26s2%3Dinjected&s2=")
		var got string
		for _, v := range d.Values {
			if v.Macro == "sub1" {
				got = v.Value
			}
		}
		wantField(t, "values sub1 (unencoded)", got, nasty)
	})

	t.Run("GoalOverrideAndSteps", func(t *testing.T) {
		a := a.in(t)
		rc := newReceiver(t, nil)
		brand, c := a.mustPostbackCampaign(rc.srv.URL+"/campaign?c={click_id}", "GET")
		s := a.mustSetPostback(brand, c.ID, map[string]any{"onNewConversion": false,
			"goalUrls": []any{map[string]any{"goalId": "signup", "url": rc.srv.URL + "/goal?c={click_id}&st={status}"}}})
		wantField(t, "onNewConversion", s.Postback.OnNewConversion, false)
		wantField(t, "onStatusChange", s.Postback.OnStatusChange, true)
		wantField(t, "goalUrls", len(s.Postback.GoalUrls), 1)
		a.enqueue(c.ID, "steps:1")
		a.enqueueValues(c.ID, "status", map[string]string{"status": "rejected"}, "steps:2")
		a.waitDelivery(brand, "steps:1", "SKIPPED")
		a.waitDelivery(brand, "steps:2", "DELIVERED")
		reqs := rc.requests()
		if len(reqs) == 0 {
			t.Fatal("no request for the status change")
		}
		for _, r := range reqs { // at least once, each with the status change's key: nothing for the skipped step
			wantField(t, "idempotency key", r.Header.Get(postback.HeaderIdempotencyKey), "steps:2")
		}
		wantField(t, "path (the goal's template)", reqs[0].Path, "/goal")
		wantField(t, "status", reqs[0].Query.Get("st"), "rejected")
		wantField(t, "event header", reqs[0].Header.Get(postback.HeaderEvent), "status")
	})
}

// TestPostbackTemplateValidation: an unknown macro is refused when the
// template is saved, with the field's path.
func TestPostbackTemplateValidation(t *testing.T) {
	t.Parallel()
	a := mustStartApp(t)
	brand := a.mustSignUp("BRAND")
	c := a.mustCreateCampaign(brand, campaignInput("Templates"))
	for _, tc := range []struct {
		name  string
		input map[string]any
		field string
	}{
		{"ErrUnknownMacro", map[string]any{"url": "https://partner.example/pb?c={clickid}"}, "input.url"},
		{"ErrUnclosedBrace", map[string]any{"url": "https://partner.example/pb?c={click_id"}, "input.url"},
		{"ErrMacroInHost", map[string]any{"url": "https://{sub1}.example/pb"}, "input.url"},
		{"ErrNotHTTP", map[string]any{"url": "ftp://partner.example/pb"}, "input.url"},
		{"ErrGoalUnknown", map[string]any{"goalUrls": []any{map[string]any{"goalId": "nope", "url": "https://p.example/"}}}, "input.goalUrls[0].goalId"},
		{"ErrGoalURLUnknownMacro", map[string]any{"goalUrls": []any{map[string]any{"goalId": "signup", "url": "https://p.example/?x={revenue}"}}}, "input.goalUrls[0].url"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := a.in(t)
			e := a.mustFail(brand.Token, setPostbackMutation, map[string]any{"id": c.ID, "input": tc.input}, "BAD_USER_INPUT", tc.field)
			if strings.Contains(tc.name, "Unknown") && tc.field != "input.goalUrls[0].goalId" && !strings.Contains(e.Message, "unknown macro") {
				t.Errorf("message %q does not name the unknown macro", e.Message)
			}
		})
	}
	t.Run("ErrUnknownMacroInPostbackUrl", func(t *testing.T) {
		a := a.in(t)
		in := campaignInput("Bad template")
		in["postbackUrl"] = "https://partner.example/pb?c={click_id}&g={goal}"
		e := a.mustFail(brand.Token, createCampaignMutation, map[string]any{"input": in}, "BAD_USER_INPUT", "input.postbackUrl")
		if !strings.Contains(e.Message, "{goal}") {
			t.Errorf("message %q does not name {goal}", e.Message)
		}
	})
	t.Run("OKEveryMacro", func(t *testing.T) {
		a := a.in(t)
		tpl := "https://partner.example/pb?c={click_id}&g={goal_id}&v={conversion_id}&s={status}&p={payout}&cu={currency}" +
			"&1={sub1}&2={sub2}&3={sub3}&4={sub4}&5={sub5}&x={external_id}"
		s := a.mustSetPostback(brand, c.ID, map[string]any{"url": tpl, "method": "POST"})
		wantField(t, "postbackUrl", strOr(s.PostbackURL), tpl)
		wantField(t, "method", s.Postback.Method, "POST")
		wantField(t, "macros", len(s.Postback.Macros), 12)
		s = a.mustSetPostback(brand, c.ID, map[string]any{"url": ""})
		if s.PostbackURL != nil {
			t.Errorf("postbackUrl after clearing: got %q", *s.PostbackURL)
		}
	})
	t.Run("ErrForbidden", func(t *testing.T) {
		a := a.in(t)
		other := a.mustSignUp("BRAND")
		a.mustFail(other.Token, setPostbackMutation, map[string]any{"id": c.ID, "input": map[string]any{"method": "GET"}}, "NOT_FOUND", "")
		streamer := a.mustSignUp("STREAMER")
		a.mustFail(streamer.Token, setPostbackMutation, map[string]any{"id": c.ID, "input": map[string]any{"method": "GET"}}, "FORBIDDEN", "")
	})
}

// TestPostbackPrivateTargets: without POSTBACK_ALLOW_PRIVATE a target that
// resolves to a loopback address is refused when the request would be made,
// and nothing reaches it.
func TestPostbackPrivateTargets(t *testing.T) {
	t.Parallel()
	a := mustStartApp(t, withPostback(postback.Options{Ladder: []time.Duration{}, Poll: 5 * time.Millisecond}))
	rc := newReceiver(t, nil)
	// localhost, so that the name resolves at dial time, as a rebinding one would
	target := strings.Replace(rc.srv.URL, "127.0.0.1", "localhost", 1)
	brand, c := a.mustPostbackCampaign(target+"/pb?c={click_id}", "GET")
	a.enqueue(c.ID, "private:1")
	d := a.waitDelivery(brand, "private:1", "FAILED")
	wantField(t, "lastError", strOr(d.LastError), "refused: the target's address is not public")
	wantField(t, "requests received", len(rc.requests()), 0)
}

// TestPostbackDisableAndReplay: a run of failed deliveries disables the
// campaign's postbacks (visible, with a reason); what arrives meanwhile is
// held; enabling sends it; replays send failed ones again with the same key.
func TestPostbackDisableAndReplay(t *testing.T) {
	t.Parallel()
	a := mustStartApp(t, fastPostbacks(postback.Options{Ladder: []time.Duration{}, DisableAfter: 2, Workers: 1})...)
	var failing atomic.Bool
	failing.Store(true)
	rc := newReceiver(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
		if failing.Load() {
			w.WriteHeader(http.StatusBadGateway)
			return
		}
		_, _ = io.WriteString(w, "ok")
	})
	brand, c := a.mustPostbackCampaign(rc.srv.URL+"/pb?c={click_id}", "GET")

	t.Run("Disabled", func(t *testing.T) {
		a := a.in(t)
		a.enqueue(c.ID, "d1:1")
		a.waitDelivery(brand, "d1:1", "FAILED")
		wantField(t, "after one failure: enabled", a.postbackSettings(brand, c.ID).Postback.Enabled, true)
		a.enqueue(c.ID, "d2:1")
		a.waitDelivery(brand, "d2:1", "FAILED")
		// the run is counted on the campaign just after the delivery is settled
		s := a.waitPostbacks(brand, c.ID, func(s postbackSettingsData) bool { return !s.Postback.Enabled }).Postback
		wantField(t, "enabled", s.Enabled, false)
		wantField(t, "consecutiveFailures", s.ConsecutiveFailures, 2)
		if s.DisabledAt == nil || s.DisabledReason == nil || !strings.Contains(*s.DisabledReason, "status 502") {
			t.Errorf("disabledAt %v, disabledReason %q", s.DisabledAt, strOr(s.DisabledReason))
		}
		a.enqueue(c.ID, "d3:1")
		d := a.waitDelivery(brand, "d3:1", "HELD")
		wantField(t, "held: attempts", d.Attempts, 0)
		wantField(t, "requests so far", len(rc.requests()), 2)
	})

	t.Run("Enabled", func(t *testing.T) {
		a := a.in(t)
		failing.Store(false)
		var data struct{ EnablePostbacks postbackSettingsData }
		a.mustDo(brand.Token, `mutation($id: ID!) { enablePostbacks(campaignId: $id) { `+postbackSettingsFields+` } }`,
			map[string]any{"id": c.ID}, &data)
		s := data.EnablePostbacks.Postback
		wantField(t, "enabled", s.Enabled, true)
		wantField(t, "consecutiveFailures", s.ConsecutiveFailures, 0)
		if s.DisabledReason != nil {
			t.Errorf("disabledReason: got %q", *s.DisabledReason)
		}
		d := a.waitDelivery(brand, "d3:1", "DELIVERED")
		wantField(t, "attempts", d.Attempts, 1)
	})

	t.Run("ReplayOne", func(t *testing.T) {
		a := a.in(t)
		var data struct{ ReplayPostback deliveryData }
		a.mustDo(brand.Token, `mutation($k: ID!) { replayPostback(key: $k) { `+deliveryFields+` } }`, map[string]any{"k": "d1:1"}, &data)
		if s := data.ReplayPostback.State; s != "PENDING" && s != "SENDING" && s != "DELIVERED" {
			t.Errorf("state after replay: %s", s)
		}
		d := a.waitDelivery(brand, "d1:1", "DELIVERED")
		wantField(t, "attempts", d.Attempts, 2)
		wantField(t, "log entries", len(d.Log), 2)
		var keys []string
		for _, r := range rc.requests() {
			if k := r.Header.Get("Idempotency-Key"); k == "d1:1" {
				keys = append(keys, k)
			}
		}
		wantField(t, "requests with d1:1's key", len(keys), 2)
	})

	t.Run("ReplayFailed", func(t *testing.T) {
		a := a.in(t)
		var data struct{ ReplayFailedPostbacks int }
		a.mustDo(brand.Token, `mutation($id: ID!) { replayFailedPostbacks(campaignId: $id) }`, map[string]any{"id": c.ID}, &data)
		wantField(t, "replayed", data.ReplayFailedPostbacks, 1) // d2:1
		a.waitDelivery(brand, "d2:1", "DELIVERED")
	})

	t.Run("ErrReplayNotTheirs", func(t *testing.T) {
		a := a.in(t)
		other, streamer := a.mustSignUp("BRAND"), a.mustSignUp("STREAMER")
		for _, who := range []testUser{other, streamer} {
			a.mustFail(who.Token, `mutation { replayPostback(key: "d1:1") { key } }`, nil, "NOT_FOUND", "")
			a.mustFail(who.Token, `query { postbackDelivery(key: "d1:1") { key } }`, nil, "NOT_FOUND", "")
		}
		a.mustFail(other.Token, `mutation($id: ID!) { replayFailedPostbacks(campaignId: $id) }`, map[string]any{"id": c.ID}, "NOT_FOUND", "")
		a.mustFail(brand.Token, `mutation { replayPostback(key: "nope:1") { key } }`, nil, "NOT_FOUND", "")
		admin := a.mustMakeAdmin()
		wantField(t, "admin reads it", a.delivery(admin, "d1:1").State, "DELIVERED")
	})
}

// TestPostbackDeliveriesList: a campaign's deliveries are a cursor
// connection, newest first, filtered by state, for its brand and admins.
func TestPostbackDeliveriesList(t *testing.T) {
	t.Parallel()
	a := mustStartApp(t, fastPostbacks(postback.Options{})...)
	rc := newReceiver(t, nil)
	brand, c := a.mustPostbackCampaign(rc.srv.URL+"/pb?c={click_id}", "GET")
	a.mustSetStatus(brand, c.ID, "ACTIVE")
	for _, k := range []string{"l1:1", "l2:1", "l3:1"} {
		a.enqueue(c.ID, k)
		a.waitDelivery(brand, k, "DELIVERED")
	}
	const q = `query($id: ID!, $after: String, $state: PostbackDeliveryState) { campaign(id: $id) {
	  postbackDeliveries(first: 2, after: $after, state: $state) { edges { cursor node { key state log { number } } } pageInfo { hasNextPage endCursor } } } }`
	type page struct {
		Campaign struct {
			PostbackDeliveries struct {
				Edges []struct {
					Cursor string
					Node   struct {
						Key, State string
						Log        []struct{ Number int }
					}
				}
				PageInfo struct {
					HasNextPage bool
					EndCursor   *string
				}
			}
		}
	}
	var p1, p2 page
	a.mustDo(brand.Token, q, map[string]any{"id": c.ID}, &p1)
	e1 := p1.Campaign.PostbackDeliveries
	if len(e1.Edges) != 2 || !e1.PageInfo.HasNextPage {
		t.Fatalf("first page: %+v", e1)
	}
	wantField(t, "newest first", e1.Edges[0].Node.Key, "l3:1")
	wantField(t, "log on the node", len(e1.Edges[0].Node.Log), 1)
	a.mustDo(brand.Token, q, map[string]any{"id": c.ID, "after": *e1.PageInfo.EndCursor}, &p2)
	e2 := p2.Campaign.PostbackDeliveries
	if len(e2.Edges) != 1 || e2.PageInfo.HasNextPage {
		t.Fatalf("second page: %+v", e2)
	}
	wantField(t, "last", e2.Edges[0].Node.Key, "l1:1")
	var none page
	a.mustDo(brand.Token, q, map[string]any{"id": c.ID, "state": "FAILED"}, &none)
	wantField(t, "FAILED ones", len(none.Campaign.PostbackDeliveries.Edges), 0)

	streamer := a.mustSignUp("STREAMER")
	a.mustFail(streamer.Token, q, map[string]any{"id": c.ID}, "FORBIDDEN", "")
	var seen struct{ Campaign postbackSettingsData }
	a.mustDo(streamer.Token, `query($id: ID!) { campaign(id: $id) { id postbackUrl postback { secret } } }`, map[string]any{"id": c.ID}, &seen)
	if seen.Campaign.Postback != nil || seen.Campaign.PostbackURL != nil {
		t.Errorf("a streamer sees the postback settings: %+v", seen.Campaign)
	}
}

// TestTwoSenders: two servers on one store, each with its sender, race for
// the same deliveries; each delivery reaches the partner once, and never
// twice at the same time.
func TestTwoSenders(t *testing.T) {
	t.Parallel()
	opts := repotest.Options(t)
	first := repotest.MustOpenWith(t, opts)
	second := first
	if opts.URI != "" {
		second = repotest.MustOpenWith(t, opts)
	}
	fast := fastPostbacks(postback.Options{Poll: time.Millisecond, Workers: 4})
	a := mustStartAppOn(t, first, fast...)
	b := mustStartAppOn(t, second, fast...)
	rc := newReceiver(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
		time.Sleep(3 * time.Millisecond) // widen the window in which a second claim could overlap
		_, _ = io.WriteString(w, "ok")
	})
	brand, c := a.mustPostbackCampaign(rc.srv.URL+"/pb?c={click_id}", "POST")
	const n = 40
	keys := make([]string, n)
	for i := range keys {
		keys[i] = fmt.Sprintf("two-%d:1", i)
	}
	// both "projectors" enqueue the same deliveries, as a replayed batch would
	race(t, 2, func(i int) {
		app := a
		if i == 1 {
			app = b
		}
		app.in(t).enqueue(c.ID, keys...)
	})
	for _, k := range keys {
		a.waitDelivery(brand, k, "DELIVERED")
	}
	per := map[string]int{}
	for _, r := range rc.requests() {
		per[r.Header.Get("Idempotency-Key")]++
	}
	for _, k := range keys {
		if per[k] != 1 {
			d := a.delivery(brand, k)
			t.Errorf("%s: received %d times, want 1 (attempts %d, log %+v)", k, per[k], d.Attempts, d.Log)
		}
	}
	if len(rc.overlap) > 0 {
		t.Errorf("received twice at once: %v", rc.overlap)
	}
}
