package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"tally/auth"
	"tally/config"
	"tally/domain"
	"tally/httpapi"
	"tally/repository"
	"tally/repository/repotest"
)

// testApp is the real server — store, repositories, services, HTTP handler —
// behind an httptest.Server, on the embedded engine in memory or on
// $MONGODB_URI.
type testApp struct {
	t     testing.TB
	store *repository.Store
	srv   *httptest.Server
	clock *testClock
}

type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

const testSecret = "test-secret-test-secret-test-secret-0123"

func testConfig(t testing.TB, env map[string]string) config.Config {
	t.Helper()
	base := map[string]string{"JWT_SECRET": testSecret}
	for k, v := range env {
		base[k] = v
	}
	cfg, err := config.Load(nil, func(k string) string { return base[k] })
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	return cfg
}

// in returns a for use inside subtest t, so that its failures are t's.
func (a *testApp) in(t testing.TB) *testApp {
	c := *a
	c.t = t
	return &c
}

type appOption func(*appOptions)

func withLimits(l httpapi.Limits) appOption { return func(o *appOptions) { o.limits = l } }

// mustStartApp starts a server on a fresh store and stops it when t ends.
func mustStartApp(t testing.TB, opts ...appOption) *testApp {
	t.Helper()
	return mustStartAppOn(t, repotest.MustOpen(t), opts...)
}

func mustStartAppOn(t testing.TB, store *repository.Store, opts ...appOption) *testApp {
	t.Helper()
	clock := &testClock{now: time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)}
	o := appOptions{store: store, bcryptCost: bcrypt.MinCost, now: clock.Now}
	for _, f := range opts {
		f(&o)
	}
	a, err := newApp(context.Background(), testConfig(t, nil), discardLogger(), o)
	if err != nil {
		t.Fatalf("new app: %v", err)
	}
	srv := httptest.NewServer(a.handler)
	t.Cleanup(srv.Close)
	return &testApp{t: t, store: a.store, srv: srv, clock: clock}
}

// gqlResponse is a GraphQL response as a client sees it.
type gqlResponse struct {
	Status int
	Data   json.RawMessage `json:"data"`
	Errors []gqlError      `json:"errors"`
}

type gqlError struct {
	Message    string         `json:"message"`
	Path       []any          `json:"path"`
	Extensions map[string]any `json:"extensions"`
}

func (e gqlError) Code() string  { s, _ := e.Extensions["code"].(string); return s }
func (e gqlError) Field() string { s, _ := e.Extensions["field"].(string); return s }

// do sends one GraphQL POST with an optional bearer token.
func (a *testApp) do(token, query string, vars map[string]any) gqlResponse {
	a.t.Helper()
	return a.doHeaders(map[string]string{"Authorization": bearer(token)}, query, vars)
}

func bearer(token string) string {
	if token == "" {
		return ""
	}
	return "Bearer " + token
}

func (a *testApp) doHeaders(headers map[string]string, query string, vars map[string]any) gqlResponse {
	a.t.Helper()
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	req, _ := http.NewRequest(http.MethodPost, a.srv.URL+"/query", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	for k, v := range headers {
		if v != "" {
			req.Header.Set(k, v)
		}
	}
	resp, err := a.srv.Client().Do(req)
	if err != nil {
		a.t.Fatalf("POST /query: %v", err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out gqlResponse
	if err := json.Unmarshal(raw, &out); err != nil {
		a.t.Fatalf("decode response (%d): %v: %s", resp.StatusCode, err, raw)
	}
	out.Status = resp.StatusCode
	return out
}

// mustDo sends a request that must succeed and decodes data into v.
func (a *testApp) mustDo(token, query string, vars map[string]any, v any) {
	a.t.Helper()
	r := a.do(token, query, vars)
	if len(r.Errors) > 0 {
		a.t.Fatalf("unexpected errors: %+v", r.Errors)
	}
	if v != nil {
		if err := json.Unmarshal(r.Data, v); err != nil {
			a.t.Fatalf("decode data: %v: %s", err, r.Data)
		}
	}
}

// mustFail sends a request that must fail with code (and field, when given).
func (a *testApp) mustFail(token, query string, vars map[string]any, code, field string) gqlError {
	a.t.Helper()
	r := a.do(token, query, vars)
	if len(r.Errors) == 0 {
		a.t.Fatalf("want error %s, got data %s", code, r.Data)
	}
	for _, e := range r.Errors {
		if e.Code() == code && (field == "" || e.Field() == field) {
			return e
		}
	}
	a.t.Fatalf("want error %s on %q, got %+v", code, field, r.Errors)
	return gqlError{}
}

type testUser struct {
	ID    string
	Email string
	Token string
}

var userSeq struct {
	sync.Mutex
	n int
}

const signUpMutation = `mutation($input: SignUpInput!) { signUp(input: $input) { token user { id email role } } }`

// mustSignUp creates a user of role (STREAMER, BRAND) and returns its token.
func (a *testApp) mustSignUp(role string) testUser {
	a.t.Helper()
	userSeq.Lock()
	userSeq.n++
	email := fmt.Sprintf("%s-%d@example.com", strings.ToLower(role), userSeq.n)
	userSeq.Unlock()
	var data struct {
		SignUp struct {
			Token string
			User  struct{ ID, Email string }
		}
	}
	a.mustDo("", signUpMutation, map[string]any{"input": map[string]any{
		"email": email, "password": "correct horse", "displayName": "User " + role, "role": role,
	}}, &data)
	return testUser{ID: data.SignUp.User.ID, Email: email, Token: data.SignUp.Token}
}

// mustMakeAdmin signs up a user, promotes it as the make-admin command does,
// and logs in again for a token that carries the role.
func (a *testApp) mustMakeAdmin() testUser {
	a.t.Helper()
	u := a.mustSignUp("STREAMER")
	if _, err := repository.NewUsers(a.store).SetRole(context.Background(), u.Email, "admin"); err != nil {
		a.t.Fatalf("make admin: %v", err)
	}
	var data struct{ LogIn struct{ Token string } }
	a.mustDo("", `mutation($e: String!) { logIn(input: {email: $e, password: "correct horse"}) { token } }`,
		map[string]any{"e": u.Email}, &data)
	u.Token = data.LogIn.Token
	return u
}

// testTokens issues session tokens as the server does, for users that were
// written straight into the store.
type testTokens struct{ tokens *auth.Tokens }

func (a *testApp) tokens() testTokens {
	return testTokens{auth.NewTokens([]byte(testSecret), 24*time.Hour, a.clock.Now)}
}

func (tt testTokens) issue(t testing.TB, userID, role string) string {
	t.Helper()
	r, ok := domain.ParseRole(role)
	if !ok {
		t.Fatalf("role %q", role)
	}
	tok, err := tt.tokens.Issue(domain.User{ID: userID, Role: r})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func jsonUnmarshal(data []byte, v any) error { return json.Unmarshal(data, v) }
