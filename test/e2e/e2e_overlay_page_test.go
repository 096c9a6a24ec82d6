package e2e

import (
	"bytes"
	"html"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// GET /overlay/{browserSourceToken} is the page a streamer adds to OBS as a
// browser source. These tests check it twice: as HTTP (headers, CSP nonce,
// nothing external) and in a real headless Chromium, whose dumped DOM shows
// what the page's script made of the overlay query.

// overlayPageName contains markup so that the browser test also proves the
// page writes campaign text as text: a <b> element in the DOM would be an
// injection.
const overlayPageName = `Hydrate <b>& Co</b> "Summer"`

// overlayPageCampaign is an active campaign named name that a new streamer
// has joined, and that streamer's browser source token.
func (a *testApp) overlayPageCampaign(name string) (brand, streamer testUser, c campaignData, tok string) {
	a.t.Helper()
	brand = a.mustSignUp("BRAND")
	streamer = a.mustSignUp("STREAMER")
	c = a.mustActiveCampaign(brand, name)
	tok = token(a.t, a.mustJoin(streamer, c.ID))
	return brand, streamer, c, tok
}

var (
	cspNonce      = regexp.MustCompile(`'nonce-([A-Za-z0-9+/_=-]+)'`)
	inlineTag     = regexp.MustCompile(`(?i)<(script|style)\b([^>]*)>`)
	nonceAttr     = regexp.MustCompile(`\bnonce="([^"]*)"`)
	absoluteURL   = regexp.MustCompile(`(?i)\bhttps?://([^/\s"'<>\x60)]+)`)
	eventHandler  = regexp.MustCompile(`(?i)<[^>]*\son[a-z]+\s*=`)
	urlAttr       = regexp.MustCompile(`(?i)<[^>]*\s(src|href|action|srcset|poster|data)\s*=`)
	bodyState     = regexp.MustCompile(`<body\b[^>]*\bdata-state="([^"]*)"`)
	campaignTitle = regexp.MustCompile(`id="campaign-name"[^>]*>([^<]*)<`)
	// pageTrouble is what the page must never make Chromium log: a CSP or
	// Trusted Types refusal (a nonce that does not match, say) or a script error.
	pageTrouble = regexp.MustCompile(`(?i)Content Security Policy|Trusted Type|Refused to|Uncaught|violates`)
)

// parseCSP splits a Content-Security-Policy into its directives.
func parseCSP(t *testing.T, policy string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, d := range strings.Split(policy, ";") {
		d = strings.TrimSpace(d)
		if d == "" {
			continue
		}
		name, value, _ := strings.Cut(d, " ")
		if _, dup := out[name]; dup {
			t.Errorf("CSP names %s twice: %s", name, policy)
		}
		out[name] = strings.TrimSpace(value)
	}
	return out
}

// checkOverlayPage checks one GET /overlay/… response: status, headers, CSP
// and the page itself, and returns the response's nonce.
func checkOverlayPage(t *testing.T, a *testApp, path, tok string) string {
	t.Helper()
	resp, raw := a.in(t).request(http.MethodGet, path, nil, nil)
	body := string(raw)
	// 200 whatever the token: a browser source puts an error status's page
	// on the live stream and does not reload it, so the page always loads,
	// shows nothing and keeps asking (the handler does not look tokens up).
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: status %d, want 200: %s", path, resp.StatusCode, body)
	}
	for k, want := range map[string]string{
		"Content-Type":           "text/html; charset=utf-8",
		"Referrer-Policy":        "no-referrer",
		"Cache-Control":          "no-store",
		"X-Content-Type-Options": "nosniff",
	} {
		if got := resp.Header.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}

	policy := resp.Header.Get("Content-Security-Policy")
	csp := parseCSP(t, policy)
	m := cspNonce.FindStringSubmatch(csp["script-src"])
	if m == nil {
		t.Fatalf("script-src has no nonce: %q", policy)
	}
	nonce := m[1]
	if len(nonce) < 22 { // 128 bits in base64
		t.Errorf("nonce %q is shorter than 128 bits", nonce)
	}
	for dir, want := range map[string]string{
		"default-src":     "'none'",
		"script-src":      "'nonce-" + nonce + "'",
		"style-src":       "'nonce-" + nonce + "'",
		"connect-src":     "'self'",
		"base-uri":        "'none'",
		"form-action":     "'none'",
		"frame-ancestors": "'none'",
	} {
		if csp[dir] != want {
			t.Errorf("CSP %s = %q, want %q (policy %q)", dir, csp[dir], want, policy)
		}
	}
	for _, weak := range []string{"unsafe-inline", "unsafe-eval", "unsafe-hashes", "*", "data:", "http:", "https:"} {
		for dir, v := range csp {
			if slices.Contains(strings.Fields(v), weak) || strings.Contains(v, "'"+weak+"'") {
				t.Errorf("CSP %s allows %s: %q", dir, weak, policy)
			}
		}
	}

	// Every inline script and style carries this response's nonce, and there
	// are no other ways in: no handlers in attributes, no URLs to fetch.
	tags := inlineTag.FindAllStringSubmatch(body, -1)
	seen := map[string]int{}
	for _, tag := range tags {
		seen[strings.ToLower(tag[1])]++
		n := nonceAttr.FindStringSubmatch(tag[2])
		if n == nil || n[1] != nonce {
			t.Errorf("<%s%s> does not carry the CSP nonce %q", tag[1], tag[2], nonce)
		}
		if strings.Contains(strings.ToLower(tag[2]), "src=") {
			t.Errorf("<%s%s> loads a file", tag[1], tag[2])
		}
	}
	if seen["script"] == 0 || seen["style"] == 0 {
		t.Errorf("want inline <script> and <style>, got %v", seen)
	}
	if eventHandler.MatchString(body) {
		t.Errorf("page has an inline event handler: %s", eventHandler.FindString(body))
	}
	if urlAttr.MatchString(body) {
		t.Errorf("page loads or links something: %s", urlAttr.FindString(body))
	}
	host := strings.TrimPrefix(a.srv.URL, "http://")
	for _, u := range absoluteURL.FindAllStringSubmatch(body, -1) {
		if u[1] != host {
			t.Errorf("page names another host: %s", u[0])
		}
	}
	for _, s := range []string{"<link", "@import", "url(", "<img", "<iframe", "innerHTML", "outerHTML", "insertAdjacentHTML", "document.write"} {
		if strings.Contains(body, s) {
			t.Errorf("page contains %q", s)
		}
	}
	// The script reads the token from location.pathname: the server never
	// writes it into the page.
	if tok != "" && strings.Contains(body, tok) {
		t.Errorf("page contains the token %q", tok)
	}
	for _, id := range []string{`id="campaign-name"`, `data-state="loading"`} {
		if !strings.Contains(body, id) {
			t.Errorf("page lacks %s", id)
		}
	}
	return nonce
}

func TestOverlayPageHTTP(t *testing.T) {
	t.Parallel()
	a := mustStartApp(t)
	_, _, _, tok := a.overlayPageCampaign("Page campaign")

	t.Run("headers, nonce and a self-contained page", func(t *testing.T) {
		n1 := checkOverlayPage(t, a, "/overlay/"+url.PathEscape(tok), tok)
		n2 := checkOverlayPage(t, a, "/overlay/"+url.PathEscape(tok), tok)
		if n1 == n2 {
			t.Errorf("two responses share the nonce %q", n1)
		}
	})

	t.Run("an unknown token gets the same page", func(t *testing.T) {
		checkOverlayPage(t, a, "/overlay/no-such-token", "no-such-token")
	})

	t.Run("only GET", func(t *testing.T) {
		for _, method := range []string{http.MethodPost, http.MethodPut, http.MethodDelete} {
			resp, _ := a.in(t).request(method, "/overlay/x", nil, nil)
			if resp.StatusCode != http.StatusMethodNotAllowed {
				t.Errorf("%s /overlay/x: status %d, want 405", method, resp.StatusCode)
			}
			if allow := resp.Header.Get("Allow"); !strings.Contains(allow, "GET") {
				t.Errorf("%s /overlay/x: Allow %q, want GET", method, allow)
			}
		}
	})
}

// chromiumPath is the browser the page is tested in; CI installs it.
const chromiumPath = "/usr/bin/chromium"

// dumpOverlayPage loads path in headless Chromium (as long as the test may
// run: a busy machine makes it slow, not wrong), lets the page run for 5 s
// of virtual time (which stands still while a request is in flight, so the
// page's GraphQL calls have their answers) and returns the DOM it ends with.
func dumpOverlayPage(t *testing.T, a *testApp, path string) string {
	t.Helper()
	ctx, cancel := processContext(t)
	defer cancel()
	cmd := exec.CommandContext(ctx, chromiumPath,
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
		"--no-first-run", "--no-default-browser-check", "--disable-extensions",
		"--user-data-dir="+t.TempDir(),
		"--enable-logging=stderr", "--v=0", // the page's console, CSP violations included
		"--virtual-time-budget=5000",
		"--dump-dom", a.srv.URL+path)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = 5 * time.Second // Chromium's helpers may outlive a killed browser with our pipes open
	start := time.Now()
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium %s: %v (after %s)\nstderr:\n%s", path, err, time.Since(start).Round(time.Millisecond), stderr.String())
	}
	t.Logf("chromium: %s", time.Since(start).Round(time.Millisecond))
	dom := stdout.String()
	for _, line := range strings.Split(stderr.String(), "\n") {
		if strings.Contains(line, ":CONSOLE") && pageTrouble.MatchString(line) {
			t.Errorf("chromium %s: %s", path, line)
		}
	}
	if !strings.Contains(dom, "</html>") {
		t.Fatalf("chromium %s dumped no page:\n%s\nstderr:\n%s", path, dom, stderr.String())
	}
	return dom
}

// overlayPageView is what the dumped page shows: its state and the text of
// #campaign-name.
func overlayPageView(t *testing.T, dom string) (state, name string) {
	t.Helper()
	m := bodyState.FindStringSubmatch(dom)
	if m == nil {
		t.Fatalf("dumped page has no body[data-state]:\n%s", dom)
	}
	n := campaignTitle.FindStringSubmatch(dom)
	if n == nil {
		t.Fatalf("dumped page has no #campaign-name:\n%s", dom)
	}
	return m[1], html.UnescapeString(n[1])
}

func TestOverlayPageBrowser(t *testing.T) {
	t.Parallel()
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Skipf("browser test skipped: %s not found (CI installs Chromium; apt-get install chromium)", chromiumPath)
	}
	a := mustStartApp(t)

	t.Run("shows the slot's campaign and counts one impression over a reload", func(t *testing.T) {
		t.Parallel()
		a := a.in(t)
		brand, _, c, tok := a.overlayPageCampaign(overlayPageName)
		path := "/overlay/" + url.PathEscape(tok)
		for load := 1; load <= 2; load++ {
			dom := dumpOverlayPage(t, a, path)
			state, name := overlayPageView(t, dom)
			if state != "showing" || name != overlayPageName {
				t.Fatalf("load %d: data-state %q, #campaign-name %q; want showing, %q\n%s", load, state, name, overlayPageName, dom)
			}
			if strings.Contains(dom, "<b>") {
				t.Fatalf("load %d: the campaign's name became markup:\n%s", load, dom)
			}
			if !strings.Contains(dom, "/r/"+tok) {
				t.Errorf("load %d: the page does not show the click link /r/%s", load, tok)
			}
			// The impression is recorded before the page is dumped (virtual
			// time waits for the request), and only once however often the
			// page loads within the slot.
			if got := a.totals(brand, c.ID).Campaign.Stats.Impressions; got != 1 {
				t.Fatalf("after load %d: impressions = %d, want 1", load, got)
			}
		}
	})

	t.Run("an unknown token shows nothing", func(t *testing.T) {
		t.Parallel()
		a := a.in(t)
		state, name := overlayPageView(t, dumpOverlayPage(t, a, "/overlay/no-such-token"))
		if state != "error" || name != "" {
			t.Fatalf("data-state %q, #campaign-name %q; want error and no name", state, name)
		}
	})

	t.Run("a blackout period shows nothing", func(t *testing.T) {
		t.Parallel()
		a := a.in(t)
		brand, streamer, c, tok := a.overlayPageCampaign("Blacked out")
		// The test clock starts on Monday 2026-11-23 at 12:00 UTC.
		a.mustDo(streamer.Token, `mutation($input: UpdateCampaignSelectionSettingsInput!) {
		  updateCampaignSelectionSettings(input: $input) { id } }`, map[string]any{"input": map[string]any{
			"blackoutPeriods": []any{map[string]any{
				"daysOfWeek": []string{"MONDAY"}, "startTime": "11:00", "endTime": "13:00", "timezone": "UTC", "reason": "test",
			}},
		}}, nil)
		state, name := overlayPageView(t, dumpOverlayPage(t, a, "/overlay/"+url.PathEscape(tok)))
		if state != "empty" || name != "" {
			t.Fatalf("data-state %q, #campaign-name %q; want empty and no name", state, name)
		}
		if got := a.totals(brand, c.ID).Campaign.Stats.Impressions; got != 0 {
			t.Fatalf("impressions = %d during a blackout, want 0", got)
		}
	})
}
