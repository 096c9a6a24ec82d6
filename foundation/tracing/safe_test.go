package tracing

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/trace"
)

// collector is an OTLP/HTTP endpoint that keeps the bodies it receives.
type collector struct {
	mu     sync.Mutex
	bodies [][]byte
}

func (c *collector) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	c.mu.Lock()
	c.bodies = append(c.bodies, b)
	c.mu.Unlock()
	w.Header().Set("Content-Type", "application/x-protobuf")
}

func (c *collector) received() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return bytes.Join(c.bodies, nil)
}

// TestSpansWithStringsNotUTF8AreExported: a span holding what a request
// sent (a user agent, an operation name) that is not UTF-8 still reaches the
// collector, with the bad bytes replaced, and so do the spans batched with
// it.
func TestSpansWithStringsNotUTF8AreExported(t *testing.T) {
	var c collector
	srv := httptest.NewServer(&c)
	defer srv.Close()
	exp, err := otlptracehttp.New(context.Background(), otlptracehttp.WithEndpointURL(srv.URL+"/v1/traces"))
	if err != nil {
		t.Fatal(err)
	}
	tp := NewProvider(exp, func(string) string { return "" }, "test")
	defer func() { _ = tp.Shutdown(context.Background()) }()
	tr := tp.Tracer("test")

	_, ok := tr.Start(context.Background(), "a neighbour")
	ok.End()
	_, bad := tr.Start(context.Background(), "query \xff", trace.WithAttributes(
		attribute.String("user_agent.original", "agent\xff"), attribute.StringSlice("list", []string{"x\xfe"}),
		attribute.String("k\xff", "v")))
	bad.AddEvent("ev\xff", trace.WithAttributes(attribute.String("e", "\xc3")))
	bad.SetStatus(codes.Error, "status\xff")
	bad.End()
	if err := tp.ForceFlush(context.Background()); err != nil {
		t.Fatalf("flush: %v", err)
	}
	got := c.received()
	for _, want := range []string{"a neighbour", "query \uFFFD", "agent\uFFFD", "x\uFFFD", "k\uFFFD", "ev\uFFFD", "status\uFFFD"} {
		if !bytes.Contains(got, []byte(want)) {
			t.Errorf("the collector did not receive %q", want)
		}
	}
}
