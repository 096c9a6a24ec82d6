package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"tally/auth"
	"tally/domain"
	"tally/foundation/label"
	"tally/resolvers"
)

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type response struct {
	Errors []struct {
		Message    string         `json:"message"`
		Extensions map[string]any `json:"extensions"`
	} `json:"errors"`
}

func decode(t *testing.T, rec *httptest.ResponseRecorder) response {
	t.Helper()
	var r response
	if err := json.Unmarshal(rec.Body.Bytes(), &r); err != nil {
		t.Fatalf("not GraphQL JSON: %v: %s", err, rec.Body)
	}
	return r
}

// TestRecoverPanics: a panic below the middleware becomes a logged 500 with a
// GraphQL error that says nothing of the panic; the server goes on.
func TestRecoverPanics(t *testing.T) {
	var logs syncBuffer
	log := slog.New(slog.NewJSONHandler(&logs, nil))
	h := withRequestID(logRequests(log, nil, recoverPanics(log, http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		panic("secret detail of the crash")
	}))))

	for i := 0; i < 2; i++ { // the second request proves the handler still serves
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodGet, "/boom", nil)
		req.Header.Set("X-Request-Id", "panic-1")
		h.ServeHTTP(rec, req)

		if rec.Code != http.StatusInternalServerError {
			t.Errorf("status: got %d, want 500", rec.Code)
		}
		r := decode(t, rec)
		if len(r.Errors) != 1 || r.Errors[0].Message != "Internal error." || r.Errors[0].Extensions["code"] != domain.EINTERNAL {
			t.Errorf("got %s", rec.Body)
		}
		if strings.Contains(rec.Body.String(), "secret") {
			t.Errorf("response leaks the panic: %s", rec.Body)
		}
		if rec.Header().Get("X-Request-Id") != "panic-1" {
			t.Errorf("X-Request-Id: got %q", rec.Header().Get("X-Request-Id"))
		}
	}
	out := logs.String()
	if !strings.Contains(out, `"msg":"panic"`) || !strings.Contains(out, "secret detail of the crash") || !strings.Contains(out, `"request_id":"panic-1"`) {
		t.Errorf("panic not logged with its request id:\n%s", out)
	}
	if !strings.Contains(out, `"status":500`) {
		t.Errorf("request line does not record the 500:\n%s", out)
	}
}

// TestRecoverPanicsLetsAbortThrough: http.ErrAbortHandler is net/http's way to
// abort a response; it must reach the server, not become a 500.
func TestRecoverPanicsLetsAbortThrough(t *testing.T) {
	h := recoverPanics(slog.New(slog.DiscardHandler), http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		panic(http.ErrAbortHandler)
	}))
	defer func() {
		if p := recover(); p != http.ErrAbortHandler {
			t.Errorf("recovered %v, want http.ErrAbortHandler", p)
		}
	}()
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/", nil))
}

// TestResolverPanic: a resolver that panics — here `me` on a Resolver wired
// without its repositories — answers INTERNAL_SERVER_ERROR through the real
// GraphQL handler, with no detail, and is logged.
func TestResolverPanic(t *testing.T) {
	var logs syncBuffer
	tokens := auth.NewTokens([]byte(strings.Repeat("k", 32)), time.Hour, time.Now)
	h := New(Deps{Resolver: &resolvers.Resolver{}, Tokens: tokens, Log: slog.New(slog.NewJSONHandler(&logs, nil))})
	token, err := tokens.Issue(domain.User{ID: "0123456789abcdef01234567", Role: domain.RoleStreamer})
	if err != nil {
		t.Fatal(err)
	}

	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodPost, "/query", strings.NewReader(`{"query":"{ me { id } }"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	h.ServeHTTP(rec, req)

	r := decode(t, rec)
	if len(r.Errors) != 1 || r.Errors[0].Message != "Internal error." || r.Errors[0].Extensions["code"] != domain.EINTERNAL {
		t.Fatalf("got %d %s", rec.Code, rec.Body)
	}
	if strings.Contains(rec.Body.String(), "nil pointer") || strings.Contains(rec.Body.String(), "panic") {
		t.Errorf("response leaks the panic: %s", rec.Body)
	}
	if !strings.Contains(logs.String(), "panic in resolver") || !strings.Contains(logs.String(), "nil pointer") {
		t.Errorf("panic not logged:\n%s", logs.String())
	}
}

// TestNoResolverRunsForAGoneClient: once the request's context is done, no
// resolver starts (gqlgen checks before it executes; stopWhenGone also
// between fields). `me` on a Resolver wired without its repositories would
// panic if it ran (see TestResolverPanic).
func TestNoResolverRunsForAGoneClient(t *testing.T) {
	var logs syncBuffer
	tokens := auth.NewTokens([]byte(strings.Repeat("k", 32)), time.Hour, time.Now)
	h := New(Deps{Resolver: &resolvers.Resolver{}, Tokens: tokens, Log: slog.New(slog.NewJSONHandler(&logs, nil))})
	token, err := tokens.Issue(domain.User{ID: "0123456789abcdef01234567", Role: domain.RoleStreamer})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodPost, "/query", strings.NewReader(`{"query":"{ me { id } }"}`)).WithContext(ctx)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	h.ServeHTTP(rec, req)

	if strings.Contains(logs.String(), "panic") {
		t.Errorf("the resolver ran:\n%s", logs.String())
	}
}

// TestLoggedMethodIsBounded: the method is the client's (any token the
// server accepts, up to its header limit), so the request's log line holds
// it made safe and bounded (label.Safe), as the other fields a request
// chooses.
func TestLoggedMethodIsBounded(t *testing.T) {
	var logs syncBuffer
	log := slog.New(slog.NewJSONHandler(&logs, nil))
	h := withRequestID(logRequests(log, nil, http.NotFoundHandler()))
	method := strings.Repeat("X", 10_000)
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(method, "/nowhere", nil))
	var line struct{ Method string }
	if err := json.Unmarshal([]byte(logs.String()), &line); err != nil {
		t.Fatalf("log line: %v: %s", err, logs.String())
	}
	if len(line.Method) > label.MaxLen || !strings.HasPrefix(line.Method, "XXX") {
		t.Errorf("logged method: %d bytes (%.20q…), want at most %d", len(line.Method), line.Method, label.MaxLen)
	}
}
