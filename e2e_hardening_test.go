package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"

	"tally/tracing"
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
	tp := tracing.NewProvider(exp, func(string) string { return "" })
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	var logs logBuffer
	a := mustStartApp(t, withLogger(logs.logger()), func(o *startOptions) { o.tracer = tp })

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
