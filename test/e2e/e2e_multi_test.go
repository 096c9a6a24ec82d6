package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"tally/repository"
	"tally/repository/repotest"
	"tally/server"
)

// Several processes, one system (issue 22): what every process must show
// and share when several serve one database, and where one listens.

// TestListenAddr: LISTEN_ADDR=127.0.0.1 serves on the loopback interface
// only, and says so in its start-up line; a bad value stops start-up with
// one line naming the setting, before the store is opened.
func TestListenAddr(t *testing.T) {
	t.Parallel()
	t.Run("Loopback", func(t *testing.T) {
		port := strconv.Itoa(freePort(t))
		var logs logBuffer
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() {
			done <- server.Run(ctx, []string{"-data-dir", t.TempDir()},
				func(k string) string { return map[string]string{"LISTEN_ADDR": "127.0.0.1", "PORT": port}[k] }, &logs)
		}()
		defer func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("run: %v", err)
			}
		}()
		eventually(t, func() bool { return strings.Contains(logs.String(), "tally listening") }, "the start-up line")
		for _, l := range logs.lines(t) {
			if l["msg"] == "tally listening" && l["addr"] != "127.0.0.1:"+port {
				t.Errorf("listening on %v, want 127.0.0.1:%s", l["addr"], port)
			}
		}
		resp, err := http.Get("http://127.0.0.1:" + port + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		// Another interface of this machine, if it has one, is not served.
		if ip := otherInterface(); ip != "" {
			if c, err := net.DialTimeout("tcp", net.JoinHostPort(ip, port), time.Second); err == nil {
				c.Close()
				t.Errorf("%s:%s accepted a connection; only the loopback should", ip, port)
			}
		}
	})
	t.Run("BadValue", func(t *testing.T) {
		dir := t.TempDir()
		var out bytes.Buffer
		err := server.Run(context.Background(), []string{"-listen-addr", "tally.example.com", "-data-dir", dir},
			func(string) string { return "" }, &out)
		if err == nil || strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), "LISTEN_ADDR") {
			t.Errorf("got %v, want one line naming LISTEN_ADDR", err)
		}
		if entries, _ := os.ReadDir(dir); len(entries) != 0 || out.Len() != 0 {
			t.Errorf("a bad LISTEN_ADDR still opened the store or logged: %d entries, %q", len(entries), out.String())
		}
	})
}

// otherInterface is an IPv4 address of this machine that is not loopback,
// or "" when it has none.
func otherInterface() string {
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && !n.IP.IsLoopback() && n.IP.To4() != nil {
			return n.IP.String()
		}
	}
	return ""
}

// oneDatabase opens two stores on one database, as two processes have: on
// a server engine each its own client; the embedded store belongs to one
// process, so there they share it (as TestTwoProjectors does).
func oneDatabase(t *testing.T) [2]*repository.Store {
	t.Helper()
	o := repotest.Options(t)
	first := repotest.MustOpenWith(t, o)
	if o.URI == "" {
		return [2]*repository.Store{first, first}
	}
	return [2]*repository.Store{first, repotest.MustOpenWith(t, o)}
}

// twoServers starts two servers on one database, as two processes behind a
// load balancer.
func twoServers(t *testing.T, opts ...appOption) (a, b *testApp) {
	t.Helper()
	stores := oneDatabase(t)
	return mustStartAppOn(t, stores[0], opts...), mustStartAppOn(t, stores[1], opts...)
}

// codes races n requests, alternately through a and b, and counts the
// error codes they answer with ("" for none).
func codes(t *testing.T, a, b *testApp, n int, send func(app *testApp, i int) gqlResponse) map[string]int {
	t.Helper()
	var mu sync.Mutex
	got := map[string]int{}
	race(t, n, func(i int) {
		app := a
		if i%2 == 1 {
			app = b
		}
		r := send(app, i)
		code := ""
		if len(r.Errors) > 0 {
			code = r.Errors[0].Code()
		}
		mu.Lock()
		got[code]++
		mu.Unlock()
	})
	return got
}

// TestAccountLimitsAcrossServers: the limits that guard accounts (log-in
// per account and per address, sign-up per address, password changes) are
// counted in the store: two servers on one database allow exactly the
// configured number between them, however the attempts race, and a
// successful log-in on one resets the count on both.
func TestAccountLimitsAcrossServers(t *testing.T) {
	t.Parallel()
	const change = `mutation($in: ChangePasswordInput!) { changePassword(input: $in) { token } }`

	t.Run("LogInPerAccount", func(t *testing.T) {
		a, b := twoServers(t, withEnv(map[string]string{"LOGIN_LIMIT_PER_ACCOUNT": "10/15m"}))
		u := a.in(t).mustSignUp("STREAMER")
		got := codes(t, a.in(t), b.in(t), 40, func(app *testApp, i int) gqlResponse {
			return app.do("", logInMutation, map[string]any{"e": u.Email, "p": fmt.Sprintf("guess-%d", i)})
		})
		if got["UNAUTHENTICATED"] != 10 || got["RATE_LIMITED"] != 30 {
			t.Errorf("40 wrong passwords through two servers: %v; want 10 UNAUTHENTICATED (checked), 30 RATE_LIMITED", got)
		}
		// A stolen session cannot guess the password faster on either.
		for _, app := range []*testApp{a, b} {
			app.in(t).mustFail(u.Token, change, map[string]any{"in": map[string]any{"currentPassword": "guess", "newPassword": "battery staple"}},
				"RATE_LIMITED", "")
		}
		a.clock.Advance(90 * time.Second) // one attempt back (15m / 10)
		b.clock.Advance(90 * time.Second)
		b.in(t).mustLogIn(u.Email, "correct horse")
		// The success on b reset the count that a sees too.
		got = codes(t, a.in(t), a.in(t), 12, func(app *testApp, i int) gqlResponse {
			return app.do("", logInMutation, map[string]any{"e": u.Email, "p": fmt.Sprintf("typo-%d", i)})
		})
		if got["UNAUTHENTICATED"] != 10 || got["RATE_LIMITED"] != 2 {
			t.Errorf("after a successful log-in on the other server, 12 wrong passwords: %v; want 10 checked, 2 RATE_LIMITED", got)
		}
	})
	t.Run("LogInPerAddress", func(t *testing.T) {
		a, b := twoServers(t, withEnv(map[string]string{"LOGIN_LIMIT_PER_ADDRESS": "12/15m"}))
		var seq atomic.Int32
		got := codes(t, a.in(t), b.in(t), 40, func(app *testApp, i int) gqlResponse {
			return app.do("", logInMutation, map[string]any{"e": fmt.Sprintf("nobody-%d@example.com", seq.Add(1)), "p": "12345678"})
		})
		if got["UNAUTHENTICATED"] != 12 || got["RATE_LIMITED"] != 28 {
			t.Errorf("40 log-ins on 40 accounts from one address through two servers: %v; want 12 checked, 28 RATE_LIMITED", got)
		}
	})
	t.Run("SignUpPerAddress", func(t *testing.T) {
		a, b := twoServers(t, withEnv(map[string]string{"SIGNUP_LIMIT_PER_ADDRESS": "7/1h"}))
		got := codes(t, a.in(t), b.in(t), 30, func(app *testApp, i int) gqlResponse {
			return app.do("", signUpMutation, map[string]any{"input": map[string]any{
				"email": fmt.Sprintf("racer-%d@example.com", i), "password": "correct horse", "displayName": "Racer", "role": "STREAMER"}})
		})
		if got[""] != 7 || got["RATE_LIMITED"] != 23 {
			t.Errorf("30 sign-ups from one address through two servers: %v; want 7 created, 23 RATE_LIMITED", got)
		}
	})
}

// backlogOf reads the backlog a server's /readyz reports.
func backlogOf(t testing.TB, a *testApp) (pending int64, oldestMs int64) {
	t.Helper()
	resp, raw := a.request(http.MethodGet, "/readyz", nil, nil)
	var body struct {
		Status     string
		Projection map[string]any
		Backlog    *struct {
			Pending  int64
			Capped   bool
			OldestMs int64
		}
	}
	if err := json.Unmarshal(raw, &body); err != nil || resp.StatusCode != http.StatusOK || body.Backlog == nil || body.Projection == nil {
		t.Fatalf("/readyz: %d %s", resp.StatusCode, raw)
	}
	return body.Backlog.Pending, body.Backlog.OldestMs
}

// scrape reads one series' value from a server's /metrics.
func scrape(t testing.TB, a *testApp, series string) string {
	t.Helper()
	_, raw := a.request(http.MethodGet, "/metrics", nil, nil)
	return metricValue(string(raw), series)
}

// TestLagVisibleOnEveryServer: the backlog is the database's. Every server
// reports in /readyz and /metrics how many events wait for projection and
// how long the oldest has, whichever server records or projects them, and
// every server that sees the oldest wait past 5 s logs the warning.
func TestLagVisibleOnEveryServer(t *testing.T) {
	t.Parallel()
	var logA, logB logBuffer
	stores := oneDatabase(t)
	a := mustStartAppOn(t, stores[0], withManualProjection(), withLogger(logA.logger()))
	b := mustStartAppOn(t, stores[1], withManualProjection(), withLogger(logB.logger()))
	brand := a.mustSignUp("BRAND")
	c := a.mustActiveCampaign(brand, "Lagging")
	tok := token(t, a.mustJoin(a.mustSignUp("STREAMER"), c.ID))
	const click = `mutation($t: String!, $c: String) { recordClick(input: {browserSourceToken: $t, clickId: $c}) { isNew } }`
	for i := range 5 {
		mustOK(t, a.do("", click, map[string]any{"t": tok, "c": fmt.Sprintf("lag-%d", i)}))
	}
	a.clock.Advance(8 * time.Second) // the events' clock: they have waited 8 s
	b.clock.Advance(8 * time.Second)
	for name, app := range map[string]*testApp{"recording server": a, "other server": b} {
		eventually(t, func() bool {
			pending, oldest := backlogOf(t, app)
			return pending == 5 && oldest == 8000
		}, "%s reports 5 pending, the oldest 8 s old", name)
		if got := scrape(t, app, "tally_projection_pending_events"); got != "5" {
			t.Errorf("%s: tally_projection_pending_events %s, want 5", name, got)
		}
		if got := scrape(t, app, "tally_projection_oldest_pending_seconds"); got != "8" {
			t.Errorf("%s: tally_projection_oldest_pending_seconds %s, want 8", name, got)
		}
	}
	for name, logs := range map[string]*logBuffer{"recording server": &logA, "other server": &logB} {
		if !strings.Contains(logs.String(), "projection lags behind the events") {
			t.Errorf("%s did not log the lag warning: %s", name, logs.String())
		}
	}
	a.project()
	for name, app := range map[string]*testApp{"projecting server": a, "other server": b} {
		eventually(t, func() bool {
			pending, oldest := backlogOf(t, app)
			return pending == 0 && oldest == 0
		}, "%s reports nothing pending", name)
	}
}
