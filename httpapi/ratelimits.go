package httpapi

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/99designs/gqlgen/graphql"

	"tally/auth"
	"tally/domain"
	"tally/foundation/ratelimit"
	"tally/httpapi/metrics"
)

// TokenLimits limit the public requests that a browser source token opens
// (GET /r/{token}, GET /overlay/{token}, the overlay query, recordImpression
// and recordClick): per token, and per client address across tokens. A nil
// limiter is unlimited.
type TokenLimits struct {
	PerToken   *ratelimit.Limiter
	PerAddress *ratelimit.Limiter
}

// allow takes one request for token from the request's client address.
func (l TokenLimits) allow(ctx context.Context, token string) error {
	if ok, wait := l.PerToken.Allow(token); !ok {
		return domain.RateLimited(wait, "too many requests for this overlay; try again in %d seconds", ratelimit.RetryAfterSeconds(wait))
	}
	if a, ok := auth.ClientAddress(ctx); ok {
		if ok, wait := l.PerAddress.Allow(ratelimit.AddressKey(a)); !ok {
			return domain.RateLimited(wait, "too many requests from your address; try again in %d seconds", ratelimit.RetryAfterSeconds(wait))
		}
	}
	return nil
}

// limitTokenRoute refuses a GET /r/{token} or /overlay/{token} over a limit
// with 429 and Retry-After. The overlay's page reloads itself after the wait
// (a browser source never reloads by itself, and must not stay blank or show
// an error on a live stream); a viewer following /r/ is told to try again.
func limitTokenRoute(l TokenLimits, m *metrics.Metrics, reloads bool, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := l.allow(r.Context(), r.PathValue("token")); err != nil {
			m.RateLimited("route")
			secs := ratelimit.RetryAfterSeconds(domain.RetryAfter(err))
			h := w.Header()
			h.Set("Retry-After", strconv.Itoa(secs))
			h.Set("Cache-Control", "no-store")
			h.Set("Content-Type", "text/html; charset=utf-8")
			w.WriteHeader(http.StatusTooManyRequests)
			if reloads {
				fmt.Fprintf(w, "<!doctype html><meta http-equiv=\"refresh\" content=\"%d\"><title></title>\n", secs)
				return
			}
			fmt.Fprintf(w, "<!doctype html><title>Too many requests</title><p>Too many requests; try again in %d seconds.</p>\n", secs)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// tokenFields are the GraphQL root fields a browser source token opens, and
// where each takes the token.
var tokenFields = map[string]func(args map[string]any) any{
	"Query.overlay":             func(a map[string]any) any { return a["browserSourceToken"] },
	"Mutation.recordImpression": func(a map[string]any) any { return a["browserSourceToken"] },
	"Mutation.recordClick": func(a map[string]any) any {
		in, _ := a["input"].(map[string]any)
		return in["browserSourceToken"]
	},
}

// limitTokenField applies the token limits to a root field a browser
// source token opens: RATE_LIMITED, and the field does not run.
func limitTokenField(ctx context.Context, l TokenLimits, object string, field graphql.CollectedField) error {
	if field.Field == nil {
		return nil
	}
	tokenOf, ok := tokenFields[object+"."+field.Name]
	if !ok {
		return nil
	}
	token, _ := tokenOf(field.ArgumentMap(graphql.GetOperationContext(ctx).Variables)).(string)
	return l.allow(ctx, token)
}

// clientAddress puts the request's client address into its context: the TCP
// peer, or, when the peer is one of the trusted proxies, the last address in
// X-Forwarded-For that is not a trusted proxy. Without trusted proxies the
// header is ignored, since anyone can send it.
func clientAddress(trusted []netip.Prefix, next http.Handler) http.Handler {
	isTrusted := func(a netip.Addr) bool {
		for _, p := range trusted {
			if p.Contains(a) {
				return true
			}
		}
		return false
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host, _, err := net.SplitHostPort(r.RemoteAddr)
		if err != nil {
			host = r.RemoteAddr
		}
		ctx := r.Context()
		addr, err := netip.ParseAddr(host)
		if err == nil {
			addr = addr.Unmap()
			if len(trusted) > 0 && isTrusted(addr) {
				addr = forwardedFor(r.Header.Values("X-Forwarded-For"), addr, isTrusted)
			}
			ctx = auth.WithClientAddress(ctx, addr)
		}
		if ua := r.UserAgent(); ua != "" {
			ctx = auth.WithUserAgent(ctx, ua)
		}
		if ctx != r.Context() {
			r = r.WithContext(ctx) // one copy of the request for both
		}
		next.ServeHTTP(w, r)
	})
}

// forwardedFor walks X-Forwarded-For from the right (the entries the
// trusted proxies appended) and returns the first address that is not a
// trusted proxy; peer when there is none. An entry that is not an address
// stops the walk: nothing left of it can be believed.
func forwardedFor(values []string, peer netip.Addr, trusted func(netip.Addr) bool) netip.Addr {
	var hops []string
	for _, v := range values {
		hops = append(hops, strings.Split(v, ",")...)
	}
	client := peer
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			break
		}
		client = a.Unmap()
		if !trusted(client) {
			break
		}
	}
	return client
}

// retryAfterNote is a request's longest RATE_LIMITED wait, noted by the
// error presenter; it lives in the request's requestInfo.
type retryAfterNote struct {
	mu   sync.Mutex
	wait time.Duration
}

func noteRetryAfter(ctx context.Context, d time.Duration) {
	if i := infoFrom(ctx); i != nil {
		i.retry.mu.Lock()
		i.retry.wait = max(i.retry.wait, d)
		i.retry.mu.Unlock()
	}
}

// rateLimitedStatus answers a GraphQL response that carries a RATE_LIMITED
// error with 429 and Retry-After (the longest wait among its errors), so
// that HTTP clients and proxies back off without reading the body. It runs
// under withRequestID, whose requestInfo holds the note.
func rateLimitedStatus(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r, i := withInfo(r)
		next.ServeHTTP(&retryAfterWriter{ResponseWriter: w, note: &i.retry}, r)
	})
}

type retryAfterWriter struct {
	http.ResponseWriter
	note    *retryAfterNote
	written bool
}

// Unwrap lets http.ResponseController reach the connection (a WebSocket
// upgrade hijacks it).
func (w *retryAfterWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *retryAfterWriter) WriteHeader(status int) {
	if w.written {
		return
	}
	w.written = true
	w.note.mu.Lock()
	wait := w.note.wait
	w.note.mu.Unlock()
	if wait > 0 && status == http.StatusOK {
		w.Header().Set("Retry-After", strconv.Itoa(ratelimit.RetryAfterSeconds(wait)))
		status = http.StatusTooManyRequests
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *retryAfterWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (w *retryAfterWriter) Write(b []byte) (int, error) {
	if !w.written {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(b)
}
