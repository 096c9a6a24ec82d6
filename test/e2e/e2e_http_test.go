package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"tally/httpapi"
	"tally/repository/repotest"
)

// jsonHeaders are the headers of an ordinary GraphQL POST.
var jsonHeaders = map[string]string{"Content-Type": "application/json"}

func gqlBody(query string) string {
	b, _ := json.Marshal(map[string]any{"query": query})
	return string(b)
}

// mustBeGraphQLError checks a refused request: the wanted status, and a
// GraphQL errors array whose first error has a message and the wanted code.
func mustBeGraphQLError(t *testing.T, resp *http.Response, raw []byte, status int, code string) gqlError {
	t.Helper()
	r := decodeGraphQL(t, resp, raw)
	if r.Status != status {
		t.Errorf("status: got %d, want %d: %s", r.Status, status, raw)
	}
	if len(r.Errors) == 0 || r.Errors[0].Message == "" {
		t.Fatalf("want a GraphQL error with a message, got %s", raw)
	}
	if code != "" && r.Errors[0].Code() != code {
		t.Errorf("code: got %q, want %q: %s", r.Errors[0].Code(), code, raw)
	}
	return r.Errors[0]
}

func TestQueryTransport(t *testing.T) {
	t.Parallel()
	a := mustStartApp(t)

	t.Run("GETQuery", func(t *testing.T) {
		resp, raw := a.request(http.MethodGet, "/query?query="+url.QueryEscape("{ __typename }"), nil, nil)
		r := decodeGraphQL(t, resp, raw)
		if r.Status != http.StatusOK || len(r.Errors) > 0 || string(r.Data) != `{"__typename":"Query"}` {
			t.Errorf("got %d %s", r.Status, raw)
		}
	})
	t.Run("GETQueryWithToken", func(t *testing.T) {
		u := a.mustSignUp("STREAMER")
		resp, raw := a.request(http.MethodGet, "/query?query="+url.QueryEscape("{ me { email } }"),
			map[string]string{"Authorization": "Bearer " + u.Token}, nil)
		r := decodeGraphQL(t, resp, raw)
		if r.Status != http.StatusOK || !strings.Contains(string(r.Data), u.Email) {
			t.Errorf("got %d %s", r.Status, raw)
		}
	})
	t.Run("ErrGETMutation", func(t *testing.T) {
		q := `mutation { signUp(input: {email: "get@example.com", password: "correct horse", displayName: "G", role: STREAMER}) { token } }`
		resp, raw := a.request(http.MethodGet, "/query?query="+url.QueryEscape(q), nil, nil)
		e := mustBeGraphQLError(t, resp, raw, http.StatusMethodNotAllowed, "BAD_USER_INPUT")
		if resp.Header.Get("Allow") != "POST" || !strings.Contains(e.Message, "POST") {
			t.Errorf("Allow %q, message %q: want POST named in both", resp.Header.Get("Allow"), e.Message)
		}
		// And nothing was written: the same sign-up by POST succeeds.
		a.mustDo("", q, nil, nil)
	})
	t.Run("ErrMalformedJSON", func(t *testing.T) {
		for _, body := range []string{`{"query": `, `not json`, `[1,2]`, `{"query": 42}`, ``} {
			resp, raw := a.request(http.MethodPost, "/query", jsonHeaders, strings.NewReader(body))
			if resp.StatusCode >= 500 {
				t.Errorf("body %q: got %d, want a 4xx", body, resp.StatusCode)
			}
			if resp.StatusCode < 400 {
				t.Errorf("body %q: got %d, want a 4xx", body, resp.StatusCode)
			}
			e := mustBeGraphQLError(t, resp, raw, resp.StatusCode, "BAD_USER_INPUT")
			if len(body) > 3 && strings.Contains(e.Message, body) {
				t.Errorf("body %q: the error echoes the body: %q", body, e.Message)
			}
		}
	})
	t.Run("ErrMissingContentType", func(t *testing.T) {
		resp, raw := a.request(http.MethodPost, "/query", nil, strings.NewReader(gqlBody("{ __typename }")))
		e := mustBeGraphQLError(t, resp, raw, http.StatusUnsupportedMediaType, "BAD_USER_INPUT")
		if !strings.Contains(e.Message, "application/json") {
			t.Errorf("message does not say what to send: %q", e.Message)
		}
	})
	t.Run("ErrWrongContentType", func(t *testing.T) {
		resp, raw := a.request(http.MethodPost, "/query", map[string]string{"Content-Type": "text/plain"}, strings.NewReader(gqlBody("{ __typename }")))
		mustBeGraphQLError(t, resp, raw, http.StatusUnsupportedMediaType, "BAD_USER_INPUT")
	})
	t.Run("ErrMethodNotAllowed", func(t *testing.T) {
		resp, raw := a.request(http.MethodPut, "/query", jsonHeaders, strings.NewReader(gqlBody("{ __typename }")))
		mustBeGraphQLError(t, resp, raw, http.StatusMethodNotAllowed, "BAD_USER_INPUT")
		if allow := resp.Header.Get("Allow"); !strings.Contains(allow, "POST") {
			t.Errorf("Allow: got %q", allow)
		}
	})
	t.Run("ErrSyntax", func(t *testing.T) {
		e := a.mustFail("", "{ me { ", nil, "BAD_USER_INPUT", "")
		if r := a.do("", "{ me { ", nil); r.Status != http.StatusBadRequest {
			t.Errorf("status: got %d, want 400", r.Status)
		}
		if e.Extensions["reason"] != "GRAPHQL_PARSE_FAILED" {
			t.Errorf("reason: got %v, want GRAPHQL_PARSE_FAILED", e.Extensions["reason"])
		}
	})
	t.Run("ErrUnknownField", func(t *testing.T) {
		e := a.mustFail("", "{ nope }", nil, "BAD_USER_INPUT", "")
		if e.Extensions["reason"] != "GRAPHQL_VALIDATION_FAILED" {
			t.Errorf("reason: got %v, want GRAPHQL_VALIDATION_FAILED", e.Extensions["reason"])
		}
	})
}

func TestBodyLimit(t *testing.T) {
	t.Parallel()
	a := mustStartApp(t)
	const limit = 1 << 20
	if httpapi.DefaultLimits.MaxBodyBytes != limit {
		t.Fatalf("DefaultLimits.MaxBodyBytes: got %d, want 1 MiB", httpapi.DefaultLimits.MaxBodyBytes)
	}
	// body returns a valid GraphQL request of exactly n bytes: a comment pads
	// the query.
	body := func(n int) string {
		short := gqlBody("#\n{ __typename }")
		pad := n - len(short)
		return gqlBody("#" + strings.Repeat("x", pad) + "\n{ __typename }")
	}
	if got := len(body(limit)); got != limit {
		t.Fatalf("body helper: got %d bytes", got)
	}
	// chunked hides the length, so the server cannot refuse from the header.
	chunked := func(s string) io.Reader { return io.MultiReader(strings.NewReader(s)) }

	for _, tc := range []struct {
		name string
		body func(string) io.Reader
	}{
		{"ContentLength", func(s string) io.Reader { return strings.NewReader(s) }},
		{"Chunked", chunked},
	} {
		t.Run(tc.name+"/AtLimit", func(t *testing.T) {
			resp, raw := a.request(http.MethodPost, "/query", jsonHeaders, tc.body(body(limit)))
			r := decodeGraphQL(t, resp, raw)
			if r.Status != http.StatusOK || len(r.Errors) > 0 {
				t.Errorf("a body of exactly the limit: got %d %s", r.Status, raw)
			}
		})
		t.Run(tc.name+"/ErrOverLimit", func(t *testing.T) {
			resp, raw := a.request(http.MethodPost, "/query", jsonHeaders, tc.body(body(limit+1)))
			e := mustBeGraphQLError(t, resp, raw, http.StatusRequestEntityTooLarge, "BAD_USER_INPUT")
			if !strings.Contains(e.Message, "1048576") {
				t.Errorf("message does not name the limit: %q", e.Message)
			}
		})
	}
	t.Run("ChunkedFarOverLimit", func(t *testing.T) {
		resp, raw := a.request(http.MethodPost, "/query", jsonHeaders, chunked(body(8*limit)))
		mustBeGraphQLError(t, resp, raw, http.StatusRequestEntityTooLarge, "BAD_USER_INPUT")
	})
}

func TestDepthLimit(t *testing.T) {
	t.Parallel()
	a := mustStartApp(t, withLimits(httpapi.Limits{MaxBodyBytes: 1 << 20, MaxDepth: 3, MaxComplexity: 1000}))
	u := a.mustSignUp("STREAMER")

	t.Run("AtLimit", func(t *testing.T) {
		a.mustDo(u.Token, `{ me { campaignRotationSettings { rotationIntervalMinutes } } }`, nil, nil)
	})
	t.Run("ErrTooDeep", func(t *testing.T) {
		e := a.mustFail(u.Token, `{ me { campaignRotationSettings { priorityWeights { fairness } } } }`, nil, "BAD_USER_INPUT", "")
		if e.Message != "the query is nested 4 levels deep; the limit is 3" {
			t.Errorf("message: got %q", e.Message)
		}
		if e.Extensions["reason"] != "DEPTH_LIMIT_EXCEEDED" {
			t.Errorf("reason: got %v", e.Extensions["reason"])
		}
		if r := a.do(u.Token, `{ me { campaignRotationSettings { priorityWeights { fairness } } } }`, nil); r.Status != http.StatusBadRequest {
			t.Errorf("status: got %d, want 400 like any refused document", r.Status)
		}
	})
	t.Run("ErrTooDeepThroughFragments", func(t *testing.T) {
		q := `{ me { ...S } } fragment S on User { campaignRotationSettings { ... on CampaignRotationSettings { priorityWeights { fairness } } } }`
		a.mustFail(u.Token, q, nil, "BAD_USER_INPUT", "")
	})
	t.Run("ErrTooDeepMutationWritesNothing", func(t *testing.T) {
		q := `mutation { updateCampaignSelectionSettings(input: {rotationIntervalMinutes: 9}) {
			campaignRotationSettings { priorityWeights { fairness } } } }`
		a.mustFail(u.Token, q, nil, "BAD_USER_INPUT", "")
		var me meData
		a.mustDo(u.Token, meQuery2, nil, &me)
		if got := me.Me.CampaignRotationSettings.RotationIntervalMinutes; got != 3 {
			t.Errorf("a refused mutation ran: interval %d", got)
		}
	})
}

// meQuery2 is meQuery within depth 3.
const meQuery2 = `{ me { campaignRotationSettings { rotationIntervalMinutes } } }`

func TestComplexityLimit(t *testing.T) {
	t.Parallel()
	// signUp alone costs more than 8 (a password check weighs 100): sign up
	// through an app with the default limits on the same store.
	store := repotest.MustOpen(t)
	u := mustStartAppOn(t, store).mustSignUp("STREAMER")
	a := mustStartAppOn(t, store, withLimits(httpapi.Limits{MaxBodyBytes: 1 << 20, MaxDepth: 12, MaxComplexity: 8}))

	t.Run("UnderLimit", func(t *testing.T) {
		a.mustDo(u.Token, `{ me { id email } }`, nil, nil)
	})
	t.Run("ErrOverLimit", func(t *testing.T) {
		e := a.mustFail(u.Token, meQuery, nil, "BAD_USER_INPUT", "")
		if !strings.Contains(e.Message, "complexity") || !strings.Contains(e.Message, "limit of 8") {
			t.Errorf("message does not say complexity and the limit: %q", e.Message)
		}
		if e.Extensions["reason"] != "COMPLEXITY_LIMIT_EXCEEDED" {
			t.Errorf("reason: got %v", e.Extensions["reason"])
		}
		if r := a.do(u.Token, meQuery, nil); r.Status != http.StatusBadRequest {
			t.Errorf("status: got %d, want 400 like any refused document", r.Status)
		}
	})
	t.Run("ErrAliasesCount", func(t *testing.T) {
		a.mustFail(u.Token, `{ a: me { id } b: me { id } c: me { id } d: me { id } e: me { id } }`, nil, "BAD_USER_INPUT", "")
	})
}

// introspectionQuery is graphql-js's getIntrospectionQuery with every option
// on (descriptions, specifiedByUrl, directiveIsRepeatable, schemaDescription,
// inputValueDeprecation, oneOf) and its deepest TypeRef fragment: what
// GraphiQL and code generators send.
const introspectionQuery = `
query IntrospectionQuery {
  __schema {
    description
    queryType { name kind }
    mutationType { name kind }
    subscriptionType { name kind }
    types { ...FullType }
    directives {
      name
      description
      isRepeatable
      locations
      args(includeDeprecated: true) { ...InputValue }
    }
  }
}

fragment FullType on __Type {
  kind
  name
  description
  specifiedByURL
  isOneOf
  fields(includeDeprecated: true) {
    name
    description
    args(includeDeprecated: true) { ...InputValue }
    type { ...TypeRef }
    isDeprecated
    deprecationReason
  }
  inputFields(includeDeprecated: true) { ...InputValue }
  interfaces { ...TypeRef }
  enumValues(includeDeprecated: true) {
    name
    description
    isDeprecated
    deprecationReason
  }
  possibleTypes { ...TypeRef }
}

fragment InputValue on __InputValue {
  name
  description
  type { ...TypeRef }
  defaultValue
  isDeprecated
  deprecationReason
}

fragment TypeRef on __Type {
  kind
  name
  ofType {
    kind
    name
    ofType {
      kind
      name
      ofType {
        kind
        name
        ofType {
          kind
          name
          ofType {
            kind
            name
            ofType {
              kind
              name
              ofType {
                kind
                name
                ofType {
                  kind
                  name
                  ofType {
                    kind
                    name
                  }
                }
              }
            }
          }
        }
      }
    }
  }
}
`

func TestIntrospection(t *testing.T) {
	t.Parallel()
	a := mustStartApp(t) // DefaultLimits

	t.Run("GraphiQLQueryUnderDefaultLimits", func(t *testing.T) {
		var data struct {
			Schema struct {
				QueryType struct{ Name string }
				Types     []struct {
					Name   string
					Fields []struct{ Name string }
				}
			} `json:"__schema"`
		}
		a.mustDo("", introspectionQuery, nil, &data)
		if data.Schema.QueryType.Name != "Query" {
			t.Errorf("queryType: got %q", data.Schema.QueryType.Name)
		}
		found := false
		for _, ty := range data.Schema.Types {
			if ty.Name == "User" {
				found = len(ty.Fields) >= 7
			}
		}
		if !found {
			t.Errorf("type User with its fields is missing from the schema")
		}
	})
	t.Run("GraphiQLQueryByGET", func(t *testing.T) {
		resp, raw := a.request(http.MethodGet, "/query?query="+url.QueryEscape(introspectionQuery), nil, nil)
		r := decodeGraphQL(t, resp, raw)
		if r.Status != http.StatusOK || len(r.Errors) > 0 {
			t.Errorf("got %d %s", r.Status, raw)
		}
	})
	t.Run("ErrNestedListsRefused", func(t *testing.T) {
		// Introspection that nests __Type's lists fans out; validation refuses it.
		q := `{ __schema { types { fields { type { fields { type { fields { name } } } } } } } }`
		a.mustFail("", q, nil, "BAD_USER_INPUT", "")
	})
	t.Run("ErrDepthStillCounted", func(t *testing.T) {
		// Only __Type.ofType is free: other introspection fields count.
		b := mustStartApp(t, withLimits(httpapi.Limits{MaxBodyBytes: 1 << 20, MaxDepth: 5, MaxComplexity: 1000}))
		e := b.mustFail("", `{ __schema { types { fields { args { type { ofType { ofType { name } } } } } } } }`, nil, "BAD_USER_INPUT", "")
		if e.Message != "the query is nested 6 levels deep; the limit is 5" {
			t.Errorf("message: got %q", e.Message)
		}
		b.mustDo("", `{ __schema { types { fields { type { ofType { ofType { ofType { name } } } } } } } }`, nil, nil)
	})
}

func TestInternalErrorsLeakNothing(t *testing.T) {
	t.Parallel()
	var logs logBuffer
	store := mustOpenStore(t)
	a := mustStartAppOn(t, store, withLogger(logs.logger()))
	u := a.mustSignUp("STREAMER")
	if err := store.Close(context.Background()); err != nil {
		t.Fatal(err)
	}

	resp, raw := a.request(http.MethodPost, "/query", map[string]string{
		"Content-Type": "application/json", "Authorization": "Bearer " + u.Token, "X-Request-Id": "leak-check-1",
	}, strings.NewReader(gqlBody(`{ me { id email } }`)))
	e := mustBeGraphQLError(t, resp, raw, http.StatusOK, "INTERNAL_SERVER_ERROR")
	if e.Message != "Internal error." {
		t.Errorf("message: got %q, want %q", e.Message, "Internal error.")
	}
	for _, leak := range []string{"engine", "closed", "disconnect", "find user", "mongo", "lungo"} {
		if strings.Contains(strings.ToLower(string(raw)), leak) {
			t.Errorf("response leaks %q: %s", leak, raw)
		}
	}
	if got := e.Extensions["requestId"]; got != "leak-check-1" {
		t.Errorf("extensions.requestId: got %v, want the request's id", got)
	}
	// The detail goes to the log, under the same request id.
	var logged bool
	for _, l := range logs.lines(t) {
		if l["msg"] == "internal error" && l["request_id"] == "leak-check-1" && l["err"] != "" {
			logged = true
		}
	}
	if !logged {
		t.Errorf("internal error not logged with its request id:\n%s", logs.String())
	}
}

func TestHealthAndReadiness(t *testing.T) {
	t.Parallel()
	store := mustOpenStore(t)
	a := mustStartAppOn(t, store)

	resp, raw := a.request(http.MethodGet, "/healthz", nil, nil)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(raw), `"ok"`) {
		t.Errorf("/healthz: got %d %s", resp.StatusCode, raw)
	}
	resp, raw = a.request(http.MethodGet, "/readyz", nil, nil)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(raw), `"ready"`) {
		t.Errorf("/readyz on an open store: got %d %s", resp.StatusCode, raw)
	}
	if err := store.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	resp, raw = a.request(http.MethodGet, "/readyz", nil, nil)
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("/readyz on a closed store: got %d %s, want 503", resp.StatusCode, raw)
	}
	if strings.Contains(string(raw), "closed") || strings.Contains(string(raw), "disconnect") {
		t.Errorf("/readyz leaks the store's error: %s", raw)
	}
	resp, _ = a.request(http.MethodGet, "/healthz", nil, nil)
	if resp.StatusCode != http.StatusOK {
		t.Errorf("/healthz says the process is up whatever the store: got %d", resp.StatusCode)
	}
}

func TestGraphiQL(t *testing.T) {
	t.Parallel()
	a := mustStartApp(t)
	resp, raw := a.request(http.MethodGet, "/", nil, nil)
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("GET /: got %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	page := strings.ToLower(string(raw))
	if !strings.Contains(page, "graphiql") || !strings.Contains(page, "/query") {
		t.Errorf("GET / is not GraphiQL on /query: %.300s", raw)
	}
	resp, _ = a.request(http.MethodGet, "/no-such-page", nil, nil)
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET /no-such-page: got %d, want 404", resp.StatusCode)
	}
}

func TestRequestID(t *testing.T) {
	t.Parallel()
	a := mustStartApp(t)
	requests := []struct {
		method, path string
		headers      map[string]string
		body         string
	}{
		{"GET", "/healthz", nil, ""},
		{"GET", "/readyz", nil, ""},
		{"GET", "/", nil, ""},
		{"GET", "/nowhere", nil, ""},
		{"GET", "/query?query=" + url.QueryEscape("{ __typename }"), nil, ""},
		{"POST", "/query", jsonHeaders, gqlBody("{ me { id } }")},
		{"POST", "/query", jsonHeaders, "{"},
		{"POST", "/query", nil, "{}"},
		{"POST", "/query", jsonHeaders, gqlBody("#" + strings.Repeat("x", 1<<20) + "\n{ __typename }")},
	}
	seen := map[string]bool{}
	for _, r := range requests {
		var body io.Reader
		if r.body != "" {
			body = strings.NewReader(r.body)
		}
		resp, _ := a.request(r.method, r.path, r.headers, body)
		id := resp.Header.Get("X-Request-Id")
		if id == "" {
			t.Errorf("%s %.40s (%d): no X-Request-Id", r.method, r.path, resp.StatusCode)
		}
		if seen[id] {
			t.Errorf("%s %.40s: X-Request-Id %q repeats", r.method, r.path, id)
		}
		seen[id] = true
	}
	t.Run("CallersIDKept", func(t *testing.T) {
		resp, _ := a.request(http.MethodGet, "/healthz", map[string]string{"X-Request-Id": "abc-123.DEF_4"}, nil)
		if got := resp.Header.Get("X-Request-Id"); got != "abc-123.DEF_4" {
			t.Errorf("got %q", got)
		}
	})
	t.Run("CallersInsaneIDReplaced", func(t *testing.T) {
		resp, _ := a.request(http.MethodGet, "/healthz", map[string]string{"X-Request-Id": "bad id\u00e9" + strings.Repeat("x", 100)}, nil)
		if got := resp.Header.Get("X-Request-Id"); got == "" || strings.Contains(got, " ") || len(got) > 64 {
			t.Errorf("got %q", got)
		}
	})
}

func TestCORS(t *testing.T) {
	t.Parallel()
	const allowed = "https://dashboard.example.com"
	a := mustStartApp(t, withEnv(map[string]string{"CORS_ORIGINS": allowed + ", https://other.example.com"}))
	preflight := func(origin string) *http.Response {
		resp, _ := a.request(http.MethodOptions, "/query", map[string]string{
			"Origin":                         origin,
			"Access-Control-Request-Method":  "POST",
			"Access-Control-Request-Headers": "authorization, content-type",
		}, nil)
		return resp
	}

	t.Run("PreflightAllowedOrigin", func(t *testing.T) {
		resp := preflight(allowed)
		h := resp.Header
		if resp.StatusCode != http.StatusNoContent && resp.StatusCode != http.StatusOK {
			t.Errorf("status: got %d", resp.StatusCode)
		}
		if got := h.Get("Access-Control-Allow-Origin"); got != allowed {
			t.Errorf("Access-Control-Allow-Origin: got %q, want %q", got, allowed)
		}
		if got := h.Get("Access-Control-Allow-Methods"); !strings.Contains(got, "POST") {
			t.Errorf("Access-Control-Allow-Methods: got %q", got)
		}
		for _, want := range []string{"Authorization", "Content-Type"} {
			if got := h.Get("Access-Control-Allow-Headers"); !strings.Contains(strings.ToLower(got), strings.ToLower(want)) {
				t.Errorf("Access-Control-Allow-Headers: got %q, want %s", got, want)
			}
		}
		if !strings.Contains(strings.Join(h.Values("Vary"), ","), "Origin") {
			t.Errorf("Vary: got %q, want Origin", h.Values("Vary"))
		}
	})
	t.Run("PreflightApolloAndTracingHeaders", func(t *testing.T) {
		// What Apollo Client in a browser sends, with W3C trace context.
		const asked = "apollographql-client-name,apollographql-client-version,authorization,content-type,traceparent,tracestate"
		resp, _ := a.request(http.MethodOptions, "/query", map[string]string{
			"Origin": allowed, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": asked,
		}, nil)
		got := strings.ToLower(resp.Header.Get("Access-Control-Allow-Headers"))
		for _, want := range strings.Split(asked, ",") {
			if !strings.Contains(got, want) {
				t.Errorf("Access-Control-Allow-Headers %q lacks %s", got, want)
			}
		}
		if resp.Header.Get("Access-Control-Allow-Origin") != allowed {
			t.Errorf("Access-Control-Allow-Origin: got %q", resp.Header.Get("Access-Control-Allow-Origin"))
		}
	})
	t.Run("ExposesRequestID", func(t *testing.T) {
		resp, _ := a.request(http.MethodPost, "/query", map[string]string{"Content-Type": "application/json", "Origin": allowed},
			strings.NewReader(gqlBody("{ __typename }")))
		if got := strings.ToLower(resp.Header.Get("Access-Control-Expose-Headers")); !strings.Contains(got, "x-request-id") {
			t.Errorf("Access-Control-Expose-Headers: got %q", got)
		}
		if resp.Header.Get("X-Request-Id") == "" {
			t.Error("no X-Request-Id")
		}
	})
	t.Run("AnyOrigin", func(t *testing.T) {
		b := mustStartApp(t, withEnv(map[string]string{"CORS_ORIGINS": "*"}))
		resp, _ := b.request(http.MethodOptions, "/query", map[string]string{"Origin": "https://anywhere.example.net",
			"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization,content-type"}, nil)
		if got := resp.Header.Get("Access-Control-Allow-Origin"); got != "*" && got != "https://anywhere.example.net" {
			t.Errorf("Access-Control-Allow-Origin: got %q", got)
		}
		if got := resp.Header.Get("Access-Control-Allow-Credentials"); got != "" {
			t.Errorf("Access-Control-Allow-Credentials: got %q; the API takes no cookies", got)
		}
	})
	t.Run("PreflightDisallowedOrigin", func(t *testing.T) {
		resp := preflight("https://evil.example.com")
		for _, k := range []string{"Access-Control-Allow-Origin", "Access-Control-Allow-Methods", "Access-Control-Allow-Headers"} {
			if got := resp.Header.Get(k); got != "" {
				t.Errorf("%s: got %q for a disallowed origin", k, got)
			}
		}
	})
	t.Run("SimpleRequestAllowedOrigin", func(t *testing.T) {
		resp, _ := a.request(http.MethodPost, "/query", map[string]string{"Content-Type": "application/json", "Origin": allowed},
			strings.NewReader(gqlBody("{ __typename }")))
		if got := resp.Header.Get("Access-Control-Allow-Origin"); got != allowed {
			t.Errorf("Access-Control-Allow-Origin: got %q", got)
		}
	})
	t.Run("NoOriginsConfiguredAllowsNone", func(t *testing.T) {
		b := mustStartApp(t)
		resp, _ := b.request(http.MethodOptions, "/query", map[string]string{"Origin": allowed, "Access-Control-Request-Method": "POST"}, nil)
		if got := resp.Header.Get("Access-Control-Allow-Origin"); got != "" {
			t.Errorf("Access-Control-Allow-Origin: got %q with no CORS_ORIGINS", got)
		}
	})
}

func TestRequestLogs(t *testing.T) {
	t.Parallel()
	var logs logBuffer
	a := mustStartApp(t, withLogger(logs.logger()))
	u := a.mustSignUp("STREAMER")
	const secretPath = "/nowhere/s3cr3t-path"

	for i, r := range []struct {
		method, path, route string
		headers             map[string]string
		body                string
		status              int
	}{
		{"POST", "/query", "/query", map[string]string{"Content-Type": "application/json", "Authorization": "Bearer " + u.Token}, gqlBody(meQuery), 200},
		{"GET", "/healthz", "GET /healthz", nil, "", 200},
		{"GET", secretPath + "?key=s3cr3t-query", "unmatched", map[string]string{"Authorization": "Bearer " + u.Token}, "", 404},
		// The overlay page's path holds a token: only the route is logged.
		{"GET", "/overlay/s3cr3t-browser-source-token?key=s3cr3t-query", "GET /overlay/{token}", nil, "", 200},
		{"POST", "/query", "/query", nil, "{}", 415},
	} {
		id := fmt.Sprintf("log-%s-%d-%d", strings.ToLower(r.method), r.status, i)
		h := map[string]string{"X-Request-Id": id}
		for k, v := range r.headers {
			h[k] = v
		}
		var body io.Reader
		if r.body != "" {
			body = strings.NewReader(r.body)
		}
		resp, _ := a.request(r.method, r.path, h, body)
		if resp.StatusCode != r.status {
			t.Errorf("%s %s: status %d, want %d", r.method, r.path, resp.StatusCode, r.status)
		}
		lines := logs.requestLines(t, id)
		if len(lines) != 1 {
			t.Errorf("%s %s: got %d request log lines, want 1:\n%s", r.method, r.path, len(lines), logs.String())
			continue
		}
		l := lines[0]
		if l["method"] != r.method || l["route"] != r.route || l["status"] != float64(r.status) || l["level"] != "INFO" {
			t.Errorf("%s %s: log line %v, want method %s route %q status %d", r.method, r.path, l, r.method, r.route, r.status)
		}
		if _, ok := l["duration"]; !ok {
			t.Errorf("%s %s: no duration in %v", r.method, r.path, l)
		}
	}
	all := logs.String()
	for _, secret := range []string{u.Token, "Bearer", "s3cr3t", "correct horse", "Authorization"} {
		if strings.Contains(all, secret) {
			t.Errorf("logs contain %q:\n%s", secret, all)
		}
	}
}
