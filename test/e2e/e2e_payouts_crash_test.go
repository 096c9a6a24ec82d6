package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"syscall"
	"testing"

	"tally/domain"
	"tally/projection"
	"tally/repository"
)

// postQuery sends one GraphQL request and reports only whether the server
// answered: for a request the test kills the server under.
func postQuery(base, token, query string, vars map[string]any) {
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	req, err := http.NewRequest(http.MethodPost, base+"/query", bytes.NewReader(body))
	if err != nil {
		return
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	if resp, err := http.DefaultClient.Do(req); err == nil {
		_ = resp.Body.Close()
	}
}

// TestKillDashNineInPayoutRun kills a server process with SIGKILL in the
// middle of a payout run — once the run exists (before its payouts), and
// once its first payouts exist (while it creates and claims them) — and
// starts a new server on the same data with no call: the new server
// finishes the run by itself. Each
// of the 24 streamers is paid once exactly their earnings, nothing is left
// available and nothing paid twice; the key run again is the same run, a
// new key pays nothing; verify finds zero drift in the store.
func TestKillDashNineInPayoutRun(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("starts server processes")
	}
	for _, payouts := range []int{0, 1} {
		t.Run(fmt.Sprintf("AtPayouts%d", payouts), func(t *testing.T) {
			t.Parallel()
			killInPayoutRun(t, payouts)
		})
	}
}

// killInPayoutRun is TestKillDashNineInPayoutRun, killing the server once
// the run is seen with at least atPayouts payouts (or DONE: then logged).
func killInPayoutRun(t *testing.T, atPayouts int) {
	env := map[string]string{"JWT_SECRET": testSecret, "ALLOW_PRIVATE_URLS": "true",
		"TOKEN_LIMIT_PER_TOKEN": "off", "TOKEN_LIMIT_PER_ADDRESS": "off", "SIGNUP_LIMIT_PER_ADDRESS": "off",
		"CLICK_VIEWER_WINDOW": "off", "CLICK_LIMIT_PER_TOKEN": "off", "HOLD_DAYS": "0", "PAYOUT_MINIMUM": "1.00"}
	open := serverProcessStore(t, env) // the store, for the test, while no server runs
	closeStore := func(s *repository.Store) {
		if env["DATA_DIR"] != "" { // the next server's: closed before it starts
			_ = s.Close(context.Background())
		}
	}

	// The first server: 24 streamers earn 2.00 each (two clicks at 1.00).
	const streamers = 24
	first := startServerProcess(t, env)
	a := remoteApp(t, first.url)
	brand, admin := a.mustSignUp("BRAND"), a.mustSignUp("STREAMER") // made an admin between the servers
	c := a.mustBudgetCampaign(brand, "Paid out", "1000.00")
	ids := map[string]bool{}
	for i := range streamers {
		s := a.mustSignUp("STREAMER")
		ids[s.ID] = true
		tok := token(t, a.mustJoin(s, c.ID))
		for j := range 2 {
			if ok, isNew := sendClick(first.url, tok, fmt.Sprintf("s%d-%d", i, j)); !ok || !isNew {
				t.Fatalf("click %d of streamer %d: stored %v, new %v", j, i, ok, isNew)
			}
		}
	}
	eventually(t, func() bool { return a.totals(brand, c.ID).Campaign.Spent.Amount == fmt.Sprintf("%d.00", 2*streamers) },
		"the clicks billed: spent %s", func() any { return a.totals(brand, c.ID).Campaign.Spent.Amount })
	if err := first.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	_ = first.cmd.Wait()
	s := open()
	if _, err := repository.NewUsers(s).SetRole(context.Background(), admin.Email, "admin"); err != nil {
		t.Fatalf("make admin: %v", err)
	}
	closeStore(s)

	// The second server: a run, killed once it has started and before it
	// is done.
	second := startServerProcess(t, env)
	b := remoteApp(t, second.url)
	var logIn struct{ LogIn struct{ Token string } }
	b.mustDo("", `mutation($e: String!) { logIn(input: {email: $e, password: "correct horse"}) { token } }`,
		map[string]any{"e": admin.Email}, &logIn)
	adminToken := logIn.LogIn.Token
	go postQuery(second.url, adminToken, `mutation { runPayouts(input: {key: "crash"}) { key } }`, nil)
	const runQuery = `{ payoutRun(key: "crash") { status total { amount } payouts { status streamer { id } amount { amount } } } }`
	type runData struct {
		PayoutRun *struct {
			Status  string
			Total   struct{ Amount string }
			Payouts []struct {
				Status   string
				Streamer struct{ ID string }
				Amount   struct{ Amount string }
			}
		}
	}
	var seen runData
	eventually(t, func() bool {
		r := b.do(adminToken, runQuery, nil)
		if len(r.Errors) > 0 {
			return false // not created yet (NOT_FOUND)
		}
		seen = runData{}
		if err := json.Unmarshal(r.Data, &seen); err != nil || seen.PayoutRun == nil {
			return false
		}
		return seen.PayoutRun.Status == "DONE" || len(seen.PayoutRun.Payouts) >= atPayouts
	}, "the run started")
	if err := second.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = second.cmd.Wait()
	t.Logf("killed with the run %s, %d of its %d payouts created", seen.PayoutRun.Status, len(seen.PayoutRun.Payouts), streamers)

	// The third server finishes the run with no call.
	third := startServerProcess(t, env)
	d := remoteApp(t, third.url)
	var done runData
	eventually(t, func() bool {
		done = runData{}
		d.mustDo(adminToken, runQuery, nil, &done)
		return done.PayoutRun.Status == "DONE"
	}, "the run finished by itself: %+v", func() any { return done.PayoutRun })
	run := done.PayoutRun
	wantField(t, "the run's total", run.Total.Amount, fmt.Sprintf("%d.00", 2*streamers))
	wantField(t, "payouts", len(run.Payouts), streamers)
	paid := map[string]int{}
	for _, p := range run.Payouts {
		paid[p.Streamer.ID]++
		if p.Status != "PENDING" || p.Amount.Amount != "2.00" || !ids[p.Streamer.ID] {
			t.Errorf("payout %+v: want PENDING 2.00 to one of the streamers", p)
		}
	}
	for id := range ids {
		if paid[id] != 1 {
			t.Errorf("streamer %s: paid %d times", id, paid[id])
		}
	}
	// The same key is the same run; a new one finds nothing to pay.
	var again struct{ RunPayouts payoutRun }
	d.mustDo(adminToken, runPayoutsMutation, map[string]any{"k": "crash"}, &again)
	wantField(t, "the key again", fmt.Sprintf("%s %d %s", again.RunPayouts.Status, len(again.RunPayouts.Payouts), again.RunPayouts.Total.Amount),
		fmt.Sprintf("DONE %d %d.00", streamers, 2*streamers))
	d.mustDo(adminToken, runPayoutsMutation, map[string]any{"k": "after"}, &again)
	wantField(t, "a new key", fmt.Sprintf("%s %d", again.RunPayouts.Status, len(again.RunPayouts.Payouts)), "DONE 0")

	if err := third.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	_ = third.cmd.Wait()
	store := open()
	defer closeStore(store)
	rep, err := projection.Verify(context.Background(), repository.NewProjection(store))
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() {
		t.Errorf("verify: drift\n%s", strings.Join(rep.Drift, "\n"))
	}
	// Every entry claimed by exactly one payout of the run, none available.
	var unclaimed, claimed domain.Micros
	err = repository.NewProjection(store).EachEntry(context.Background(), func(e domain.Entry) error {
		if e.PayoutID == "" {
			unclaimed += e.Amount
		} else {
			claimed += e.Amount
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	wantField(t, "claimed", claimed, domain.Micros(2*streamers)*domain.MicrosPerUnit)
	wantField(t, "left unclaimed", unclaimed, domain.Micros(0))
}
