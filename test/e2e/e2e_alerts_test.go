package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"tally/domain"
	"tally/postback"
	"tally/repository"
)

// Alerts end to end (docs/money.md, Alerts): the brand is told when a
// campaign reaches 80% and 100% of its budget or of its daily budget (per
// day of its time zone), and when a streamer's cap is reached — as a live
// subscription event, in the alerts list and as a signed webhook from the
// outbox — each exactly once per threshold and period, whatever races and
// whatever fails.

const alertFields = `id kind threshold limit { amount } spent { amount } day participation { id } at campaign { id }
  delivery { key event state }`

const alertsSubscription = `subscription($id: ID!, $after: String) { campaignAlerts(campaignId: $id, after: $after) { ` + alertFields + ` } }`

type alertData struct {
	ID            string
	Kind          string
	Threshold     int
	Limit, Spent  struct{ Amount string }
	Day           *string
	Participation *struct{ ID string }
	At            string
	Campaign      struct{ ID string }
	Delivery      *struct{ Key, Event, State string }
}

// short is the alert as "KIND threshold [day] spent".
func (d alertData) short() string {
	s := fmt.Sprintf("%s %d", d.Kind, d.Threshold)
	if d.Day != nil {
		s += " " + *d.Day
	}
	return s + " " + d.Spent.Amount
}

// alertsOf lists a campaign's alerts as who, oldest first (every page).
func (a *testApp) alertsOf(who testUser, campaignID string) []alertData {
	a.t.Helper()
	var out []alertData
	after := ""
	for {
		var d struct {
			Campaign struct {
				Alerts struct {
					Edges []struct {
						Cursor string
						Node   alertData
					}
					PageInfo struct {
						HasNextPage bool
						EndCursor   *string
					}
				}
			}
		}
		a.mustDo(who.Token, `query($id: ID!, $after: String) { campaign(id: $id) { alerts(first: 5, after: $after) {
		  edges { cursor node { `+alertFields+` } } pageInfo { hasNextPage endCursor } } } }`,
			map[string]any{"id": campaignID, "after": after}, &d)
		for _, e := range d.Campaign.Alerts.Edges {
			out = append(out, e.Node)
		}
		if !d.Campaign.Alerts.PageInfo.HasNextPage {
			break
		}
		after = *d.Campaign.Alerts.PageInfo.EndCursor
	}
	slices.Reverse(out)
	return out
}

func shorts(ds []alertData) []string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = d.short()
	}
	return out
}

// alertWebhooks are the receiver's alert requests, by Idempotency-Key.
func alertWebhooks(rc *receiver) map[string][]receivedRequest {
	out := map[string][]receivedRequest{}
	for _, r := range rc.requests() {
		if r.Header.Get(postback.HeaderEvent) == domain.DeliveryAlert {
			k := r.Header.Get(postback.HeaderIdempotencyKey)
			out[k] = append(out[k], r)
		}
	}
	return out
}

// TestAlertsExactlyOnceUnderRaces: a campaign with a budget of 10.00 and a
// daily budget of 5.00 (20 clicks of 0.25 a day), raced by 200 distinct
// clicks on one day and 200 on the next: the daily budget alerts at 80%
// and 100% once each day, the budget at 80% and 100% once in all — six
// alerts, in event order, the same in the list, on a WebSocket and on an
// SSE subscription opened before the races, and as six signed webhooks,
// each key once.
func TestAlertsExactlyOnceUnderRaces(t *testing.T) {
	t.Parallel()
	rc := newReceiver(t, nil)
	a := mustStartApp(t, fastPostbacks(postback.Options{})...)
	brand := a.mustSignUp("BRAND")
	c := a.mustPricedCampaign(brand, "Alerted", map[string]any{"budget": "10.00", "cpc": "0.25", "cpm": "0",
		"dailyBudget": "5.00", "timeZone": "America/New_York", "alertWebhookUrl": rc.srv.URL + "/alerts"})
	s := a.mustStreamerIn(c)
	tok := s.token(c.ID)

	ws, err := a.dialWS(t, nil, map[string]any{"Authorization": "Bearer " + brand.Token})
	if err != nil {
		t.Fatal(err)
	}
	ws.subscribe("alerts", alertsSubscription, map[string]any{"id": c.ID})
	sse := a.sse(t, brand.Token, alertsSubscription, map[string]any{"id": c.ID})

	race(t, 200, func(i int) { a.mustClick(tok, fmt.Sprintf("d1-%03d", i)) })
	a.project()
	a.clock.Set(time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)) // the next day in New York
	race(t, 200, func(i int) { a.mustClick(tok, fmt.Sprintf("d2-%03d", i)) })
	a.project()

	want := []string{"DAILY_BUDGET 80 2026-11-23 4.00", "DAILY_BUDGET 100 2026-11-23 5.00",
		"BUDGET 80 8.00", "DAILY_BUDGET 80 2026-11-24 4.00", "BUDGET 100 10.00", "DAILY_BUDGET 100 2026-11-24 5.00"}
	listed := a.alertsOf(brand, c.ID)
	wantEqualSlices(t, "the listed alerts, oldest first", shorts(listed), want)
	got := a.notBilledOf(c.ID)
	wantField(t, "billed", got["BILLED"], 40)

	var fromWS, fromSSE []alertData
	for range want {
		var w, s struct{ CampaignAlerts alertData }
		ws.mustNext("alerts", &w)
		sse.mustNext(&s)
		fromWS, fromSSE = append(fromWS, w.CampaignAlerts), append(fromSSE, s.CampaignAlerts)
	}
	wantEqualSlices(t, "pushed on the WebSocket", shorts(fromWS), want)
	wantEqualSlices(t, "pushed on SSE", shorts(fromSSE), want)

	// A subscription from a cursor gets what follows it only.
	late := a.sse(t, brand.Token, alertsSubscription, map[string]any{"id": c.ID, "after": cursorOf(t, a, brand, c.ID, 3)})
	var l struct{ CampaignAlerts alertData }
	late.mustNext(&l)
	wantField(t, "the first alert after the fourth one's cursor", l.CampaignAlerts.short(), want[4])

	// The webhooks: one per alert, keyed by it, signed with the campaign's
	// postback secret, delivered.
	secret := a.postbackSettings(brand, c.ID).Postback.Secret
	eventually(t, func() bool { return len(alertWebhooks(rc)) == len(want) }, "six alert webhooks")
	for _, d := range listed {
		reqs := alertWebhooks(rc)[d.ID]
		if len(reqs) != 1 {
			t.Errorf("alert %s: %d webhook requests, want 1", d.ID, len(reqs))
			continue
		}
		r := reqs[0]
		var body domain.AlertWebhookBody
		if err := json.Unmarshal(r.Body, &body); err != nil {
			t.Fatalf("webhook body: %v: %s", err, r.Body)
		}
		if r.Method != http.MethodPost || r.Path != "/alerts" || !r.signedBy(secret, r.Body) {
			t.Errorf("alert %s: %s %s, signed: %v", d.ID, r.Method, r.Path, r.signedBy(secret, r.Body))
		}
		wantField(t, "body alertId", body.AlertID, d.ID)
		wantField(t, "body kind and threshold", fmt.Sprintf("%s %d %s", body.Kind, body.Threshold, body.Spent), fmt.Sprintf("%s %d %s", d.Kind, d.Threshold, d.Spent.Amount))
		wantField(t, "body limit", body.Limit, d.Limit.Amount)
		wantField(t, "body campaignId", body.CampaignID, c.ID)
		wantField(t, "User-Agent", r.Header.Get("User-Agent"), "Tally-Alert/1")
		if d.Delivery == nil || d.Delivery.Key != d.ID || d.Delivery.Event != "alert" {
			t.Errorf("alert %s: delivery %+v", d.ID, d.Delivery)
		}
	}
	eventually(t, func() bool {
		for _, d := range a.alertsOf(brand, c.ID) {
			if d.Delivery == nil || d.Delivery.State != "DELIVERED" {
				return false
			}
		}
		return true
	}, "every alert's delivery DELIVERED")
	a.wantVerified()
}

// cursorOf is the cursor of a campaign's i-th alert (0: the oldest).
func cursorOf(t testing.TB, a *testApp, who testUser, campaignID string, i int) string {
	t.Helper()
	var d struct {
		Campaign struct {
			Alerts struct{ Edges []struct{ Cursor string } }
		}
	}
	a.mustDo(who.Token, `query($id: ID!) { campaign(id: $id) { alerts(first: 100) { edges { cursor } } } }`, map[string]any{"id": campaignID}, &d)
	edges := d.Campaign.Alerts.Edges
	return edges[len(edges)-1-i].Cursor
}

func wantEqualSlices(t testing.TB, what string, got, want []string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Errorf("%s:\n got %q\nwant %q", what, got, want)
	}
}

// TestStreamerCapAlerts: one streamer capped at 2.00 in all, another at
// 1.00 a day, each raced by 50 clicks: one STREAMER_CAP alert for the
// first, one STREAMER_DAILY_CAP alert for the second's day, each naming
// its participation; a campaign without an alertWebhookUrl has no
// delivery for them.
func TestStreamerCapAlerts(t *testing.T) {
	t.Parallel()
	a := mustStartApp(t)
	brand := a.mustSignUp("BRAND")
	c := a.mustPricedCampaign(brand, "Capped streamers", map[string]any{"budget": "1000.00", "cpc": "0.25", "cpm": "0"})
	s1, s2 := a.mustStreamerIn(c), a.mustStreamerIn(c)
	var p1, p2 string
	for id := range s1.parts {
		p1 = id
	}
	for id := range s2.parts {
		p2 = id
	}
	a.mustDo(brand.Token, capsMutation, map[string]any{"id": p1, "input": map[string]any{"totalCap": "2.00"}}, nil)
	a.mustDo(brand.Token, capsMutation, map[string]any{"id": p2, "input": map[string]any{"dailyCap": "1.00"}}, nil)
	race(t, 100, func(i int) {
		if i%2 == 0 {
			a.mustClick(s1.token(c.ID), fmt.Sprintf("s1-%03d", i))
		} else {
			a.mustClick(s2.token(c.ID), fmt.Sprintf("s2-%03d", i))
		}
	})
	a.project()
	listed := a.alertsOf(brand, c.ID)
	var got []string
	for _, d := range listed {
		got = append(got, d.short()+" "+d.Participation.ID)
		if d.Delivery != nil {
			t.Errorf("alert %s has a delivery, and its campaign no alertWebhookUrl", d.ID)
		}
	}
	slices.Sort(got)
	want := []string{"STREAMER_CAP 100 2.00 " + p1, "STREAMER_DAILY_CAP 100 2026-11-23 1.00 " + p2}
	slices.Sort(want)
	wantEqualSlices(t, "alerts", got, want)
}

// TestAlertsAuthorization: the alerts are the brand's: another brand gets
// NOT_FOUND for the subscription (as for the campaign), the campaign's
// streamer FORBIDDEN; the list is FORBIDDEN to the streamer; the
// alertWebhookUrl is validated with field errors and shown to the brand
// only.
func TestAlertsAuthorization(t *testing.T) {
	t.Parallel()
	a := mustStartApp(t, withEnv(map[string]string{"ALLOW_PRIVATE_URLS": "false"})) // the public-address check on

	brand, other := a.mustSignUp("BRAND"), a.mustSignUp("BRAND")
	c := a.mustPricedCampaign(brand, "Private alerts", map[string]any{"alertWebhookUrl": "https://brand.example/alerts"})
	s := a.mustStreamerIn(c)

	t.Run("Subscription", func(t *testing.T) {
		a := a.in(t)
		ows, err := a.dialWS(t, nil, map[string]any{"Authorization": "Bearer " + other.Token})
		if err != nil {
			t.Fatal(err)
		}
		ows.subscribe("x", alertsSubscription, map[string]any{"id": c.ID})
		ows.mustRefuse("x", "NOT_FOUND")
		sws, err := a.dialWS(t, nil, map[string]any{"Authorization": "Bearer " + s.user.Token})
		if err != nil {
			t.Fatal(err)
		}
		sws.subscribe("y", alertsSubscription, map[string]any{"id": c.ID})
		sws.mustRefuse("y", "FORBIDDEN")
		sws.subscribe("z", alertsSubscription, map[string]any{"id": c.ID, "after": "not-a-cursor"})
		sws.mustRefuse("z", "BAD_USER_INPUT")
		_, r := a.sse(t, other.Token, alertsSubscription, map[string]any{"id": c.ID}).next()
		if len(r.Errors) == 0 || r.Errors[0].Code() != "NOT_FOUND" {
			t.Errorf("another brand's SSE subscription: %+v, want NOT_FOUND", r.Errors)
		}
	})
	t.Run("List", func(t *testing.T) {
		a := a.in(t)
		q := `query($id: ID!) { campaign(id: $id) { alertWebhookUrl alerts { edges { cursor } } } }`
		a.mustFail(s.user.Token, q, map[string]any{"id": c.ID}, "FORBIDDEN", "")
		a.mustFail(other.Token, q, map[string]any{"id": c.ID}, "NOT_FOUND", "")
		// The streamer's refusal nulls the list only: a dashboard's query
		// that selects it still gets the campaign.
		resp := a.do(s.user.Token, `query($id: ID!) { campaign(id: $id) { name alerts { edges { cursor } } } }`, map[string]any{"id": c.ID})
		var part struct {
			Campaign *struct {
				Name   string
				Alerts *struct{}
			}
		}
		if err := json.Unmarshal(resp.Data, &part); err != nil || part.Campaign == nil || part.Campaign.Name == "" || part.Campaign.Alerts != nil {
			t.Errorf("the streamer's campaign with alerts: %s (%v), want the campaign with alerts null", resp.Data, err)
		}
		if len(resp.Errors) != 1 || resp.Errors[0].Code() != "FORBIDDEN" {
			t.Errorf("the streamer's campaign with alerts: errors %+v, want one FORBIDDEN", resp.Errors)
		}
		var d struct {
			Campaign *struct{ AlertWebhookURL *string }
		}
		a.mustDo(s.user.Token, `query($id: ID!) { campaign(id: $id) { alertWebhookUrl } }`, map[string]any{"id": c.ID}, &d)
		if d.Campaign == nil || d.Campaign.AlertWebhookURL != nil {
			t.Errorf("the streamer's view of alertWebhookUrl: %+v, want null", d.Campaign)
		}
		a.mustDo(brand.Token, `query($id: ID!) { campaign(id: $id) { alertWebhookUrl } }`, map[string]any{"id": c.ID}, &d)
		if d.Campaign == nil || d.Campaign.AlertWebhookURL == nil || *d.Campaign.AlertWebhookURL != "https://brand.example/alerts" {
			t.Errorf("the brand's view of alertWebhookUrl: %+v", d.Campaign)
		}
	})
	t.Run("FieldErrors", func(t *testing.T) {
		a := a.in(t)
		for _, url := range []string{"ftp://brand.example/x", "https://brand.example/{click_id}", "not a url", "http://127.0.0.1/alerts",
			"http://10.0.0.8/alerts", "https://" + strings.Repeat("a", 2050) + ".example/"} {
			in := campaignInput("Bad webhook")
			in["alertWebhookUrl"] = url
			a.mustFail(brand.Token, createCampaignMutation, map[string]any{"input": in}, "BAD_USER_INPUT", "input.alertWebhookUrl")
			a.mustFail(brand.Token, updateCampaignMutation, map[string]any{"id": c.ID, "input": map[string]any{"alertWebhookUrl": url}},
				"BAD_USER_INPUT", "input.alertWebhookUrl")
		}
		// "" removes it.
		var d struct{ UpdateCampaign struct{ ID string } }
		a.mustDo(brand.Token, updateCampaignMutation, map[string]any{"id": c.ID, "input": map[string]any{"alertWebhookUrl": ""}}, &d)
		var q struct {
			Campaign struct{ AlertWebhookURL *string }
		}
		a.mustDo(brand.Token, `query($id: ID!) { campaign(id: $id) { alertWebhookUrl } }`, map[string]any{"id": c.ID}, &q)
		if q.Campaign.AlertWebhookURL != nil {
			t.Errorf("alertWebhookUrl after removing it: %q", *q.Campaign.AlertWebhookURL)
		}
	})
}

// TestAlertsSurviveFaults fails the k-th store call of a projection pass,
// for every k, before the call runs and after it has landed, in a batch
// that takes a fresh campaign (budget 2.00, clicks of 1.00) through 80%
// and 100% of its budget: after each failure the next pass finishes the
// batch, and each campaign has exactly its two alerts and exactly one
// webhook delivery for each — and its receiver got each key, never more
// often than the delivery's attempts say it was sent.
func TestAlertsSurviveFaults(t *testing.T) {
	t.Parallel()
	rc := newReceiver(t, nil)
	opts := append(fastPostbacks(postback.Options{Poll: time.Second, Timeout: 2 * time.Second}), withManualProjection())
	a, setFault := mustStartFaultyApp(t, opts...)
	ctx := context.Background()
	brand, streamer := a.mustSignUp("BRAND"), a.mustSignUp("STREAMER")
	outbox := repository.NewOutbox(a.store)
	var campaigns []string
	rounds := 0
	for _, after := range []bool{false, true} {
		for k := 1; ; k++ {
			rounds++
			c := a.mustPricedCampaign(brand, fmt.Sprintf("Faults %d", rounds), map[string]any{"budget": "2.00", "cpc": "1.00", "cpm": "0",
				"alertWebhookUrl": rc.srv.URL + "/alerts"})
			tok := token(t, a.mustJoin(streamer, c.ID))
			a.mustClick(tok, "f-1")
			a.mustClick(tok, "f-2")
			campaigns = append(campaigns, c.ID)
			var calls atomic.Int64
			var hit atomic.Bool
			setFault(func(op string, isAfter bool) error {
				if isAfter != after || calls.Add(1) != int64(k) {
					return nil
				}
				hit.Store(true)
				if after {
					return fmt.Errorf("injected timeout after %s landed: %w", op, context.DeadlineExceeded)
				}
				return fmt.Errorf("injected failure of %s", op)
			})
			_ = a.projector.DrainAll(ctx)
			setFault(nil)
			a.project()
			wantEqualSlices(t, fmt.Sprintf("after=%v k=%d: alerts", after, k), shorts(a.alertsOf(brand, c.ID)),
				[]string{"BUDGET 80 2.00", "BUDGET 100 2.00"})
			page, err := outbox.List(ctx, c.ID, "", domain.PageArgs{First: 10})
			if err != nil {
				t.Fatal(err)
			}
			wantField(t, fmt.Sprintf("after=%v k=%d: deliveries", after, k), len(page.Items), 2)
			if !hit.Load() {
				if k < 10 {
					t.Fatalf("after=%v: a pass made only %d store calls", after, k-1)
				}
				break
			}
		}
	}
	t.Logf("%d rounds, a fault injected at every store call of a pass", rounds)
	a.wantVerified()
	// Every delivery is sent in the end (a claim a fault left behind
	// expires after the lease), and the receiver got each key at most as
	// often as it was attempted.
	eventually(t, func() bool { return len(alertWebhooks(rc)) == 2*len(campaigns) }, "every alert's webhook")
	for _, id := range campaigns {
		page, err := outbox.List(ctx, id, "", domain.PageArgs{First: 10})
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range page.Items {
			eventually(t, func() bool {
				got, err := outbox.Get(ctx, e.Key)
				return err == nil && got.State == domain.DeliveryDelivered
			}, "delivery %s delivered", e.Key)
			got, _ := outbox.Get(ctx, e.Key)
			// (A fault on a claim that landed counts an attempt never
			// sent: its claim expires and the next one sends it.)
			if n := len(alertWebhooks(rc)[e.Key]); n < 1 || int64(n) > got.Attempts {
				t.Errorf("delivery %s: received %d times, attempted %d", e.Key, n, got.Attempts)
			}
		}
	}
}

// TestAlertsOnAProcessThatDoesNotProject: two servers on one database; a
// projects, b never does. The brand's subscriptions on b, over
// graphql-transport-ws and over SSE, first get the alert recorded before
// they started, then the one of a click recorded and projected by a:
// alerts fan out like every live update.
func TestAlertsOnAProcessThatDoesNotProject(t *testing.T) {
	t.Parallel()
	stores := oneDatabase(t)
	a := mustStartAppOn(t, stores[0], withManualProjection())
	b := mustStartAppOn(t, stores[1], withManualProjection())
	brand := a.mustSignUp("BRAND")
	c := a.mustPricedCampaign(brand, "Alerts elsewhere", map[string]any{"budget": "1.25", "cpc": "0.25", "cpm": "0"})
	tok := a.mustStreamerIn(c).token(c.ID)
	for i := range 4 {
		a.mustClick(tok, fmt.Sprintf("elsewhere-%d", i)) // 1.00 of 1.25: 80%
	}
	a.project()

	ws, err := b.dialWS(t, http.Header{"Authorization": {"Bearer " + brand.Token}}, nil)
	if err != nil {
		t.Fatalf("brand connection to b refused: %v", err)
	}
	ws.subscribe("alerts", alertsSubscription, map[string]any{"id": c.ID})
	sse := b.sse(t, brand.Token, alertsSubscription, map[string]any{"id": c.ID})
	next := func() (string, string) {
		var w, s struct{ CampaignAlerts alertData }
		ws.mustNext("alerts", &w)
		sse.mustNext(&s)
		return w.CampaignAlerts.short(), s.CampaignAlerts.short()
	}
	w, s := next()
	wantField(t, "the alert before the subscriptions, on the WebSocket", w, "BUDGET 80 1.00")
	wantField(t, "the alert before the subscriptions, on SSE", s, "BUDGET 80 1.00")
	a.mustClick(tok, "elsewhere-4")
	a.project() // a applies the batch; b's projector never runs
	w, s = next()
	wantField(t, "pushed by b on the WebSocket", w, "BUDGET 100 1.25")
	wantField(t, "pushed by b on SSE", s, "BUDGET 100 1.25")
}

// TestAlertWebhookRetriedWhilePostbacksDisabled: an alert's webhook is
// retried on the postback ladder and logged; it goes to the brand's own
// endpoint, so it is sent while the campaign's partner postbacks are
// disabled, and its failures leave their run of failures alone.
func TestAlertWebhookRetriedWhilePostbacksDisabled(t *testing.T) {
	t.Parallel()
	rc := newReceiver(t, failFirst(2))
	a := mustStartApp(t, fastPostbacks(postback.Options{Workers: 1})...)
	brand := a.mustSignUp("BRAND")
	c := a.mustPricedCampaign(brand, "Retried alerts", map[string]any{"budget": "1.00", "cpc": "1.00", "cpm": "0",
		"alertWebhookUrl": rc.srv.URL + "/alerts"})
	if _, err := repository.NewCampaigns(a.store).PostbackFailed(context.Background(), c.ID, 1, "the partner is down", a.clock.Now()); err != nil {
		t.Fatal(err)
	}
	wantField(t, "postbacks enabled", a.postbackSettings(brand, c.ID).Postback.Enabled, false)
	a.mustClick(a.mustStreamerIn(c).token(c.ID), "retried-1")
	a.project()
	listed := a.alertsOf(brand, c.ID)
	wantEqualSlices(t, "alerts", shorts(listed), []string{"BUDGET 80 1.00", "BUDGET 100 1.00"})
	attempts := 0
	for _, al := range listed {
		d := a.waitDelivery(brand, al.ID, "DELIVERED")
		wantField(t, "event", d.Event, "alert")
		attempts += d.Attempts
		for i, l := range d.Log[:len(d.Log)-1] {
			if l.StatusCode == nil || *l.StatusCode != 500 {
				t.Errorf("%s attempt %d: %+v, want a 500 before the success", al.ID, i+1, l)
			}
		}
	}
	wantField(t, "attempts (two failed, then one each)", attempts, 4)
	s := a.postbackSettings(brand, c.ID).Postback
	wantField(t, "postbacks still disabled", s.Enabled, false)
	wantField(t, "the partner's run of failures", s.ConsecutiveFailures, 1)
}
