package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"

	"tally/domain"
	"tally/foundation/tracing"
)

// otlpCollector is an OTLP/HTTP endpoint that keeps what it receives.
type otlpCollector struct {
	mu   sync.Mutex
	body bytes.Buffer
}

func (c *otlpCollector) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	c.mu.Lock()
	c.body.Write(b)
	c.mu.Unlock()
	w.Header().Set("Content-Type", "application/x-protobuf")
}

func (c *otlpCollector) received() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return bytes.Clone(c.body.Bytes())
}

// TestOperationNameNotUTF8: an operation name (and a user agent) that is
// not UTF-8, or is long and full of control characters, is answered with a
// GraphQL error like any unknown operation, by GET, by POST and in a batch;
// /metrics still scrapes, the log stays UTF-8 and the spans reach an OTLP
// collector.
func TestOperationNameNotUTF8(t *testing.T) {
	t.Parallel()
	var col otlpCollector
	colSrv := httptest.NewServer(&col)
	t.Cleanup(colSrv.Close)
	exp, err := otlptracehttp.New(context.Background(), otlptracehttp.WithEndpointURL(colSrv.URL+"/v1/traces"))
	if err != nil {
		t.Fatal(err)
	}
	tp := tracing.NewProvider(exp, func(string) string { return "" }, "tally")
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	var logs logBuffer
	a := mustStartApp(t, withLogger(logs.logger()), func(o *startOptions) { o.Tracer = tp })

	badAgent := map[string]string{"User-Agent": "agent\xff\xfe", "Content-Type": "application/json"}
	longName := strings.Repeat("\n\x00", 2000)
	check := func(t *testing.T, resp *http.Response, raw []byte) {
		t.Helper()
		if resp.StatusCode >= 500 {
			t.Fatalf("status %d: %s", resp.StatusCode, raw)
		}
		var many []gqlResponse
		if len(raw) > 0 && raw[0] == '[' {
			if err := json.Unmarshal(raw, &many); err != nil {
				t.Fatalf("batch answer: %v: %s", err, raw)
			}
		} else {
			many = []gqlResponse{decodeGraphQL(t, resp, raw)}
		}
		for _, r := range many {
			if len(r.Errors) == 0 || r.Errors[0].Code() == "INTERNAL_SERVER_ERROR" {
				t.Errorf("want a GraphQL request error, got %s", raw)
			}
		}
	}
	for name, q := range map[string]string{
		"Anonymous":    "{ __typename }",
		"Named":        "query Me { __typename }",
		"DoesNotParse": "query {",
	} {
		t.Run("GET/"+name, func(t *testing.T) {
			for _, op := range []string{"%ff", "a%ffb%c3", "%0a%00%7f"} {
				resp, raw := a.in(t).request(http.MethodGet, "/query?query="+strings.ReplaceAll(q, " ", "+")+"&operationName="+op, badAgent, nil)
				check(t, resp, raw)
			}
		})
		t.Run("POST/"+name, func(t *testing.T) {
			for _, op := range []string{"\xff", longName} {
				body := `{"query":` + mustJSON(t, q) + `,"operationName":"` + strings.ReplaceAll(strings.ReplaceAll(op, "\n", `\n`), "\x00", `\u0000`) + `"}`
				resp, raw := a.in(t).request(http.MethodPost, "/query", badAgent, strings.NewReader(body))
				check(t, resp, raw)
			}
		})
		t.Run("Batch/"+name, func(t *testing.T) {
			body := `[{"query":` + mustJSON(t, q) + `,"operationName":"\xff"},{"query":"{ __typename }","operationName":"\udc00"}]`
			resp, raw := a.in(t).request(http.MethodPost, "/query", badAgent, strings.NewReader(body))
			check(t, resp, raw)
		})
	}

	resp, raw := a.request(http.MethodGet, "/metrics", nil, nil)
	if resp.StatusCode != 200 {
		t.Fatalf("GET /metrics: %d %s", resp.StatusCode, raw)
	}
	if got := metricValue(string(raw), `tally_graphql_operations_total{operation="invalid",outcome="refused",type="unknown"}`); got == "" {
		t.Errorf("the operations with names that are not GraphQL names are not counted as invalid:\n%s", raw)
	}
	if log := logs.String(); !utf8.ValidString(log) || strings.Contains(log, `"panic"`) {
		t.Errorf("the log holds a panic or bytes that are not UTF-8:\n%s", log)
	}
	if err := tp.ForceFlush(context.Background()); err != nil {
		t.Fatalf("spans not exported: %v", err)
	}
	if got := col.received(); !bytes.Contains(got, []byte("agent\uFFFD\uFFFD")) {
		t.Errorf("the collector did not receive the request spans with the user agent made safe")
	}
}

func mustJSON(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestDisguisedLoopbackURLsRefused: with the defaults, a landing or
// postback URL whose host a browser reads as a loopback, private,
// link-local or unspecified address is refused when it is saved, however
// the address is spelled: BAD_USER_INPUT naming the input path.
func TestDisguisedLoopbackURLsRefused(t *testing.T) {
	t.Parallel()
	a := mustStartApp(t, withEnv(map[string]string{"ALLOW_PRIVATE_URLS": "false"}))
	brand := a.mustSignUp("BRAND")
	const public = "https://93.184.215.14/offer?click={click_id}"
	port := a.srv.Listener.Addr().(*net.TCPAddr).Port
	var disguised []string
	for _, host := range []string{"127.1", "0177.0.0.1", "127.000.000.001", "2130706433", "0x7f.0.0.1", "0x7f000001",
		"127.0.0.1.", "１２７.０.０.１", "0", "10.1", "0xa9.0xfe.0xa9.0xfe", "[::1]", "[::ffff:127.0.0.1]", "[fe80::1]", "[fc00::1]"} {
		disguised = append(disguised, fmt.Sprintf("http://%s:%d/", host, port))
	}
	create := func(landing, postback string) map[string]any {
		in := campaignInput("Disguised")
		in["landingUrl"], in["postbackUrl"] = landing, postback
		return map[string]any{"input": in}
	}
	var d struct{ CreateCampaign campaignData }
	a.mustDo(brand.Token, createCampaignMutation, create(public, public), &d)
	id := d.CreateCampaign.ID
	for _, u := range disguised {
		t.Run(u, func(t *testing.T) {
			a := a.in(t)
			a.mustFail(brand.Token, createCampaignMutation, create(u, public), "BAD_USER_INPUT", "input.landingUrl")
			a.mustFail(brand.Token, createCampaignMutation, create(public, u), "BAD_USER_INPUT", "input.postbackUrl")
			a.mustFail(brand.Token, updateCampaignMutation, map[string]any{"id": id, "input": map[string]any{"landingUrl": u}},
				"BAD_USER_INPUT", "input.landingUrl")
			a.mustFail(brand.Token, updateCampaignMutation, map[string]any{"id": id, "input": map[string]any{"postbackUrl": u}},
				"BAD_USER_INPUT", "input.postbackUrl")
			a.mustFail(brand.Token, setPostbackMutation, map[string]any{"id": id, "input": map[string]any{"url": u}},
				"BAD_USER_INPUT", "input.url")
			a.mustFail(brand.Token, setPostbackMutation, map[string]any{"id": id,
				"input": map[string]any{"goalUrls": []any{map[string]any{"goalId": "signup", "url": u}}}},
				"BAD_USER_INPUT", "input.goalUrls[0].url")
		})
	}
	t.Run("BothAtOnce", func(t *testing.T) {
		r := a.in(t).do(brand.Token, createCampaignMutation, create(disguised[0], disguised[1]))
		fields := map[string]bool{}
		for _, e := range r.Errors {
			fields[e.Field()] = e.Code() == "BAD_USER_INPUT"
		}
		if !fields["input.landingUrl"] || !fields["input.postbackUrl"] {
			t.Errorf("want BAD_USER_INPUT on input.landingUrl and input.postbackUrl, got %+v", r.Errors)
		}
	})
	t.Run("PublicStillAccepted", func(t *testing.T) {
		a := a.in(t)
		for _, u := range []string{public, fmt.Sprintf("http://1572394766:%d/", port), "http://[2606:2800:220:1:248:1893:25c8:1946]/"} {
			a.mustDo(brand.Token, updateCampaignMutation, map[string]any{"id": id, "input": map[string]any{"landingUrl": u, "postbackUrl": u}}, nil)
			a.mustSetPostback(brand, id, map[string]any{"url": u})
		}
	})
}

// TestCampaignSearchIsBounded: a search of more than MaxSearchBytes bytes or
// MaxSearchWords words is refused on filter.search before any campaign is
// read; a search within the bounds finds what it did.
func TestCampaignSearchIsBounded(t *testing.T) {
	t.Parallel()
	a := mustStartApp(t)
	brand := a.mustSignUp("BRAND")
	in := campaignInput("Summer Sale Twenty Six")
	a.mustDo(brand.Token, createCampaignMutation, map[string]any{"input": in}, nil)
	const search = `query($s: String) { campaigns(filter: {search: $s}) { edges { node { name } } } }`
	calls := func(query string, vars map[string]any) (int64, gqlResponse) {
		before := a.store.Calls()
		r := a.do(brand.Token, query, vars)
		return a.store.Calls() - before, r
	}
	calls(`{ __typename }`, nil) // the caller's first read
	baseline, _ := calls(`{ __typename }`, nil)

	for name, s := range map[string]string{
		"QuarterMillionWords": strings.Repeat("sum ", 250_000),
		"TooManyWords":        strings.Repeat("s ", domain.MaxSearchWords+1),
		"TooManyBytes":        strings.Repeat("ä", domain.MaxSearchBytes/2+1),
	} {
		t.Run(name, func(t *testing.T) {
			n, r := calls(search, map[string]any{"s": s})
			if len(r.Errors) != 1 || r.Errors[0].Code() != "BAD_USER_INPUT" || r.Errors[0].Field() != "filter.search" {
				t.Fatalf("want BAD_USER_INPUT on filter.search, got %+v", r.Errors)
			}
			if n != baseline {
				t.Errorf("the refused search made %d store calls; a request that reads nothing makes %d", n, baseline)
			}
		})
	}
	t.Run("WithinBounds", func(t *testing.T) {
		var d struct {
			Campaigns struct {
				Edges []struct{ Node struct{ Name string } }
			}
		}
		a.in(t).mustDo(brand.Token, search, map[string]any{"s": "sum SAL " + strings.Repeat("t ", domain.MaxSearchWords-3)}, &d)
		if len(d.Campaigns.Edges) != 1 || d.Campaigns.Edges[0].Node.Name != "Summer Sale Twenty Six" {
			t.Errorf("search within the bounds: got %+v", d.Campaigns.Edges)
		}
	})
}

// TestOperationNameNotInDocument: an operationName the document does not
// hold is named back quoted in ASCII and cut short (never a megabyte of
// it), and a document of several operations
// sent without one is told to name it.
func TestOperationNameNotInDocument(t *testing.T) {
	t.Parallel()
	a := mustStartApp(t)
	for _, tc := range []struct {
		name, body, want string
	}{
		// JSON decoding makes the byte U+FFFD; the GET below keeps it.
		{"NotUTF8", `{"query":"{ __typename }","operationName":"` + "\xff" + `"}`, `operationName "\ufffd" names no operation in the document`},
		{"ControlCharacters", `{"query":"{ __typename }","operationName":"a\n\u0000"}`, `operationName "a\n\x00" names no operation in the document`},
		{"Long", `{"query":"{ __typename }","operationName":"` + strings.Repeat("a", 5000) + `"}`, `operationName "` + strings.Repeat("a", 64) + `"… names no operation in the document`},
		{"NoneOfSeveral", `{"query":"query A { __typename } query B { __typename }"}`, "the document holds several operations: name the one to run in operationName"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, raw := a.in(t).request(http.MethodPost, "/query", map[string]string{"Content-Type": "application/json"}, strings.NewReader(tc.body))
			r := decodeGraphQL(t, resp, raw)
			if len(r.Errors) != 1 || r.Errors[0].Code() != "BAD_USER_INPUT" || r.Errors[0].Message != tc.want {
				t.Errorf("got %d %s, want one BAD_USER_INPUT saying %q", resp.StatusCode, raw, tc.want)
			}
		})
	}
	resp, raw := a.request(http.MethodGet, "/query?query=%7B__typename%7D&operationName=%ff", nil, nil)
	if r := decodeGraphQL(t, resp, raw); len(r.Errors) != 1 || !strings.Contains(r.Errors[0].Message, `"\xff"`) {
		t.Errorf("GET: got %d %s", resp.StatusCode, raw)
	}
}
