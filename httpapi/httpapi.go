// Package httpapi is Tally's HTTP surface: the GraphQL endpoint (served by
// foundation/graphqlhttp, given Tally's schema, limits, error presenter and
// subscription transports), GraphiQL, the tracking routes (/r, /overlay,
// /postback), the event export (/campaigns/{id}/events.csv), health,
// readiness and metrics, and the middleware every request passes through
// (security headers, request id, logging, metrics, tracing, panic recovery,
// client address, CORS, authentication, body limit, rate limits).
package httpapi

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/netip"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"tally/auth"
	"tally/domain"
	"tally/foundation/tracing"
	"tally/httpapi/graphiql"
	"tally/httpapi/metrics"
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
	Exports     EventExporter // the event export (GET /campaigns/{campaignId}/events.csv); nil: not served
	Tokens      *auth.Tokens
	Users       Users // checks sessions; nil trusts a valid token's claims (tests of this package alone)
	Store       Pinger
	Log         *slog.Logger
	Limits      Limits
	CORSOrigins []string
	// Metrics are the server's Prometheus instruments, served at /metrics;
	// nil serves none.
	Metrics *metrics.Metrics
	// Tracer traces requests and GraphQL operations; nil traces nothing.
	Tracer trace.TracerProvider
	// NoIntrospection turns GraphQL introspection off (INTROSPECTION=false).
	NoIntrospection bool
	Projection      interface{ Lag() domain.ProjectionLag } // the projector, for /readyz; nil leaves it out
	// Backlog is the database's projection backlog, for /readyz; nil
	// leaves it out.
	Backlog interface {
		Backlog(context.Context) (domain.Backlog, error)
	}
	// TokenLimits rate-limit what a browser source token opens.
	TokenLimits TokenLimits
	// TrustedProxies are the reverse proxies whose X-Forwarded-For decides
	// the client address; none means the TCP peer is the client.
	TrustedProxies []netip.Prefix
	// LiveConnections bounds each user's WebSocket connections; nil leaves
	// them unbounded (subscriptions are bounded by the live service).
	LiveConnections LiveConnections
	// Payouts exports payout runs' payment files; nil serves none.
	Payouts PayoutExporter
}

// New returns the whole HTTP handler: the mux wrapped once in the middleware.
func New(d Deps) http.Handler {
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	if d.Limits == (Limits{}) {
		d.Limits = DefaultLimits
	}
	if d.Tracer == nil {
		d.Tracer = noop.NewTracerProvider()
	}
	gql := newGraphQL(d, !d.NoIntrospection)

	mux := http.NewServeMux()
	mux.Handle("/query", liveDeadlines(graphQLTransport(limitBody(d.Limits.MaxBodyBytes, rateLimitedStatus(withAPIKey(d, perRequest(d.PerRequest, gql)))))))
	mux.Handle("GET /reports.csv", withAPIKey(d, reportCSV(d)))
	mux.Handle("GET /r/{token}", limitTokenRoute(d.TokenLimits, d.Metrics, false, clickRedirect(d.Tracking, d)))
	mux.Handle("GET /overlay/{token}", limitTokenRoute(d.TokenLimits, d.Metrics, true, overlayPageHandler(d)))
	pb := postback(d.Tracking, d)
	mux.Handle("GET /postback", pb)
	mux.Handle("POST /postback", pb)
	mux.HandleFunc("/postback", postbackMethodNotAllowed)
	if d.Payouts != nil {
		mux.Handle("GET /payout-runs/{key}/payouts.csv", payoutCSV(d.Payouts, d))
	}
	mux.Handle("GET /campaigns/{campaignId}/events.csv", exportEvents(d))
	mux.HandleFunc("/campaigns/{campaignId}/events.csv", exportMethodNotAllowed)
	mux.Handle("GET /{$}", graphiql.Page())
	mux.Handle("GET /graphiql/", graphiql.Assets("/graphiql/"))
	if d.Metrics != nil {
		mux.Handle("GET /metrics", d.Metrics.Handler())
	}
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
		if d.Backlog != nil {
			// The database's, whichever process projects: what waits, and
			// for how long. A failed read leaves it out (the store answered
			// the ping: still ready).
			if b, err := d.Backlog.Backlog(ctx); err != nil {
				d.Log.WarnContext(ctx, "projection backlog not read", "request_id", RequestID(ctx), "err", err.Error())
			} else {
				body["backlog"] = map[string]any{"pending": b.Pending, "capped": b.Capped, "oldestMs": b.OldestAge.Milliseconds()}
			}
		}
		writeJSON(w, http.StatusOK, body)
	})

	h := noteRoute(mux)
	h = authenticate(d.Tokens, d.Users, h)
	h = withCORS(d.CORSOrigins, h)
	h = clientAddress(d.TrustedProxies, h)
	h = recoverPanics(d.Log, h)
	h = logRequests(d.Log, d.Metrics, h)
	h = withRequestID(h)
	h = securityHeaders(h)
	if !isNoop(d.Tracer) {
		h = otelhttp.NewHandler(h, "http", otelhttp.WithTracerProvider(d.Tracer), otelhttp.WithPropagators(tracing.Propagator))
	}
	return h
}

func isNoop(tp trace.TracerProvider) bool {
	_, off := tp.(noop.TracerProvider)
	return off
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
