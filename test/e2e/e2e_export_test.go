package e2e

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/primitive"

	"tally/domain"
	"tally/repository"
)

// withExportPageSize makes the event export read n events of a kind per
// store call.
func withExportPageSize(n int) appOption { return func(o *startOptions) { o.ExportPageSize = n } }

// exportPath is the event export's URL for campaignID with params.
func exportPath(campaignID string, params map[string]string) string {
	q := url.Values{}
	for k, v := range params {
		q.Set(k, v)
	}
	return "/campaigns/" + campaignID + "/events.csv?" + q.Encode()
}

// theDay is the test clock's day, as the export's from and to.
var theDay = map[string]string{"from": "2026-11-23", "to": "2026-11-23"}

// with returns params with more added.
func withParams(params map[string]string, more ...string) map[string]string {
	out := map[string]string{}
	for k, v := range params {
		out[k] = v
	}
	for i := 0; i+1 < len(more); i += 2 {
		out[more[i]] = more[i+1]
	}
	return out
}

// exportRows are an export's rows, each by column name.
type exportRows []map[string]string

// mustExport exports as token and returns the rows, failing unless the
// answer is a whole CSV file with the export's header.
func (a *testApp) mustExport(token, campaignID string, params map[string]string) exportRows {
	a.t.Helper()
	resp, raw := a.request(http.MethodGet, exportPath(campaignID, params), map[string]string{"Authorization": bearer(token)}, nil)
	if resp.StatusCode != http.StatusOK {
		a.t.Fatalf("export: status %d: %s", resp.StatusCode, raw)
	}
	wantField(a.t, "Content-Type", resp.Header.Get("Content-Type"), "text/csv; charset=utf-8")
	return parseExport(a.t, raw)
}

func parseExport(t testing.TB, raw []byte) exportRows {
	t.Helper()
	if len(raw) > 0 && !bytes.HasSuffix(raw, []byte("\r\n")) {
		t.Errorf("the export does not end its last record with CRLF")
	}
	records, err := csv.NewReader(bytes.NewReader(raw)).ReadAll()
	if err != nil {
		t.Fatalf("export is not CSV: %v", err)
	}
	if len(records) == 0 || !slices.Equal(records[0], domain.ExportColumns) {
		t.Fatalf("export header: got %v, want %v", records[:min(1, len(records))], domain.ExportColumns)
	}
	var rows exportRows
	for _, rec := range records[1:] {
		row := map[string]string{}
		for i, col := range domain.ExportColumns {
			row[col] = rec[i]
		}
		rows = append(rows, row)
	}
	return rows
}

// of returns the rows whose column col is v.
func (rs exportRows) of(col, v string) exportRows {
	var out exportRows
	for _, r := range rs {
		if r[col] == v {
			out = append(out, r)
		}
	}
	return out
}

// sum adds a money column.
func (rs exportRows) sum(t testing.TB, col string) domain.Micros {
	t.Helper()
	var total domain.Micros
	for _, r := range rs {
		m, err := domain.ParseDecimal(r[col])
		if err != nil {
			t.Fatalf("%s %q: %v", col, r[col], err)
		}
		total += m
	}
	return total
}

// exportError is the export's JSON error answer.
type exportError struct {
	Error struct {
		Code, Message, Field string
	}
	Errors []struct{ Field, Message string }
}

// mustFailExport exports as token and wants status and code (and field,
// when given) in the export's JSON error shape.
func (a *testApp) mustFailExport(headers map[string]string, campaignID string, params map[string]string, status int, code, field string) exportError {
	a.t.Helper()
	resp, raw := a.request(http.MethodGet, exportPath(campaignID, params), headers, nil)
	var e exportError
	if err := json.Unmarshal(raw, &e); err != nil {
		a.t.Fatalf("export error (%d) is not JSON: %v: %s", resp.StatusCode, err, raw)
	}
	if resp.StatusCode != status || e.Error.Code != code || (field != "" && e.Error.Field != field) {
		a.t.Errorf("export: got %d %s on %q (%s), want %d %s on %q", resp.StatusCode, e.Error.Code, e.Error.Field, e.Error.Message, status, code, field)
	}
	return e
}

func authHeader(token string) map[string]string {
	return map[string]string{"Authorization": bearer(token)}
}

// TestEventExport: the export holds every click and conversion of the
// campaign as recorded and projected — billing, the rule that refused a
// price, money to the micro-unit, sub-ids guarded against formula
// injection — in the order recorded, and its money sums to the campaign's
// spend.
func TestEventExport(t *testing.T) {
	a := mustStartApp(t)
	brand := a.mustSignUp("BRAND")
	in := campaignInput("Export")
	in["budget"] = "2.00" // a click (0.25) and a conversion (1.50) fit, then one more click, then nothing
	camp := a.mustCreateCampaign(brand, in)
	a.mustSetStatus(brand, camp.ID, "ACTIVE")
	streamer := a.mustSignUp("STREAMER")
	tok := token(t, a.mustJoin(streamer, camp.ID))

	subs := map[string]any{"sub1": "=HYPERLINK(\"http://evil.example\")", "sub2": "+1", "sub3": "plain, with \"quotes\"", "sub4": "'kept", "sub5": "@SUM(A1)"}
	var p clickPayload
	a.mustDo("", recordClickMutation, map[string]any{"input": map[string]any{"browserSourceToken": tok, "clickId": "c1", "subIds": subs}}, &p)
	a.clock.Advance(time.Second)
	a.mustDo(brand.Token, recordConversionMutation, conversionVars("c1", "signup"), nil)
	for _, id := range []string{"c2", "-c3", "c4"} {
		a.clock.Advance(time.Second)
		a.mustClick(tok, id)
	}
	tot := a.totals(brand, camp.ID) // projected

	rows := a.mustExport(brand.Token, camp.ID, theDay)
	if len(rows) != 5 {
		t.Fatalf("rows: got %d, want 5: %v", len(rows), rows)
	}
	wantField(t, "click rows", len(rows.of("kind", "click")), tot.Campaign.Stats.Clicks)
	wantField(t, "conversion rows", len(rows.of("kind", "conversion")), tot.Campaign.Stats.Conversions)
	spent, _ := domain.ParseDecimal(tot.Campaign.Spent.Amount)
	wantField(t, "sum of charged", rows.sum(t, "charged"), spent)
	wantField(t, "charged of the billed", rows.of("billing", "BILLED").sum(t, "charged"), spent)

	type want struct{ kind, clickID, billing, reason, price, charged string }
	for i, w := range []want{
		{"click", "c1", "BILLED", "", "0.250000", "0.250000"},
		{"conversion", "c1", "BILLED", "", "1.500000", "1.500000"},
		{"click", "c2", "BILLED", "", "0.250000", "0.250000"},
		{"click", "'-c3", "NOT_BILLED", "BUDGET", "0.250000", "0.000000"},
		{"click", "c4", "NOT_BILLED", "BUDGET", "0.250000", "0.000000"},
	} {
		r := rows[i]
		got := want{r["kind"], r["clickId"], r["billing"], r["notBilledReason"], r["price"], r["charged"]}
		if got != w {
			t.Errorf("row %d: got %+v, want %+v", i, got, w)
		}
		wantField(t, fmt.Sprintf("row %d campaignId", i), r["campaignId"], camp.ID)
		wantField(t, fmt.Sprintf("row %d streamerId", i), r["streamerId"], streamer.ID)
		wantField(t, fmt.Sprintf("row %d currency", i), r["currency"], "USD")
		wantField(t, fmt.Sprintf("row %d recordedAt", i), r["recordedAt"], time.Date(2026, 11, 23, 12, 0, i, 0, time.UTC).Format("2006-01-02T15:04:05.000Z"))
	}
	click, conv := rows[0], rows[1]
	wantField(t, "click id", click["id"], p.RecordClick.Click.ID)
	for col, v := range map[string]string{"sub1": "'=HYPERLINK(\"http://evil.example\")", "sub2": "'+1", "sub3": "plain, with \"quotes\"",
		"sub4": "''kept", "sub5": "'@SUM(A1)"} {
		wantField(t, "click "+col, click[col], v)
		wantField(t, "conversion "+col, conv[col], v) // inherited
	}
	for col, v := range map[string]string{"goalId": "signup", "externalId": "ext-c1", "status": "APPROVED", "implied": "false",
		"payout": "1.500000", "statusAt": "2026-11-23T12:00:01.000Z", "invalidReason": ""} {
		wantField(t, "conversion "+col, conv[col], v)
	}
	for col, v := range map[string]string{"goalId": "", "status": "", "payout": "", "implied": "", "invalidReason": ""} {
		wantField(t, "click "+col, click[col], v)
	}

	t.Run("Kinds", func(t *testing.T) {
		a := a.in(t)
		wantField(t, "clicks", len(a.mustExport(brand.Token, camp.ID, withParams(theDay, "kind", "clicks"))), 4)
		convs := a.mustExport(brand.Token, camp.ID, withParams(theDay, "kind", "conversions"))
		if len(convs) != 1 || convs[0]["kind"] != "conversion" {
			t.Errorf("conversions: %v", convs)
		}
	})
	t.Run("Range", func(t *testing.T) {
		a := a.in(t)
		// [12:00:01, 12:00:03): the conversion and c2.
		got := a.mustExport(brand.Token, camp.ID, map[string]string{"from": "2026-11-23T12:00:01Z", "to": "2026-11-23T13:00:03+01:00"})
		if len(got) != 2 || got[0]["kind"] != "conversion" || got[1]["clickId"] != "c2" {
			t.Errorf("range: %v", got)
		}
		// 12:00 UTC is 21:00 on the 23rd in Tokyo and 07:00 in New York.
		wantField(t, "Tokyo 23rd", len(a.mustExport(brand.Token, camp.ID, withParams(theDay, "timeZone", "Asia/Tokyo"))), 5)
		wantField(t, "Tokyo 24th", len(a.mustExport(brand.Token, camp.ID, map[string]string{"from": "2026-11-24", "to": "2026-11-24", "timeZone": "Asia/Tokyo"})), 0)
		wantField(t, "New York 22nd", len(a.mustExport(brand.Token, camp.ID, map[string]string{"from": "2026-11-22", "to": "2026-11-22", "timeZone": "America/New_York"})), 0)
		wantField(t, "New York 23rd", len(a.mustExport(brand.Token, camp.ID, withParams(theDay, "timeZone", "America/New_York"))), 5)
	})
	t.Run("Headers", func(t *testing.T) {
		a := a.in(t)
		resp, raw := a.request(http.MethodGet, exportPath(camp.ID, theDay), authHeader(brand.Token), nil)
		wantField(t, "status", resp.StatusCode, http.StatusOK)
		wantField(t, "Content-Disposition", resp.Header.Get("Content-Disposition"),
			`attachment; filename="events-`+camp.ID+`-20261123T000000Z-20261124T000000Z.csv"`)
		wantField(t, "Cache-Control", resp.Header.Get("Cache-Control"), "no-store")
		if !bytes.HasPrefix(raw, []byte(strings.Join(domain.ExportColumns, ",")+"\r\n")) {
			t.Errorf("the file does not start with the header row and CRLF: %.80q", raw)
		}
		head, _ := a.request(http.MethodHead, exportPath(camp.ID, theDay), authHeader(brand.Token), nil)
		wantField(t, "HEAD status", head.StatusCode, http.StatusOK)
		wantField(t, "HEAD Content-Type", head.Header.Get("Content-Type"), "text/csv; charset=utf-8")
	})
}

// TestEventExportAccess: the campaign's brand and admins export every
// participation's events, or one's; a streamer exports their own
// participation's only; anyone else is answered as if the campaign did not
// exist, as the API answers.
func TestEventExportAccess(t *testing.T) {
	a := mustStartApp(t)
	brand, other, admin := a.mustSignUp("BRAND"), a.mustSignUp("BRAND"), a.mustMakeAdmin()
	camp := a.mustActiveCampaign(brand, "Access")
	ann, bob, cat := a.mustSignUp("STREAMER"), a.mustSignUp("STREAMER"), a.mustSignUp("STREAMER")
	annPart, bobPart := a.mustJoin(ann, camp.ID), a.mustJoin(bob, camp.ID)
	for i := range 3 {
		a.mustClick(token(t, annPart), fmt.Sprintf("ann%d", i))
	}
	a.mustClick(token(t, bobPart), "bob0")
	a.project()

	streamers := func(rows exportRows) map[string]int {
		out := map[string]int{}
		for _, r := range rows {
			out[r["streamerId"]]++
		}
		return out
	}
	wantRows := func(who string, rows exportRows, want map[string]int) {
		t.Helper()
		if got := streamers(rows); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s: rows by streamer: got %v, want %v", who, got, want)
		}
	}
	all := map[string]int{ann.ID: 3, bob.ID: 1}
	wantRows("brand", a.mustExport(brand.Token, camp.ID, theDay), all)
	wantRows("admin", a.mustExport(admin.Token, camp.ID, theDay), all)
	wantRows("brand, one participation", a.mustExport(brand.Token, camp.ID, withParams(theDay, "participationId", bobPart.ID)), map[string]int{bob.ID: 1})
	wantRows("ann", a.mustExport(ann.Token, camp.ID, theDay), map[string]int{ann.ID: 3})
	wantRows("ann, her participation", a.mustExport(ann.Token, camp.ID, withParams(theDay, "participationId", annPart.ID)), map[string]int{ann.ID: 3})

	a.mustFailExport(authHeader(other.Token), camp.ID, theDay, http.StatusNotFound, "NOT_FOUND", "")
	a.mustFailExport(authHeader(brand.Token), primitive.NewObjectID().Hex(), theDay, http.StatusNotFound, "NOT_FOUND", "")
	a.mustFailExport(authHeader(brand.Token), "not-an-id", theDay, http.StatusNotFound, "NOT_FOUND", "")
	a.mustFailExport(authHeader(ann.Token), camp.ID, withParams(theDay, "participationId", bobPart.ID), http.StatusNotFound, "NOT_FOUND", "")
	a.mustFailExport(authHeader(cat.Token), camp.ID, theDay, http.StatusForbidden, "FORBIDDEN", "") // sees the ACTIVE campaign, takes no part
	otherCamp := a.mustActiveCampaign(other, "Other")
	a.mustFailExport(authHeader(brand.Token), camp.ID, withParams(theDay, "participationId", a.mustJoin(cat, otherCamp.ID).ID), http.StatusNotFound, "NOT_FOUND", "")
	a.mustFailExport(nil, camp.ID, theDay, http.StatusUnauthorized, "UNAUTHENTICATED", "")
	a.mustFailExport(map[string]string{"Authorization": "Bearer nope"}, camp.ID, theDay, http.StatusUnauthorized, "UNAUTHENTICATED", "")
	key, _ := a.mustAPIKey(brand)
	e := a.mustFailExport(map[string]string{"X-Api-Key": key}, camp.ID, theDay, http.StatusUnauthorized, "UNAUTHENTICATED", "")
	if !strings.Contains(e.Error.Message, "API keys") {
		t.Errorf("an API key's refusal does not say why: %q", e.Error.Message)
	}
}

// TestEventExportBadParameters: every bad parameter is a 400 naming it,
// all of them at once, before anything is read; other methods are 405.
func TestEventExportBadParameters(t *testing.T) {
	a := mustStartApp(t, withEnv(map[string]string{"EXPORT_LIMIT_PER_USER": "3/1h"}))
	brand := a.mustSignUp("BRAND")
	camp := a.mustActiveCampaign(brand, "Params")
	h := authHeader(brand.Token)
	for _, c := range []struct {
		name   string
		params map[string]string
		field  string
	}{
		{"NoFrom", map[string]string{"to": "2026-11-23"}, "from"},
		{"NoTo", map[string]string{"from": "2026-11-23"}, "to"},
		{"BadFrom", withParams(theDay, "from", "23/11/2026"), "from"},
		{"BadKind", withParams(theDay, "kind", "impressions"), "kind"},
		{"BadTimeZone", withParams(theDay, "timeZone", "Mars/Olympus"), "timeZone"},
		{"LocalTimeZone", withParams(theDay, "timeZone", "Local"), "timeZone"},
		{"ToBeforeFrom", map[string]string{"from": "2026-11-23T12:00:00Z", "to": "2026-11-23T11:00:00Z"}, "to"},
		{"Empty", map[string]string{"from": "2026-11-23T12:00:00Z", "to": "2026-11-23T12:00:00Z"}, "to"},
		{"TooLong", map[string]string{"from": "2025-11-01", "to": "2026-11-23"}, "to"},
	} {
		t.Run(c.name, func(t *testing.T) {
			a.in(t).mustFailExport(h, camp.ID, c.params, http.StatusBadRequest, "BAD_USER_INPUT", c.field)
		})
	}
	t.Run("Several", func(t *testing.T) {
		e := a.in(t).mustFailExport(h, camp.ID, map[string]string{"kind": "x", "timeZone": "Nowhere"}, http.StatusBadRequest, "BAD_USER_INPUT", "kind")
		var fields []string
		for _, f := range e.Errors {
			fields = append(fields, f.Field)
		}
		wantField(t, "fields", strings.Join(fields, ","), "kind,timeZone,from,to")
	})
	t.Run("AYearIsAllowed", func(t *testing.T) {
		a.in(t).mustExport(brand.Token, camp.ID, map[string]string{"from": "2025-11-24", "to": "2026-11-23", "timeZone": "America/New_York"})
	})
	t.Run("Method", func(t *testing.T) {
		resp, raw := a.in(t).request(http.MethodPost, exportPath(camp.ID, theDay), h, nil)
		wantField(t, "status", resp.StatusCode, http.StatusMethodNotAllowed)
		wantField(t, "Allow", resp.Header.Get("Allow"), "GET, HEAD")
		if !bytes.Contains(raw, []byte(`"code":"BAD_USER_INPUT"`)) {
			t.Errorf("405 body: %s", raw)
		}
	})
	t.Run("RateLimited", func(t *testing.T) {
		a := a.in(t)
		// Invalid requests are not counted: the one above (a year) was the first.
		a.mustExport(brand.Token, camp.ID, theDay)
		a.mustExport(brand.Token, camp.ID, theDay)
		resp, _ := a.request(http.MethodGet, exportPath(camp.ID, theDay), h, nil)
		wantField(t, "status", resp.StatusCode, http.StatusTooManyRequests)
		if resp.Header.Get("Retry-After") == "" {
			t.Error("no Retry-After")
		}
		a.mustFailExport(h, camp.ID, theDay, http.StatusTooManyRequests, "RATE_LIMITED", "")
	})
}

// TestEventExportStreamsInPages: 5,000 clicks and 50 conversions export
// whole and in order, read 50 events of a kind per store call — about a
// hundred reads, each of a page, never the whole collection — and the
// billing the projector decided is what the file says: exactly the budget's
// worth of clicks billed, the rest NOT_BILLED for BUDGET.
func TestEventExportStreamsInPages(t *testing.T) {
	const clicks, convs, page = 5000, 50, 50
	a := mustStartApp(t, withExportPageSize(page))
	brand := a.mustSignUp("BRAND")
	camp := a.mustActiveCampaign(brand, "Large") // budget 100.00, cpc 0.25: 400 clicks
	part := a.mustJoin(a.mustSignUp("STREAMER"), camp.ID)
	mustSeedClicks(t, a, part, clicks)
	// Seeded as an older release stored them (no partition), the clicks
	// are projected before the conversions take their share of the budget.
	a.project()
	a.clock.Advance(time.Minute)
	for i := range convs {
		a.mustDo(brand.Token, recordConversionMutation, conversionVars(fmt.Sprintf("k%05d", i), "signup"), nil)
	}
	tot := a.totals(brand, camp.ID)

	before := a.store.Calls()
	rows := a.mustExport(brand.Token, camp.ID, theDay)
	reads := a.store.Calls() - before
	wantField(t, "rows", len(rows), clicks+convs)
	wantField(t, "click rows", len(rows.of("kind", "click")), tot.Campaign.Stats.Clicks)
	wantField(t, "conversion rows", len(rows.of("kind", "conversion")), tot.Campaign.Stats.Conversions)
	wantField(t, "billed clicks", len(rows.of("kind", "click").of("billing", "BILLED")), 400)
	// The rest were refused by the budget, or recorded once the campaign
	// was EXHAUSTED, with no price.
	refused := rows.of("kind", "click").of("billing", "NOT_BILLED")
	wantField(t, "clicks not billed", len(refused), clicks-400)
	wantField(t, "refused by the budget", len(refused.of("notBilledReason", "BUDGET")), len(refused.of("price", "0.250000")))
	wantField(t, "recorded without a price", len(refused.of("notBilledReason", "")), len(refused.of("price", "0.000000")))
	spent, _ := domain.ParseDecimal(tot.Campaign.Spent.Amount)
	wantField(t, "sum of charged", rows.sum(t, "charged"), spent)
	seen := map[string]bool{}
	for i, r := range rows {
		if seen[r["id"]] {
			t.Fatalf("row %d: %s twice", i, r["id"])
		}
		seen[r["id"]] = true
		if i > 0 && r["recordedAt"] < rows[i-1]["recordedAt"] {
			t.Fatalf("row %d recorded at %s, before row %d's %s", i, r["recordedAt"], i-1, rows[i-1]["recordedAt"])
		}
	}
	// At least a read per page of each kind, each of at most a page; a
	// few more where a window of time came back short (see
	// repository.ExportScan), and the caller's session, the campaign and
	// the rate limit.
	pages := int64((clicks + convs) / page)
	if reads < pages || reads > 2*pages+40 {
		t.Errorf("store calls of the export: got %d, want from %d to %d", reads, pages, 2*pages+40)
	}
	t.Logf("%d rows in %d store calls", len(rows), reads)
}

// mustSeedClicks stores n new clicks of participation p at the clock's
// time, pending as Clicks.Record stores them (ids k00000…, sub1 the id
// modulo 7), in one insert: recording them one by one is a scan each on the
// embedded engine, whose indexes do not serve reads. The projector bills
// them as any other.
func mustSeedClicks(t testing.TB, a *testApp, p participationData, n int) {
	t.Helper()
	mustSeedClicksAs(t, a, p, n, domain.BillingPending, 0)
}

// mustSeedClicksAs is mustSeedClicks with the clicks' billing given (a
// benchmark of reads stores them as if projected already), the i-th
// recorded at the clock's time + i × every.
func mustSeedClicksAs(t testing.TB, a *testApp, p participationData, n int, billing domain.Billing, every time.Duration) {
	t.Helper()
	pid, err1 := primitive.ObjectIDFromHex(p.ID)
	cid, err2 := primitive.ObjectIDFromHex(p.Campaign.ID)
	sid, err3 := primitive.ObjectIDFromHex(p.Streamer.ID)
	if err := errors.Join(err1, err2, err3); err != nil {
		t.Fatal(err)
	}
	docs := make([]any, n)
	for i := range docs {
		docs[i] = bson.M{"_id": primitive.NewObjectID(), "clickId": fmt.Sprintf("k%05d", i), "participationId": pid, "campaignId": cid,
			"streamerId": sid, "billing": string(billing), "costMicros": int64(250_000), "createdAt": a.clock.Now().Add(time.Duration(i) * every),
			"subs": bson.M{"sub1": fmt.Sprint(i % 7)}}
	}
	if err := repository.SeedRaw(context.Background(), a.store, "clicks", docs...); err != nil {
		t.Fatal(err)
	}
}

// TestEventExportFailsLoudly: a store failure before the first byte is an
// HTTP error; after it, the transfer is cut off (the client reads an
// unexpected EOF, never a file that ends as if whole) and the server logs
// why.
func TestEventExportFailsLoudly(t *testing.T) {
	var logs logBuffer
	a := mustStartApp(t, withExportPageSize(50), withLogger(logs.logger()))
	brand := a.mustSignUp("BRAND")
	camp := a.mustActiveCampaign(brand, "Broken")
	mustSeedClicks(t, a, a.mustJoin(a.mustSignUp("STREAMER"), camp.ID), 600)
	// A click a later page cannot decode (a damaged document), recorded
	// after the others.
	cid, _ := primitive.ObjectIDFromHex(camp.ID)
	damaged := bson.M{"_id": primitive.NewObjectID(), "campaignId": cid, "participationId": primitive.NewObjectID(), "clickId": "bad",
		"createdAt": time.Date(2026, 11, 23, 13, 0, 0, 0, time.UTC), "costMicros": "not a number", "billing": "billed"}
	if err := repository.SeedRaw(context.Background(), a.store, "clicks", damaged); err != nil {
		t.Fatal(err)
	}

	t.Run("AfterTheFirstByte", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodGet, a.srv.URL+exportPath(camp.ID, theDay), nil)
		req.Header.Set("Authorization", bearer(brand.Token))
		resp, err := a.client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		wantField(t, "status", resp.StatusCode, http.StatusOK)
		raw, err := io.ReadAll(resp.Body)
		if !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("reading a failed export: got %v after %d bytes, want io.ErrUnexpectedEOF", err, len(raw))
		}
		if n := bytes.Count(raw, []byte("\r\n")); n < 256 || n > 601 {
			t.Errorf("got %d lines before the cut, want the rows flushed before the damaged page", n)
		}
		eventually(t, func() bool { return strings.Contains(logs.String(), "event export failed after it started") },
			"the failure is not logged")
	})
	t.Run("BeforeTheFirstByte", func(t *testing.T) {
		a.in(t).mustFailExport(authHeader(brand.Token), camp.ID, map[string]string{"from": "2026-11-23T13:00:00Z", "to": "2026-11-23T14:00:00Z"},
			http.StatusInternalServerError, "INTERNAL_SERVER_ERROR", "")
	})
}
