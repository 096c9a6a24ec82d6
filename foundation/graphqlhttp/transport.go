package graphqlhttp

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
	"github.com/vektah/gqlparser/v2/parser"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"tally/foundation/label"
)

// Media types of GraphQL over HTTP responses.
const (
	mediaJSON            = "application/json"
	mediaGraphQLResponse = "application/graphql-response+json"
)

// DefaultMaxBatch is how many operations one batched request (a JSON array
// body, as Apollo's BatchHttpLink and graphql-request's batchRequests send)
// may hold.
const DefaultMaxBatch = 10

// httpTransport is the GraphQL over HTTP transport for GET and POST, in
// place of gqlgen's two: it answers with the status codes and bodies the
// GraphQL over HTTP specification recommends for each response media type,
// and it takes batched requests.
//
//   - The response type follows Accept: application/graphql-response+json
//     when the client prefers it, application/json otherwise (also for */*
//     and when Accept is missing), always in UTF-8.
//   - A request that is not a GraphQL request (a body that is not JSON, no
//     query, a query that is not a string, malformed variables) is 400.
//   - A request error (the document does not parse or validate, a variable
//     does not coerce, a limit refuses it) is 200 under application/json and
//     400 under application/graphql-response+json, and its body has no
//     `data` entry under either.
//   - A mutation by GET is 405 with Allow: POST; nothing runs.
//   - An executed operation is 200 whatever its field errors.
//
// A batch is a JSON array of requests. Every operation of a batch goes
// through the same limits pass, and the request's limits (cost, password
// checks, record mutations) hold for the batch as a whole; all of its
// operations are parsed, validated and priced before the first one runs,
// and they then run one after another. The answer is the array of their
// responses, in order, with status 200.
type httpTransport struct {
	maxBatch    int
	maxTokens   int
	tracer      trace.Tracer // nil: no span is started
	rateLimited string       // the code that makes an outcome OutcomeRateLimited
	observe     func(context.Context, Operation)
}

var _ graphql.Transport = httpTransport{}

func (httpTransport) Supports(r *http.Request) bool {
	return r.Header.Get("Upgrade") == "" && (r.Method == http.MethodGet || r.Method == http.MethodPost)
}

func (t httpTransport) Do(w http.ResponseWriter, r *http.Request, exec graphql.GraphExecutor) {
	media := responseMediaType(r.Header.Get("Accept"))
	w.Header().Set("Content-Type", media+"; charset=utf-8")
	if r.Method == http.MethodGet {
		params, msg := paramsFromURL(r.URL.RawQuery)
		if msg != "" {
			writeRequestError(w, http.StatusBadRequest, msg)
			return
		}
		op := t.prepare(r.Context(), exec, params, media, true)
		resp, status := t.finish(exec, op)
		if status == http.StatusMethodNotAllowed {
			w.Header().Set("Allow", "POST")
		}
		writeResponse(w, status, resp)
		return
	}

	body, err := io.ReadAll(r.Body)
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			writeRequestError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("request body is larger than the limit of %d bytes", tooLarge.Limit))
			return
		}
		writeRequestError(w, http.StatusBadRequest, "could not read the request body")
		return
	}
	body = bytes.TrimSpace(body)
	if len(body) > 0 && body[0] == '[' {
		t.doBatch(w, r.Context(), exec, body, media)
		return
	}
	params, msg := paramsFromJSON(body)
	if msg != "" {
		writeRequestError(w, http.StatusBadRequest, msg)
		return
	}
	resp, status := t.finish(exec, t.prepare(r.Context(), exec, params, media, false))
	writeResponse(w, status, resp)
}

func (t httpTransport) doBatch(w http.ResponseWriter, ctx context.Context, exec graphql.GraphExecutor, body []byte, media string) {
	var items []json.RawMessage
	if err := json.Unmarshal(body, &items); err != nil {
		writeRequestError(w, http.StatusBadRequest, "the request body is not JSON: "+jsonReason(err))
		return
	}
	max := t.maxBatch
	if max <= 0 {
		max = DefaultMaxBatch
	}
	switch {
	case len(items) == 0:
		writeRequestError(w, http.StatusBadRequest, "the batch is empty: send at least one GraphQL request in the array")
		return
	case len(items) > max:
		writeRequestError(w, http.StatusBadRequest, fmt.Sprintf("a batch may hold at most %d operations; this one holds %d", max, len(items)))
		return
	}
	all := make([]*graphql.RawParams, len(items))
	for i, item := range items {
		params, msg := paramsFromJSON(item)
		if msg != "" {
			writeRequestError(w, http.StatusBadRequest, fmt.Sprintf("operation %d of the batch: %s", i, msg))
			return
		}
		all[i] = params
	}
	// Every operation is checked, the batch's totals included, before any runs.
	ctx = context.WithValue(ctx, batchKey{}, &batchBudget{})
	ops := make([]*operation, len(all))
	for i, params := range all {
		ops[i] = t.prepare(ctx, exec, params, media, false)
	}
	out := make([]*graphql.Response, len(ops))
	for i, op := range ops {
		out[i], _ = t.finish(exec, op)
	}
	w.WriteHeader(http.StatusOK)
	b := []byte{'['}
	for i, r := range out {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendResponse(b, wire(r))
	}
	_, _ = w.Write(append(b, ']'))
}

// noSpan is the span of an operation when tracing is off.
var noSpan = trace.SpanFromContext(context.Background())

// operation is one GraphQL operation of a request on its way: prepared
// (parsed, validated, priced), then executed unless refused.
type operation struct {
	ctx    context.Context
	span   trace.Span
	start  time.Time
	name   string
	rc     *graphql.OperationContext // nil when refused
	resp   *graphql.Response         // the refusal
	status int
	def    *ast.OperationDefinition // the operation, once its document parsed
}

// prepare parses, validates and prices an operation, in its own span.
func (t httpTransport) prepare(ctx context.Context, exec graphql.GraphExecutor, params *graphql.RawParams, media string, isGET bool) *operation {
	op := &operation{start: time.Now(), name: label.Safe(params.OperationName)} // it is logged, traced and counted
	ctx = withPendingDoc(ctx)
	op.ctx, op.span = ctx, noSpan
	if t.tracer != nil {
		op.ctx, op.span = t.tracer.Start(ctx, "graphql", trace.WithSpanKind(trace.SpanKindInternal))
	}
	op.rc, op.resp, op.status, op.def = prepareOperation(op.ctx, exec, params, media, isGET)
	if op.def == nil && op.resp != nil && params.Query != "" {
		// Refused before it was kept: name it for the log and the metrics
		// from a parse of its own (linear, within the token limit).
		if doc, err := parser.ParseQueryWithTokenLimit(&ast.Source{Input: params.Query}, t.maxTokens); err == nil {
			op.def = doc.Operations.ForName(params.OperationName)
		}
	}
	if op.def != nil {
		op.name = op.def.Name
	}
	return op
}

// finish executes a prepared operation (or answers its refusal), reports
// it and ends its span.
func (t httpTransport) finish(exec graphql.GraphExecutor, op *operation) (*graphql.Response, int) {
	resp, status, outcome := op.resp, op.status, OutcomeRefused
	if op.rc != nil {
		resp, status, outcome = execute(op.ctx, exec, op.rc), http.StatusOK, OutcomeOK
		if len(resp.Errors) > 0 {
			outcome = OutcomeFieldErrors
		}
	}
	if t.rateLimited != "" {
		for _, e := range resp.Errors {
			if e.Extensions["code"] == t.rateLimited {
				outcome = OutcomeRateLimited
				break
			}
		}
	}
	typ := ""
	if op.def != nil {
		typ = string(op.def.Operation)
	}
	took := time.Since(op.start)
	if op.span.IsRecording() {
		op.span.SetName(cmp.Or(typ, "graphql") + " " + cmp.Or(op.name, "anonymous"))
		op.span.SetAttributes(attribute.String("graphql.operation.name", op.name),
			attribute.String("graphql.operation.type", typ))
		if outcome != OutcomeOK {
			op.span.SetStatus(codes.Error, outcome)
		}
	}
	if t.observe != nil {
		var cost int64
		if c, ok := resp.Extensions[costExtension].(*costStats); ok {
			cost = c.RequestedQueryCost
		}
		t.observe(op.ctx, Operation{Name: op.name, Type: typ, Outcome: outcome, Duration: took, Cost: cost, Errors: len(resp.Errors)})
	}
	op.span.End()
	return resp, status
}

// prepareOperation parses, validates and prices an operation. A refused one
// comes back as its response and status; an accepted one as its context.
func prepareOperation(ctx context.Context, exec graphql.GraphExecutor, params *graphql.RawParams, media string, isGET bool) (*graphql.OperationContext, *graphql.Response, int, *ast.OperationDefinition) {
	rc, errs := exec.CreateOperationContext(ctx, params)
	var def *ast.OperationDefinition
	if rc != nil && rc.Doc != nil {
		def = rc.Doc.Operations.ForName(params.OperationName)
	}
	if errs != nil {
		status := requestErrorStatus(media, errs)
		resp := exec.DispatchError(graphql.WithOperationContext(ctx, rc), errs)
		resp.Data = nil // a request error has no data entry
		return nil, resp, status, def
	}
	if def != nil && def.Operation != ast.Query && isGET {
		return nil, &graphql.Response{Errors: gqlerror.List{codedError("only queries may be sent by GET; send mutations by POST")}}, http.StatusMethodNotAllowed, def
	}
	if def != nil && def.Operation == ast.Subscription {
		return nil, &graphql.Response{Errors: gqlerror.List{codedError("subscriptions are not served by a plain GET or POST request: POST with Accept: text/event-stream (SSE), or open a WebSocket (graphql-transport-ws)")}}, http.StatusBadRequest, def
	}
	return rc, nil, 0, def
}

func execute(ctx context.Context, exec graphql.GraphExecutor, rc *graphql.OperationContext) *graphql.Response {
	responses, ctx := exec.DispatchOperation(ctx, rc)
	resp := responses(ctx)
	if resp == nil {
		return &graphql.Response{Data: json.RawMessage("null")}
	}
	if resp.HasNext != nil {
		resp = completeResponse(ctx, resp, responses)
	}
	if len(resp.Data) == 0 {
		resp.Data = json.RawMessage("null") // executed: data is present, if null
	}
	return resp
}

// requestErrorStatus is the status of a request error: 200 under
// application/json, 400 under application/graphql-response+json, as GraphQL
// over HTTP recommends. A persisted query that is not known is 200 under
// both: it is the first step of a protocol, not a mistake, and Apollo's
// link (like Apollo Server) expects it so.
func requestErrorStatus(media string, errs gqlerror.List) int {
	for _, e := range errs {
		if e.Extensions["code"] == errPersistedQueryNotFound {
			return http.StatusOK
		}
	}
	if media == mediaGraphQLResponse {
		return http.StatusBadRequest
	}
	return http.StatusOK
}

func codedError(msg string) *gqlerror.Error {
	return &gqlerror.Error{Message: msg, Extensions: map[string]any{"code": codeBadUserInput}}
}

// wireResponse is a response as sent: unlike graphql.Response, it leaves
// `data` out when there is none (a request error) and keeps it, null or not,
// when the operation ran.
type wireResponse struct {
	Errors     gqlerror.List   `json:"errors,omitempty"`
	Data       json.RawMessage `json:"data,omitempty"`
	Extensions map[string]any  `json:"extensions,omitempty"`
}

func wire(r *graphql.Response) wireResponse {
	return wireResponse{Errors: r.Errors, Data: r.Data, Extensions: r.Extensions}
}

func writeResponse(w http.ResponseWriter, status int, resp *graphql.Response) {
	b := appendResponse(make([]byte, 0, len(resp.Data)+256), wire(resp))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// appendResponse appends r as JSON. The executor's data is written as it is
// (it is compact JSON already), which json.Marshal would validate and
// compact byte by byte again.
func appendResponse(b []byte, r wireResponse) []byte {
	sep := byte('{')
	field := func(name string, v any) {
		enc, err := json.Marshal(v)
		if err != nil {
			panic(fmt.Errorf("encode response %s: %w", name, err))
		}
		b = append(append(append(b, sep, '"'), name...), '"', ':')
		b = append(b, enc...)
		sep = ','
	}
	if len(r.Errors) > 0 {
		field("errors", r.Errors)
	}
	if len(r.Data) > 0 {
		b = append(append(b, sep), `"data":`...)
		b = append(b, r.Data...)
		sep = ','
	}
	if len(r.Extensions) > 0 {
		field("extensions", r.Extensions)
	}
	if sep == '{' {
		b = append(b, '{')
	}
	return append(b, '}')
}

// writeRequestError answers a request that is not a GraphQL request, in the
// content type already set.
func writeRequestError(w http.ResponseWriter, status int, msg string) {
	b, _ := json.Marshal(wireResponse{Errors: gqlerror.List{codedError(msg)}})
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// responseMediaType picks the response type from Accept: the acceptable one
// of highest quality, application/graphql-response+json winning a tie;
// application/json for */*, application/*, a missing header or one that
// names neither.
func responseMediaType(accept string) string {
	if accept == "" {
		return mediaJSON
	}
	best, bestQ := mediaJSON, -1.0
	for part := range strings.SplitSeq(accept, ",") {
		mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		q := 1.0
		if s, ok := params["q"]; ok {
			if v, err := strconv.ParseFloat(s, 64); err == nil {
				q = v
			}
		}
		if q <= 0 {
			continue
		}
		var m string
		switch mt {
		case mediaGraphQLResponse:
			m = mediaGraphQLResponse
		case mediaJSON, "*/*", "application/*":
			m = mediaJSON
		default:
			continue
		}
		if q > bestQ || (q == bestQ && m == mediaGraphQLResponse) {
			best, bestQ = m, q
		}
	}
	return best
}

// paramsFromJSON decodes one GraphQL request object. Its message, when not
// empty, says what is wrong in the client's terms (never a Go type).
func paramsFromJSON(body []byte) (*graphql.RawParams, string) {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, "the request body is empty: send a JSON object with a query"
	}
	// The common case in one decode of the body itself (variables and
	// extensions, when present, decoded again for their numbers); only a
	// request that does not decode is taken apart to say what is wrong.
	var fast struct {
		Query         string          `json:"query"`
		OperationName string          `json:"operationName"`
		Variables     json.RawMessage `json:"variables"`
		Extensions    json.RawMessage `json:"extensions"`
	}
	if body[0] == '{' && json.Unmarshal(body, &fast) == nil {
		p := &graphql.RawParams{Query: fast.Query, OperationName: fast.OperationName}
		if decodeMap(fast.Variables, "variables", &p.Variables) == "" && decodeMap(fast.Extensions, "extensions", &p.Extensions) == "" {
			return p, missingQuery(p)
		}
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(body, &fields); err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) {
			return nil, "the request body must be a JSON object (or an array of them, for a batch)"
		}
		return nil, "the request body is not JSON: " + jsonReason(err)
	}
	p := &graphql.RawParams{}
	if raw, ok := fields["query"]; ok && string(raw) != "null" {
		if err := json.Unmarshal(raw, &p.Query); err != nil {
			return nil, "query must be a string holding the GraphQL document"
		}
	}
	if raw, ok := fields["operationName"]; ok && string(raw) != "null" {
		if err := json.Unmarshal(raw, &p.OperationName); err != nil {
			return nil, "operationName must be a string"
		}
	}
	if msg := decodeMap(fields["variables"], "variables", &p.Variables); msg != "" {
		return nil, msg
	}
	if msg := decodeMap(fields["extensions"], "extensions", &p.Extensions); msg != "" {
		return nil, msg
	}
	return p, missingQuery(p)
}

// paramsFromURL reads a GET request's parameters; variables and extensions
// are URL-encoded JSON.
func paramsFromURL(rawQuery string) (*graphql.RawParams, string) {
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		return nil, "the URL's query string is malformed"
	}
	p := &graphql.RawParams{Query: q.Get("query"), OperationName: q.Get("operationName")}
	if v := q.Get("variables"); v != "" {
		if msg := decodeMap(json.RawMessage(v), "variables", &p.Variables); msg != "" {
			return nil, msg
		}
	}
	if v := q.Get("extensions"); v != "" {
		if msg := decodeMap(json.RawMessage(v), "extensions", &p.Extensions); msg != "" {
			return nil, msg
		}
	}
	return p, missingQuery(p)
}

func missingQuery(p *graphql.RawParams) string {
	if p.Query == "" && p.Extensions["persistedQuery"] == nil {
		return "no query given: send the GraphQL document as `query` (or a persisted query's hash in extensions.persistedQuery)"
	}
	return ""
}

// decodeMap decodes a JSON object parameter (variables, extensions) with
// numbers kept exact, as gqlgen's own transports do; null or absent is none.
func decodeMap(raw json.RawMessage, name string, dst *map[string]any) string {
	if len(raw) == 0 || string(raw) == "null" {
		return ""
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(dst); err != nil {
		return name + " must be a JSON object"
	}
	if dec.More() {
		return name + " must be a JSON object"
	}
	return ""
}

// jsonReason is a JSON syntax error's reason without Go's words for types.
func jsonReason(err error) string {
	var syn *json.SyntaxError
	if errors.As(err, &syn) {
		return fmt.Sprintf("%s (at byte %d)", strings.TrimPrefix(syn.Error(), "json: "), syn.Offset)
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || strings.Contains(err.Error(), "unexpected end of JSON input") {
		return "unexpected end of input"
	}
	return "malformed JSON"
}

// batchKey holds a batched request's running totals, which its operations'
// limits are checked against.
type batchKey struct{}

// batchBudget is what the accepted operations of a batch have asked for so
// far. Operations are prepared one after another, so it needs no lock.
type batchBudget struct {
	total operationCost
}

func withPendingDoc(ctx context.Context) context.Context {
	return context.WithValue(ctx, pendingKey{}, &pendingDoc{})
}
