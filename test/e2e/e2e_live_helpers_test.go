package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// liveTimeout bounds every wait for a pushed message.
const liveTimeout = waitTimeout

// wsMessage is a graphql-transport-ws message.
type wsMessage struct {
	ID      string          `json:"id,omitempty"`
	Type    string          `json:"type"`
	Payload json.RawMessage `json:"payload,omitempty"`
}

// wsClient is a graphql-transport-ws client on a real WebSocket to the app.
type wsClient struct {
	t    testing.TB
	conn *websocket.Conn
}

// dialWS opens a WebSocket to /query speaking graphql-transport-ws and
// sends connection_init with params (nil: no payload). It returns the
// client once the server acknowledged, or the error the connection ended
// with.
func (a *testApp) dialWS(t testing.TB, header http.Header, params map[string]any) (*wsClient, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), liveTimeout)
	defer cancel()
	conn, resp, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(a.srv.URL, "http")+"/query", &websocket.DialOptions{
		Subprotocols: []string{"graphql-transport-ws"}, HTTPHeader: header,
	})
	if err != nil {
		t.Fatalf("dial: %v (%v)", err, resp)
	}
	if got := conn.Subprotocol(); got != "graphql-transport-ws" {
		t.Fatalf("subprotocol: got %q", got)
	}
	c := &wsClient{t: t, conn: conn}
	t.Cleanup(func() { _ = conn.CloseNow() })
	init := wsMessage{Type: "connection_init"}
	if params != nil {
		init.Payload, _ = json.Marshal(params)
	}
	c.send(init)
	for {
		m, err := c.read()
		if err != nil {
			return nil, err
		}
		if m.Type == "connection_ack" {
			return c, nil
		}
	}
}

func (c *wsClient) send(m wsMessage) {
	c.t.Helper()
	b, _ := json.Marshal(m)
	ctx, cancel := context.WithTimeout(context.Background(), liveTimeout)
	defer cancel()
	if err := c.conn.Write(ctx, websocket.MessageText, b); err != nil {
		c.t.Fatalf("ws write: %v", err)
	}
}

// read returns the next message that is not a keep-alive.
func (c *wsClient) read() (wsMessage, error) {
	ctx, cancel := context.WithTimeout(context.Background(), liveTimeout)
	defer cancel()
	for {
		_, b, err := c.conn.Read(ctx)
		if err != nil {
			return wsMessage{}, err
		}
		var m wsMessage
		if err := json.Unmarshal(b, &m); err != nil {
			c.t.Fatalf("ws message is not JSON: %s", b)
		}
		switch m.Type {
		case "ping":
			c.send(wsMessage{Type: "pong"})
		case "pong", "ka":
		default:
			return m, nil
		}
	}
}

// subscribe starts operation id.
func (c *wsClient) subscribe(id, query string, vars map[string]any) {
	c.t.Helper()
	p, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	c.send(wsMessage{ID: id, Type: "subscribe", Payload: p})
}

// next reads the next message, which must be for operation id; it returns
// the message's type ("next", "error", "complete") and its GraphQL result.
func (c *wsClient) next(id string) (string, gqlResponse) {
	c.t.Helper()
	m, err := c.read()
	if err != nil {
		c.t.Fatalf("ws read (waiting for %s): %v", id, err)
	}
	if m.ID != id {
		c.t.Fatalf("message for %q, want %q: %+v", m.ID, id, m)
	}
	var r gqlResponse
	switch m.Type {
	case "next":
		if err := json.Unmarshal(m.Payload, &r); err != nil {
			c.t.Fatalf("next payload: %v: %s", err, m.Payload)
		}
	case "error":
		if err := json.Unmarshal(m.Payload, &r.Errors); err != nil {
			c.t.Fatalf("error payload: %v: %s", err, m.Payload)
		}
	}
	return m.Type, r
}

// mustNext reads the next result for id, which must carry data, into v.
func (c *wsClient) mustNext(id string, v any) {
	c.t.Helper()
	typ, r := c.next(id)
	if typ != "next" || len(r.Errors) > 0 {
		c.t.Fatalf("operation %s: got %s %+v, want next with data", id, typ, r.Errors)
	}
	if err := json.Unmarshal(r.Data, v); err != nil {
		c.t.Fatalf("decode %s: %v: %s", id, err, r.Data)
	}
}

// mustRefuse reads operation id's answer, which must be an error with code.
func (c *wsClient) mustRefuse(id, code string) {
	c.t.Helper()
	typ, r := c.next(id)
	if typ == "next" && len(r.Errors) == 0 {
		c.t.Fatalf("operation %s: got data %s, want %s", id, r.Data, code)
	}
	found := false
	for _, e := range r.Errors {
		found = found || e.Code() == code
	}
	if !found {
		c.t.Fatalf("operation %s: got %s %+v, want %s", id, typ, r.Errors, code)
	}
	c.mustEnd(id, typ)
}

// mustEnd reads the complete that follows a refusal sent as a next message
// (an "error" message ends the operation by itself).
func (c *wsClient) mustEnd(id, typ string) {
	c.t.Helper()
	if typ != "next" {
		return
	}
	if typ, r := c.next(id); typ != "complete" {
		c.t.Fatalf("operation %s: got %s %+v after the refusal, want complete", id, typ, r)
	}
}

// subscribeOnceFree subscribes as id until the server has a place for it
// again (freeing one is noticed asynchronously), failing after about a
// second; what freed the place is said in why.
func (c *wsClient) subscribeOnceFree(id, query string, vars map[string]any, why string) {
	c.t.Helper()
	var typ string
	var r gqlResponse
	eventually(c.t, func() bool {
		c.subscribe(id, query, vars)
		if typ, r = c.next(id); typ == "next" && len(r.Errors) == 0 {
			return true
		}
		c.mustEnd(id, typ)
		return false
	}, "no place after %s: %v %v", why, func() any { return typ }, func() any { return fmt.Sprintf("%+v", r.Errors) })
}

// sseStream is one subscription over SSE: a POST to /query that accepts
// text/event-stream, read event by event.
type sseStream struct {
	t      testing.TB
	resp   *http.Response
	r      *bufio.Reader
	cancel context.CancelFunc
}

func (a *testApp) sse(t testing.TB, token, query string, vars map[string]any) *sseStream {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, a.srv.URL+"/query", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "text/event-stream")
	if token != "" {
		req.Header.Set("Authorization", bearer(token))
	}
	resp, err := a.client().Do(req)
	if err != nil {
		cancel()
		t.Fatalf("SSE POST: %v", err)
	}
	s := &sseStream{t: t, resp: resp, r: bufio.NewReader(resp.Body), cancel: cancel}
	t.Cleanup(s.close)
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
		t.Fatalf("SSE Content-Type: got %q", ct)
	}
	return s
}

func (s *sseStream) close() { s.cancel(); _ = s.resp.Body.Close() }

// next returns the next event's name and its data ("" for complete).
func (s *sseStream) next() (string, gqlResponse) {
	s.t.Helper()
	timer := time.AfterFunc(liveTimeout, s.cancel)
	defer timer.Stop()
	var event, data string
	for {
		l, err := s.r.ReadString('\n')
		if err != nil {
			s.t.Fatalf("SSE read (event %q so far): %v", event, err)
		}
		l = strings.TrimRight(l, "\r\n")
		switch {
		case l == "":
			if event == "" {
				continue // a keep-alive comment's end
			}
			var r gqlResponse
			if data != "" {
				if err := json.Unmarshal([]byte(data), &r); err != nil {
					s.t.Fatalf("SSE data: %v: %s", err, data)
				}
			}
			return event, r
		case strings.HasPrefix(l, ":"):
		case strings.HasPrefix(l, "event: "):
			event = strings.TrimPrefix(l, "event: ")
		case strings.HasPrefix(l, "data: "):
			data += strings.TrimPrefix(l, "data: ")
		}
	}
}

// mustNext reads the next event, which must carry data, into v.
func (s *sseStream) mustNext(v any) {
	s.t.Helper()
	ev, r := s.next()
	if ev != "next" || len(r.Errors) > 0 {
		s.t.Fatalf("SSE: got %s %+v, want next with data", ev, r.Errors)
	}
	if err := json.Unmarshal(r.Data, v); err != nil {
		s.t.Fatalf("decode: %v: %s", err, r.Data)
	}
}

// mustEndWith reads the stream's last result, which must be an error with
// code and no data, and then its end.
func (s *sseStream) mustEndWith(code string) {
	s.t.Helper()
	ev, r := s.next()
	if ev != "next" || len(r.Errors) != 1 || r.Errors[0].Code() != code || (len(r.Data) > 0 && string(r.Data) != "null") {
		s.t.Fatalf("SSE: got %s %+v %s, want next with %s only", ev, r.Errors, r.Data, code)
	}
	if ev, r := s.next(); ev != "complete" {
		s.t.Fatalf("SSE: got %s %+v after the error, want complete", ev, r)
	}
}
