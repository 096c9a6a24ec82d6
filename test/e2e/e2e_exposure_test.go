package e2e

import (
	"net/http"
	"regexp"
	"strings"
	"testing"
)

// TestSecurityHeaders: every page and the API are neither frameable nor
// sniffable and leak no Referer; GraphiQL's policy allows exactly its own
// inline script.
func TestSecurityHeaders(t *testing.T) {
	a := mustStartApp(t)
	for _, tc := range []struct{ method, path, body string }{
		{http.MethodGet, "/", ""},
		{http.MethodPost, "/query", gqlBody(`{ __typename }`)},
		{http.MethodPost, "/query", "not json"},
		{http.MethodGet, "/query?query=%7B__typename%7D", ""},
		{http.MethodGet, "/healthz", ""},
		{http.MethodGet, "/readyz", ""},
		{http.MethodGet, "/overlay/some-token", ""},
		{http.MethodGet, "/r/some-token", ""},
		{http.MethodGet, "/postback", ""},
		{http.MethodGet, "/no-such-page", ""},
	} {
		resp, _ := a.request(tc.method, tc.path, jsonHeaders, strings.NewReader(tc.body))
		h := resp.Header
		if h.Get("X-Content-Type-Options") != "nosniff" || h.Get("X-Frame-Options") != "DENY" || h.Get("Referrer-Policy") != "no-referrer" ||
			!strings.Contains(h.Get("Content-Security-Policy"), "frame-ancestors 'none'") {
			t.Errorf("%s %s: headers %v", tc.method, tc.path, h)
		}
	}

	t.Run("GraphiQLPolicy", func(t *testing.T) {
		resp, body := a.in(t).request(http.MethodGet, "/", nil, nil)
		csp := resp.Header.Get("Content-Security-Policy")
		if !strings.Contains(csp, "script-src 'self';") || strings.Contains(csp, "'unsafe-eval'") ||
			!strings.Contains(csp, "connect-src 'self'") || strings.Contains(csp, "http") {
			t.Fatalf("CSP: %s", csp)
		}
		if regexp.MustCompile(`(?s)<script>`).Match(body) {
			t.Fatal("GraphiQL's page has an inline script")
		}
	})
}

// TestCampaignURLsMustBePublic: landing and postback URLs on loopback,
// private, link-local and other non-public addresses are refused on save,
// unless ALLOW_PRIVATE_URLS says otherwise.
func TestCampaignURLsMustBePublic(t *testing.T) {
	a := mustStartApp(t, withEnv(map[string]string{"ALLOW_PRIVATE_URLS": "false"}))
	brand := a.mustSignUp("BRAND")
	public := "https://93.184.215.14/offer?click={click_id}"
	input := func(landing, postback string) map[string]any {
		in := campaignInput("Addresses")
		in["landingUrl"], in["postbackUrl"] = landing, postback
		return map[string]any{"input": in}
	}
	private := []string{
		"http://127.0.0.1/", "http://localhost:8080/admin", "http://10.1.2.3/", "http://192.168.0.1/",
		"http://172.16.5.4/", "http://169.254.169.254/latest/meta-data/", "http://[::1]/", "http://[fd00::1]/",
		"http://[fe80::1]/", "http://0.0.0.0/", "http://100.64.0.1/", "http://[::ffff:127.0.0.1]/",
		"https://does-not-exist.invalid/",
	}
	for _, u := range private {
		a.mustFail(brand.Token, createCampaignMutation, input(u, public), "BAD_USER_INPUT", "input.landingUrl")
		a.mustFail(brand.Token, createCampaignMutation, input(public, u), "BAD_USER_INPUT", "input.postbackUrl")
	}
	var d struct{ CreateCampaign campaignData }
	a.mustDo(brand.Token, createCampaignMutation, input(public, public), &d)
	a.mustFail(brand.Token, updateCampaignMutation, map[string]any{"id": d.CreateCampaign.ID,
		"input": map[string]any{"postbackUrl": "http://10.0.0.7/pb"}}, "BAD_USER_INPUT", "input.postbackUrl")

	t.Run("AllowedBySetting", func(t *testing.T) {
		b := mustStartApp(t, withEnv(map[string]string{"ALLOW_PRIVATE_URLS": "true"}))
		brand := b.mustSignUp("BRAND")
		b.mustDo(brand.Token, createCampaignMutation, input("http://127.0.0.1:9000/", "http://10.0.0.7/pb"), nil)
	})
}
