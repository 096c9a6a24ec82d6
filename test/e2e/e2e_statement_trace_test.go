package e2e

import (
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"tally/domain"
)

// Statements traced to their events (docs/money.md, "Statements"): every
// line of a streamer's month pages through exactly the events it sums, so
// the month's statement is the sum of its events, payouts and adjustments;
// the brand traces its campaign statement's lines the same way; nobody
// else traces anything.

const traceQuery = `query($e: String!, $n: Int, $c: String) { entryEvents(entryId: $e, first: $n, after: $c) {
  edges { cursor node { id kind at amount { amount } } } pageInfo { hasNextPage endCursor } } }`

type traced struct {
	IDs   []string
	Kinds map[string]int
	Sum   domain.Micros
}

// trace pages through entryID's events n at a time, as who.
func (a *testApp) trace(who testUser, entryID string, n int) traced {
	a.t.Helper()
	out := traced{Kinds: map[string]int{}}
	var after any
	for pages := 0; ; pages++ {
		if pages > 1000 {
			a.t.Fatalf("entry %s: no end to its pages", entryID)
		}
		var d struct {
			EntryEvents struct {
				Edges []struct {
					Cursor string
					Node   struct {
						ID, Kind, At string
						Amount       struct{ Amount string }
					}
				}
				PageInfo struct {
					HasNextPage bool
					EndCursor   *string
				}
			}
		}
		a.mustDo(who.Token, traceQuery, map[string]any{"e": entryID, "n": n, "c": after}, &d)
		if len(d.EntryEvents.Edges) > n {
			a.t.Fatalf("entry %s: a page of %d events, asked for %d", entryID, len(d.EntryEvents.Edges), n)
		}
		for _, e := range d.EntryEvents.Edges {
			out.IDs = append(out.IDs, e.Node.ID)
			out.Kinds[e.Node.Kind]++
			out.Sum += signedDecimal(a.t, e.Node.Amount.Amount)
		}
		if !d.EntryEvents.PageInfo.HasNextPage {
			return out
		}
		after = *d.EntryEvents.PageInfo.EndCursor
	}
}

const tracedStatementQuery = `query($m: String!) { me { statement(month: $m) {
  opening { amount } earnings { amount } reversals { amount } adjustments { amount } payouts { amount } closing { amount }
  lines { kind amount { amount } entryId events payoutId trace(first: 100) { edges { node { id amount { amount } } } pageInfo { hasNextPage } } } } } }`

type tracedLine struct {
	Kind     string
	Amount   struct{ Amount string }
	EntryId  *string
	Events   int
	PayoutId *string
	Trace    struct {
		Edges []struct {
			Node struct {
				ID     string
				Amount struct{ Amount string }
			}
		}
		PageInfo struct{ HasNextPage bool }
	}
}

// TestStatementTrace: a streamer's month of 40 clicks (recorded 8 at a time,
// so that lines group several events), 12 impressions, a sale approved,
// paid, then rejected (an adjustment), and a payout. Paging each line's
// events 3 at a time gives exactly the events whose amounts sum to the line
// and whose count is its events: together every click and impression
// recorded, once. So the statement — opening + earnings + reversals +
// adjustments − payouts = closing — equals the sum of the month's events
// and its payout. The brand traces its campaign statement's lines; another
// streamer and another brand cannot; bounded pages.
func TestStatementTrace(t *testing.T) {
	t.Parallel()
	a := mustStartApp(t, withEnv(map[string]string{"PAYOUT_MINIMUM": "1.00", "TOKEN_TTL": "8760h"}))
	brand, admin := a.mustSignUp("BRAND"), a.mustMakeAdmin()
	changes := map[string]any{"budget": "10000.00", "cpc": "1.00", "cpm": "250.00", "earningsHoldDays": 0,
		"goals": []any{map[string]any{"goalId": "sale", "name": "Sale", "payout": "5.00", "approval": "REVIEW"}}}
	c := a.mustPricedCampaign(brand, "Traced", changes)
	s := a.mustStreamerIn(c)
	tok := s.token(c.ID)
	key, _ := a.mustAPIKey(brand)

	recorded := map[string]bool{} // every click and impression id
	var mu sync.Mutex
	for round := range 5 {
		var wg sync.WaitGroup
		for i := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				p := a.mustClick(tok, fmt.Sprintf("tr-%d-%d", round, i))
				mu.Lock()
				recorded[p.RecordClick.Click.ID] = true
				mu.Unlock()
			}()
		}
		wg.Wait()
	}
	impressions := 0
	for range 12 { // 0.25 each
		a.clock.Advance(61 * time.Second) // a new slot
		if imp := a.mustImpression(tok); imp.IsNew && imp.Impression != nil {
			recorded[imp.Impression.ID] = true
			impressions++
		}
	}
	if impressions == 0 {
		t.Fatal("no impression recorded")
	}
	mustOK(t, a.doWithKey(key, recordConversionMutation, conversionVars("tr-0-0", "sale")))
	a.project()
	sale := a.conversionsOf(brand, c.ID)["sale"][0].ID
	a.setStatus(brand, "APPROVED", "ok", sale)
	a.project()
	month := a.clock.Now().UTC().Format("2006-01")
	a.runPayouts(admin, "trace")
	a.setStatus(brand, "REJECTED", "chargeback", sale) // an adjustment
	a.project()

	var d struct {
		Me struct {
			Statement struct {
				Opening, Earnings, Reversals, Adjustments, Payouts, Closing struct{ Amount string }
				Lines                                                       []tracedLine
			}
		}
	}
	a.mustDo(s.user.Token, tracedStatementQuery, map[string]any{"m": month}, &d)
	st := d.Me.Statement
	seen := map[string]int{}
	var events, payouts, adjustments, earnings domain.Micros
	kinds := map[string]int{}
	var entries []string
	most := 0
	for _, l := range st.Lines {
		most = max(most, l.Events)
		amount := signedDecimal(t, l.Amount.Amount)
		kinds[l.Kind]++
		if l.Kind == "PAYOUT" {
			wantField(t, "a payout line's events", len(l.Trace.Edges), 0)
			payouts -= amount
			continue
		}
		entries = append(entries, *l.EntryId)
		tr := a.trace(s.user, *l.EntryId, 3)
		wantField(t, fmt.Sprintf("line %s: its events' sum", *l.EntryId), tr.Sum, amount)
		wantField(t, fmt.Sprintf("line %s: its events", *l.EntryId), len(tr.IDs), l.Events)
		// The line's own trace field gives the same events.
		var inline domain.Micros
		for _, e := range l.Trace.Edges {
			inline += signedDecimal(t, e.Node.Amount.Amount)
		}
		if !l.Trace.PageInfo.HasNextPage {
			wantField(t, fmt.Sprintf("line %s: trace", *l.EntryId), inline, amount)
		}
		for _, id := range tr.IDs {
			seen[id]++
		}
		events += tr.Sum
		switch l.Kind {
		case "ADJUSTMENT":
			adjustments += tr.Sum
		case "EARNING":
			earnings += tr.Sum
		}
	}
	t.Logf("%d lines, the largest of %d events", len(st.Lines), most)
	// Every click and impression recorded is behind exactly one line; the
	// sale behind two (its approval and its adjustment).
	for id := range recorded {
		if seen[id] != 1 {
			t.Errorf("event %s: behind %d lines, want 1", id, seen[id])
		}
	}
	wantField(t, "the sale's lines", seen[sale], 2)
	wantField(t, "events traced", len(seen), len(recorded)+1)
	wantField(t, "lines", fmt.Sprintf("payout %d adjustment %d", kinds["PAYOUT"], kinds["ADJUSTMENT"]), "payout 1 adjustment 1")
	wantField(t, "earnings = the sum of the earning lines' events", signedDecimal(t, st.Earnings.Amount), earnings)
	wantField(t, "earnings = 40 clicks, the impressions and a sale", earnings, 40*domain.MicrosPerUnit+domain.Micros(impressions)*domain.MicrosPerUnit/4+5*domain.MicrosPerUnit)
	wantField(t, "adjustments = their events", signedDecimal(t, st.Adjustments.Amount), adjustments)
	wantField(t, "payouts = the payout lines", signedDecimal(t, st.Payouts.Amount), payouts)
	opening, closing := signedDecimal(t, st.Opening.Amount), signedDecimal(t, st.Closing.Amount)
	wantField(t, "closing = opening + the month's events − its payouts", closing, opening+events-payouts)

	// The brand: the campaign statement's lines, traced.
	var cs struct {
		Campaign struct {
			Statement struct {
				Spend struct{ Amount string }
				Lines []tracedLine
			}
		}
	}
	a.mustDo(brand.Token, `query($id: ID!, $m: String!) { campaign(id: $id) { statement(month: $m) { spend { amount }
	  lines { kind amount { amount } entryId events trace(first: 100) { edges { node { id amount { amount } } } pageInfo { hasNextPage } } } } } }`,
		map[string]any{"id": c.ID, "m": month}, &cs)
	var spent domain.Micros
	var brandEntries []string
	for _, l := range cs.Campaign.Statement.Lines {
		brandEntries = append(brandEntries, *l.EntryId)
		tr := a.trace(brand, *l.EntryId, 7)
		wantField(t, fmt.Sprintf("campaign line %s: its events' sum", *l.EntryId), tr.Sum, signedDecimal(t, l.Amount.Amount))
		spent += tr.Sum
	}
	wantField(t, "the campaign's spend = its lines' events", signedDecimal(t, cs.Campaign.Statement.Spend.Amount), spent)
	sort.Strings(entries)
	sort.Strings(brandEntries)
	wantField(t, "the brand's lines are the streamer's entries", strings.Join(brandEntries, ","), strings.Join(entries, ","))
	wantField(t, "an admin traces too", a.trace(admin, entries[0], 100).Sum != 0, true)

	// Nobody else; bounded pages; field errors.
	other := a.mustStreamerIn(c)
	otherBrand := a.mustSignUp("BRAND")
	a.mustFail(other.user.Token, traceQuery, map[string]any{"e": entries[0], "n": 10}, "NOT_FOUND", "")
	a.mustFail(otherBrand.Token, traceQuery, map[string]any{"e": entries[0], "n": 10}, "NOT_FOUND", "")
	a.mustFail(s.user.Token, traceQuery, map[string]any{"e": "clicks:nothing", "n": 10}, "NOT_FOUND", "")
	a.mustFail(s.user.Token, traceQuery, map[string]any{"e": entries[0], "n": 101}, "BAD_USER_INPUT", "first")
	a.mustFail(s.user.Token, traceQuery, map[string]any{"e": entries[0], "n": 10, "c": "not a cursor"}, "BAD_USER_INPUT", "after")
	a.mustFail(s.user.Token, traceQuery, map[string]any{"e": "", "n": 10}, "BAD_USER_INPUT", "entryId")
	a.mustVerifyOK()
}
