package graphqlhttp

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/vektah/gqlparser/v2/ast"
)

// TestParamsFromJSON: what a request body decodes to, and what a client is
// told when it does not.
func TestParamsFromJSON(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		query      string
		vars       map[string]any
		msg        string // a prefix of the message, "" for none
	}{
		{name: "plain", body: `{"query":"{ me { id } }"}`, query: "{ me { id } }"},
		{name: "null variables", body: `{"query":"{ a }","variables":null,"extensions":null}`, query: "{ a }"},
		{name: "numbers stay exact", body: `{"query":"q","variables":{"n":12345678901234567890,"f":1.5,"o":{"m":[1]}}}`, query: "q",
			vars: map[string]any{"n": json.Number("12345678901234567890"), "f": json.Number("1.5"), "o": map[string]any{"m": []any{json.Number("1")}}}},
		{name: "leading space", body: ` {"query":"{ a }"}`, query: "{ a }"},
		{name: "the last of two variables", body: `{"query":"q","variables":{"a":1},"variables":{"b":2}}`, query: "q",
			vars: map[string]any{"b": json.Number("2")}},
		{name: "a brace too many", body: `{"query":"{ a }"}}`, msg: "the request body is not JSON: invalid character '}' after top-level value"},
		{name: "a bracket too many", body: `{"query":"{ a }"}]`, msg: "the request body is not JSON: invalid character ']' after top-level value"},
		{name: "trailing object", body: `{"query":"{ a }"} {"query":"{ b }"}`, msg: "the request body is not JSON"},
		{name: "variables not an object", body: `{"query":"q","variables":[1]}`, msg: "variables must be a JSON object"},
		{name: "query not a string", body: `{"query":5}`, msg: "query must be a string"},
		{name: "not an object", body: `"query"`, msg: "the request body must be a JSON object"},
		{name: "empty", body: `  `, msg: "the request body is empty"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, msg := paramsFromJSON([]byte(tc.body))
			if tc.msg != "" {
				if !strings.HasPrefix(msg, tc.msg) {
					t.Fatalf("message %q, want it to start %q", msg, tc.msg)
				}
				return
			}
			if msg != "" {
				t.Fatalf("message %q, want none", msg)
			}
			if p.Query != tc.query {
				t.Errorf("query %q, want %q", p.Query, tc.query)
			}
			got, _ := json.Marshal(p.Variables)
			want, _ := json.Marshal(tc.vars)
			if string(got) != string(want) {
				t.Errorf("variables %s, want %s", got, want)
			}
			for k, v := range tc.vars {
				if _, isNum := v.(json.Number); isNum {
					if _, ok := p.Variables[k].(json.Number); !ok {
						t.Errorf("variable %s is %T, want json.Number", k, p.Variables[k])
					}
				}
			}
		})
	}
}

// TestMergeAt: a deferred payload lands in the object at its path, keys
// replaced in place and added at the end; a path that leads nowhere (a
// parent nulled by an error) changes nothing.
func TestMergeAt(t *testing.T) {
	doc := json.RawMessage(`{"a":{"list":[{"x":1,"later":null},{"x":2,"later":null}]},"gone":null}`)
	for _, tc := range []struct {
		name  string
		path  ast.Path
		patch string
		want  string
	}{
		{"into a list item", ast.Path{ast.PathName("a"), ast.PathName("list"), ast.PathIndex(1)}, `{"later":{"y":3},"new":true}`,
			`{"a":{"list":[{"x":1,"later":null},{"x":2,"later":{"y":3},"new":true}]},"gone":null}`},
		{"at the root", nil, `{"gone":"back"}`, `{"a":{"list":[{"x":1,"later":null},{"x":2,"later":null}]},"gone":"back"}`},
		{"under a null", ast.Path{ast.PathName("gone"), ast.PathName("deeper")}, `{"z":1}`, ""},
		{"past the list's end", ast.Path{ast.PathName("a"), ast.PathName("list"), ast.PathIndex(5)}, `{"z":1}`, string(doc)},
		{"a missing key", ast.Path{ast.PathName("nope")}, `{"z":1}`, string(doc)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := mergeAt(doc, tc.path, json.RawMessage(tc.patch))
			if tc.want == "" {
				if err == nil {
					t.Fatalf("merged into a null: %s", got)
				}
				return
			}
			if err != nil || string(got) != tc.want {
				t.Fatalf("got %s (%v)\nwant %s", got, err, tc.want)
			}
		})
	}
}
