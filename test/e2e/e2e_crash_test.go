package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"tally/domain"
	"tally/projection"
	"tally/repository"
	"tally/repository/repotest"
)

// serverProcess is this test binary running as a server.
type serverProcess struct {
	cmd *exec.Cmd
	url string
}

// startServerProcess starts a server process with env and waits until it
// answers /healthz.
func startServerProcess(t *testing.T, env map[string]string) *serverProcess {
	t.Helper()
	bin, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), serveEnv+"=1", fmt.Sprintf("PORT=%d", port), "LOG_LEVEL=error")
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &serverProcess{cmd: cmd, url: fmt.Sprintf("http://127.0.0.1:%d", port)}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	waitHealthy(t, p.url)
	return p
}

// TestKillDashNine kills a server process with SIGKILL while 32 writers
// record clicks, starts a new one on the same data, and with no command run
// finds every acknowledged click stored once and counted once, and
// spend = earnings = the sum of the billed clicks. It waits for conditions
// (enough clicks acknowledged, then nothing pending), never for a time.
func TestKillDashNine(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("starts server processes")
	}
	// The writers click from one address at full speed: the rate limits are
	// off, as in the other tests (testConfig).
	env := map[string]string{"JWT_SECRET": testSecret, "ALLOW_PRIVATE_URLS": "true",
		"TOKEN_LIMIT_PER_TOKEN": "off", "TOKEN_LIMIT_PER_ADDRESS": "off", "SIGNUP_LIMIT_PER_ADDRESS": "off",
		"CLICK_VIEWER_WINDOW": "off", "CLICK_LIMIT_PER_TOKEN": "off"}
	open := serverProcessStore(t, env)
	check := func() *repository.Store {
		s := open()
		t.Cleanup(func() { _ = s.Close(context.Background()) })
		return s
	}
	first := startServerProcess(t, env)
	a := remoteApp(t, first.url)
	brand, streamer := a.mustSignUp("BRAND"), a.mustSignUp("STREAMER")
	admin := a.mustSignUp("STREAMER")                      // made an admin between the servers, to ask verify what is pending
	c := a.mustBudgetCampaign(brand, "Crashing", "150.00") // fits 150 of the clicks
	tok := token(t, a.mustJoin(streamer, c.ID))

	var acked sync.Map // click id → true, for every 200 with isNew true
	var sent, nacked atomic.Int64
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for w := range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				id := fmt.Sprintf("w%d-%d", w, i)
				sent.Add(1)
				ok, isNew := sendClick(first.url, tok, id)
				if !ok {
					return // the server is gone
				}
				if isNew {
					acked.Store(id, true)
					nacked.Add(1)
				}
			}
		}()
	}
	// The kill comes under load, once enough clicks are acknowledged,
	// however long a busy machine takes to get there.
	const wantAcked = 100
	eventually(t, func() bool { return nacked.Load() >= wantAcked }, "%d clicks acknowledged before the kill, want %d",
		func() any { return nacked.Load() }, wantAcked)
	if err := first.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = first.cmd.Wait()
	close(stop)
	wg.Wait()
	var ackedIDs []string
	acked.Range(func(k, _ any) bool { ackedIDs = append(ackedIDs, k.(string)); return true })

	makeAdmin := func(s *repository.Store) {
		if _, err := repository.NewUsers(s).SetRole(context.Background(), admin.Email, "admin"); err != nil {
			t.Fatalf("make admin: %v", err)
		}
	}
	if env["DATA_DIR"] != "" { // the store is the next server's: closed again before it starts
		s := open()
		makeAdmin(s)
		_ = s.Close(context.Background())
	} else {
		makeAdmin(check())
	}

	start := time.Now()
	second := startServerProcess(t, env)
	b := remoteApp(t, second.url)
	// Every acknowledged click is there, and new to nobody.
	for _, id := range ackedIDs {
		if ok, isNew := sendClick(second.url, tok, id); !ok || isNew {
			t.Fatalf("acknowledged click %s: stored %v, new again %v", id, ok, isNew)
		}
	}
	// With no command run, the counters catch up within seconds: verify
	// (beside the live server) finds no event left to project.
	var adminLogIn struct{ LogIn struct{ Token string } }
	b.mustDo("", `mutation($e: String!) { logIn(input: {email: $e, password: "correct horse"}) { token } }`,
		map[string]any{"e": admin.Email}, &adminLogIn)
	var clicks int
	eventually(t, func() bool {
		// The cheap read first; verify, which reads every event, only once
		// the acknowledged clicks are all counted.
		if clicks = b.totals(brand, c.ID).Campaign.Stats.Clicks; clicks < len(ackedIDs) {
			return false
		}
		var v struct{ Verify struct{ Pending int } }
		b.mustDo(adminLogIn.LogIn.Token, `{ verify { pending } }`, nil, &v)
		if v.Verify.Pending != 0 {
			return false
		}
		clicks = b.totals(brand, c.ID).Campaign.Stats.Clicks
		return true
	}, "after the restart the campaign counts %d clicks (or events are pending), %d were acknowledged",
		func() any { return clicks }, len(ackedIDs))
	t.Logf("%d sent, %d acknowledged, %d counted %.1f s after the restart", sent.Load(), len(ackedIDs), clicks, time.Since(start).Seconds())

	// Stop the second server, then check the store itself.
	if err := second.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	_ = second.cmd.Wait()
	store := check()
	rep, err := projection.Verify(context.Background(), repository.NewProjection(store))
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() {
		t.Errorf("verify: drift\n%s", strings.Join(rep.Drift, "\n"))
	}
	wantField(t, "pending events", rep.Pending, 0)
	var billed domain.Micros
	events := 0
	err = repository.NewProjection(store).EachEvent(context.Background(), func(e domain.EventRecord) error {
		events++
		billed += e.Charged()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	wantField(t, "clicks counted = clicks stored", clicks, events)
	got, err := repository.NewCampaigns(store).ByID(context.Background(), c.ID)
	if err != nil {
		t.Fatal(err)
	}
	wantField(t, "spend = the billed clicks", got.Spent, billed)
	p, err := repository.NewParticipations(store).ByToken(context.Background(), tok)
	if err != nil {
		t.Fatal(err)
	}
	wantField(t, "earnings = spend", p.Stats.Earnings, got.Spent)
}

// sendClick records one click; ok is false when the server did not answer
// 200 with the click.
func sendClick(base, tok, id string) (ok, isNew bool) {
	body, _ := json.Marshal(map[string]any{"query": recordClickMutation,
		"variables": map[string]any{"input": map[string]any{"browserSourceToken": tok, "clickId": id}}})
	resp, err := http.Post(base+"/query", "application/json", bytes.NewReader(body))
	if err != nil {
		return false, false
	}
	defer resp.Body.Close()
	var r struct {
		Data   clickPayload
		Errors []gqlError
	}
	if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&r) != nil || len(r.Errors) > 0 {
		return false, false
	}
	return true, r.Data.RecordClick.IsNew
}

// serverProcessStore points env, the environment of server processes, at a
// store of their own: the database on $MONGODB_URI, else an embedded store
// in a temporary DATA_DIR. It returns how the test opens that store itself,
// between servers for the embedded one (whose DATA_DIR one process holds).
func serverProcessStore(t *testing.T, env map[string]string) (open func() *repository.Store) {
	t.Helper()
	if uri := os.Getenv("MONGODB_URI"); uri != "" {
		opts := repotest.Options(t)
		env["MONGODB_URI"], env["MONGODB_DATABASE"] = uri, opts.Database
		return func() *repository.Store { return repotest.MustOpenWith(t, opts) }
	}
	dir := t.TempDir()
	env["DATA_DIR"] = dir
	return func() *repository.Store {
		s, err := repository.Open(context.Background(), repository.Options{DataDir: dir})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
}
