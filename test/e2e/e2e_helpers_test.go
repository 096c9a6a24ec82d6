package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"tally/auth"
	"tally/domain"
	"tally/httpapi"
	"tally/httpapi/metrics"
	"tally/projection"
	"tally/repository"
	"tally/repository/repotest"
	"tally/server"
	"tally/server/config"
	"tally/tracking"
)

// testApp is the real server — store, repositories, services, HTTP handler —
// behind an httptest.Server, on the embedded engine in memory or on
// $MONGODB_URI.
type testApp struct {
	t         testing.TB
	store     *repository.Store
	srv       *httptest.Server
	clock     *testClock
	projector *projection.Projector
	tracking  *tracking.Service
	metrics   *metrics.Metrics
	handler   http.Handler // the app's whole handler (nil for a server in another process)
	stop      func()       // server.App.Stop: the graceful stop (its projector hands its partitions over)
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
	// The rate limits are off unless a test turns them on: tests sign up,
	// log in and click from one address at full speed on a frozen clock.
	base := map[string]string{"JWT_SECRET": testSecret,
		"LOGIN_LIMIT_PER_ACCOUNT": "off", "LOGIN_LIMIT_PER_ADDRESS": "off", "SIGNUP_LIMIT_PER_ADDRESS": "off",
		"TOKEN_LIMIT_PER_TOKEN": "off", "TOKEN_LIMIT_PER_ADDRESS": "off",
		// Tests click from one address and one user agent: the invalid
		// traffic filter is off unless a test turns it on.
		"CLICK_VIEWER_WINDOW": "off", "CLICK_LIMIT_PER_TOKEN": "off",
		// Test campaigns use example.com URLs, which need not resolve here.
		"ALLOW_PRIVATE_URLS": "true"}
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

// startOptions are what a test may change about the app it starts:
// server.Options, plus the environment and the logger.
type startOptions struct {
	server.Options
	env map[string]string
	log *slog.Logger
}

type appOption func(*startOptions)

func withLimits(l httpapi.Limits) appOption { return func(o *startOptions) { o.Limits = l } }

// withEnv adds configuration variables to the test configuration.
func withEnv(env map[string]string) appOption { return func(o *startOptions) { o.env = env } }

// withLogger sends the server's logs to log instead of discarding them.
func withLogger(log *slog.Logger) appOption { return func(o *startOptions) { o.log = log } }

// mustStartApp starts a server on a fresh store and stops it when t ends.
func mustStartApp(t testing.TB, opts ...appOption) *testApp {
	t.Helper()
	return mustStartAppOn(t, repotest.MustOpen(t), opts...)
}

// mustStartFaultyApp is mustStartApp on a store whose operations a test can
// fail on purpose: setFault installs a repository.Fault for every later
// operation, nil removes it.
func mustStartFaultyApp(t testing.TB, opts ...appOption) (a *testApp, setFault func(repository.Fault)) {
	t.Helper()
	var fault atomic.Pointer[repository.Fault]
	so := repotest.Options(t)
	so.Fault = func(op string, after bool) error {
		if f := fault.Load(); f != nil {
			return (*f)(op, after)
		}
		return nil
	}
	return mustStartAppOn(t, repotest.MustOpenWith(t, so), opts...), func(f repository.Fault) {
		if f == nil {
			fault.Store(nil)
			return
		}
		fault.Store(&f)
	}
}

func mustStartAppOn(t testing.TB, store *repository.Store, opts ...appOption) *testApp {
	t.Helper()
	clock := &testClock{now: time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)}
	o := startOptions{Options: server.Options{Store: store, BcryptCost: bcrypt.MinCost, Now: clock.Now}, log: discardLogger()}
	for _, f := range opts {
		f(&o)
	}
	a, err := server.New(context.Background(), testConfig(t, o.env), o.log, o.Options)
	if err != nil {
		t.Fatalf("new app: %v", err)
	}
	t.Cleanup(a.Stop)
	srv := httptest.NewServer(a.Handler)
	t.Cleanup(srv.Close)
	return &testApp{t: t, store: a.Store, srv: srv, clock: clock, projector: a.Projector, tracking: a.Tracking, metrics: a.Metrics, handler: a.Handler, stop: a.Stop}
}

// client is the HTTP client for the app: the test server's own, or for an
// app in another process (remoteApp) the default client.
func (a *testApp) client() *http.Client {
	if c := a.srv.Client(); c != nil {
		return c
	}
	return http.DefaultClient
}

// remoteApp is a testApp for a server at baseURL in another process: the
// GraphQL helpers work; store and projector are nil.
func remoteApp(t testing.TB, baseURL string) *testApp {
	return &testApp{t: t, srv: &httptest.Server{URL: baseURL}, clock: &testClock{now: time.Now()}}
}

// project waits until every event recorded so far is projected: billed or
// not, and counted. Counters and amounts are read after it.
func (a *testApp) project() {
	a.t.Helper()
	if a.projector == nil {
		return // a server in another process projects by itself
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if err := a.projector.Flush(ctx); err != nil {
		a.t.Fatalf("project: %v", err)
	}
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
	body, err := json.Marshal(map[string]any{"query": query, "variables": vars})
	if err != nil {
		a.t.Fatalf("encode request: %v", err)
	}
	req, err := http.NewRequest(http.MethodPost, a.srv.URL+"/query", bytes.NewReader(body))
	if err != nil {
		a.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	// What Apollo Client 4 and graphql-request send: request errors are 400.
	req.Header.Set("Accept", "application/graphql-response+json, application/json;q=0.9")
	for k, v := range headers {
		if v != "" {
			req.Header.Set(k, v)
		}
	}
	resp, err := a.client().Do(req)
	if err != nil {
		a.t.Fatalf("POST /query: %v", err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		a.t.Fatalf("POST /query: read body: %v", err)
	}
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

// mustDecode decodes JSON data into v and reports whether it could. A failure
// is reported with t.Errorf, not Fatal, so it may be called from a race's
// goroutines: the caller returns when it reports false.
func mustDecode(t testing.TB, data []byte, v any) bool {
	t.Helper()
	if err := json.Unmarshal(data, v); err != nil {
		t.Errorf("decode %T: %v: %s", v, err, data)
		return false
	}
	return true
}

// wantField reports, naming the field, when got is not want; the test goes
// on, so that one run shows every field that is off.
func wantField[T comparable](t testing.TB, field string, got, want T) {
	t.Helper()
	if got != want {
		t.Errorf("%s: got %v, want %v", field, got, want)
	}
}

// race runs fn(0) … fn(n-1) at once, each in its own goroutine, and returns
// when all have returned (repotest.Race). fn reports with t.Errorf, never
// Fatal.
func race(t testing.TB, n int, fn func(i int)) {
	t.Helper()
	repotest.Race(t, n, fn)
}

// request sends one raw HTTP request to the app and returns the response
// with its body read.
func (a *testApp) request(method, path string, headers map[string]string, body io.Reader) (*http.Response, []byte) {
	a.t.Helper()
	req, err := http.NewRequest(method, a.srv.URL+path, body)
	if err != nil {
		a.t.Fatal(err)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := a.client().Do(req)
	if err != nil {
		a.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		a.t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	return resp, raw
}

// decodeGraphQL decodes a GraphQL response body, failing the test when it is
// not one.
func decodeGraphQL(t testing.TB, resp *http.Response, raw []byte) gqlResponse {
	t.Helper()
	var out gqlResponse
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("response (%d) is not GraphQL JSON: %v: %s", resp.StatusCode, err, raw)
	}
	out.Status = resp.StatusCode
	return out
}

// logBuffer collects a server's JSON log lines; the server writes from its
// own goroutines while the test reads.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// logger returns a JSON logger at debug level that writes into b.
func (b *logBuffer) logger() *slog.Logger {
	return slog.New(slog.NewJSONHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// lines returns every log line decoded.
func (b *logBuffer) lines(t testing.TB) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(b.String()), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line is not JSON: %v: %s", err, line)
		}
		out = append(out, m)
	}
	return out
}

// requestLines waits for the request log lines of requestID (the line is
// written when the handler returns, which can be just after the client has
// read the response) and returns them.
func (b *logBuffer) requestLines(t testing.TB, requestID string) []map[string]any {
	t.Helper()
	var got []map[string]any
	eventually(t, func() bool {
		got = got[:0]
		for _, l := range b.lines(t) {
			if l["msg"] == "request" && l["request_id"] == requestID {
				got = append(got, l)
			}
		}
		return len(got) > 0
	}, "no request log line for request %s", requestID)
	return got
}

// mustOpenStore opens a fresh store as repotest.MustOpen does, but one the
// test may close itself: on MongoDB the cleanup drops the database through a
// new connection.
func mustOpenStore(t testing.TB) *repository.Store {
	t.Helper()
	opts := repotest.Options(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := repository.Open(ctx, opts)
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	if err := s.EnsureIndexes(ctx); err != nil {
		t.Fatalf("ensure indexes: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = s.Close(ctx)
		if opts.URI != "" {
			if s2, err := repository.Open(ctx, opts); err == nil {
				_ = s2.Drop(ctx)
				_ = s2.Close(ctx)
			}
		}
	})
	return s
}

// mustStartConfiguredApp starts the app as `go run .` does: configuration
// from env alone (no JWT_SECRET added), the store opened from it (DATA_DIR or
// MONGODB_URI), the real clock. stop closes the server and the store; it runs
// at the latest when t ends.
func mustStartConfiguredApp(t testing.TB, env map[string]string) (a *testApp, stop func()) {
	t.Helper()
	// What testConfig relaxes for every test, unless env says otherwise:
	// example.com URLs that need not resolve, no rate limits.
	relaxed := map[string]string{"ALLOW_PRIVATE_URLS": "true", "LOGIN_LIMIT_PER_ACCOUNT": "off", "LOGIN_LIMIT_PER_ADDRESS": "off",
		"SIGNUP_LIMIT_PER_ADDRESS": "off", "TOKEN_LIMIT_PER_TOKEN": "off", "TOKEN_LIMIT_PER_ADDRESS": "off",
		"CLICK_VIEWER_WINDOW": "off", "CLICK_LIMIT_PER_TOKEN": "off"}
	cfg, err := config.Load(nil, func(k string) string {
		if v, ok := env[k]; ok {
			return v
		}
		return relaxed[k]
	})
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	app, err := server.New(context.Background(), cfg, discardLogger(), server.Options{BcryptCost: bcrypt.MinCost})
	if err != nil {
		t.Fatalf("new app: %v", err)
	}
	srv := httptest.NewServer(app.Handler)
	var once sync.Once
	stop = func() {
		once.Do(func() {
			srv.Close()
			app.Stop()
			if err := app.Store.Close(context.Background()); err != nil {
				t.Errorf("close store: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return &testApp{t: t, store: app.Store, srv: srv, clock: &testClock{now: time.Now()}, projector: app.Projector}, stop
}

// freePort returns a TCP port that was free a moment ago.
func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// mustLogIn logs in and returns the token and the role the user has.
func (a *testApp) mustLogIn(email, password string) (token, role string) {
	a.t.Helper()
	var data struct {
		LogIn struct {
			Token string
			User  struct{ Role string }
		}
	}
	a.mustDo("", `mutation($e: String!, $p: String!) { logIn(input: {email: $e, password: $p}) { token user { role } } }`,
		map[string]any{"e": email, "p": password}, &data)
	return data.LogIn.Token, data.LogIn.User.Role
}
