package e2e

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// postRaw sends body to /query with the given Accept (none when empty) and
// returns the response and its body.
func (a *testApp) postRaw(accept, token, body string) (*http.Response, []byte) {
	a.t.Helper()
	h := map[string]string{"Content-Type": "application/json"}
	if accept != "" {
		h["Accept"] = accept
	}
	if token != "" {
		h["Authorization"] = "Bearer " + token
	}
	return a.request(http.MethodPost, "/query", h, strings.NewReader(body))
}

// TestGraphQLOverHTTPStatuses: the statuses and bodies GraphQL over HTTP
// recommends for each response media type.
func TestGraphQLOverHTTPStatuses(t *testing.T) {
	t.Parallel()
	a := mustStartApp(t)
	const gqlResp = "application/graphql-response+json"
	cases := []struct {
		name, accept, body string
		status             int
		media              string
		data               bool // a data entry is present
	}{
		{"OKJSON", "application/json", gqlBody("{ __typename }"), 200, "application/json", true},
		{"OKGraphQLResponse", gqlResp, gqlBody("{ __typename }"), 200, gqlResp, true},
		{"OKAny", "*/*", gqlBody("{ __typename }"), 200, "application/json", true},
		{"OKNoAccept", "", gqlBody("{ __typename }"), 200, "application/json", true},
		{"OKPreferred", gqlResp + ", application/json;q=0.9", gqlBody("{ __typename }"), 200, gqlResp, true},
		{"OKJSONPreferred", gqlResp + ";q=0.5, application/json", gqlBody("{ __typename }"), 200, "application/json", true},
		{"ParseJSON", "application/json", gqlBody("{"), 200, "application/json", false},
		{"ParseGraphQLResponse", gqlResp, gqlBody("{"), 400, gqlResp, false},
		{"ValidationJSON", "application/json", gqlBody("{ nope }"), 200, "application/json", false},
		{"ValidationGraphQLResponse", gqlResp, gqlBody("{ nope }"), 400, gqlResp, false},
		{"VariablesJSON", "application/json", `{"query":"query($t: String!) { overlay(browserSourceToken: $t) { clickUrl } }","variables":{"t":null}}`, 200, "application/json", false},
		{"VariablesGraphQLResponse", gqlResp, `{"query":"query($t: String!) { overlay(browserSourceToken: $t) { clickUrl } }","variables":{"t":null}}`, 400, gqlResp, false},
		{"NotJSON", "application/json", `{ "not a JSON`, 400, "application/json", false},
		{"NotJSONGraphQLResponse", gqlResp, `{ "not a JSON`, 400, gqlResp, false},
		{"NoQuery", "", `{"qeury":"{ __typename }"}`, 400, "application/json", false},
		{"QueryNotString", gqlResp, `{"query":{"x":1}}`, 400, gqlResp, false},
		{"VariablesNotObject", gqlResp, `{"query":"{ __typename }","variables":"x"}`, 400, gqlResp, false},
		{"ExecutedWithErrors", gqlResp, gqlBody("{ me { id } }"), 200, gqlResp, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp, raw := a.postRaw(c.accept, "", c.body)
			if resp.StatusCode != c.status {
				t.Errorf("status %d, want %d: %s", resp.StatusCode, c.status, raw)
			}
			if ct := resp.Header.Get("Content-Type"); ct != c.media+"; charset=utf-8" {
				t.Errorf("Content-Type %q, want %s; charset=utf-8", ct, c.media)
			}
			var body map[string]json.RawMessage
			if err := json.Unmarshal(raw, &body); err != nil {
				t.Fatalf("not JSON: %s", raw)
			}
			if _, ok := body["data"]; ok != c.data {
				t.Errorf("data entry present: %v, want %v: %s", ok, c.data, raw)
			}
			if strings.Contains(string(raw), "RawParams") || strings.Contains(string(raw), "Go struct") || strings.Contains(string(raw), "map[string]") {
				t.Errorf("the error names a Go type: %s", raw)
			}
		})
	}
	t.Run("ErrorHasCode", func(t *testing.T) {
		_, raw := a.postRaw(gqlResp, "", `{"query":{"x":1}}`)
		if !strings.Contains(string(raw), `"code":"BAD_USER_INPUT"`) {
			t.Errorf("no code: %s", raw)
		}
	})
}

func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// TestPersistedQueries: Apollo's automatic persisted queries, over GET and
// POST, in the order the link sends them.
func TestPersistedQueries(t *testing.T) {
	t.Parallel()
	a := mustStartApp(t)
	u := a.mustSignUp("STREAMER")
	query := "query Me { me { email } }"
	hash := sha256Hex(query)
	ext := func(h string) string {
		return fmt.Sprintf(`{"persistedQuery":{"version":1,"sha256Hash":%q}}`, h)
	}
	get := func(t *testing.T, q url.Values) gqlResponse {
		t.Helper()
		resp, raw := a.request(http.MethodGet, "/query?"+q.Encode(), map[string]string{"Authorization": "Bearer " + u.Token}, nil)
		return decodeGraphQL(t, resp, raw)
	}

	t.Run("MissOverGET", func(t *testing.T) {
		r := get(t, url.Values{"operationName": {"Me"}, "extensions": {ext(hash)}})
		if r.Status != http.StatusOK || len(r.Errors) != 1 || r.Errors[0].Code() != "PERSISTED_QUERY_NOT_FOUND" || r.Errors[0].Message != "PersistedQueryNotFound" {
			t.Fatalf("got %d %+v", r.Status, r.Errors)
		}
	})
	t.Run("MissOverPOST", func(t *testing.T) {
		resp, raw := a.postRaw("application/graphql-response+json", u.Token, `{"extensions":`+ext(hash)+`}`)
		r := decodeGraphQL(t, resp, raw)
		if r.Status != http.StatusOK || len(r.Errors) != 1 || r.Errors[0].Code() != "PERSISTED_QUERY_NOT_FOUND" {
			t.Fatalf("got %d %+v", r.Status, r.Errors)
		}
	})
	t.Run("HashMismatch", func(t *testing.T) {
		b, _ := json.Marshal(map[string]any{"query": query, "extensions": json.RawMessage(ext(sha256Hex("other")))})
		resp, raw := a.postRaw("", u.Token, string(b))
		r := decodeGraphQL(t, resp, raw)
		if len(r.Errors) != 1 || r.Data != nil {
			t.Fatalf("got %d %s", r.Status, raw)
		}
		// and nothing was kept under the wrong hash
		if r := get(t, url.Values{"extensions": {ext(sha256Hex("other"))}}); len(r.Errors) != 1 || r.Errors[0].Code() != "PERSISTED_QUERY_NOT_FOUND" {
			t.Fatalf("a mismatched document was kept: %+v", r.Errors)
		}
	})
	t.Run("RegisterThenHit", func(t *testing.T) {
		r := get(t, url.Values{"query": {query}, "extensions": {ext(hash)}})
		if len(r.Errors) > 0 || !strings.Contains(string(r.Data), u.Email) {
			t.Fatalf("register: %+v %s", r.Errors, r.Data)
		}
		r = get(t, url.Values{"operationName": {"Me"}, "extensions": {ext(hash)}})
		if len(r.Errors) > 0 || !strings.Contains(string(r.Data), u.Email) {
			t.Fatalf("hit over GET: %+v %s", r.Errors, r.Data)
		}
		resp, raw := a.postRaw("", u.Token, `{"extensions":`+ext(hash)+`}`)
		if r := decodeGraphQL(t, resp, raw); len(r.Errors) > 0 || !strings.Contains(string(r.Data), u.Email) {
			t.Fatalf("hit over POST: %s", raw)
		}
	})
	t.Run("RefusedDocumentIsNotKept", func(t *testing.T) {
		// Over the cost limit: refused, and its hash stays unknown.
		big := "{ campaigns(first: 100) { edges { node { participations(first: 100) { edges { node { id } } } } } } }"
		b, _ := json.Marshal(map[string]any{"query": big, "extensions": json.RawMessage(ext(sha256Hex(big)))})
		resp, raw := a.postRaw("", u.Token, string(b))
		if r := decodeGraphQL(t, resp, raw); len(r.Errors) != 1 || r.Errors[0].Extensions["reason"] != "COMPLEXITY_LIMIT_EXCEEDED" {
			t.Fatalf("got %s", raw)
		}
		if r := get(t, url.Values{"extensions": {ext(sha256Hex(big))}}); len(r.Errors) != 1 || r.Errors[0].Code() != "PERSISTED_QUERY_NOT_FOUND" {
			t.Fatalf("a refused document was kept: %+v", r.Errors)
		}
	})
	t.Run("MutationByHashOverGETRefused", func(t *testing.T) {
		m := "mutation { logOut }"
		b, _ := json.Marshal(map[string]any{"query": "mutation { logOut }", "extensions": json.RawMessage(ext(sha256Hex(m)))})
		other := a.mustSignUp("STREAMER")
		a.postRaw("", other.Token, string(b)) // registers it (and logs other out)
		resp, raw := a.request(http.MethodGet, "/query?"+url.Values{"extensions": {ext(sha256Hex(m))}}.Encode(),
			map[string]string{"Authorization": "Bearer " + u.Token}, nil)
		if resp.StatusCode != http.StatusMethodNotAllowed {
			t.Fatalf("got %d %s", resp.StatusCode, raw)
		}
		a.mustDo(u.Token, "{ me { id } }", nil, nil) // still logged in
	})
	t.Run("UnsupportedVersion", func(t *testing.T) {
		r := get(t, url.Values{"extensions": {`{"persistedQuery":{"version":2,"sha256Hash":"` + hash + `"}}`}})
		if len(r.Errors) != 1 || r.Errors[0].Code() != "PERSISTED_QUERY_NOT_SUPPORTED" {
			t.Fatalf("got %+v", r.Errors)
		}
	})
}

// TestBatchedRequests: a JSON array of operations, as BatchHttpLink and
// graphql-request's batchRequests send, answered by an array in order, with
// the request's limits holding for the batch as a whole.
func TestBatchedRequests(t *testing.T) {
	t.Parallel()
	a := mustStartApp(t)
	u := a.mustSignUp("STREAMER")
	batch := func(t *testing.T, ops ...string) (int, []gqlResponse, []byte) {
		t.Helper()
		resp, raw := a.postRaw("application/graphql-response+json, application/json;q=0.9", u.Token, "["+strings.Join(ops, ",")+"]")
		var out []gqlResponse
		if resp.StatusCode == http.StatusOK {
			if err := json.Unmarshal(raw, &out); err != nil {
				t.Fatalf("not an array: %s", raw)
			}
		}
		return resp.StatusCode, out, raw
	}
	t.Run("InOrder", func(t *testing.T) {
		status, out, raw := batch(t, gqlBody("{ me { email } }"), gqlBody("{ __typename }"), gqlBody("{ nope }"))
		if status != 200 || len(out) != 3 {
			t.Fatalf("got %d %s", status, raw)
		}
		if !strings.Contains(string(out[0].Data), u.Email) || string(out[1].Data) != `{"__typename":"Query"}` {
			t.Errorf("data: %s", raw)
		}
		if len(out[2].Errors) != 1 || out[2].Data != nil {
			t.Errorf("third: want a request error without data: %s", raw)
		}
	})
	t.Run("Maximum", func(t *testing.T) {
		ops := make([]string, 11)
		for i := range ops {
			ops[i] = gqlBody("{ __typename }")
		}
		if status, _, raw := batch(t, ops...); status != 400 || !strings.Contains(string(raw), "at most 10") {
			t.Fatalf("11 operations: got %d %s", status, raw)
		}
		if status, out, raw := batch(t, ops[:10]...); status != 200 || len(out) != 10 {
			t.Fatalf("10 operations: got %d %s", status, raw)
		}
	})
	t.Run("Empty", func(t *testing.T) {
		if status, _, raw := batch(t); status != 400 {
			t.Fatalf("got %d %s", status, raw)
		}
	})
	t.Run("OnePasswordCheckPerBatch", func(t *testing.T) {
		login := func(pw string) string {
			b, _ := json.Marshal(map[string]any{"query": `mutation($e: String!, $p: String!) { logIn(input: {email: $e, password: $p}) { token } }`,
				"variables": map[string]any{"e": u.Email, "p": pw}})
			return string(b)
		}
		status, out, raw := batch(t, login("correct horse"), login("guess 1"), login("guess 2"))
		if status != 200 || len(out) != 3 {
			t.Fatalf("got %d %s", status, raw)
		}
		if len(out[0].Errors) > 0 || !strings.Contains(string(out[0].Data), "token") {
			t.Errorf("first: %s", raw)
		}
		for _, r := range out[1:] {
			if len(r.Errors) != 1 || r.Errors[0].Extensions["reason"] != "PASSWORD_CHECK_LIMIT_EXCEEDED" || r.Data != nil {
				t.Errorf("later log-ins must be refused before running: %s", raw)
			}
		}
	})
	t.Run("CostOfTheWhole", func(t *testing.T) {
		// 3,301 points each: one fits in 5,000, two do not.
		q := gqlBody("{ campaigns(first: 100) { edges { node { participations(first: 10) { edges { node { id } } } } } } }")
		status, out, raw := batch(t, q, q)
		if status != 200 || len(out) != 2 {
			t.Fatalf("got %d %s", status, raw)
		}
		if out[0].Data == nil {
			t.Errorf("first: want it executed: %s", raw)
		}
		if len(out[1].Errors) != 1 || out[1].Errors[0].Extensions["reason"] != "COMPLEXITY_LIMIT_EXCEEDED" {
			t.Errorf("second must be refused by the batch's total: %s", raw)
		}
	})
	t.Run("NoGoTypeInErrors", func(t *testing.T) {
		status, _, raw := batch(t, `1`, `"x"`)
		if status != 400 || strings.Contains(string(raw), "Go ") || strings.Contains(string(raw), "RawParams") {
			t.Fatalf("got %d %s", status, raw)
		}
	})
}

// TestCacheControl: no answer of the API is stored by a browser or a shared
// cache, authenticated or anonymous.
func TestCacheControl(t *testing.T) {
	t.Parallel()
	a := mustStartApp(t)
	u := a.mustSignUp("STREAMER")
	for name, token := range map[string]string{"Authenticated": u.Token, "Anonymous": ""} {
		resp, raw := a.postRaw("", token, gqlBody("{ __typename }"))
		if got := resp.Header.Get("Cache-Control"); got != "no-store" {
			t.Errorf("%s POST: Cache-Control %q: %s", name, got, raw)
		}
		h := map[string]string{}
		if token != "" {
			h["Authorization"] = "Bearer " + token
		}
		resp, _ = a.request(http.MethodGet, "/query?query="+url.QueryEscape("{ me { id } }"), h, nil)
		if got := resp.Header.Get("Cache-Control"); got != "no-store" {
			t.Errorf("%s GET: Cache-Control %q", name, got)
		}
	}
}

// TestIntrospectionSwitch: on by default, off with INTROSPECTION=false.
func TestIntrospectionSwitch(t *testing.T) {
	t.Parallel()
	on := mustStartApp(t)
	on.mustDo("", "{ __schema { queryType { name } } }", nil, nil)
	off := mustStartApp(t, withEnv(map[string]string{"INTROSPECTION": "false"}))
	for _, q := range []string{"{ __schema { queryType { name } } }", `{ __type(name: "User") { name } }`, "fragment F on Query { __schema { types { name } } } { ...F }"} {
		if e := off.mustFail("", q, nil, "BAD_USER_INPUT", ""); e.Extensions["reason"] != "INTROSPECTION_DISABLED" {
			t.Errorf("%s: got %+v", q, e)
		}
	}
	off.mustDo("", "{ __typename }", nil, nil) // __typename is not introspection
}
