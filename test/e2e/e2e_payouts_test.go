package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/bson"

	"tally/domain"
	"tally/projection"
	"tally/repository"
)

// Holds, balances and payouts end to end (docs/money.md): billed money held
// for the campaign's hold period, then available; a payout run idempotent
// by its key, raced, interrupted at every store call, resumed by itself; a
// reversal racing a run landing exactly once; FAILED returning the money;
// who may do what; verify finding every entry in the events.

const balancesFields = `held { amount } available { amount } inPayout { amount } paid { amount } adjustments { amount } lifetime { amount }`

type balances struct {
	Held, Available, InPayout, Paid, Adjustments, Lifetime struct{ Amount string }
}

func (b balances) String() string {
	return fmt.Sprintf("held %s available %s inPayout %s paid %s adjustments %s lifetime %s",
		b.Held.Amount, b.Available.Amount, b.InPayout.Amount, b.Paid.Amount, b.Adjustments.Amount, b.Lifetime.Amount)
}

// meBalances are the caller's balances in total and by campaign id.
func (a *testApp) meBalances(who testUser) (balances, map[string]balances) {
	a.t.Helper()
	a.project()
	var d struct {
		Me struct {
			Balances struct {
				Total     balances
				Campaigns []struct {
					Campaign struct{ ID string }
					Balances balances
				}
			}
		}
	}
	a.mustDo(who.Token, `{ me { balances { total { `+balancesFields+` } campaigns { campaign { id } balances { `+balancesFields+` } } } } }`, nil, &d)
	by := map[string]balances{}
	for _, c := range d.Me.Balances.Campaigns {
		by[c.Campaign.ID] = c.Balances
	}
	return d.Me.Balances.Total, by
}

const runPayoutsMutation = `mutation($k: String!) { runPayouts(input: {key: $k}) {
  key status minimum { amount } total { amount } csvUrl payouts { id status streamer { id } amount { amount } parts { campaign { id } amount { amount } } } } }`

type payoutRun struct {
	Key, Status string
	Minimum     struct{ Amount string }
	Total       struct{ Amount string }
	CsvUrl      string
	Payouts     []struct {
		ID, Status string
		Streamer   struct{ ID string }
		Amount     struct{ Amount string }
		Parts      []struct {
			Campaign struct{ ID string }
			Amount   struct{ Amount string }
		}
	}
}

// paid is what the run pays each streamer, by streamer id.
func (r payoutRun) paid() map[string]string {
	out := map[string]string{}
	for _, p := range r.Payouts {
		out[p.Streamer.ID] = p.Amount.Amount
	}
	return out
}

func (a *testApp) runPayouts(admin testUser, key string) payoutRun {
	a.t.Helper()
	var d struct{ RunPayouts payoutRun }
	a.mustDo(admin.Token, runPayoutsMutation, map[string]any{"k": key}, &d)
	return d.RunPayouts
}

const markPayoutMutation = `mutation($id: ID!, $input: MarkPayoutInput!) { markPayout(id: $id, input: $input) { id status reference reason amount { amount } } }`

// payoutCampaign is an ACTIVE campaign paying 1.00 a click and 5.00 a
// "sale" the brand reviews, with its earningsHoldDays (nil: the server's).
func (a *testApp) payoutCampaign(brand testUser, name string, holdDays *int) campaignData {
	a.t.Helper()
	changes := map[string]any{"budget": "10000.00", "cpc": "1.00", "cpm": "0",
		"goals": []any{map[string]any{"goalId": "sale", "name": "Sale", "payout": "5.00", "approval": "REVIEW"}}}
	if holdDays != nil {
		changes["earningsHoldDays"] = *holdDays
	}
	return a.mustPricedCampaign(brand, name, changes)
}

func (a *testApp) clicks(tok, prefix string, n int) {
	a.t.Helper()
	for i := range n {
		a.mustClick(tok, fmt.Sprintf("%s-%d", prefix, i))
	}
}

func intp(n int) *int { return &n }

func (a *testApp) mustVerifyOK() {
	a.t.Helper()
	a.project()
	if rep := a.mustVerify(); !rep.OK() {
		a.t.Fatalf("verify: drift\n%s", strings.Join(rep.Drift, "\n"))
	}
}

// TestPayoutRunRacedOnce: a run started 10 times at once with one key is
// one run; each streamer at or above the minimum is paid exactly their
// available balance once; the one below it is not; a second run finds
// nothing left to pay; the CSV lists the payouts; PAID and FAILED are
// recorded once, and FAILED makes the amount available again.
func TestPayoutRunRacedOnce(t *testing.T) {
	t.Parallel()
	a := mustStartApp(t, withEnv(map[string]string{"PAYOUT_MINIMUM": "2.00"}))
	brand, admin := a.mustSignUp("BRAND"), a.mustMakeAdmin()
	c := a.payoutCampaign(brand, "Pays at once", intp(0))
	s1, s2, s3 := a.mustStreamerIn(c), a.mustStreamerIn(c), a.mustStreamerIn(c)
	a.clicks(s1.token(c.ID), "s1", 10)
	a.clicks(s2.token(c.ID), "s2", 3)
	a.clicks(s3.token(c.ID), "s3", 1)
	total, _ := a.meBalances(s1.user)
	wantField(t, "s1 available before the run", total.Available.Amount, "10.00")
	wantField(t, "s1 held (hold 0)", total.Held.Amount, "0.00")

	runs := make([]payoutRun, 10)
	race(t, 10, func(i int) { runs[i] = a.in(t).runPayouts(admin, "2026-11-payouts") })
	for i, r := range runs {
		wantField(t, fmt.Sprintf("call %d: status", i), r.Status, "DONE")
		wantField(t, fmt.Sprintf("call %d: payouts", i), len(r.Payouts), 2)
		wantField(t, fmt.Sprintf("call %d: s1 paid", i), r.paid()[s1.user.ID], "10.00")
		wantField(t, fmt.Sprintf("call %d: s2 paid", i), r.paid()[s2.user.ID], "3.00")
		wantField(t, fmt.Sprintf("call %d: total", i), r.Total.Amount, "13.00")
	}
	wantField(t, "minimum", runs[0].Minimum.Amount, "2.00")
	total, by := a.meBalances(s1.user)
	wantField(t, "s1 after the run", total.String(), "held 0.00 available 0.00 inPayout 10.00 paid 0.00 adjustments 0.00 lifetime 10.00")
	wantField(t, "s1's campaign", by[c.ID].String(), total.String())
	total, _ = a.meBalances(s3.user)
	wantField(t, "s3, below the minimum, keeps its balance", total.Available.Amount, "1.00")

	// Another key pays nothing twice.
	wantField(t, "a second run's payouts", len(a.runPayouts(admin, "2026-11-again").Payouts), 0)

	// The CSV: PayPal Payouts' columns, one row per PENDING payout.
	resp, body := a.request("GET", "/payout-runs/2026-11-payouts/payouts.csv", map[string]string{"Authorization": bearer(admin.Token)}, nil)
	wantField(t, "csv status", resp.StatusCode, http.StatusOK)
	wantField(t, "csv content type", resp.Header.Get("Content-Type"), "text/csv; charset=utf-8")
	rows := strings.Split(strings.TrimSpace(string(body)), "\n")
	wantField(t, "csv rows", len(rows), 2)
	for _, row := range rows {
		if !strings.Contains(row, ",USD,") || !strings.Contains(row, "@example.com,") {
			t.Errorf("csv row %q: want email,amount,USD,customer id,note", row)
		}
	}
	if !strings.Contains(string(body), s1.user.Email+",10.00,USD,"+s1.user.ID+",Tally payout 2026-11-payouts") {
		t.Errorf("csv: no row for s1 paid 10.00:\n%s", body)
	}
	for who, tok := range map[string]string{"a streamer": s1.user.Token, "a brand": brand.Token, "nobody": ""} {
		h := map[string]string{}
		if tok != "" {
			h["Authorization"] = bearer(tok)
		}
		resp, _ := a.request("GET", "/payout-runs/2026-11-payouts/payouts.csv", h, nil)
		want := http.StatusForbidden
		if tok == "" {
			want = http.StatusUnauthorized
		}
		wantField(t, "csv status for "+who, resp.StatusCode, want)
	}

	// PAID once with its reference; FAILED returns the money.
	ids := map[string]string{}
	for _, p := range runs[0].Payouts {
		ids[p.Streamer.ID] = p.ID
	}
	var m struct {
		MarkPayout struct {
			Status    string
			Reference *string
		}
	}
	a.mustDo(admin.Token, markPayoutMutation, map[string]any{"id": ids[s1.user.ID], "input": map[string]any{"status": "PAID", "reference": "PP-1"}}, &m)
	wantField(t, "marked", m.MarkPayout.Status, "PAID")
	a.mustDo(admin.Token, markPayoutMutation, map[string]any{"id": ids[s1.user.ID], "input": map[string]any{"status": "PAID", "reference": "PP-1"}}, &m)
	wantField(t, "marked again the same way", m.MarkPayout.Status, "PAID")
	a.mustFail(admin.Token, markPayoutMutation, map[string]any{"id": ids[s1.user.ID], "input": map[string]any{"status": "FAILED", "reference": "PP-1"}}, "CONFLICT", "")
	total, _ = a.meBalances(s1.user)
	wantField(t, "s1 paid", total.String(), "held 0.00 available 0.00 inPayout 0.00 paid 10.00 adjustments 0.00 lifetime 10.00")

	var failed atomic.Int32
	race(t, 8, func(int) {
		r := a.do(admin.Token, markPayoutMutation, map[string]any{"id": ids[s2.user.ID], "input": map[string]any{"status": "FAILED", "reason": "account closed"}})
		if len(r.Errors) > 0 {
			t.Errorf("mark FAILED: %+v", r.Errors)
		}
		failed.Add(1)
	})
	total, _ = a.meBalances(s2.user)
	wantField(t, "s2 after FAILED", total.String(), "held 0.00 available 3.00 inPayout 0.00 paid 0.00 adjustments 0.00 lifetime 3.00")
	next := a.runPayouts(admin, "2026-12-payouts")
	wantField(t, "the next run pays s2 again", next.paid()[s2.user.ID], "3.00")
	wantField(t, "and nobody else", len(next.Payouts), 1)
	a.mustVerifyOK()
}

// TestPayoutHoldMatures: with the server's 30-day hold, money billed today
// is held; a run pays nothing; 30 days later it is available and paid.
// Sub-cent earnings are carried: the payout is whole cents.
func TestPayoutHoldMatures(t *testing.T) {
	t.Parallel()
	a := mustStartApp(t, withEnv(map[string]string{"HOLD_DAYS": "30", "PAYOUT_MINIMUM": "1.00", "TOKEN_TTL": "8760h"}))
	brand, admin := a.mustSignUp("BRAND"), a.mustMakeAdmin()
	c := a.mustPricedCampaign(brand, "Held 30 days", map[string]any{"budget": "10000.00", "cpc": "1.00", "cpm": "2.50"})
	s := a.mustStreamerIn(c)
	a.clicks(s.token(c.ID), "h", 3)
	// An impression at 2.50 CPM: 0.0025 (the overlay counts one per slot:
	// the other two repeat it).
	for range 3 {
		a.mustDo("", `mutation($t: String!) { recordImpression(browserSourceToken: $t) { isNew } }`, map[string]any{"t": s.token(c.ID)}, nil)
	}
	var camp struct {
		Campaign struct{ EarningsHoldDays int }
	}
	a.mustDo(brand.Token, `query($id: ID!) { campaign(id: $id) { earningsHoldDays } }`, map[string]any{"id": c.ID}, &camp)
	wantField(t, "earningsHoldDays (the server's)", camp.Campaign.EarningsHoldDays, 30)
	total, _ := a.meBalances(s.user)
	wantField(t, "today", total.Held.Amount+" / "+total.Available.Amount, a.heldOf(total)+" / 0.00")
	wantField(t, "a run today", len(a.runPayouts(admin, "today").Payouts), 0)

	a.project()
	a.clock.Advance(30*24*time.Hour - time.Second)
	total, _ = a.meBalances(s.user)
	wantField(t, "a second before release: available", total.Available.Amount, "0.00")
	a.clock.Advance(time.Second)
	total, _ = a.meBalances(s.user)
	wantField(t, "released: held", total.Held.Amount, "0.00")
	wantField(t, "released: available", total.Available.Amount, total.Lifetime.Amount)
	r := a.runPayouts(admin, "a-month-later")
	wantField(t, "paid whole cents", r.paid()[s.user.ID], "3.00")
	total, _ = a.meBalances(s.user)
	wantField(t, "lifetime", total.Lifetime.Amount, "3.0025")
	wantField(t, "the rest below a cent carried", total.Available.Amount, "0.0025")
	wantField(t, "in payout", total.InPayout.Amount, "3.00")
	a.mustVerifyOK()
}

// heldOf is what a balance holds, for a readable comparison.
func (a *testApp) heldOf(b balances) string { return b.Held.Amount }

// TestReversalBeforeAndAfterPayout: a sale rejected while held takes its
// money back from held; a sale rejected after it was paid out is a negative
// adjustment that the next payout deducts.
func TestReversalBeforeAndAfterPayout(t *testing.T) {
	t.Parallel()
	a := mustStartApp(t, withEnv(map[string]string{"PAYOUT_MINIMUM": "1.00", "TOKEN_TTL": "8760h"}))
	brand, admin := a.mustSignUp("BRAND"), a.mustMakeAdmin()
	c := a.payoutCampaign(brand, "Held 10 days", intp(10))
	s := a.mustStreamerIn(c)
	key, _ := a.mustAPIKey(brand)
	tok := s.token(c.ID)
	a.clicks(tok, "r", 2) // 2.00
	for _, id := range []string{"r-0", "r-1"} {
		mustOK(t, a.doWithKey(key, recordConversionMutation, conversionVars(id, "sale")))
	}
	a.project()
	sales := a.conversionsOf(brand, c.ID)["sale"]
	a.setStatus(brand, "APPROVED", "ok", sales[0].ID, sales[1].ID) // 10.00, held
	total, _ := a.meBalances(s.user)
	wantField(t, "held", total.Held.Amount, "12.00")
	a.clock.Advance(24 * time.Hour)
	a.setStatus(brand, "REJECTED", "fraud", sales[0].ID) // before payout: out of held
	total, _ = a.meBalances(s.user)
	wantField(t, "after a reversal while held", total.String(), "held 7.00 available 0.00 inPayout 0.00 paid 0.00 adjustments 0.00 lifetime 7.00")

	a.clock.Advance(10 * 24 * time.Hour)
	r := a.runPayouts(admin, "after-hold")
	wantField(t, "paid", r.paid()[s.user.ID], "7.00")
	a.setStatus(brand, "REJECTED", "chargeback", sales[1].ID) // after payout: an adjustment
	total, _ = a.meBalances(s.user)
	wantField(t, "after a reversal of paid money", total.String(), "held 0.00 available -5.00 inPayout 7.00 paid 0.00 adjustments -5.00 lifetime 2.00")
	a.clicks(tok, "later", 8) // 8.00, held 10 days
	a.project()
	a.clock.Advance(10 * 24 * time.Hour)
	r = a.runPayouts(admin, "next")
	wantField(t, "the next payout deducts the adjustment", r.paid()[s.user.ID], "3.00")
	total, _ = a.meBalances(s.user)
	wantField(t, "balances at the end", total.String(), "held 0.00 available 0.00 inPayout 10.00 paid 0.00 adjustments 0.00 lifetime 10.00")
	a.mustVerifyOK()
}

// TestReversalRacingPayoutRun: a sale rejected while runs pay it lands
// exactly once: in the payout (which then pays less) or as an adjustment
// (available below zero); never lost, never twice.
func TestReversalRacingPayoutRun(t *testing.T) {
	t.Parallel()
	a := mustStartApp(t, withEnv(map[string]string{"PAYOUT_MINIMUM": "1.00"}))
	brand, admin := a.mustSignUp("BRAND"), a.mustMakeAdmin()
	c := a.payoutCampaign(brand, "Race", intp(0))
	key, _ := a.mustAPIKey(brand)
	const streamers = 6
	var ss []streamerIn
	var sales []string
	for i := range streamers {
		s := a.mustStreamerIn(c)
		ss = append(ss, s)
		a.clicks(s.token(c.ID), fmt.Sprintf("rr%d", i), 4) // 4.00
		mustOK(t, a.doWithKey(key, recordConversionMutation, conversionVars(fmt.Sprintf("rr%d-0", i), "sale")))
	}
	a.project()
	for _, sale := range a.conversionsOf(brand, c.ID)["sale"] {
		sales = append(sales, sale.ID)
	}
	a.setStatus(brand, "APPROVED", "ok", sales...)
	a.project()
	// Each streamer: 9.00 available. Reject every sale while 5 callers run.
	race(t, 6, func(i int) {
		if i == 0 {
			a.in(t).setStatus(brand, "REJECTED", "fraud", sales...)
			a.in(t).project()
			return
		}
		a.in(t).runPayouts(admin, "raced")
	})
	r := a.runPayouts(admin, "raced")
	paid := r.paid()
	for _, s := range ss {
		total, _ := a.meBalances(s.user)
		wantField(t, "lifetime", total.Lifetime.Amount, "4.00")
		p, err := domain.ParseDecimal(paid[s.user.ID])
		if err != nil {
			t.Fatal(err)
		}
		avail := signedDecimal(t, total.Available.Amount)
		if p+avail != 4*domain.MicrosPerUnit {
			t.Errorf("streamer %s: paid %s + available %s, want 4.00", s.user.ID, paid[s.user.ID], total.Available.Amount)
		}
		if p == 9*domain.MicrosPerUnit {
			wantField(t, "an adjustment after payout", total.Adjustments.Amount, "-5.00")
		}
	}
	a.mustVerifyOK()
}

// signedDecimal parses an amount that may be below zero.
func signedDecimal(t testing.TB, s string) domain.Micros {
	t.Helper()
	m, err := domain.ParseDecimal(strings.TrimPrefix(s, "-"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.HasPrefix(s, "-") {
		return -m
	}
	return m
}

// TestPayoutRunInterrupted: a run whose store fails at any one call, before
// or after the call lands (a crash at that point), pays every streamer
// exactly once when called again with its key; and a run left unfinished
// finishes by itself in a server that starts on the same store.
func TestPayoutRunInterrupted(t *testing.T) {
	t.Parallel()
	a, setFault := mustStartFaultyApp(t, withEnv(map[string]string{"PAYOUT_MINIMUM": "1.00"}))
	brand, admin := a.mustSignUp("BRAND"), a.mustMakeAdmin()
	c := a.payoutCampaign(brand, "Interrupted", intp(0))
	s1, s2 := a.mustStreamerIn(c), a.mustStreamerIn(c)
	rounds := 0
	for _, after := range []bool{false, true} {
		for k := 1; ; k++ {
			rounds++
			a.clicks(s1.token(c.ID), fmt.Sprintf("i1-%d", rounds), 2)
			a.clicks(s2.token(c.ID), fmt.Sprintf("i2-%d", rounds), 3)
			a.project()
			key := fmt.Sprintf("run-%d", rounds)
			var calls atomic.Int64
			var hit atomic.Bool
			setFault(func(op string, isAfter bool) error {
				if isAfter != after || calls.Add(1) != int64(k) {
					return nil
				}
				hit.Store(true)
				if after {
					return fmt.Errorf("injected crash after %s landed", op)
				}
				return fmt.Errorf("injected crash before %s", op)
			})
			res := a.do(admin.Token, runPayoutsMutation, map[string]any{"k": key})
			setFault(nil)
			r := a.runPayouts(admin, key) // the same key again: resumes
			wantField(t, fmt.Sprintf("after=%v k=%d: s1 paid", after, k), r.paid()[s1.user.ID], "2.00")
			wantField(t, fmt.Sprintf("after=%v k=%d: s2 paid", after, k), r.paid()[s2.user.ID], "3.00")
			for _, s := range []streamerIn{s1, s2} {
				total, _ := a.meBalances(s.user)
				wantField(t, fmt.Sprintf("after=%v k=%d: available", after, k), total.Available.Amount, "0.00")
				wantField(t, fmt.Sprintf("after=%v k=%d: in payout = lifetime", after, k), total.InPayout.Amount, total.Lifetime.Amount)
			}
			if !hit.Load() || (len(res.Errors) == 0 && k > 40) {
				break // past the last call of a run
			}
		}
	}
	a.mustVerifyOK()
	t.Logf("%d rounds, a crash injected at every store call of a run", rounds)

	// Left unfinished (every write after the run's creation fails), the run
	// finishes in the next server to start on the store, with no call.
	a.clicks(s1.token(c.ID), "left", 4)
	a.project()
	setFault(func(op string, isAfter bool) error {
		if op == "updateMany" && !isAfter { // the claims
			return fmt.Errorf("injected crash before %s", op)
		}
		return nil
	})
	res := a.do(admin.Token, runPayoutsMutation, map[string]any{"k": "left-unfinished"})
	setFault(nil)
	if len(res.Errors) == 0 {
		t.Fatalf("the run did not fail: %s", res.Data)
	}
	a.mustFail(admin.Token, runPayoutsMutation, map[string]any{"k": "another"}, "CONFLICT", "")
	b := mustStartAppOn(t, a.store)
	eventually(t, func() bool {
		var d struct{ PayoutRun *payoutRun }
		b.mustDo(admin.Token, `query { payoutRun(key: "left-unfinished") { status payouts { amount { amount } } } }`, nil, &d)
		return d.PayoutRun != nil && d.PayoutRun.Status == "DONE"
	}, "the unfinished run finished by itself")
	total, _ := a.meBalances(s1.user)
	wantField(t, "paid once", total.InPayout.Amount, total.Lifetime.Amount)
	a.mustVerifyOK()
}

// TestPayoutAccess: only admins run and mark payouts or see runs; a
// streamer sees their own balances only; a brand sees its campaign's
// participations' balances, nobody else's; every input is checked.
func TestPayoutAccess(t *testing.T) {
	t.Parallel()
	a := mustStartApp(t)
	brand, other, admin := a.mustSignUp("BRAND"), a.mustSignUp("BRAND"), a.mustMakeAdmin()
	c := a.payoutCampaign(brand, "Access", intp(0))
	s, s2 := a.mustStreamerIn(c), a.mustStreamerIn(c)
	a.clicks(s.token(c.ID), "acc", 2)
	a.project()
	var partID string
	for id := range s.parts {
		partID = id
	}
	for _, who := range []testUser{s.user, brand} {
		a.mustFail(who.Token, runPayoutsMutation, map[string]any{"k": "k1"}, "FORBIDDEN", "")
		a.mustFail(who.Token, `query { payoutRun(key: "k1") { key } }`, nil, "FORBIDDEN", "")
		a.mustFail(who.Token, markPayoutMutation, map[string]any{"id": "k1:x", "input": map[string]any{"status": "PAID", "reference": "x"}}, "FORBIDDEN", "")
	}
	a.mustFail("", runPayoutsMutation, map[string]any{"k": "k1"}, "UNAUTHENTICATED", "")
	a.mustFail(admin.Token, runPayoutsMutation, map[string]any{"k": "no spaces"}, "BAD_USER_INPUT", "input.key")
	a.mustFail(admin.Token, runPayoutsMutation, map[string]any{"k": strings.Repeat("k", 101)}, "BAD_USER_INPUT", "input.key")
	a.mustFail(admin.Token, markPayoutMutation, map[string]any{"id": "k1:x", "input": map[string]any{"status": "PAID"}}, "BAD_USER_INPUT", "input.reference")
	a.mustFail(admin.Token, markPayoutMutation, map[string]any{"id": "k1:x", "input": map[string]any{"status": "PENDING", "reference": "x"}}, "BAD_USER_INPUT", "input.status")
	a.mustFail(admin.Token, markPayoutMutation, map[string]any{"id": "k1:x", "input": map[string]any{"status": "FAILED", "reason": strings.Repeat("r", 501)}}, "BAD_USER_INPUT", "input.reason")
	a.mustFail(admin.Token, markPayoutMutation, map[string]any{"id": "k1:x", "input": map[string]any{"status": "FAILED"}}, "NOT_FOUND", "")
	a.mustFail(brand.Token, updateCampaignMutation, map[string]any{"id": c.ID, "input": map[string]any{"earningsHoldDays": 366}}, "BAD_USER_INPUT", "input.earningsHoldDays")
	a.mustFail(brand.Token, updateCampaignMutation, map[string]any{"id": c.ID, "input": map[string]any{"earningsHoldDays": -1}}, "BAD_USER_INPUT", "input.earningsHoldDays")

	// Balances: the streamer's own (another user's are null), the brand's
	// participation, not another brand's.
	var d struct {
		User *struct{ Balances *struct{ Total balances } } `json:"node"`
	}
	a.mustDo(s2.user.Token, `query($id: ID!) { node(id: $id) { ... on User { balances { total { `+balancesFields+` } } } } }`, map[string]any{"id": domain.GlobalID(domain.NodeUser, s.user.ID)}, &d)
	if d.User != nil && d.User.Balances != nil {
		t.Errorf("another streamer's balances: %+v, want null", d.User.Balances)
	}
	a.mustDo(admin.Token, `query($id: ID!) { node(id: $id) { ... on User { balances { total { `+balancesFields+` } } } } }`, map[string]any{"id": domain.GlobalID(domain.NodeUser, s.user.ID)}, &d)
	wantField(t, "an admin sees a streamer's balances", d.User.Balances.Total.Available.Amount, "2.00")
	var p struct{ Participation struct{ Balances balances } }
	a.mustDo(brand.Token, `query($id: ID!) { participation(id: $id) { balances { `+balancesFields+` } } }`, map[string]any{"id": partID}, &p)
	wantField(t, "the brand sees its participation's balances", p.Participation.Balances.Available.Amount, "2.00")
	a.mustFail(other.Token, `query($id: ID!) { participation(id: $id) { balances { held { amount } } } }`, map[string]any{"id": partID}, "NOT_FOUND", "")
	a.mustFail(s2.user.Token, `query($id: ID!) { participation(id: $id) { balances { held { amount } } } }`, map[string]any{"id": partID}, "NOT_FOUND", "")
	resp, _ := a.request("GET", "/payout-runs/none/payouts.csv", map[string]string{"Authorization": bearer(admin.Token)}, nil)
	wantField(t, "csv of an unknown run", resp.StatusCode, http.StatusNotFound)
}

// TestVerifyMoney: verify recomputes every earning entry from the events
// and every payout from the entries it claims. An entry lost (as for money
// billed before entries existed) is drift, and the repair inserts it; a
// FAILED payout whose entries are still claimed (a crash between the mark
// and the release) is drift, and the repair releases them; an entry whose
// amount was changed is drift the repair leaves to a person.
func TestVerifyMoney(t *testing.T) {
	t.Parallel()
	a := mustStartApp(t, withEnv(map[string]string{"PAYOUT_MINIMUM": "1.00"}))
	brand, admin := a.mustSignUp("BRAND"), a.mustMakeAdmin()
	c := a.payoutCampaign(brand, "Verified", intp(0))
	s1, s2 := a.mustStreamerIn(c), a.mustStreamerIn(c)
	a.clicks(s1.token(c.ID), "v1", 3)
	a.clicks(s2.token(c.ID), "v2", 2)
	a.project()
	r := a.runPayouts(admin, "verified")
	a.mustVerifyOK()
	ctx := context.Background()

	// s2's payout FAILED, its entries still claimed.
	var s2Payout string
	for _, p := range r.Payouts {
		if p.Streamer.ID == s2.user.ID {
			s2Payout = p.ID
		}
	}
	if err := repository.UpdateRaw(ctx, a.store, "payouts", bson.M{"_id": s2Payout}, bson.M{"$set": bson.M{"status": "failed"}}); err != nil {
		t.Fatal(err)
	}
	// s1's three clicks lose their entry, and a later one is lost too.
	a.clicks(s1.token(c.ID), "v1-later", 1)
	a.project()
	if err := repository.DeleteRaw(ctx, a.store, "earnings", bson.M{"participationId": bson.M{"$in": keysOf(s1.parts)}}); err != nil {
		t.Fatal(err)
	}
	// s2's balance counter drifts.
	if err := repository.UpdateRaw(ctx, a.store, "balance_counts", bson.M{"participationId": bson.M{"$in": keysOf(s2.parts)}, "day": ""},
		bson.M{"$inc": bson.M{"amountMicros": int64(5_000_000)}}); err != nil {
		t.Fatal(err)
	}
	rep := a.mustVerify()
	report := strings.Join(rep.Drift, "\n")
	for _, want := range []string{"payout " + s2Payout + ": FAILED, yet it still claims", "earning clicks:", "missing; the events give",
		":total: stored 7.00 (0 reversals); its entries sum to 2.00",
		"payout verified:" + s1.user.ID + ": amount 3.00; the entries it claims sum to 0.00"} {
		if !strings.Contains(report, want) {
			t.Errorf("the report does not say %q:\n%s", want, report)
		}
	}
	var out bytes.Buffer
	if _, err := projection.Repair(ctx, repository.NewProjection(a.store), a.projector, &out); err != nil {
		t.Fatal(err)
	}
	rep = a.mustVerify()
	// The entries are back, unclaimed: s1's paid clicks are available
	// again, which verify reports against the payout that paid them.
	if len(rep.Drift) != 1 || !strings.Contains(rep.Drift[0], "payout verified:"+s1.user.ID) {
		t.Errorf("after the repair: %q, want only s1's payout, whose claims are gone", rep.Drift)
	}
	total, _ := a.meBalances(s2.user)
	wantField(t, "s2 after the repair", total.Available.Amount, "2.00")
}

func keysOf(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

type statement struct {
	Month, TimeZone                                             string
	Opening, Earnings, Reversals, Adjustments, Payouts, Closing struct{ Amount string }
	Campaigns                                                   []struct {
		Campaign                         struct{ ID string }
		Earnings, Reversals, Adjustments struct{ Amount string }
	}
	Lines []struct {
		Kind         string
		Amount       struct{ Amount string }
		FirstEventId *string
		Events       int
		PayoutId     *string
	}
}

func (s statement) String() string {
	return fmt.Sprintf("opening %s earnings %s reversals %s adjustments %s payouts %s closing %s",
		s.Opening.Amount, s.Earnings.Amount, s.Reversals.Amount, s.Adjustments.Amount, s.Payouts.Amount, s.Closing.Amount)
}

const statementQuery = `query($m: String!, $z: String) { me { statement(month: $m, timeZone: $z) { month timeZone
  opening { amount } earnings { amount } reversals { amount } adjustments { amount } payouts { amount } closing { amount }
  campaigns { campaign { id } earnings { amount } reversals { amount } adjustments { amount } }
  lines { kind amount { amount } firstEventId events payoutId } } } }`

func (a *testApp) statement(who testUser, month string) statement {
	a.t.Helper()
	a.project()
	var d struct{ Me struct{ Statement statement } }
	a.mustDo(who.Token, statementQuery, map[string]any{"m": month}, &d)
	return d.Me.Statement
}

// TestStatement: a streamer's month is its opening balance, its earnings,
// reversals and adjustments by campaign, its payouts, and its closing
// balance, which opens the next month; every line names its events or its
// payout, and the lines sum to closing − opening; the last closing is the
// balance not paid out (held + available).
func TestStatement(t *testing.T) {
	t.Parallel()
	a := mustStartApp(t, withEnv(map[string]string{"PAYOUT_MINIMUM": "1.00", "TOKEN_TTL": "8760h"}))
	brand, admin := a.mustSignUp("BRAND"), a.mustMakeAdmin()
	c := a.payoutCampaign(brand, "Statements", intp(0))
	s := a.mustStreamerIn(c)
	key, _ := a.mustAPIKey(brand)
	a.clicks(s.token(c.ID), "st", 5) // 2026-11-23: 5.00
	mustOK(t, a.doWithKey(key, recordConversionMutation, conversionVars("st-0", "sale")))
	a.project()
	sale := a.conversionsOf(brand, c.ID)["sale"][0].ID
	a.setStatus(brand, "APPROVED", "ok", sale) // 5.00
	a.project()
	wantField(t, "paid in November", a.runPayouts(admin, "november").paid()[s.user.ID], "10.00")
	a.setStatus(brand, "REJECTED", "chargeback", sale) // an adjustment
	a.clock.Set(time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC))
	a.clicks(s.token(c.ID), "dec", 3) // 3.00

	nov := a.statement(s.user, "2026-11")
	wantField(t, "November", nov.String(), "opening 0.00 earnings 10.00 reversals 0.00 adjustments -5.00 payouts 10.00 closing -5.00")
	wantField(t, "November's campaigns", len(nov.Campaigns), 1)
	wantField(t, "its earnings", nov.Campaigns[0].Earnings.Amount, "10.00")
	var sum domain.Micros
	kinds := map[string]int{}
	for _, l := range nov.Lines {
		sum += signedDecimal(t, l.Amount.Amount)
		kinds[l.Kind]++
		if l.Kind == "PAYOUT" && l.PayoutId == nil || l.Kind != "PAYOUT" && (l.FirstEventId == nil || l.Events < 1) {
			t.Errorf("line %+v: not traceable", l)
		}
	}
	wantField(t, "the lines sum to closing − opening", sum, -5*domain.MicrosPerUnit)
	wantField(t, "payout lines", kinds["PAYOUT"], 1)
	wantField(t, "adjustment lines", kinds["ADJUSTMENT"], 1)
	dec := a.statement(s.user, "2026-12")
	wantField(t, "December", dec.String(), "opening -5.00 earnings 3.00 reversals 0.00 adjustments 0.00 payouts 0.00 closing -2.00")
	total, _ := a.meBalances(s.user)
	wantField(t, "held + available now", signedDecimal(t, total.Held.Amount)+signedDecimal(t, total.Available.Amount), -2*domain.MicrosPerUnit)
	wantField(t, "a month before anything", a.statement(s.user, "2026-10").String(),
		"opening 0.00 earnings 0.00 reversals 0.00 adjustments 0.00 payouts 0.00 closing 0.00")

	// The brand's side: the campaign's month, on what, with whom; the same
	// entries as the streamer's statement.
	const campaignStatement = `query($id: ID!, $m: String!) { campaign(id: $id) { statement(month: $m) {
	  timeZone spend { amount } items { kind events amount { amount } } streamers { streamer { id } amount { amount } } } } }`
	var cs struct {
		Campaign struct {
			Statement struct {
				TimeZone string
				Spend    struct{ Amount string }
				Items    []struct {
					Kind   string
					Events int
					Amount struct{ Amount string }
				}
				Streamers []struct {
					Streamer struct{ ID string }
					Amount   struct{ Amount string }
				}
			}
		}
	}
	a.mustDo(brand.Token, campaignStatement, map[string]any{"id": c.ID, "m": "2026-11"}, &cs)
	st := cs.Campaign.Statement
	wantField(t, "the campaign's November spend", st.Spend.Amount, "5.00")
	var items []string
	for _, it := range st.Items {
		items = append(items, fmt.Sprintf("%s %d %s", it.Kind, it.Events, it.Amount.Amount))
	}
	wantField(t, "on what", strings.Join(items, ", "), "IMPRESSIONS 0 0.00, CLICKS 5 5.00, CONVERSIONS 1 5.00, REVERSALS 1 -5.00")
	wantField(t, "with whom", len(st.Streamers), 1)
	wantField(t, "the streamer's share", st.Streamers[0].Amount.Amount, "5.00")
	a.mustDo(brand.Token, campaignStatement, map[string]any{"id": c.ID, "m": "2026-12"}, &cs)
	wantField(t, "the campaign's December spend", cs.Campaign.Statement.Spend.Amount, "3.00")
	a.mustFail(s.user.Token, campaignStatement, map[string]any{"id": c.ID, "m": "2026-11"}, "FORBIDDEN", "")
	a.mustFail(brand.Token, campaignStatement, map[string]any{"id": c.ID, "m": "11/2026"}, "BAD_USER_INPUT", "month")

	a.mustFail(s.user.Token, statementQuery, map[string]any{"m": "2026-13"}, "BAD_USER_INPUT", "month")
	a.mustFail(s.user.Token, statementQuery, map[string]any{"m": "2026-11", "z": "Mars/Olympus"}, "BAD_USER_INPUT", "timeZone")
	var other struct {
		Node *struct{ Statement *statement }
	}
	a.mustDo(brand.Token, `query($id: ID!) { node(id: $id) { ... on User { statement(month: "2026-11") { month } } } }`,
		map[string]any{"id": domain.GlobalID(domain.NodeUser, s.user.ID)}, &other)
	if other.Node != nil && other.Node.Statement != nil {
		t.Errorf("a brand sees a streamer's statement: %+v", other.Node.Statement)
	}
	var mine struct {
		Node *struct{ Statement *statement }
	}
	a.mustDo(admin.Token, `query($id: ID!) { node(id: $id) { ... on User { statement(month: "2026-11") { opening { amount } closing { amount } } } } }`,
		map[string]any{"id": domain.GlobalID(domain.NodeUser, s.user.ID)}, &mine)
	wantField(t, "an admin sees it", mine.Node.Statement.Closing.Amount, "-5.00")
	a.mustVerifyOK()
}
