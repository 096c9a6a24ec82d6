// Package tracing switches OpenTelemetry tracing on from the standard
// OTEL_* environment variables, and off when none asks for it.
//
// Tracing is on when OTEL_EXPORTER_OTLP_ENDPOINT or
// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is set, or OTEL_TRACES_EXPORTER is
// otlp; it is off when none is, when OTEL_TRACES_EXPORTER is none, or when
// OTEL_SDK_DISABLED is true. Spans go to an OTLP/HTTP (protobuf) exporter,
// configured by the exporter's own standard variables (endpoint, headers,
// timeout, certificates, compression); the sampler by OTEL_TRACES_SAMPLER
// and OTEL_TRACES_SAMPLER_ARG (default: parent-based, always on); the
// resource by OTEL_SERVICE_NAME (default: the service name the caller
// gives) and OTEL_RESOURCE_ATTRIBUTES.
// Incoming W3C traceparent, tracestate and baggage headers are honoured.
package tracing

import (
	"context"
	"fmt"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// Variables lists the OTEL_* variables this package reads itself (the exporter
// and the SDK read their other standard ones), for --help.
var Variables = []struct{ Name, Meaning string }{
	{"OTEL_EXPORTER_OTLP_ENDPOINT", "OTLP/HTTP collector base URL (e.g. http://collector:4318); setting it turns tracing on"},
	{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTLP/HTTP traces URL (e.g. http://collector:4318/v1/traces); turns tracing on"},
	{"OTEL_TRACES_EXPORTER", "otlp (on) or none (off); unset: on when an endpoint is set"},
	{"OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf, the one supported"},
	{"OTEL_SERVICE_NAME", "service.name of the spans (default: the program's name)"},
	{"OTEL_RESOURCE_ATTRIBUTES", "more resource attributes, key=value,…"},
	{"OTEL_TRACES_SAMPLER", "sampler (parentbased_always_on); OTEL_TRACES_SAMPLER_ARG its argument"},
	{"OTEL_SDK_DISABLED", "true turns tracing off whatever else is set"},
}

// Propagator is the W3C trace context and baggage.
var Propagator = propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})

// FromEnv returns the tracer provider the environment asks for and its
// shutdown (which flushes spans), or nil and a no-op shutdown when tracing
// is off. service is the service.name unless the environment names one.
// A setting it cannot honour is an error of one line.
func FromEnv(ctx context.Context, getenv func(string) string, service string) (trace.TracerProvider, func(context.Context) error, error) {
	off := func(context.Context) error { return nil }
	env := func(k string) string { return strings.TrimSpace(getenv(k)) }
	if strings.EqualFold(env("OTEL_SDK_DISABLED"), "true") {
		return nil, off, nil
	}
	exporter := strings.ToLower(env("OTEL_TRACES_EXPORTER"))
	switch exporter {
	case "none":
		return nil, off, nil
	case "", "otlp":
	default:
		return nil, off, fmt.Errorf("OTEL_TRACES_EXPORTER must be otlp or none, got %q", exporter)
	}
	if exporter == "" && env("OTEL_EXPORTER_OTLP_ENDPOINT") == "" && env("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") == "" {
		return nil, off, nil
	}
	for _, k := range []string{"OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"} {
		if p := env(k); p != "" && p != "http/protobuf" {
			return nil, off, fmt.Errorf("%s must be http/protobuf (the one supported), got %q", k, p)
		}
	}
	exp, err := otlptracehttp.New(ctx)
	if err != nil {
		return nil, off, fmt.Errorf("OpenTelemetry exporter: %w", err)
	}
	tp := NewProvider(exp, getenv, service)
	return tp, tp.Shutdown, nil
}

// NewProvider is a tracer provider that batches spans to exp, with the
// resource the environment names, service.name defaulting to service
// (tests pass an in-memory exporter). Every string of a span is made safe
// (label.Safe) on its way to exp.
func NewProvider(exp sdktrace.SpanExporter, getenv func(string) string, service string) *sdktrace.TracerProvider {
	attrs := []attribute.KeyValue{}
	if getenv("OTEL_SERVICE_NAME") == "" && !strings.Contains(getenv("OTEL_RESOURCE_ATTRIBUTES"), "service.name=") {
		attrs = append(attrs, attribute.String("service.name", service))
	}
	res, err := resource.New(context.Background(), resource.WithFromEnv(), resource.WithTelemetrySDK(), resource.WithAttributes(attrs...))
	if err != nil {
		res = resource.Default()
	}
	return sdktrace.NewTracerProvider(sdktrace.WithBatcher(safeExporter{exp}), sdktrace.WithResource(res))
}
