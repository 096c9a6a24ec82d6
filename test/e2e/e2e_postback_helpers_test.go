package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"tally/domain"
	"tally/postback"
	"tally/repository"
)

// withPostback sets the postback sender's options.
func withPostback(o postback.Options) appOption {
	return func(so *startOptions) { so.Postback = o }
}

// fastPostbacks is a sender for tests: a ladder of milliseconds, a short
// timeout, quick polls; private targets allowed through the configuration,
// as a deployment would set it (the receivers listen on 127.0.0.1).
func fastPostbacks(o postback.Options) []appOption {
	if o.Ladder == nil {
		o.Ladder = []time.Duration{10 * time.Millisecond, 20 * time.Millisecond, 30 * time.Millisecond}
	}
	if o.Timeout == 0 {
		// Generous: on a busy machine a quick receiver can take a second
		// to answer, and a timeout would send the step again. Tests of
		// timeouts set their own.
		o.Timeout = 10 * time.Second
	}
	if o.Poll == 0 {
		o.Poll = 5 * time.Millisecond
	}
	return []appOption{withPostback(o), withEnv(map[string]string{"POSTBACK_ALLOW_PRIVATE": "true"})}
}

// receivedRequest is one request a partner's receiver got.
type receivedRequest struct {
	Method   string
	Path     string
	RawQuery string
	Query    url.Values
	Header   http.Header
	Body     []byte
}

// signedBy says whether the request's signature headers verify payload (the
// raw query of a GET, the body of a POST) with secret, as a partner would
// check them: within five minutes of now.
func (r receivedRequest) signedBy(secret string, payload []byte) bool {
	return postback.Verify(secret, r.Header.Get(postback.HeaderTimestamp), r.Header.Get(postback.HeaderSignature),
		payload, time.Now(), 5*time.Minute)
}

// receiver is a partner's postback endpoint: a real HTTP server that
// records every request and answers as answer says (n is 1 for its first
// request).
type receiver struct {
	srv    *httptest.Server
	mu     sync.Mutex
	reqs   []receivedRequest
	answer func(n int, w http.ResponseWriter, r *http.Request)
	// inflight counts requests under way per Idempotency-Key; overlap
	// records a key that was being received twice at once.
	inflight map[string]int
	overlap  []string
}

func newReceiver(t testing.TB, answer func(n int, w http.ResponseWriter, r *http.Request)) *receiver {
	t.Helper()
	rc := &receiver{answer: answer, inflight: map[string]int{}}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		key := r.Header.Get(postback.HeaderIdempotencyKey)
		rc.mu.Lock()
		rc.reqs = append(rc.reqs, receivedRequest{Method: r.Method, Path: r.URL.Path, RawQuery: r.URL.RawQuery,
			Query: r.URL.Query(), Header: r.Header.Clone(), Body: body})
		n := len(rc.reqs)
		if rc.inflight[key]++; rc.inflight[key] > 1 {
			rc.overlap = append(rc.overlap, key)
		}
		rc.mu.Unlock()
		defer func() { rc.mu.Lock(); rc.inflight[key]--; rc.mu.Unlock() }()
		if rc.answer == nil {
			_, _ = io.WriteString(w, "ok")
			return
		}
		rc.answer(n, w, r)
	}))
	t.Cleanup(rc.srv.Close)
	return rc
}

// requests returns what the receiver got so far.
func (rc *receiver) requests() []receivedRequest {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]receivedRequest(nil), rc.reqs...)
}

// failFirst answers 500 to the first k requests, then 200.
func failFirst(k int) func(int, http.ResponseWriter, *http.Request) {
	return func(n int, w http.ResponseWriter, _ *http.Request) {
		if n <= k {
			w.WriteHeader(http.StatusInternalServerError)
			_, _ = io.WriteString(w, "try later")
			return
		}
		_, _ = io.WriteString(w, `{"ok":true}`)
	}
}

const postbackSettingsFields = `id postbackUrl postback { method onNewConversion onStatusChange goalUrls { goalId url }
  secret enabled disabledAt disabledReason consecutiveFailures macros }`

type postbackSettingsData struct {
	ID          string
	PostbackURL *string
	Postback    *struct {
		Method                          string
		OnNewConversion, OnStatusChange bool
		GoalUrls                        []struct{ GoalID, URL string }
		Secret                          string
		Enabled                         bool
		DisabledAt, DisabledReason      *string
		ConsecutiveFailures             int
		Macros                          []string
	}
}

const setPostbackMutation = `mutation($id: ID!, $input: CampaignPostbackInput!) {
  setCampaignPostback(campaignId: $id, input: $input) { ` + postbackSettingsFields + ` } }`

// mustSetPostback changes a campaign's postback settings as who.
func (a *testApp) mustSetPostback(who testUser, campaignID string, input map[string]any) postbackSettingsData {
	a.t.Helper()
	var data struct{ SetCampaignPostback postbackSettingsData }
	a.mustDo(who.Token, setPostbackMutation, map[string]any{"id": campaignID, "input": input}, &data)
	return data.SetCampaignPostback
}

// postbackSettings reads a campaign's postback settings as who.
func (a *testApp) postbackSettings(who testUser, campaignID string) postbackSettingsData {
	a.t.Helper()
	var data struct{ Campaign postbackSettingsData }
	a.mustDo(who.Token, `query($id: ID!) { campaign(id: $id) { `+postbackSettingsFields+` } }`, map[string]any{"id": campaignID}, &data)
	return data.Campaign
}

// mustPostbackCampaign creates a campaign for a new brand whose postbacks
// go to template by method.
func (a *testApp) mustPostbackCampaign(template, method string) (testUser, postbackSettingsData) {
	a.t.Helper()
	brand := a.mustSignUp("BRAND")
	c := a.mustCreateCampaign(brand, campaignInput("Postbacks"))
	return brand, a.mustSetPostback(brand, c.ID, map[string]any{"url": template, "method": method})
}

// enqueue stores deliveries as the projector does, with the values a
// conversion of goal signup would carry.
func (a *testApp) enqueue(campaignID string, keys ...string) {
	a.t.Helper()
	a.enqueueValues(campaignID, domain.DeliveryNew, nil, keys...)
}

func (a *testApp) enqueueValues(campaignID, event string, values map[string]string, keys ...string) {
	a.t.Helper()
	ds := make([]domain.Delivery, 0, len(keys))
	for _, k := range keys {
		conv, _, _ := strings.Cut(k, ":")
		v := map[string]string{"click_id": "clk-" + conv, "goal_id": "signup", "conversion_id": conv,
			"status": "approved", "payout": "1.50", "currency": "USD", "external_id": "ext-" + conv}
		for name, val := range values {
			v[name] = val
		}
		ds = append(ds, domain.Delivery{Key: k, CampaignID: campaignID, ConversionID: conv, GoalID: "signup",
			Event: event, Values: v, CreatedAt: a.clock.Now()})
	}
	if err := repository.NewOutbox(a.store).Enqueue(context.Background(), ds); err != nil {
		a.t.Fatalf("enqueue: %v", err)
	}
}

const deliveryFields = `key conversionId goalId event state attempts nextAttemptAt lastError deliveredAt createdAt
  values { macro value } log { number at statusCode latencyMs response error }`

type deliveryData struct {
	Key, ConversionID, GoalID, Event, State string
	Attempts                                int
	NextAttemptAt, LastError, DeliveredAt   *string
	Values                                  []struct{ Macro, Value string }
	Log                                     []attemptData
}

type attemptData struct {
	Number     int
	At         string
	StatusCode *int
	LatencyMs  int
	Response   string
	Error      *string
}

// delivery reads one delivery as who.
func (a *testApp) delivery(who testUser, key string) deliveryData {
	a.t.Helper()
	var data struct{ PostbackDelivery deliveryData }
	a.mustDo(who.Token, `query($k: ID!) { postbackDelivery(key: $k) { `+deliveryFields+` } }`, map[string]any{"k": key}, &data)
	return data.PostbackDelivery
}

// waitDelivery waits until delivery key exists and is in state, and
// returns it.
func (a *testApp) waitDelivery(who testUser, key, state string) deliveryData {
	a.t.Helper()
	var d deliveryData
	eventually(a.t, func() bool {
		// NOT_FOUND until the projector has enqueued it.
		r := a.do(who.Token, `query($k: ID!) { postbackDelivery(key: $k) { `+deliveryFields+` } }`, map[string]any{"k": key})
		if len(r.Errors) == 1 && r.Errors[0].Code() == "NOT_FOUND" {
			return false
		}
		if len(r.Errors) > 0 {
			a.t.Fatalf("postbackDelivery(%s): %+v", key, r.Errors)
		}
		var data struct{ PostbackDelivery deliveryData }
		if !mustDecode(a.t, r.Data, &data) {
			a.t.FailNow()
		}
		d = data.PostbackDelivery
		return d.State == state
	},
		"delivery %s: state %v, want %s (log %v)", key, func() any { return d.State }, state, func() any { return fmt.Sprintf("%+v", d.Log) })
	return d
}

// waitPostbacks waits until a campaign's postback settings satisfy ok and
// returns them.
func (a *testApp) waitPostbacks(who testUser, campaignID string, ok func(postbackSettingsData) bool) postbackSettingsData {
	a.t.Helper()
	var s postbackSettingsData
	eventually(a.t, func() bool { s = a.postbackSettings(who, campaignID); return ok(s) },
		"campaign %s: postback settings still %v", campaignID, func() any { return fmt.Sprintf("%+v", s.Postback) })
	return s
}

func strOr(p *string) string {
	if p == nil {
		return "<nil>"
	}
	return *p
}
