package e2e

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"tally/server"
)

const campaignStatsSubscription = `subscription($id: ID!) { campaignStats(campaignId: $id) {
  id stats { impressions clicks conversions } spent { amount } remaining { amount } } }`

const participationStatsSubscription = `subscription($id: ID!) { participationStats(participationId: $id) {
  id stats { clicks earnings { amount } } campaign { id stats { clicks } } } }`

type liveCampaign struct {
	CampaignStats struct {
		ID               string
		Stats            struct{ Impressions, Clicks, Conversions int }
		Spent, Remaining struct{ Amount string }
	}
}

type liveParticipation struct {
	ParticipationStats struct {
		ID    string
		Stats struct {
			Clicks   int
			Earnings struct{ Amount string }
		}
		Campaign struct {
			ID    string
			Stats struct{ Clicks int }
		}
	}
}

// TestLiveStatsOverWebSocket: a brand's dashboard and a streamer's, each on
// its own graphql-transport-ws connection, get the current stats at once and
// the new ones after a click is recorded and projected.
func TestLiveStatsOverWebSocket(t *testing.T) {
	t.Parallel()
	a := mustStartApp(t)
	brand, streamer := a.mustSignUp("BRAND"), a.mustSignUp("STREAMER")
	c := a.mustActiveCampaign(brand, "Live")
	p := a.mustJoin(streamer, c.ID)

	bws, err := a.dialWS(t, nil, map[string]any{"Authorization": "Bearer " + brand.Token})
	if err != nil {
		t.Fatalf("brand connection refused: %v", err)
	}
	// The token may also come on the upgrade request, as the HTTP middleware reads it.
	sws, err := a.dialWS(t, http.Header{"Authorization": {"Bearer " + streamer.Token}}, nil)
	if err != nil {
		t.Fatalf("streamer connection refused: %v", err)
	}
	bws.subscribe("c", campaignStatsSubscription, map[string]any{"id": c.ID})
	sws.subscribe("p", participationStatsSubscription, map[string]any{"id": p.ID})
	var cs liveCampaign
	var ps liveParticipation
	bws.mustNext("c", &cs)
	sws.mustNext("p", &ps)
	wantField(t, "initial campaign clicks", cs.CampaignStats.Stats.Clicks, 0)
	wantField(t, "initial spent", cs.CampaignStats.Spent.Amount, "0.00")
	wantField(t, "initial participation clicks", ps.ParticipationStats.Stats.Clicks, 0)
	wantField(t, "initial participation's campaign clicks", ps.ParticipationStats.Campaign.Stats.Clicks, 0)

	a.mustClick(token(t, p), "live-1")
	a.project()
	bws.mustNext("c", &cs)
	wantField(t, "campaign id", cs.CampaignStats.ID, c.ID)
	wantField(t, "campaign clicks", cs.CampaignStats.Stats.Clicks, 1)
	wantField(t, "spent", cs.CampaignStats.Spent.Amount, "0.25")
	wantField(t, "remaining", cs.CampaignStats.Remaining.Amount, "99.75")
	sws.mustNext("p", &ps)
	wantField(t, "participation clicks", ps.ParticipationStats.Stats.Clicks, 1)
	wantField(t, "earnings", ps.ParticipationStats.Stats.Earnings.Amount, "0.25")
	// A nested object is read afresh too, not from the connection's first read.
	wantField(t, "participation's campaign clicks", ps.ParticipationStats.Campaign.Stats.Clicks, 1)

	// A second click, again pushed; complete ends the subscription.
	a.mustClick(token(t, p), "live-2")
	a.project()
	bws.mustNext("c", &cs)
	wantField(t, "campaign clicks after the second", cs.CampaignStats.Stats.Clicks, 2)
	bws.send(wsMessage{ID: "c", Type: "complete"})
}

// TestLiveStatsOverSSE: the same subscription as a POST that accepts
// text/event-stream.
func TestLiveStatsOverSSE(t *testing.T) {
	t.Parallel()
	a := mustStartApp(t)
	brand, streamer := a.mustSignUp("BRAND"), a.mustSignUp("STREAMER")
	c := a.mustActiveCampaign(brand, "Live")
	p := a.mustJoin(streamer, c.ID)

	s := a.sse(t, brand.Token, campaignStatsSubscription, map[string]any{"id": c.ID})
	var cs liveCampaign
	s.mustNext(&cs)
	wantField(t, "initial clicks", cs.CampaignStats.Stats.Clicks, 0)
	a.mustClick(token(t, p), "sse-1")
	a.project()
	s.mustNext(&cs)
	wantField(t, "clicks", cs.CampaignStats.Stats.Clicks, 1)
	wantField(t, "spent", cs.CampaignStats.Spent.Amount, "0.25")

	ps := a.sse(t, streamer.Token, participationStatsSubscription, map[string]any{"id": p.ID})
	var pd liveParticipation
	ps.mustNext(&pd)
	wantField(t, "participation clicks", pd.ParticipationStats.Stats.Clicks, 1)
	wantField(t, "earnings", pd.ParticipationStats.Stats.Earnings.Amount, "0.25")
}

// TestLiveAuthorization: a subscription is refused exactly as its query is,
// and a WebSocket without a valid token is closed at connection_init.
func TestLiveAuthorization(t *testing.T) {
	t.Parallel()
	a := mustStartApp(t)
	brand, otherBrand := a.mustSignUp("BRAND"), a.mustSignUp("BRAND")
	streamer, otherStreamer := a.mustSignUp("STREAMER"), a.mustSignUp("STREAMER")
	draft := a.mustCreateCampaign(brand, campaignInput("Draft"))
	active := a.mustActiveCampaign(brand, "Active")
	p := a.mustJoin(streamer, active.ID)

	t.Run("ErrNoTokenClosesTheConnection", func(t *testing.T) {
		for name, params := range map[string]map[string]any{
			"none":    nil,
			"invalid": {"Authorization": "Bearer not-a-token"},
			"scheme":  {"Authorization": "Basic " + brand.Token},
		} {
			_, err := a.dialWS(t, nil, params)
			if got := websocket.CloseStatus(err); got != 4403 {
				t.Errorf("%s: connection ended with %v (status %d), want close 4403", name, err, got)
			}
		}
		// A valid header does not save an invalid connectionParams token.
		_, err := a.dialWS(t, http.Header{"Authorization": {"Bearer " + brand.Token}}, map[string]any{"Authorization": "Bearer forged"})
		if got := websocket.CloseStatus(err); got != 4403 {
			t.Errorf("forged params: status %d, want 4403", got)
		}
	})
	t.Run("ErrUnauthenticatedOverSSE", func(t *testing.T) {
		ev, r := a.sse(t, "", campaignStatsSubscription, map[string]any{"id": active.ID}).next()
		if ev != "next" || len(r.Errors) == 0 || r.Errors[0].Code() != "UNAUTHENTICATED" {
			t.Errorf("got %s %+v, want UNAUTHENTICATED", ev, r.Errors)
		}
	})
	t.Run("AsTheQuery", func(t *testing.T) {
		ws := func(u testUser) *wsClient {
			c, err := a.dialWS(t, nil, map[string]any{"Authorization": "Bearer " + u.Token})
			if err != nil {
				t.Fatalf("connection refused: %v", err)
			}
			return c
		}
		const q = `query($id: ID!) { campaign(id: $id) { id } }`
		for _, tc := range []struct {
			name string
			who  testUser
			sub  string
			id   string
		}{
			{"AnotherBrandsDraft", otherBrand, campaignStatsSubscription, draft.ID},
			{"AStreamerAndADraft", streamer, campaignStatsSubscription, draft.ID},
			{"AnotherStreamersParticipation", otherStreamer, participationStatsSubscription, p.ID},
			{"AnotherBrandAndAParticipation", otherBrand, participationStatsSubscription, p.ID},
			{"Unknown", brand, campaignStatsSubscription, "65a1b2c3d4e5f60718293a4b"},
		} {
			c := ws(tc.who)
			c.subscribe("x", tc.sub, map[string]any{"id": tc.id})
			c.mustRefuse("x", "NOT_FOUND")
		}
		// The query answers the same.
		a.in(t).mustFail(otherBrand.Token, q, map[string]any{"id": draft.ID}, "NOT_FOUND", "")
		// And those who may see them get them.
		c := ws(streamer)
		c.subscribe("ok", campaignStatsSubscription, map[string]any{"id": active.ID})
		var cs liveCampaign
		c.mustNext("ok", &cs)
		wantField(t, "a streamer's active campaign", cs.CampaignStats.ID, active.ID)
		c.subscribe("brand-p", participationStatsSubscription, map[string]any{"id": p.ID})
		bc := ws(brand)
		bc.subscribe("brand-p", participationStatsSubscription, map[string]any{"id": p.ID})
		var pd liveParticipation
		bc.mustNext("brand-p", &pd)
		wantField(t, "the brand sees its campaign's participation", pd.ParticipationStats.ID, p.ID)
	})
}

// TestLiveSubscriptionLimit: with LIVE_SUBSCRIPTIONS_PER_USER=2, a user's
// third subscription (WebSocket and SSE together) is RATE_LIMITED, refused
// ones do not count, another user is not affected, and ending one (closing
// the stream, completing it) frees its place; a third WebSocket connection
// is closed with 1008 until one of the two ends.
func TestLiveSubscriptionLimit(t *testing.T) {
	t.Parallel()
	a := mustStartApp(t, withEnv(map[string]string{"LIVE_SUBSCRIPTIONS_PER_USER": "2"}))
	brand, other := a.mustSignUp("BRAND"), a.mustSignUp("BRAND")
	c := a.mustActiveCampaign(brand, "Limited")
	oc := a.mustActiveCampaign(other, "Other's")
	ws, err := a.dialWS(t, nil, map[string]any{"Authorization": "Bearer " + brand.Token})
	if err != nil {
		t.Fatal(err)
	}
	vars := map[string]any{"id": c.ID}
	var cs liveCampaign
	// Refused subscriptions take no place.
	for range 3 {
		ws.subscribe("refused", campaignStatsSubscription, map[string]any{"id": oc.ID})
		ws.mustRefuse("refused", "NOT_FOUND")
	}
	ws.subscribe("1", campaignStatsSubscription, vars)
	ws.mustNext("1", &cs)
	sse := a.sse(t, brand.Token, campaignStatsSubscription, vars)
	sse.mustNext(&cs)
	ws.subscribe("3", campaignStatsSubscription, vars)
	ws.mustRefuse("3", "RATE_LIMITED")
	ev, r := a.sse(t, brand.Token, campaignStatsSubscription, vars).next()
	if ev != "next" || len(r.Errors) == 0 || r.Errors[0].Code() != "RATE_LIMITED" {
		t.Errorf("a third over SSE: got %s %+v, want RATE_LIMITED", ev, r.Errors)
	}
	// Another user has their own places.
	ows, err := a.dialWS(t, nil, map[string]any{"Authorization": "Bearer " + other.Token})
	if err != nil {
		t.Fatal(err)
	}
	ows.subscribe("o", campaignStatsSubscription, map[string]any{"id": oc.ID})
	ows.mustNext("o", &cs)

	// Ending the SSE stream frees a place; the server notices the closed
	// request at once, but give it a moment.
	sse.close()
	ws.subscribeOnceFree("again", campaignStatsSubscription, vars, "ending a subscription")
	// So does completing one. (gqlgen answers the client's complete with
	// its own complete, which the protocol leaves out.)
	ws.send(wsMessage{ID: "1", Type: "complete"})
	if typ, _ := ws.next("1"); typ != "complete" {
		t.Fatalf("after complete: got %s", typ)
	}
	ws.subscribeOnceFree("after-complete", campaignStatsSubscription, vars, "completing a subscription")

	// Connections are bounded the same way: ws is the brand's first.
	second, err := a.dialWS(t, nil, map[string]any{"Authorization": "Bearer " + brand.Token})
	if err != nil {
		t.Fatalf("second connection: %v", err)
	}
	if _, err := a.dialWS(t, nil, map[string]any{"Authorization": "Bearer " + brand.Token}); websocket.CloseStatus(err) != websocket.StatusPolicyViolation {
		t.Fatalf("third connection: got %v, want close 1008", err)
	}
	if err := second.conn.Close(websocket.StatusNormalClosure, ""); err != nil {
		t.Fatal(err)
	}

	eventually(t, func() bool {
		_, err = a.dialWS(t, nil, map[string]any{"Authorization": "Bearer " + brand.Token})
		return err == nil
	}, "no connection after closing one: %v", func() any { return err })
}

// TestServeEndsLiveStreamsAtShutdown: the real server (run, as `tally`
// serves) ends open SSE and WebSocket subscriptions when it shuts down, so
// that they do not hold the shutdown until its 15 s timeout, each with
// SERVICE_UNAVAILABLE: a dashboard subscribes again instead of taking the
// end for "nothing more will change".
func TestServeEndsLiveStreamsAtShutdown(t *testing.T) {
	port := strconv.Itoa(freePort(t))
	base := "http://127.0.0.1:" + port
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		// example.com landing URLs need not resolve here
		env := map[string]string{"ALLOW_PRIVATE_URLS": "true"}
		done <- server.Run(ctx, []string{"-port", port, "-data-dir", t.TempDir()}, func(k string) string { return env[k] }, io.Discard)
	}()
	waitHealthy(t, base)
	a := remoteApp(t, base)
	brand := a.mustSignUp("BRAND")
	c := a.mustActiveCampaign(brand, "Until shutdown")
	vars := map[string]any{"id": c.ID}
	sse := a.sse(t, brand.Token, campaignStatsSubscription, vars)
	var cs liveCampaign
	sse.mustNext(&cs)
	ws, err := a.dialWS(t, nil, map[string]any{"Authorization": "Bearer " + brand.Token})
	if err != nil {
		t.Fatal(err)
	}
	ws.subscribe("1", campaignStatsSubscription, vars)
	ws.mustNext("1", &cs)

	start := time.Now()
	cancel()
	// Each stream is told to subscribe again (to another process, or to
	// this one once it is back), then ends.
	sse.mustEndWith("SERVICE_UNAVAILABLE")
	ws.mustRefuse("1", "SERVICE_UNAVAILABLE")
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run: got %v, want nil", err)
		}
	case <-time.After(waitTimeout):
		t.Fatal("run did not return after the cancel: the live streams held the shutdown")
	}
	t.Logf("shut down in %v with two live streams open", time.Since(start).Round(time.Millisecond))
}

// TestLiveStreamsOutliveServerTimeouts: behind a server with 1 s read and
// write timeouts (production has 30 s and 60 s), SSE and WebSocket streams
// still deliver an update that comes after the timeouts.
func TestLiveStreamsOutliveServerTimeouts(t *testing.T) {
	t.Parallel()
	app := mustStartApp(t)
	ts := httptest.NewUnstartedServer(app.srv.Config.Handler)
	ts.Config.ReadTimeout, ts.Config.WriteTimeout = time.Second, time.Second
	ts.Start()
	t.Cleanup(ts.Close)
	a := app.in(t)
	a.srv = ts
	brand, streamer := a.mustSignUp("BRAND"), a.mustSignUp("STREAMER")
	c := a.mustActiveCampaign(brand, "Slow")
	p := a.mustJoin(streamer, c.ID)
	vars := map[string]any{"id": c.ID}
	var cs liveCampaign
	sse := a.sse(t, brand.Token, campaignStatsSubscription, vars)
	sse.mustNext(&cs)
	ws, err := a.dialWS(t, nil, map[string]any{"Authorization": "Bearer " + brand.Token})
	if err != nil {
		t.Fatal(err)
	}
	ws.subscribe("1", campaignStatsSubscription, vars)
	ws.mustNext("1", &cs)

	time.Sleep(1500 * time.Millisecond)
	a.mustClick(token(t, p), "late")
	a.project()
	sse.mustNext(&cs)
	wantField(t, "SSE clicks", cs.CampaignStats.Stats.Clicks, 1)
	ws.mustNext("1", &cs)
	wantField(t, "WebSocket clicks", cs.CampaignStats.Stats.Clicks, 1)
}

// TestLiveStreamEndsWhenAccessEnds: every push is authorized again. A
// streamer watching an ACTIVE campaign they have not joined may no longer see
// it once it is PAUSED: at the next batch that touches it their stream
// completes with no further data, while the brand's goes on.
func TestLiveStreamEndsWhenAccessEnds(t *testing.T) {
	t.Parallel()
	a := mustStartApp(t)
	brand, joined, watcher := a.mustSignUp("BRAND"), a.mustSignUp("STREAMER"), a.mustSignUp("STREAMER")
	c := a.mustActiveCampaign(brand, "Soon paused")
	p := a.mustJoin(joined, c.ID)
	vars := map[string]any{"id": c.ID}
	var cs liveCampaign
	ws, err := a.dialWS(t, nil, map[string]any{"Authorization": "Bearer " + watcher.Token})
	if err != nil {
		t.Fatal(err)
	}
	ws.subscribe("w", campaignStatsSubscription, vars)
	ws.mustNext("w", &cs)
	sse := a.sse(t, watcher.Token, campaignStatsSubscription, vars)
	sse.mustNext(&cs)
	bws, err := a.dialWS(t, nil, map[string]any{"Authorization": "Bearer " + brand.Token})
	if err != nil {
		t.Fatal(err)
	}
	bws.subscribe("b", campaignStatsSubscription, vars)
	bws.mustNext("b", &cs)

	a.mustSetStatus(brand, c.ID, "PAUSED")
	a.mustClick(token(t, p), "while-paused") // recorded and counted, not billed
	a.project()
	// The watcher may no longer see the campaign: told so, as the query
	// would tell it, on both transports, and the stream ends.
	ws.mustRefuse("w", "NOT_FOUND")
	sse.mustEndWith("NOT_FOUND")
	bws.mustNext("b", &cs)
	wantField(t, "the brand's clicks", cs.CampaignStats.Stats.Clicks, 1)
	wantField(t, "the brand's spent", cs.CampaignStats.Spent.Amount, "0.00")
}

// TestLiveStreamEndsWhenTheStoreIsDown: a subscription that cannot be
// served ends with an error, never with silence. With every store call
// failing, the streams of a brand (graphql-transport-ws) and a streamer
// (SSE) end, after a few seconds of retries, with SERVICE_UNAVAILABLE on the
// subscription's path and then complete; once the store answers again a new
// subscription works.
func TestLiveStreamEndsWhenTheStoreIsDown(t *testing.T) {
	t.Parallel()
	a, setFault := mustStartFaultyApp(t)
	brand, streamer := a.mustSignUp("BRAND"), a.mustSignUp("STREAMER")
	c := a.mustActiveCampaign(brand, "Store down")
	p := a.mustJoin(streamer, c.ID)
	ws, err := a.dialWS(t, nil, map[string]any{"Authorization": "Bearer " + brand.Token})
	if err != nil {
		t.Fatal(err)
	}
	var cs liveCampaign
	ws.subscribe("c", campaignStatsSubscription, map[string]any{"id": c.ID})
	ws.mustNext("c", &cs)
	var ps liveParticipation
	sse := a.sse(t, streamer.Token, participationStatsSubscription, map[string]any{"id": p.ID})
	sse.mustNext(&ps)

	// The store goes down: the fan-out's poll of the applied mark fails and
	// wakes every subscription, whose reads fail too.
	setFault(func(op string, after bool) error {
		if after {
			return nil
		}
		return errors.New("injected: the store is down")
	})
	typ, r := ws.next("c")
	if typ != "next" || len(r.Errors) != 1 || r.Errors[0].Code() != "SERVICE_UNAVAILABLE" {
		t.Fatalf("graphql-transport-ws: got %s %+v, want next with SERVICE_UNAVAILABLE", typ, r.Errors)
	}
	if got := fmt.Sprint(r.Errors[0].Path); got != "[campaignStats]" {
		t.Errorf("error path: got %s, want [campaignStats]", got)
	}
	if strings.Contains(r.Errors[0].Message, "injected") {
		t.Errorf("the store's own words reached the client: %q", r.Errors[0].Message)
	}
	ws.mustEnd("c", typ)
	sse.mustEndWith("SERVICE_UNAVAILABLE")

	setFault(nil)
	ws.subscribe("again", campaignStatsSubscription, map[string]any{"id": c.ID})
	ws.mustNext("again", &cs)
}

// TestLiveStreamEndsWhenTheSessionEnds: a dashboard's streams do not
// outlive its session. After the brand logs out (every token ended), the
// next change of the campaign is not pushed: the streams, over
// graphql-transport-ws and SSE, end with UNAUTHENTICATED instead.
func TestLiveStreamEndsWhenTheSessionEnds(t *testing.T) {
	t.Parallel()
	a := mustStartApp(t)
	brand, streamer := a.mustSignUp("BRAND"), a.mustSignUp("STREAMER")
	c := a.mustActiveCampaign(brand, "Logged out")
	p := a.mustJoin(streamer, c.ID)
	vars := map[string]any{"id": c.ID}
	ws, err := a.dialWS(t, nil, map[string]any{"Authorization": "Bearer " + brand.Token})
	if err != nil {
		t.Fatal(err)
	}
	var cs liveCampaign
	ws.subscribe("c", campaignStatsSubscription, vars)
	ws.mustNext("c", &cs)
	sse := a.sse(t, brand.Token, campaignStatsSubscription, vars)
	sse.mustNext(&cs)

	a.mustDo(brand.Token, `mutation { logOut }`, nil, nil)
	a.mustClick(token(t, p), "after-log-out")
	a.project()
	ws.mustRefuse("c", "UNAUTHENTICATED")
	sse.mustEndWith("UNAUTHENTICATED")
}

// TestSubscriptionByPlainPOSTSaysHow: a subscription sent as a plain POST
// (curl without Accept: text/event-stream) is refused with how to subscribe.
func TestSubscriptionByPlainPOSTSaysHow(t *testing.T) {
	t.Parallel()
	a := mustStartApp(t)
	brand := a.mustSignUp("BRAND")
	r := a.doHeaders(map[string]string{"Authorization": "Bearer " + brand.Token}, campaignStatsSubscription, map[string]any{"id": "x"})
	if len(r.Errors) != 1 || r.Errors[0].Code() != "BAD_USER_INPUT" || !strings.Contains(r.Errors[0].Message, "Accept: text/event-stream") {
		t.Errorf("errors %+v, want one BAD_USER_INPUT naming Accept: text/event-stream", r.Errors)
	}
}
