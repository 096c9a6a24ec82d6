package e2e

import (
	"context"
	"net/http"
	"strings"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"tally/foundation/tracing"
)

// metricValue is the value of the series whose line starts with series
// (name and labels as Prometheus writes them), or "" when absent.
func metricValue(page, series string) string {
	for _, line := range strings.Split(page, "\n") {
		if rest, ok := strings.CutPrefix(line, series+" "); ok {
			return rest
		}
	}
	return ""
}

func TestMetrics(t *testing.T) {
	t.Parallel()
	a := mustStartApp(t, withEnv(map[string]string{"TOKEN_LIMIT_PER_TOKEN": "1/1h"}))
	u := a.mustSignUp("STREAMER")
	a.mustDo(u.Token, "query Me { me { id } }", nil, nil)
	a.mustDo(u.Token, "query Me { me { id } }", nil, nil)
	a.do(u.Token, "query Broken { nope }", nil)
	a.do("", "query Anon { me { id } }", nil) // UNAUTHENTICATED: a field error
	for range 2 {
		a.request(http.MethodGet, "/r/some-token", nil, nil) // the second is over the limit
	}
	a.metrics.PostbackDelivery("delivered")

	resp, raw := a.request(http.MethodGet, "/metrics", nil, nil)
	page := string(raw)
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		t.Fatalf("GET /metrics: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	for series, want := range map[string]string{
		`tally_graphql_operations_total{operation="Me",outcome="ok",type="query"}`:             "2",
		`tally_graphql_operations_total{operation="Broken",outcome="refused",type="query"}`:    "1",
		`tally_graphql_operations_total{operation="Anon",outcome="field_errors",type="query"}`: "1",
		`tally_graphql_operation_duration_seconds_count{operation="Me",type="query"}`:          "2",
		`tally_rate_limit_refusals_total{where="route"}`:                                       "1",
		`tally_postback_deliveries_total{outcome="delivered"}`:                                 "1",
		`tally_http_request_duration_seconds_count{route="GET /r/{token}"}`:                    "2",
		`tally_http_requests_total{code="429",route="GET /r/{token}"}`:                         "1",
		`tally_graphql_operations_total{operation="anonymous",outcome="ok",type="mutation"}`:   "1",
		`tally_projection_lag_seconds{stat="p99"}`:                                             "",
		`tally_projection_events_total`:                                                        "",
		`tally_store_calls_total{side="requests"}`:                                             "",
		`tally_store_calls_total{side="projector"}`:                                            "",
		`go_goroutines`: "",
		`tally_http_requests_total{code="200",route="/query"}`:                                         "",
		`tally_http_request_duration_seconds_bucket{route="/query",le="0.005"}`:                        "",
		`tally_graphql_operation_duration_seconds_bucket{operation="Me",type="query",le="+Inf"}`:       "2",
		`tally_graphql_operations_total{operation="Me",outcome="field_errors",type="query"}`:           "-",
		`tally_graphql_operations_total{operation="Broken",outcome="ok",type="query"}`:                 "-",
		`tally_graphql_operations_total{operation="Anon",outcome="ok",type="query"}`:                   "-",
		`tally_graphql_operations_total{operation="anonymous",outcome="refused",type="mutation"}`:      "-",
		`tally_graphql_operations_total{operation="anonymous",outcome="field_errors",type="mutation"}`: "-",
	} {
		got := metricValue(page, series)
		switch {
		case want == "-" && got != "":
			t.Errorf("%s: got %s, want no such series", series, got)
		case want == "" && got == "":
			t.Errorf("%s: missing", series)
		case want != "" && want != "-" && got != want:
			t.Errorf("%s: got %q, want %s", series, got, want)
		}
	}
	if strings.Contains(page, "some-token") {
		t.Error("a path (with its token) became a label")
	}
}

// TestTracing: with a tracer provider (the OTEL_* variables give one in
// serve; here an in-memory exporter), each request is a server span that
// continues the caller's traceparent, with a span per GraphQL operation.
func TestTracing(t *testing.T) {
	t.Parallel()
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	a := mustStartApp(t, func(o *startOptions) { o.Tracer = tp })
	u := a.mustSignUp("STREAMER")
	exp.Reset()
	const traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	r := a.doHeaders(map[string]string{"Authorization": "Bearer " + u.Token,
		"traceparent": "00-" + traceID + "-00f067aa0ba902b7-01"}, "query Me { me { id } }", nil)
	if len(r.Errors) > 0 {
		t.Fatal(r.Errors)
	}
	spans := exp.GetSpans()
	var server, op *tracetest.SpanStub
	for i := range spans {
		switch s := &spans[i]; {
		case s.SpanKind == trace.SpanKindServer:
			server = s
		case s.Name == "query Me":
			op = s
		}
	}
	if server == nil || op == nil {
		t.Fatalf("want a server span and a \"query Me\" span, got %+v", spans)
	}
	if server.Name != "POST /query" || server.SpanContext.TraceID().String() != traceID || server.Parent.SpanID().String() != "00f067aa0ba902b7" {
		t.Errorf("server span: %s, trace %s, parent %s", server.Name, server.SpanContext.TraceID(), server.Parent.SpanID())
	}
	if op.Parent.SpanID() != server.SpanContext.SpanID() {
		t.Errorf("the operation's span is not the request's child")
	}
	attrs := map[string]string{}
	for _, kv := range op.Attributes {
		attrs[string(kv.Key)] = kv.Value.String()
	}
	if attrs["graphql.operation.name"] != "Me" || attrs["graphql.operation.type"] != "query" || attrs["tally.outcome"] != "ok" {
		t.Errorf("operation span attributes: %v", attrs)
	}
	for _, s := range spans {
		for _, kv := range s.Attributes {
			if strings.Contains(kv.Value.String(), u.Token) {
				t.Errorf("span %s carries the bearer token in %s", s.Name, kv.Key)
			}
		}
	}
}

func TestTracingFromEnv(t *testing.T) {
	t.Parallel()
	for name, c := range map[string]struct {
		env     map[string]string
		on, err bool
	}{
		"NoneSet":       {env: nil},
		"Endpoint":      {env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:1"}, on: true},
		"TracesURL":     {env: map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:1/v1/traces"}, on: true},
		"ExporterNone":  {env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:1", "OTEL_TRACES_EXPORTER": "none"}},
		"SDKDisabled":   {env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:1", "OTEL_SDK_DISABLED": "true"}},
		"UnknownExport": {env: map[string]string{"OTEL_TRACES_EXPORTER": "zipkin"}, err: true},
		"GRPC":          {env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:1", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, err: true},
	} {
		tp, shutdown, err := tracing.FromEnv(context.Background(), func(k string) string { return c.env[k] }, "tally")
		if (err != nil) != c.err || (tp != nil) != c.on {
			t.Errorf("%s: provider %v, err %v; want on %v, err %v", name, tp != nil, err, c.on, c.err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 0)
		_ = shutdown(ctx) // nothing to send, and nowhere to send it
		cancel()
	}
}

// TestRequestLogNamesOperationAndCaller: the request's line says which
// operations ran and who called, never with the token.
func TestRequestLogNamesOperationAndCaller(t *testing.T) {
	t.Parallel()
	var logs logBuffer
	a := mustStartApp(t, withLogger(logs.logger()))
	u := a.mustSignUp("BRAND")
	for _, c := range []struct {
		id, token, body, operation, caller, role string
	}{
		{"op-user", u.Token, gqlBody("query Me { me { id } }"), "Me", "user", "BRAND"},
		{"op-anon", "", gqlBody("{ __typename }"), "anonymous", "anonymous", ""},
		{"op-batch", u.Token, "[" + gqlBody("query A { __typename }") + "," + gqlBody("query B { me { id } }") + "]", "A,B", "user", "BRAND"},
	} {
		h := map[string]string{"Content-Type": "application/json", "X-Request-Id": c.id}
		if c.token != "" {
			h["Authorization"] = "Bearer " + c.token
		}
		a.request(http.MethodPost, "/query", h, strings.NewReader(c.body))
		lines := logs.requestLines(t, c.id)
		var line map[string]any
		for _, l := range lines {
			if l["msg"] == "request" {
				line = l
			}
		}
		if line == nil {
			t.Fatalf("%s: no request line in %v", c.id, lines)
		}
		role, _ := line["role"].(string)
		if line["operation"] != c.operation || line["caller"] != c.caller || role != c.role {
			t.Errorf("%s: operation %v, caller %v, role %v; want %s, %s, %q", c.id, line["operation"], line["caller"], line["role"], c.operation, c.caller, c.role)
		}
	}
	if strings.Contains(logs.String(), u.Token) {
		t.Error("the log holds a bearer token")
	}
}
