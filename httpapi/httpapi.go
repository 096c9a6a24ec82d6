// Package httpapi is Tally's HTTP surface: the GraphQL endpoint, GraphiQL,
// health and readiness, and the middleware every request passes through
// (request id, logging, panic recovery, body limit, CORS, authentication).
package httpapi

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"time"

	"github.com/99designs/gqlgen/graphql/playground"

	"tally/auth"
	"tally/projection"
	"tally/resolvers"
)

// Pinger is the store's readiness check.
type Pinger interface {
	Ping(ctx context.Context) error
}

// Deps is everything the HTTP surface needs.
type Deps struct {
	Resolver    *resolvers.Resolver
	PerRequest  func(context.Context) context.Context // per-request state such as dataloaders
	APIKeys     APIKeyAuthenticator
	Tracking    Tracker
	Tokens      *auth.Tokens
	Store       Pinger
	Log         *slog.Logger
	Limits      Limits
	CORSOrigins []string
	Projection  interface{ Lag() projection.Lag } // the projector, for /readyz; nil leaves it out
	// LiveConnections bounds each user's WebSocket connections; nil leaves
	// them unbounded (subscriptions are bounded by the live service).
	LiveConnections LiveConnections
}

// New returns the whole HTTP handler: the mux wrapped once in the middleware.
func New(d Deps) http.Handler {
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	if d.Limits == (Limits{}) {
		d.Limits = DefaultLimits
	}
	gql := newGraphQL(d.Resolver, d.Limits, d.Log, liveTransports(d)...)

	mux := http.NewServeMux()
	mux.Handle("/query", liveDeadlines(graphQLTransport(limitBody(d.Limits.MaxBodyBytes, withAPIKey(d, perRequest(d.PerRequest, gql))))))
	mux.HandleFunc("GET /r/{token}", clickRedirect(d.Tracking, d))
	mux.HandleFunc("GET /overlay/{token}", overlayPageHandler(d))
	pb := limitBody(64<<10, postback(d.Tracking, d))
	mux.Handle("GET /postback", pb)
	mux.Handle("POST /postback", pb)
	mux.Handle("GET /{$}", playground.Handler("Tally GraphiQL", "/query"))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := d.Store.Ping(ctx); err != nil {
			d.Log.WarnContext(ctx, "store not ready", "request_id", RequestID(ctx), "err", err.Error())
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unavailable"})
			return
		}
		body := map[string]any{"status": "ready"}
		if d.Projection != nil {
			l := d.Projection.Lag()
			body["projection"] = map[string]any{"events": l.Events, "lagMs": l.Last.Milliseconds(),
				"p99Ms": l.P99.Milliseconds(), "maxMs": l.Max.Milliseconds()}
		}
		writeJSON(w, http.StatusOK, body)
	})

	h := noteRoute(mux)
	h = authenticate(d.Tokens, h)
	h = cors(d.CORSOrigins, h)
	h = recoverPanics(d.Log, h)
	h = logRequests(d.Log, h)
	h = withRequestID(h)
	return h
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// writeGraphQLError answers with a GraphQL-shaped error outside the executor
// (an oversized body, for example).
func writeGraphQLError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, map[string]any{
		"errors": []map[string]any{{"message": msg, "extensions": map[string]any{"code": code}}},
	})
}
