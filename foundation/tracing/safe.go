package tracing

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"tally/foundation/label"
)

// safeExporter passes spans on with every string made safe (label.Safe):
// span names, attributes, events, links and status descriptions. Spans carry
// strings a request chose (otelhttp's user_agent.original, url.path,
// server.address; an operation name), and the OTLP exporter cannot encode a
// string that is not UTF-8: it would drop the whole batch, other requests'
// spans with it.
type safeExporter struct{ sdktrace.SpanExporter }

func (e safeExporter) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	var out []sdktrace.ReadOnlySpan // made at the first span that needs a change
	for i, s := range spans {
		if safe, changed := safeSpan(s); changed {
			if out == nil {
				out = append(make([]sdktrace.ReadOnlySpan, 0, len(spans)), spans[:i]...)
			}
			out = append(out, safe)
		} else if out != nil {
			out = append(out, s)
		}
	}
	if out == nil {
		out = spans
	}
	return e.SpanExporter.ExportSpans(ctx, out)
}

// cleanedSpan is a span with its strings replaced; the embedded span
// answers everything else.
type cleanedSpan struct {
	sdktrace.ReadOnlySpan
	name   string
	attrs  []attribute.KeyValue
	events []sdktrace.Event
	links  []sdktrace.Link
	status sdktrace.Status
}

func (s cleanedSpan) Name() string                     { return s.name }
func (s cleanedSpan) Attributes() []attribute.KeyValue { return s.attrs }
func (s cleanedSpan) Events() []sdktrace.Event         { return s.events }
func (s cleanedSpan) Links() []sdktrace.Link           { return s.links }
func (s cleanedSpan) Status() sdktrace.Status          { return s.status }

func safeSpan(s sdktrace.ReadOnlySpan) (sdktrace.ReadOnlySpan, bool) {
	c := cleanedSpan{ReadOnlySpan: s, name: label.Safe(s.Name()), status: s.Status()}
	changed := c.name != s.Name()
	var ch bool
	c.attrs, ch = safeAttrs(s.Attributes())
	changed = changed || ch
	c.events, c.links = s.Events(), s.Links()
	copied := false
	for i, ev := range c.events {
		name := label.Safe(ev.Name)
		if attrs, ch := safeAttrs(ev.Attributes); ch || name != ev.Name {
			if !copied {
				c.events, copied = append([]sdktrace.Event(nil), c.events...), true
			}
			c.events[i].Name, c.events[i].Attributes = name, attrs
			changed = true
		}
	}
	copied = false
	for i, l := range c.links {
		if attrs, ch := safeAttrs(l.Attributes); ch {
			if !copied {
				c.links, copied = append([]sdktrace.Link(nil), c.links...), true
			}
			c.links[i].Attributes = attrs
			changed = true
		}
	}
	if d := label.Safe(c.status.Description); d != c.status.Description {
		c.status.Description = d
		changed = true
	}
	if !changed {
		return s, false
	}
	return c, true
}

// safeAttrs returns attrs with their string values (and keys) made safe,
// and whether any changed; unchanged, attrs itself.
func safeAttrs(attrs []attribute.KeyValue) ([]attribute.KeyValue, bool) {
	var out []attribute.KeyValue
	for i, kv := range attrs {
		safe, ok := safeAttr(kv)
		if !ok {
			if out == nil {
				out = append([]attribute.KeyValue(nil), attrs...)
			}
			out[i] = safe
		}
	}
	if out == nil {
		return attrs, false
	}
	return out, true
}

// safeAttr returns kv made safe, and ok when it already was.
func safeAttr(kv attribute.KeyValue) (attribute.KeyValue, bool) {
	key := attribute.Key(label.Safe(string(kv.Key)))
	ok := key == kv.Key
	switch kv.Value.Type() {
	case attribute.STRING:
		v := kv.Value.AsString()
		if sv := label.Safe(v); sv != v || !ok {
			return key.String(sv), false
		}
	case attribute.STRINGSLICE:
		vs := kv.Value.AsStringSlice()
		changed := false
		for i, v := range vs {
			if sv := label.Safe(v); sv != v {
				vs[i], changed = sv, true
			}
		}
		if changed || !ok {
			return key.StringSlice(vs), false
		}
	default:
		if !ok {
			return attribute.KeyValue{Key: key, Value: kv.Value}, false
		}
	}
	return kv, true
}
