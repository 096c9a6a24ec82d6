package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

const logInMutation = `mutation($e: String!, $p: String!) { logIn(input: {email: $e, password: $p}) { token } }`

// postGraphQL sends one GraphQL POST with headers and returns the raw
// response too, for its status and Retry-After.
func (a *testApp) postGraphQL(headers map[string]string, query string, vars map[string]any) (*http.Response, gqlResponse) {
	a.t.Helper()
	h := map[string]string{"Content-Type": "application/json"}
	for k, v := range headers {
		h[k] = v
	}
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	resp, raw := a.request(http.MethodPost, "/query", h, strings.NewReader(string(body)))
	return resp, decodeGraphQL(a.t, resp, raw)
}

// mustBeRateLimited checks a refused request: 429, a Retry-After of whole
// seconds, and a RATE_LIMITED error saying the same.
func mustBeRateLimited(t *testing.T, resp *http.Response, r gqlResponse) int {
	t.Helper()
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("status %d, want 429: %+v", resp.StatusCode, r.Errors)
	}
	secs, err := strconv.Atoi(resp.Header.Get("Retry-After"))
	if err != nil || secs < 1 {
		t.Fatalf("Retry-After %q, want whole seconds ≥ 1", resp.Header.Get("Retry-After"))
	}
	if len(r.Errors) == 0 || r.Errors[0].Code() != "RATE_LIMITED" || r.Errors[0].Extensions["retryAfter"] != float64(secs) {
		t.Fatalf("want RATE_LIMITED with retryAfter %d, got %+v", secs, r.Errors)
	}
	return secs
}

// TestLogInGuessing: wrong passwords on one account are slowed to the
// documented rate (10 at once, then one every 90 s), RATE_LIMITED with
// Retry-After before any password is checked, and the owner gets in once the
// bucket refills: no one is locked out for good.
func TestLogInGuessing(t *testing.T) {
	// "" is unset: the documented defaults apply.
	a := mustStartApp(t, withEnv(map[string]string{"LOGIN_LIMIT_PER_ACCOUNT": "", "LOGIN_LIMIT_PER_ADDRESS": ""}))
	u := a.mustSignUp("STREAMER")

	wrong, limited := 0, 0
	var lastResp *http.Response
	var last gqlResponse
	for i := range 2000 {
		resp, r := a.postGraphQL(nil, logInMutation, map[string]any{"e": u.Email, "p": fmt.Sprintf("guess-%04d", i)})
		switch {
		case len(r.Errors) == 1 && r.Errors[0].Code() == "UNAUTHENTICATED":
			wrong++
		case len(r.Errors) == 1 && r.Errors[0].Code() == "RATE_LIMITED":
			limited++
			lastResp, last = resp, r
		default:
			t.Fatalf("attempt %d: %d %+v", i, resp.StatusCode, r.Errors)
		}
	}
	if wrong != 10 || limited != 1990 {
		t.Errorf("2000 wrong passwords: %d checked, %d RATE_LIMITED; want 10 and 1990", wrong, limited)
	}
	if secs := mustBeRateLimited(t, lastResp, last); secs > 90 {
		t.Errorf("Retry-After %d s, want at most 90", secs)
	}

	t.Run("RightPasswordRefusedWhileLimited", func(t *testing.T) {
		resp, r := a.in(t).postGraphQL(nil, logInMutation, map[string]any{"e": u.Email, "p": "correct horse"})
		mustBeRateLimited(t, resp, r)
	})
	t.Run("OwnerGetsInAfterTheWait", func(t *testing.T) {
		a.clock.Advance(90 * time.Second)
		a.in(t).mustLogIn(u.Email, "correct horse")
		// The success reset the account's count: the owner's next typo is
		// not punished for the attacker's guesses.
		a.in(t).mustFail("", logInMutation, map[string]any{"e": u.Email, "p": "typo typo"}, "UNAUTHENTICATED", "")
	})
}

// TestLogInPerAddress: one address guessing across many accounts is limited
// too; X-Forwarded-For counts only from a trusted proxy.
func TestLogInPerAddress(t *testing.T) {
	guess := func(a *testApp, xff string, i int) (*http.Response, gqlResponse) {
		return a.postGraphQL(map[string]string{"X-Forwarded-For": xff}, logInMutation,
			map[string]any{"e": fmt.Sprintf("nobody-%d@example.com", i), "p": "12345678"})
	}
	t.Run("SpoofedForwardedForIgnored", func(t *testing.T) {
		a := mustStartApp(t, withEnv(map[string]string{"LOGIN_LIMIT_PER_ADDRESS": "5/15m"}))
		for i := range 5 {
			if _, r := guess(a, fmt.Sprintf("203.0.113.%d", i), i); len(r.Errors) != 1 || r.Errors[0].Code() != "UNAUTHENTICATED" {
				t.Fatalf("attempt %d: %+v", i, r.Errors)
			}
		}
		resp, r := guess(a, "203.0.113.99", 99)
		mustBeRateLimited(t, resp, r)
	})
	t.Run("TrustedProxy", func(t *testing.T) {
		a := mustStartApp(t, withEnv(map[string]string{"LOGIN_LIMIT_PER_ADDRESS": "5/15m", "TRUSTED_PROXIES": "127.0.0.1"}))
		for i := range 20 { // twenty clients behind the proxy: each has its own budget
			if _, r := guess(a, fmt.Sprintf("198.51.100.7, 203.0.113.%d", i), i); len(r.Errors) != 1 || r.Errors[0].Code() != "UNAUTHENTICATED" {
				t.Fatalf("attempt %d: %+v", i, r.Errors)
			}
		}
		for i := range 5 {
			guess(a, "203.0.113.200", 100+i)
		}
		resp, r := guess(a, "203.0.113.200", 200)
		mustBeRateLimited(t, resp, r)
	})
}

// TestSignUpsPerAddress: the default allows 10 sign-ups an hour from one
// address.
func TestSignUpsPerAddress(t *testing.T) {
	a := mustStartApp(t, withEnv(map[string]string{"SIGNUP_LIMIT_PER_ADDRESS": ""}))
	for range 10 {
		a.mustSignUp("STREAMER")
	}
	resp, r := a.postGraphQL(nil, signUpMutation, map[string]any{"input": map[string]any{
		"email": "one-more@example.com", "password": "correct horse", "displayName": "More", "role": "STREAMER"}})
	if secs := mustBeRateLimited(t, resp, r); secs > 360 {
		t.Errorf("Retry-After %d s, want at most 360 (one sign-up every 6 minutes)", secs)
	}
	a.clock.Advance(6 * time.Minute)
	a.mustSignUp("STREAMER")
}

// TestTokenEndpointLimits: the requests a browser source token opens are
// limited per token and per address, on every transport.
func TestTokenEndpointLimits(t *testing.T) {
	setup := func(t *testing.T, env map[string]string) (*testApp, string) {
		a := mustStartApp(t, withEnv(env))
		brand := a.mustSignUp("BRAND")
		c := a.mustActiveCampaign(brand, "Limited")
		return a, token(t, a.mustJoin(a.mustSignUp("STREAMER"), c.ID))
	}
	const click = `mutation($t: String!) { recordClick(input: {browserSourceToken: $t}) { isNew } }`
	const impression = `mutation($t: String!) { recordImpression(browserSourceToken: $t) { isNew } }`

	t.Run("PerToken", func(t *testing.T) {
		a, tok := setup(t, map[string]string{"TOKEN_LIMIT_PER_TOKEN": "4/1m"})
		a = a.in(t)
		if resp := a.get(t, "/r/"+tok); resp.StatusCode != http.StatusFound {
			t.Fatalf("/r/: %d", resp.StatusCode)
		}
		if resp, _ := a.request(http.MethodGet, "/overlay/"+tok, nil, nil); resp.StatusCode != http.StatusOK {
			t.Fatalf("/overlay/: %d", resp.StatusCode)
		}
		a.mustDo("", click, map[string]any{"t": tok}, nil)
		a.overlay(tok)
		for _, q := range []string{click, impression, overlayQuery} {
			resp, r := a.postGraphQL(nil, q, map[string]any{"t": tok})
			mustBeRateLimited(t, resp, r)
		}
		for _, path := range []string{"/r/" + tok, "/overlay/" + tok} {
			resp := a.get(t, path)
			if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
				t.Errorf("%s: %d, Retry-After %q; want 429 with Retry-After", path[:3], resp.StatusCode, resp.Header.Get("Retry-After"))
			}
		}
		// The browser source reloads itself after the wait rather than stay blank.
		resp, body := a.request(http.MethodGet, "/overlay/"+tok, nil, nil)
		if want := `<meta http-equiv="refresh" content="` + resp.Header.Get("Retry-After") + `">`; !strings.Contains(string(body), want) {
			t.Errorf("overlay page when limited: %s, want it to contain %s", body, want)
		}
		a.clock.Advance(15 * time.Second) // 4 a minute: one more
		a.mustDo("", click, map[string]any{"t": tok}, nil)
	})
	t.Run("PerAddress", func(t *testing.T) {
		a, tok := setup(t, map[string]string{"TOKEN_LIMIT_PER_ADDRESS": "3/1m"})
		a = a.in(t)
		a.get(t, "/r/unknown-1")
		a.get(t, "/r/unknown-2")
		a.mustDo("", click, map[string]any{"t": tok}, nil)
		resp, r := a.postGraphQL(nil, click, map[string]any{"t": tok})
		mustBeRateLimited(t, resp, r)
	})
	t.Run("DefaultsAllowAnOverlay", func(t *testing.T) {
		a, tok := setup(t, map[string]string{"TOKEN_LIMIT_PER_TOKEN": "", "TOKEN_LIMIT_PER_ADDRESS": ""})
		a = a.in(t)
		for range 100 {
			a.overlay(tok)
		}
	})
}

// get sends a GET without following redirects.
func (a *testApp) get(t *testing.T, path string) *http.Response {
	t.Helper()
	c := *a.srv.Client()
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := c.Get(a.srv.URL + path)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	resp.Body.Close()
	return resp
}
