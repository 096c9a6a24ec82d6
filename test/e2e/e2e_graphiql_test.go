package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// TestGraphiQLServedByTheBinary: the page and every asset it names come from
// this server, with a policy that allows nothing else.
func TestGraphiQLServedByTheBinary(t *testing.T) {
	t.Parallel()
	a := mustStartApp(t)
	resp, raw := a.request(http.MethodGet, "/", nil, nil)
	page := string(raw)
	if resp.StatusCode != 200 || !strings.Contains(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("GET /: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	if m := absoluteURL.FindAllString(page, -1); len(m) > 0 {
		t.Errorf("the page names other origins: %q", m)
	}
	csp := parseCSP(t, resp.Header.Get("Content-Security-Policy"))
	if csp["script-src"] != "'self'" || csp["connect-src"] != "'self'" || csp["frame-ancestors"] != "'none'" {
		t.Errorf("CSP: %v", csp)
	}
	if strings.Contains(page, "<script>") {
		t.Error("the page has an inline script")
	}
	if !strings.Contains(page, "could not be loaded") {
		t.Error("the page has no message for when its scripts do not load")
	}
	for _, asset := range []string{"/graphiql/graphiql.min.js", "/graphiql/graphiql.min.css", "/graphiql/react.production.min.js",
		"/graphiql/react-dom.production.min.js", "/graphiql/tally-graphiql.js", "/graphiql/tally-graphiql.css", "/graphiql/LICENSES.txt"} {
		if !strings.Contains(page, asset) && !strings.HasSuffix(asset, ".txt") {
			t.Errorf("the page does not load %s", asset)
		}
		resp, raw := a.request(http.MethodGet, asset, nil, nil)
		if resp.StatusCode != 200 || len(raw) == 0 {
			t.Errorf("GET %s: %d, %d bytes", asset, resp.StatusCode, len(raw))
		}
	}
	for _, missing := range []string{"/graphiql/", "/graphiql/nope.js", "/graphiql/MANIFEST.tsv", "/graphiql/../graphiql.go", "/graphiql/web/build.mjs"} {
		if resp, _ := a.request(http.MethodGet, missing, nil, nil); resp.StatusCode != 404 {
			t.Errorf("GET %s: %d, want 404", missing, resp.StatusCode)
		}
	}
}

// TestGraphiQLBrowser loads GraphiQL in headless Chromium that may reach
// nothing but the test server, types a query, runs it and reads the answer
// in GraphiQL's result pane; and, with its scripts blocked, finds the
// page's message saying so.
func TestGraphiQLBrowser(t *testing.T) {
	t.Parallel()
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Skipf("browser test skipped: %s not found (CI installs Chromium; apt-get install chromium)", chromiumPath)
	}
	var logs logBuffer
	a := mustStartApp(t, withLogger(logs.logger()))

	t.Run("RendersAndRunsAQuery", func(t *testing.T) {
		t.Parallel()
		b := startBrowser(t)
		b.navigate(t, a.srv.URL+"/", nil)
		const waitFor = `const wait = async (f, what) => {
				for (let i = 0; i < 200; i++) { const v = f(); if (v) return v; await new Promise(r => setTimeout(r, 100)); }
				throw new Error('timed out waiting for ' + what);
			};`
		// A first visit opens on a first query, and says where the token goes,
		// with the Headers tab open.
		first := b.eval(t, `(async () => { `+waitFor+`
			const cm = await wait(() => document.querySelector('.graphiql-query-editor .CodeMirror'), 'the query editor');
			const tab = await wait(() => [...document.querySelectorAll('.graphiql-editor-tools button')].find(b => b.innerText.trim() === 'Headers'), 'the Headers tab');
			const scroll = cm.querySelector('.CodeMirror-scroll');
			return tab.className + ' | ' + (scroll.scrollWidth > scroll.clientWidth + 1 ? 'wider than the editor' : 'fits') + ' | ' + cm.CodeMirror.getValue();
		})()`)
		// Every line of it is read without scrolling sideways, in a window
		// of 1400×900.
		for _, want := range []string{"active", " fits ", "query Me {\n  me { id email displayName role }\n}", "mutation SignUp {", "mutation LogIn {",
			"Headers tab", `{"Authorization": "Bearer <the token>"}`} {
			if !strings.Contains(first, want) {
				t.Errorf("first visit: %q not in %q", want, first)
			}
		}
		// Type the query into GraphiQL's editor and find its run button.
		at := b.eval(t, `(async () => { `+waitFor+`
			const cm = await wait(() => document.querySelector('.graphiql-query-editor .CodeMirror'), 'the query editor');
			cm.CodeMirror.setValue('query Probe { __typename }');
			// The button is a menu of the first query's operations until
			// GraphiQL has read the new document, and is then replaced: find
			// the one in the page once it has settled.
			await new Promise(r => setTimeout(r, 300));
			return await wait(() => {
				const b = document.querySelector('.graphiql-execute-button');
				const r = b && !b.hasAttribute('aria-haspopup') && b.getBoundingClientRect();
				return r && r.width > 0 ? (r.x + r.width / 2) + ',' + (r.y + r.height / 2) : '';
			}, 'the run button');
		})()`)
		var x, y float64
		fmt.Sscanf(at, "%g,%g", &x, &y)
		b.click(t, x, y)
		got := b.eval(t, `(async () => { `+waitFor+`
			return await wait(() => {
				const r = document.querySelector('.result-window');
				return r && r.innerText.includes('Query') ? r.innerText : '';
			}, 'the result');
		})()`)
		if !strings.Contains(got, `"__typename": "Query"`) {
			t.Fatalf("result pane: %q\n%s", got, logs.String())
		}
	})

	t.Run("SaysSoWhenItsScriptsDoNotLoad", func(t *testing.T) {
		t.Parallel()
		b := startBrowser(t)
		b.navigate(t, a.srv.URL+"/", []string{"*graphiql.min.js"})
		got := b.eval(t, `(async () => {
			await new Promise(r => setTimeout(r, 500));
			const el = document.getElementById('tally-graphiql-failed');
			return getComputedStyle(el).visibility + ' | ' + el.innerText;
		})()`)
		if !strings.HasPrefix(got, "visible | ") || !strings.Contains(got, "did not load") || !strings.Contains(got, "/query") {
			t.Fatalf("message: %q", got)
		}
	})
}

// browser is headless Chromium driven over the DevTools protocol, with every
// host but 127.0.0.1 unresolvable: no network.
type browser struct {
	conn *websocket.Conn
	seq  atomic.Int64
}

func startBrowser(t *testing.T) *browser {
	t.Helper()
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, chromiumPath,
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
		"--no-first-run", "--no-default-browser-check", "--disable-extensions", "--window-size=1400,900",
		"--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
		"--user-data-dir="+dir, "--remote-debugging-port=0", "about:blank")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		t.Fatalf("chromium: %v", err)
	}
	t.Cleanup(func() { cancel(); _ = cmd.Wait() })
	var port string
	eventually(t, func() bool {
		if b, err := os.ReadFile(filepath.Join(dir, "DevToolsActivePort")); err == nil && bytes.Contains(b, []byte("\n")) {
			port = strings.SplitN(string(b), "\n", 2)[0]
		}
		return port != ""
	}, "chromium did not open its DevTools port:\n%s", func() any { return stderr.String() })
	if port == "" {
		t.Fatalf("chromium did not open its DevTools port:\n%s", stderr.String())
	}
	resp, err := http.Get("http://127.0.0.1:" + port + "/json/list")
	if err != nil {
		t.Fatalf("DevTools: %v", err)
	}
	var targets []struct{ Type, WebSocketDebuggerURL string }
	_ = json.NewDecoder(resp.Body).Decode(&targets)
	resp.Body.Close()
	var ws string
	for _, tg := range targets {
		if tg.Type == "page" {
			ws = tg.WebSocketDebuggerURL
		}
	}
	if ws == "" {
		t.Fatalf("no page target: %+v", targets)
	}
	conn, _, err := websocket.Dial(ctx, ws, nil)
	if err != nil {
		t.Fatalf("DevTools websocket: %v", err)
	}
	conn.SetReadLimit(64 << 20)
	t.Cleanup(func() { conn.CloseNow() })
	return &browser{conn: conn}
}

// call sends one DevTools command and returns its result, skipping events.
func (b *browser) call(t *testing.T, method string, params any) json.RawMessage {
	t.Helper()
	ctx, cancel := processContext(t)
	defer cancel()
	id := b.seq.Add(1)
	msg, _ := json.Marshal(map[string]any{"id": id, "method": method, "params": params})
	if err := b.conn.Write(ctx, websocket.MessageText, msg); err != nil {
		t.Fatalf("%s: %v", method, err)
	}
	for {
		_, data, err := b.conn.Read(ctx)
		if err != nil {
			t.Fatalf("%s: %v", method, err)
		}
		var r struct {
			ID     int64           `json:"id"`
			Result json.RawMessage `json:"result"`
			Error  *struct{ Message string }
		}
		if json.Unmarshal(data, &r) != nil || r.ID != id {
			continue
		}
		if r.Error != nil {
			t.Fatalf("%s: %s", method, r.Error.Message)
		}
		return r.Result
	}
}

// navigate loads url, with requests matching blocked refused, and waits for
// its load event.
func (b *browser) navigate(t *testing.T, url string, blocked []string) {
	t.Helper()
	b.call(t, "Network.enable", map[string]any{})
	if len(blocked) > 0 {
		b.call(t, "Network.setBlockedURLs", map[string]any{"urls": blocked})
	}
	b.call(t, "Page.navigate", map[string]any{"url": url})
	b.eval(t, `new Promise(r => document.readyState === 'complete' ? r(1) : addEventListener('load', () => r(1)))`)
}

// click presses and releases the left mouse button at x, y, as a person does.
func (b *browser) click(t *testing.T, x, y float64) {
	t.Helper()
	for _, typ := range []string{"mouseMoved", "mousePressed", "mouseReleased"} {
		b.call(t, "Input.dispatchMouseEvent", map[string]any{"type": typ, "x": x, "y": y, "button": "left", "clickCount": 1})
	}
}

// eval runs a JavaScript expression (a promise is awaited) and returns its
// value as a string.
func (b *browser) eval(t *testing.T, expr string) string {
	t.Helper()
	res := b.call(t, "Runtime.evaluate", map[string]any{"expression": expr, "awaitPromise": true, "returnByValue": true})
	var r struct {
		Result struct {
			Value any `json:"value"`
		} `json:"result"`
		ExceptionDetails *struct {
			Text      string `json:"text"`
			Exception struct {
				Description string `json:"description"`
			} `json:"exception"`
		} `json:"exceptionDetails"`
	}
	if err := json.Unmarshal(res, &r); err != nil {
		t.Fatalf("evaluate: %v", err)
	}
	if r.ExceptionDetails != nil {
		t.Fatalf("evaluate: %s %s", r.ExceptionDetails.Text, r.ExceptionDetails.Exception.Description)
	}
	return fmt.Sprint(r.Result.Value)
}
