package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"tally/projection"
	"tally/repository"
	"tally/repository/repotest"
)

// Issue 22, item 7: three servers on one database, as users see them
// behind a round-robin load balancer. Each check below is written once
// against a list of servers and runs twice: on three servers in this
// process (any engine; the embedded store is one process's, so there they
// share it) and on three real server processes (a server engine only),
// where a kill -9 and a rolling restart happen under traffic.

// threeLimits are the account limits both variants run with: the log-in
// limit per account is what checkAccountLimits races.
var threeLimits = map[string]string{"LOGIN_LIMIT_PER_ACCOUNT": "10/15m"}

// TestThreeServers runs the checks on three servers in this process. They
// never project by themselves (manual projection): settle projects with all
// three at once, racing for the lease as processes do, and the lag check
// can hold events pending as long as it likes.
func TestThreeServers(t *testing.T) {
	t.Parallel()
	o := repotest.Options(t)
	first := repotest.MustOpenWith(t, o)
	var apps []*testApp
	for i := range 3 {
		s := first
		if i > 0 && o.URI != "" {
			s = repotest.MustOpenWith(t, o) // its own client, as another process has
		}
		apps = append(apps, mustStartAppOn(t, s, withManualProjection(), withEnv(threeLimits)))
	}
	settle := func() {
		var wg sync.WaitGroup
		for _, a := range apps {
			wg.Go(a.project)
		}
		wg.Wait()
	}
	t.Run("ExactlyOnce", func(t *testing.T) { checkExactlyOnce(t, in(t, apps), settle) })
	t.Run("Verify", func(t *testing.T) { apps[2].in(t).wantVerified() })
	t.Run("LagEverywhere", func(t *testing.T) {
		apps := in(t, apps)
		brand := apps[0].mustSignUp("BRAND")
		c := apps[0].mustActiveCampaign(brand, "Lagging for three")
		tok := token(t, apps[0].mustJoin(apps[0].mustSignUp("STREAMER"), c.ID))
		for i := range 6 {
			apps[i%3].mustClick(tok, fmt.Sprintf("lag-%d", i))
		}
		for _, a := range apps {
			a.clock.Advance(8 * time.Second) // the events' clock: they have waited 8 s
		}
		for i, a := range apps {
			eventually(t, func() bool {
				pending, oldest := backlogOf(t, a)
				return pending == 6 && oldest == 8000
			}, "server %d reports 6 pending, the oldest 8 s old", i)
		}
		apps[1].project()
		for i, a := range apps {
			eventually(t, func() bool {
				pending, oldest := backlogOf(t, a)
				return pending == 0 && oldest == 0
			}, "server %d reports nothing pending once server 1 projected", i)
		}
	})
	// Only server 1 projects here (as in LagEverywhere: it holds the
	// lease): servers 0 and 2 never apply a batch.
	t.Run("LiveEverywhere", func(t *testing.T) { checkLiveEverywhere(t, in(t, apps), apps[1].project) })
	t.Run("AccountLimits", func(t *testing.T) { checkAccountLimits(t, in(t, apps)) })
}

// in returns apps for use inside subtest t.
func in(t *testing.T, apps []*testApp) []*testApp {
	out := make([]*testApp, len(apps))
	for i, a := range apps {
		out[i] = a.in(t)
	}
	return out
}

// checkExactlyOnce: 500 identical clicks spread round robin over the
// servers are one new click; a budget of 40 clicks raced by 400 distinct
// clicks bills exactly 40. settle returns once what was recorded is
// projected.
func checkExactlyOnce(t *testing.T, apps []*testApp, settle func()) {
	a := apps[0]
	brand, streamer := a.mustSignUp("BRAND"), a.mustSignUp("STREAMER")
	same := a.mustActiveCampaign(brand, "One click, three servers")
	sameTok := token(t, a.mustJoin(streamer, same.ID))
	budget := a.mustBudgetCampaign(brand, "Forty clicks, three servers", "40.00")
	budgetTok := token(t, a.mustJoin(streamer, budget.ID))

	var n tally
	race(t, 500, func(i int) { n.click(t, apps[i%len(apps)], sameTok, "the-same-click") })
	wantField(t, "isNew among 500 identical clicks", int(n.isNew.Load()), 1)
	wantField(t, "failed identical clicks", int(n.errs.Load()), 0)
	var m tally
	race(t, 400, func(i int) { m.click(t, apps[i%len(apps)], budgetTok, fmt.Sprintf("distinct-%d", i)) })
	wantField(t, "isNew among 400 distinct clicks", int(m.isNew.Load()), 400)
	wantField(t, "failed distinct clicks", int(m.errs.Load()), 0)

	settle()
	last := apps[len(apps)-1]
	wantField(t, "clicks counted of the identical ones", last.totals(brand, same.ID).Campaign.Stats.Clicks, 1)
	tt := last.totals(brand, budget.ID).Campaign
	wantField(t, "clicks counted of the distinct ones", tt.Stats.Clicks, 400)
	wantField(t, "spent of a 40.00 budget at 1.00 a click", tt.Spent.Amount, "40.00")
	wantField(t, "remaining", tt.Remaining.Amount, "0.00")
	wantField(t, "earnings", tt.Participations.Edges[0].Node.Stats.Earnings.Amount, "40.00")
}

// checkLiveEverywhere: a brand watches a campaign over graphql-transport-ws
// on the first and the last server, its streamer the participation over
// SSE on the second; a click recorded on the last and applied by whichever
// server projects (settle) reaches all three.
func checkLiveEverywhere(t *testing.T, apps []*testApp, settle func()) {
	a := apps[0]
	brand, streamer := a.mustSignUp("BRAND"), a.mustSignUp("STREAMER")
	c := a.mustActiveCampaign(brand, "Watched on three servers")
	p := a.mustJoin(streamer, c.ID)
	var cs liveCampaign
	var ws []*wsClient
	for _, i := range []int{0, 2} {
		w, err := apps[i].dialWS(t, http.Header{"Authorization": {"Bearer " + brand.Token}}, nil)
		if err != nil {
			t.Fatalf("brand's connection to server %d refused: %v", i, err)
		}
		w.subscribe("c", campaignStatsSubscription, map[string]any{"id": c.ID})
		w.mustNext("c", &cs)
		wantField(t, fmt.Sprintf("initial clicks on server %d", i), cs.CampaignStats.Stats.Clicks, 0)
		ws = append(ws, w)
	}
	sse := apps[1].sse(t, streamer.Token, participationStatsSubscription, map[string]any{"id": p.ID})
	var ps liveParticipation
	sse.mustNext(&ps)

	apps[len(apps)-1].mustClick(token(t, p), "watched-everywhere")
	settle()
	for i, w := range ws {
		w.mustNext("c", &cs)
		wantField(t, fmt.Sprintf("clicks pushed by server %d", []int{0, 2}[i]), cs.CampaignStats.Stats.Clicks, 1)
	}
	sse.mustNext(&ps)
	wantField(t, "clicks pushed by server 1", ps.ParticipationStats.Stats.Clicks, 1)
	wantField(t, "earnings pushed by server 1", ps.ParticipationStats.Stats.Earnings.Amount, "0.25")
}

// checkAccountLimits: 45 wrong passwords for one account, raced round
// robin over the servers, are checked exactly 10 times (threeLimits) and
// refused 35 times, not 10 per server.
func checkAccountLimits(t *testing.T, apps []*testApp) {
	u := apps[0].mustSignUp("STREAMER")
	var mu sync.Mutex
	got := map[string]int{}
	race(t, 45, func(i int) {
		r := apps[i%len(apps)].do("", logInMutation, map[string]any{"e": u.Email, "p": fmt.Sprintf("guess-%d", i)})
		code := ""
		if len(r.Errors) > 0 {
			code = r.Errors[0].Code()
		}
		mu.Lock()
		got[code]++
		mu.Unlock()
	})
	if got["UNAUTHENTICATED"] != 10 || got["RATE_LIMITED"] != 35 {
		t.Errorf("45 wrong passwords through %d servers: %v; want 10 UNAUTHENTICATED (checked), 35 RATE_LIMITED", len(apps), got)
	}
}

// TestThreeServerProcesses runs the checks on three server processes on
// one server-engine database, each projecting, and then kills one with
// SIGKILL and restarts all three in turn with SIGTERM while a client keeps
// clicking round robin: every acknowledged click is stored once and
// counted once, verify finds no drift, and each stopped process exits.
// The stops' durations are logged (docs/benchmarks.md), not asserted.
func TestThreeServerProcesses(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("starts server processes")
	}
	uri := os.Getenv("MONGODB_URI")
	if uri == "" {
		t.Skip("three server processes need a server engine (MONGODB_URI): the embedded store is one process's " +
			"(its DATA_DIR lock); TestThreeServers runs the same checks in one process")
	}
	opts := repotest.Options(t)
	env := map[string]string{"JWT_SECRET": testSecret, "ALLOW_PRIVATE_URLS": "true",
		"TOKEN_LIMIT_PER_TOKEN": "off", "TOKEN_LIMIT_PER_ADDRESS": "off", "SIGNUP_LIMIT_PER_ADDRESS": "off",
		"LOGIN_LIMIT_PER_ADDRESS": "off", "CLICK_VIEWER_WINDOW": "off", "CLICK_LIMIT_PER_TOKEN": "off",
		"MONGODB_URI": uri, "MONGODB_DATABASE": opts.Database}
	for k, v := range threeLimits {
		env[k] = v
	}
	store := repotest.MustOpenWith(t, opts) // the test's own view of the database: verify, the events
	proj := repository.NewProjection(store) // and the partitions' leases
	ctx := context.Background()
	var procs [3]*serverProcess
	apps := make([]*testApp, 3)
	for i := range procs {
		procs[i] = startServerProcess(t, env)
		apps[i] = remoteApp(t, procs[i].url)
	}
	// Every process projects by itself; settled is when none reports anything pending.
	settle := func() {
		for i, a := range apps {
			eventually(t, func() bool { pending, _ := backlogOf(t, a); return pending == 0 }, "server %d reports nothing pending", i)
		}
	}
	t.Run("ExactlyOnce", func(t *testing.T) { checkExactlyOnce(t, in(t, apps), settle) })
	t.Run("LiveEverywhere", func(t *testing.T) { checkLiveEverywhere(t, in(t, apps), settle) })
	t.Run("BacklogEverywhere", func(t *testing.T) {
		// Every process reads the database's backlog, so each one's
		// /readyz has one (its numbers move with the projectors here;
		// TestThreeServers holds events pending and checks them).
		for i, a := range in(t, apps) {
			if _, raw := a.request(http.MethodGet, "/readyz", nil, nil); !strings.Contains(string(raw), `"backlog"`) {
				t.Errorf("server %d's /readyz has no backlog: %s", i, raw)
			}
		}
	})
	t.Run("AccountLimits", func(t *testing.T) { checkAccountLimits(t, in(t, apps)) })

	// Traffic through the kill and the restarts: clicks round robin over
	// whichever processes are up.
	a := apps[0]
	brand, streamer := a.mustSignUp("BRAND"), a.mustSignUp("STREAMER")
	c := a.mustBudgetCampaign(brand, "Through the restarts", "100000.00")
	tok := token(t, a.mustJoin(streamer, c.ID))
	var urls struct {
		sync.Mutex
		list []string
	}
	setURLs := func() {
		urls.Lock()
		defer urls.Unlock()
		urls.list = urls.list[:0]
		for _, p := range procs {
			if p != nil {
				urls.list = append(urls.list, p.url)
			}
		}
	}
	setURLs()
	var acked sync.Map // click id → true, for every click answered
	var nacked, sent atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				urls.Lock()
				u := urls.list[(w+i)%len(urls.list)]
				urls.Unlock()
				id := fmt.Sprintf("r%d-%d", w, i)
				sent.Add(1)
				if ok, _ := sendClick(u, tok, id); ok {
					acked.Store(id, true)
					nacked.Add(1)
				}
			}
		})
	}
	ackedAtLeast := func(n int64, why string) {
		eventually(t, func() bool { return nacked.Load() >= n }, "%d clicks acknowledged %s, want %d", func() any { return nacked.Load() }, why, n)
	}
	ackedAtLeast(50, "before the kill")

	// kill -9 of the process that projected most (the lease holder, most likely).
	victim, most := 0, int64(-1)
	for i, a := range apps {
		if ev := projectedBy(t, a); ev > most {
			victim, most = i, ev
		}
	}
	if err := procs[victim].cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = procs[victim].cmd.Wait()
	procs[victim] = nil
	setURLs()
	ackedAtLeast(nacked.Load()+50, "after the kill")
	procs[victim] = startServerProcess(t, env)
	apps[victim] = remoteApp(t, procs[victim].url)
	setURLs()

	// The rolling restart: each process in turn gets SIGTERM while the
	// clicks go on, must exit, and is replaced.
	var stops []string
	for i := range procs {
		ackedAtLeast(nacked.Load()+30, fmt.Sprintf("before stopping server %d", i))
		p := procs[i]
		procs[i] = nil
		setURLs() // the balancer stops sending to it as the signal goes
		start := time.Now()
		if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		exited := make(chan error, 1)
		go func() { exited <- p.cmd.Wait() }()
		select {
		case err := <-exited:
			if err != nil {
				t.Errorf("server %d after SIGTERM: %v, want exit status 0", i, err)
			}
		case <-time.After(waitTimeout):
			t.Fatalf("server %d did not exit after SIGTERM", i)
		}
		stops = append(stops, fmt.Sprintf("%.1f s", time.Since(start).Seconds()))
		t.Run(fmt.Sprintf("LeasesReleased%d", i), func(t *testing.T) {
			// A graceful stop hands its partitions over before it exits: no
			// lease still names it (owner host:pid:…), and the processes left
			// hold every partition again — by condition, never by a duration.
			mine := fmt.Sprintf(":%d:", p.cmd.Process.Pid)
			states, err := proj.States(ctx)
			if err != nil {
				t.Fatal(err)
			}
			now := time.Now()
			for _, st := range states {
				if strings.Contains(st.Owner, mine) && st.LeaseUntil.After(now) {
					t.Errorf("partition %d: still leased to the stopped server %d (%s) until %s", st.Part, i, st.Owner, st.LeaseUntil.Format(time.RFC3339Nano))
				}
			}
			eventually(t, func() bool {
				states, err := proj.States(ctx)
				if err != nil {
					return false
				}
				now := time.Now()
				for _, st := range states {
					if st.Owner == "" || strings.Contains(st.Owner, mine) || !st.LeaseUntil.After(now) {
						return false
					}
				}
				return true
			}, "every partition leased again by a running server after server %d stopped", i)
		})
		procs[i] = startServerProcess(t, env)
		apps[i] = remoteApp(t, procs[i].url)
		setURLs()
	}
	ackedAtLeast(nacked.Load()+30, "after the rolling restart")
	close(stop)
	wg.Wait()
	t.Logf("SIGTERM to exit under traffic, servers 0-2: %s; %d clicks sent, %d acknowledged", strings.Join(stops, ", "), sent.Load(), nacked.Load())

	// Nothing lost: every acknowledged click is stored, and new to nobody.
	var ids []string
	acked.Range(func(k, _ any) bool { ids = append(ids, k.(string)); return true })
	var lost, again atomic.Int64
	race(t, 16, func(w int) {
		for j := w; j < len(ids); j += 16 {
			ok, isNew := sendClick(procs[j%3].url, tok, ids[j])
			if !ok {
				lost.Add(1)
			} else if isNew {
				again.Add(1)
			}
		}
	})
	wantField(t, "acknowledged clicks not answered again", int(lost.Load()), 0)
	wantField(t, "acknowledged clicks new again", int(again.Load()), 0)
	settle()
	rep, err := projection.Verify(context.Background(), repository.NewProjection(store))
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() {
		t.Errorf("verify: drift\n%s", strings.Join(rep.Drift, "\n"))
	}
	wantField(t, "pending events", rep.Pending, 0)
	if got := apps[0].totals(brand, c.ID).Campaign.Stats.Clicks; got < len(ids) {
		t.Errorf("clicks counted: %d, fewer than the %d acknowledged", got, len(ids))
	}
}

// projectedBy is how many events a server's own projector applied (its
// /readyz).
func projectedBy(t testing.TB, a *testApp) int64 {
	t.Helper()
	_, raw := a.request(http.MethodGet, "/readyz", nil, nil)
	var body struct{ Projection struct{ Events int64 } }
	if err := json.Unmarshal(raw, &body); err != nil {
		t.Fatalf("/readyz: %v: %s", err, raw)
	}
	return body.Projection.Events
}
