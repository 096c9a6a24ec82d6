package httpapi

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/coder/websocket"

	"tally/auth"
	"tally/domain"
)

// keepAlive is how often an idle live stream sends something (SSE comments,
// graphql-transport-ws pongs, graphql-ws keep-alives), so that proxies keep
// it open and a vanished client is noticed by a failed write.
const keepAlive = 15 * time.Second

// closeForbidden is graphql-transport-ws's close code for a connection whose
// connection_init is refused.
const closeForbidden = 4403

// closeTooMany closes a connection over the user's limit (RATE_LIMITED):
// WebSocket's 1008, policy violation. (graphql-transport-ws's 4429 means a
// repeated connection_init, and its clients give up on it; on 1008 they
// retry with backoff, which succeeds once a place is free.)
const closeTooMany = websocket.StatusPolicyViolation

// liveTransports are the subscription transports on /query, in the order
// gqlgen must try them: SSE before POST (both take JSON POSTs; SSE's
// `Accept: text/event-stream` decides), WebSocket for upgrade requests.
func liveTransports(d Deps) []graphql.Transport {
	return []graphql.Transport{
		transport.SSE{KeepAlivePingInterval: keepAlive},
		placedWebsocket{transport.Websocket{
			Implementation: transport.CoderWebsocketImplementation{
				AcceptOptions: websocket.AcceptOptions{OriginPatterns: originPatterns(d.CORSOrigins)},
			},
			InitFunc:              websocketInit(d.Tokens, d.Users, d.LiveConnections),
			InitTimeout:           10 * time.Second,
			KeepAlivePingInterval: keepAlive,
			PongOnlyInterval:      keepAlive,
		}},
	}
}

// LiveConnections bounds the WebSocket connections of each user
// (live.Broker.Connect).
type LiveConnections interface {
	Connect(userID string) (release func(), err error)
}

// placedWebsocket is gqlgen's WebSocket transport, which gives back the
// user's connection place (taken by websocketInit) once the connection has
// ended: its Do returns only then.
type placedWebsocket struct{ transport.Websocket }

type placeKey struct{}

// place holds what gives a connection's place back, once websocketInit took one.
type place struct{ release func() }

func (t placedWebsocket) Do(w http.ResponseWriter, r *http.Request, exec graphql.GraphExecutor) {
	p := &place{}
	t.Websocket.Do(w, r.WithContext(context.WithValue(r.Context(), placeKey{}, p)), exec)
	if p.release != nil {
		p.release()
	}
}

// websocketInit authenticates a WebSocket connection as the HTTP middleware
// authenticates a request: the bearer token in connectionParams'
// Authorization (browsers cannot set headers on an upgrade), or else the
// upgrade request's own Authorization header, which the middleware has
// already read. A connection without a valid token is closed with 4403:
// every subscription needs a user. A user over the connection limit is
// closed with 1008 (RATE_LIMITED).
func websocketInit(tokens *auth.Tokens, users Users, conns LiveConnections) transport.WebsocketInitFunc {
	return func(ctx context.Context, p transport.InitPayload) (context.Context, *transport.InitPayload, error) {
		if h := p.Authorization(); h != "" {
			c, ok, _ := bearerCaller(ctx, tokens, users, h)
			if !ok {
				//lint:ignore ST1005 the client reads it (graphql-ws's connection_error), after the close reason's "Forbidden"
				return refuse(ctx), nil, errors.New("Forbidden: the token in connectionParams is not valid; log in again")
			}
			ctx = auth.WithCaller(ctx, c)
		}
		c := auth.CallerFrom(ctx)
		if !c.Authenticated() {
			//lint:ignore ST1005 the client reads it (graphql-ws's connection_error), after the close reason's "Forbidden"
			return refuse(ctx), nil, errors.New("Forbidden: send connectionParams {\"Authorization\": \"Bearer <token>\"}")
		}
		if p, ok := ctx.Value(placeKey{}).(*place); ok && conns != nil {
			release, err := conns.Connect(c.UserID)
			if err != nil {
				ctx = transport.AppendCloseReason(transport.WithWebsocketCloseCode(ctx, int(closeTooMany)), "Too many connections")
				return ctx, nil, errors.New(domain.ErrorMessage(err))
			}
			p.release = release
		}
		return ctx, nil, nil
	}
}

// refuse marks ctx for the close of a refused connection: 4403 Forbidden.
func refuse(ctx context.Context) context.Context {
	return transport.AppendCloseReason(transport.WithWebsocketCloseCode(ctx, closeForbidden), "Forbidden")
}

// originPatterns turns CORS_ORIGINS into the hosts a browser's WebSocket may
// come from (same-origin connections are always allowed).
func originPatterns(origins []string) []string {
	var out []string
	for _, o := range origins {
		if o == "*" {
			return []string{"*"}
		}
		if u, err := url.Parse(o); err == nil && u.Host != "" {
			out = append(out, u.Host)
		}
	}
	return out
}

// liveDeadlines lifts the server's read and write timeouts from live
// streams (a WebSocket upgrade, an SSE request), which last as long as the
// client watches; keep-alives notice a client that went away.
func liveDeadlines(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") != "" || strings.Contains(r.Header.Get("Accept"), "text/event-stream") {
			rc := http.NewResponseController(w)
			_ = rc.SetReadDeadline(time.Time{})
			_ = rc.SetWriteDeadline(time.Time{})
		}
		next.ServeHTTP(w, r)
	})
}
