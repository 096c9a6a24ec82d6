package httpapi

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"regexp"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	rscors "github.com/rs/cors"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"tally/auth"
	"tally/domain"
	"tally/foundation/label"
	"tally/httpapi/metrics"
)

// RequestID returns the id of the request ctx belongs to, or "".
func RequestID(ctx context.Context) string {
	if i := infoFrom(ctx); i != nil {
		return i.id
	}
	return ""
}

var saneRequestID = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// withRequestID gives every request an id: the caller's X-Request-Id when it
// is sane, a fresh one otherwise. It is echoed in the response and logged.
// The id starts the request's requestInfo, the one context value the
// middleware below shares (a context value and a copy of the request each
// cost an allocation on every request).
func withRequestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get("X-Request-Id")
		if !saneRequestID.MatchString(id) {
			var b [8]byte
			_, _ = rand.Read(b[:])
			id = hex.EncodeToString(b[:])
		}
		w.Header().Set("X-Request-Id", id)
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), requestInfoKey{}, &requestInfo{id: id})))
	})
}

type statusRecorder struct {
	http.ResponseWriter
	status int
	bytes  int
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	n, err := s.ResponseWriter.Write(b)
	s.bytes += n
	return n, err
}

// Unwrap gives http.ResponseController and WebSocket upgrades the writer
// underneath (its Hijack, its deadlines).
func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

func (s *statusRecorder) Flush() {
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// requestInfo is what the handlers learn about a request that its log
// line, its metrics and its trace report: its id, the route pattern, the
// GraphQL operations it ran, and who called; and its longest RATE_LIMITED
// wait, for rateLimitedStatus.
type requestInfo struct {
	id    string
	route string
	retry retryAfterNote

	mu         sync.Mutex
	operations []string // names, "" for an anonymous operation
	user       bool
	role       string
	apiKey     bool
}

type requestInfoKey struct{}

func infoFrom(ctx context.Context) *requestInfo {
	i, _ := ctx.Value(requestInfoKey{}).(*requestInfo)
	return i
}

// withInfo returns r with its requestInfo, and the info: the one
// withRequestID made, or, for a handler not under withRequestID, a new one.
func withInfo(r *http.Request) (*http.Request, *requestInfo) {
	if i := infoFrom(r.Context()); i != nil {
		return r, i
	}
	i := &requestInfo{}
	return r.WithContext(context.WithValue(r.Context(), requestInfoKey{}, i)), i
}

// noteOperation records a GraphQL operation the request ran.
func noteOperation(ctx context.Context, name string) {
	if i := infoFrom(ctx); i != nil {
		i.mu.Lock()
		i.operations = append(i.operations, name)
		i.mu.Unlock()
	}
}

// noteCaller records who the request was authenticated as.
func noteCaller(ctx context.Context, user bool, role string, apiKey bool) {
	if i := infoFrom(ctx); i != nil {
		i.mu.Lock()
		i.user = i.user || user
		if role != "" {
			i.role = role
		}
		i.apiKey = i.apiKey || apiKey
		i.mu.Unlock()
	}
}

// callerKind is the log's word for the caller: anonymous, user, api_key or
// user+api_key.
func (i *requestInfo) callerKind() string {
	switch {
	case i.user && i.apiKey:
		return "user+api_key"
	case i.user:
		return "user"
	case i.apiKey:
		return "api_key"
	}
	return "anonymous"
}

// logRequests writes one structured line per request and counts it in the
// metrics. It logs the route pattern, never the raw path, because some
// paths carry secrets (overlay tokens), and never headers or bodies; for
// GraphQL, the operation names (a batch's, comma-separated) and the
// caller's kind and role.
func logRequests(log *slog.Logger, m *metrics.Metrics, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w}
		r, info := withInfo(r)
		next.ServeHTTP(rec, r)
		took := time.Since(start)
		if info.route == "" {
			info.route = "unmatched"
		}
		if rec.status == 0 {
			rec.status = http.StatusOK
		}
		m.HTTPRequest(info.route, rec.status, took)
		attrs := make([]slog.Attr, 0, 10)
		attrs = append(attrs,
			slog.String("request_id", RequestID(r.Context())),
			slog.String("method", label.Safe(r.Method)), // any token the server accepts, up to its header limit
			slog.String("route", info.route),
			slog.Int("status", rec.status),
			slog.Int("bytes", rec.bytes),
			slog.Duration("duration", took),
		)
		info.mu.Lock()
		if len(info.operations) > 0 {
			names := make([]string, len(info.operations))
			for i, n := range info.operations {
				names[i] = cmp.Or(n, "anonymous")
			}
			attrs = append(attrs, slog.String("operation", strings.Join(names, ",")))
		}
		attrs = append(attrs, slog.String("caller", info.callerKind()))
		if info.role != "" {
			attrs = append(attrs, slog.String("role", info.role))
		}
		info.mu.Unlock()
		log.LogAttrs(r.Context(), slog.LevelInfo, "request", attrs...)
	})
}

// noteRoute wraps the mux, which sets the matched pattern on the request it
// is given, and hands the pattern out to logRequests (and names the
// request's span by it).
func noteRoute(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mux.ServeHTTP(w, r)
		if info := infoFrom(r.Context()); info != nil {
			info.route = r.Pattern
		}
		if span := trace.SpanFromContext(r.Context()); span.IsRecording() && r.Pattern != "" {
			name := r.Pattern
			if !strings.Contains(name, " ") {
				name = r.Method + " " + name
			}
			span.SetName(name)
			span.SetAttributes(attribute.String("http.route", r.Pattern))
		}
	})
}

// recoverPanics turns a panic anywhere below into a logged 500 with no
// detail, so one bad request never takes the server down.
func recoverPanics(log *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				log.ErrorContext(r.Context(), "panic", "request_id", RequestID(r.Context()), "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
				writeGraphQLError(w, http.StatusInternalServerError, domain.EINTERNAL, "Internal error.")
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// limitBody refuses bodies over max bytes with 413 and a GraphQL error: at
// once when Content-Length says so, and after reading at most max+1 bytes when
// the length is unknown (a chunked body). The body is read here rather than
// cut with http.MaxBytesReader because gqlgen answers a failed read with
// status 200.
func limitBody(max int64, next http.Handler) http.Handler {
	tooLarge := func(w http.ResponseWriter) {
		writeGraphQLError(w, http.StatusRequestEntityTooLarge, domain.EINVALID,
			fmt.Sprintf("request body is larger than the limit of %d bytes", max))
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > max {
			tooLarge(w)
			return
		}
		if r.ContentLength < 0 {
			body, err := io.ReadAll(io.LimitReader(r.Body, max+1))
			if err != nil {
				writeGraphQLError(w, http.StatusBadRequest, domain.EINVALID, "could not read the request body")
				return
			}
			if int64(len(body)) > max {
				tooLarge(w)
				return
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
			r.ContentLength = int64(len(body))
			next.ServeHTTP(w, r)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, max)
		next.ServeHTTP(w, r)
	})
}

// graphQLTransport answers the requests to /query that gqlgen's transports do
// not take with a GraphQL error that has a code (gqlgen's own answer, "transport
// not supported", has none and is labelled text/plain): a method other than
// GET, POST or OPTIONS is 405, a POST that is not application/json is 415.
func graphQLTransport(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodGet, http.MethodOptions:
		case http.MethodPost:
			if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
				writeGraphQLError(w, http.StatusUnsupportedMediaType, domain.EINVALID,
					"send the GraphQL request as JSON with Content-Type: application/json")
				return
			}
		default:
			w.Header().Set("Allow", "GET, POST, OPTIONS")
			writeGraphQLError(w, http.StatusMethodNotAllowed, domain.EINVALID,
				fmt.Sprintf("method %s is not allowed on /query; use POST (or GET for queries)", r.Method))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// corsHeaders are the request headers a browser dashboard may send: the
// API's own, Apollo Client's (client name and version, its CSRF-prevention
// header) and W3C trace context (traceparent, tracestate, baggage).
var corsHeaders = []string{"Accept", "Authorization", "Content-Type", "X-Api-Key", "X-Request-Id",
	"Apollographql-Client-Name", "Apollographql-Client-Version", "Apollo-Require-Preflight",
	"Traceparent", "Tracestate", "Baggage"}

// corsExposed are the response headers browser code may read.
var corsExposed = []string{"X-Request-Id", "Retry-After"}

// withCORS lets the listed browser origins call the API ("*" for any), with
// github.com/rs/cors: preflights answered at once (204, cached 10 minutes),
// no credentials (the API's are bearer tokens and API keys, never cookies),
// Vary: Origin. With no origins it adds nothing, and browsers refuse
// cross-origin calls.
func withCORS(origins []string, next http.Handler) http.Handler {
	if len(origins) == 0 {
		return next
	}
	return rscors.New(rscors.Options{
		AllowedOrigins:       origins,
		AllowedMethods:       []string{http.MethodGet, http.MethodPost, http.MethodOptions},
		AllowedHeaders:       corsHeaders,
		ExposedHeaders:       corsExposed,
		MaxAge:               600,
		OptionsSuccessStatus: http.StatusNoContent,
	}).Handler(next)
}

// Users reads the stored user a session token names.
type Users interface {
	ByID(ctx context.Context, id string) (domain.User, error)
}

// authenticate puts the caller named by a valid bearer token into the
// request's context, as the stored user says they are now: one read of the
// user per authenticated request, which gives the role in force (a role
// change takes effect at once) and ends the sessions that logOut or
// changePassword ended; the user read is the caller's User, so `me` costs no
// second read. A missing, invalid or ended token leaves the request
// anonymous: operations that need a user answer UNAUTHENTICATED themselves.
// When the user cannot be read, operations that need a user fail with that
// error (internal: logged, never shown) rather than UNAUTHENTICATED.
func authenticate(tokens *auth.Tokens, users Users, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if h := r.Header.Get("Authorization"); h != "" {
			c, ok, err := bearerCaller(r.Context(), tokens, users, h)
			switch {
			case ok:
				r = r.WithContext(auth.WithCaller(r.Context(), c))
				noteCaller(r.Context(), true, strings.ToUpper(string(c.Role)), false)
			case err != nil: // surfaces, as an internal error, where a user is required
				r = r.WithContext(auth.WithSessionError(r.Context(), err))
			default: // said where a user is required; an anonymous field still answers
				r = r.WithContext(auth.WithRejectedAuthorization(r.Context(), rejectedAuthorization(h)))
			}
		}
		next.ServeHTTP(w, r)
	})
}

// rejectedAuthorization says why an Authorization value h found no
// session: one message for every bad token (expired, ended, forged), so it
// tells a caller nothing about a token but that it does not work.
func rejectedAuthorization(h string) string {
	if scheme, _, found := strings.Cut(h, " "); !found || !strings.EqualFold(scheme, "Bearer") {
		return "the Authorization header must be \"Bearer <token>\", with the token from logIn or signUp"
	}
	return "the session token is not valid: it expired, its sessions were ended (logOut, changePassword) or it is malformed; log in again"
}

// bearerCaller reads an Authorization value, "Bearer <token>": the caller
// of a valid token whose session is still open (the user is read once, and
// the caller carries it, so that a role change and a log-out apply at
// once); ok false for anything else, with err when the store could not be
// read to tell. Without users (this package's own tests) a valid token's
// claims are trusted. The WebSocket init uses it for connectionParams too.
func bearerCaller(ctx context.Context, tokens *auth.Tokens, users Users, authorization string) (c auth.Caller, ok bool, err error) {
	scheme, token, found := strings.Cut(authorization, " ")
	if !found || !strings.EqualFold(scheme, "Bearer") {
		return auth.Caller{}, false, nil
	}
	c, verr := tokens.Verify(strings.TrimSpace(token))
	if verr != nil {
		return auth.Caller{}, false, nil
	}
	if users == nil {
		return c, true, nil
	}
	u, err := users.ByID(ctx, c.UserID)
	switch code := domain.ErrorCode(err); {
	case err == nil:
		c, ok = auth.Session(c, u)
		return c, ok, nil
	case code == domain.ENOTFOUND || code == domain.EINVALID: // the account is gone
		return auth.Caller{}, false, nil
	}
	return auth.Caller{}, false, err
}

// perRequest gives each request the fresh state f puts in its context (the
// dataloaders, whose cache must not outlive the request).
func perRequest(f func(context.Context) context.Context, next http.Handler) http.Handler {
	if f == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(w, r.WithContext(f(r.Context())))
	})
}
