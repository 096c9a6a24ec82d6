package httpapi

import (
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
)

// apiCSP is the policy of every response but GraphiQL and the overlay page
// (which set their own): JSON and small error pages need nothing loaded,
// framed or submitted.
const apiCSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"

// securityHeaders gives every response the headers that keep it from being
// framed, sniffed into another type, or leaking its URL in a Referer, and a
// Content-Security-Policy that a handler may replace with its own (the
// overlay page and GraphiQL do), and Cache-Control: no-store.
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Content-Security-Policy", apiCSP)
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		// No answer is for a shared cache or the browser's: GraphQL
		// answers are per caller and per moment (authenticated or not: the
		// overlay's rotates with its slot), as Apollo Server's default.
		// GraphiQL's static assets set their own.
		h.Set("Cache-Control", "no-store")
		next.ServeHTTP(w, r)
	})
}

// graphiQL serves gqlgen's GraphiQL page with a policy that allows exactly
// what it loads: its scripts and styles from cdn.jsdelivr.net (each pinned
// by gqlgen with subresource integrity), its one inline script by hash, and
// requests to this origin. The hash is taken from the page itself at start-
// up, so a gqlgen upgrade that changes the script cannot break the page.
func graphiQL(page http.Handler) http.Handler {
	rec := httptest.NewRecorder()
	page.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	hashes := inlineScriptHashes(rec.Body.String())
	csp := "default-src 'none'; " +
		"script-src https://cdn.jsdelivr.net " + strings.Join(hashes, " ") + "; " +
		"style-src https://cdn.jsdelivr.net 'unsafe-inline'; " +
		"font-src https://cdn.jsdelivr.net data:; " +
		"img-src 'self' data: https://cdn.jsdelivr.net; " +
		"connect-src 'self'; " +
		"worker-src 'self' blob:; " +
		"frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", csp)
		page.ServeHTTP(w, r)
	})
}

var inlineScript = regexp.MustCompile(`(?s)<script>(.*?)</script>`)

// inlineScriptHashes returns the CSP source of each inline script of page.
func inlineScriptHashes(page string) []string {
	var out []string
	for _, m := range inlineScript.FindAllStringSubmatch(page, -1) {
		sum := sha256.Sum256([]byte(m[1]))
		out = append(out, "'sha256-"+base64.StdEncoding.EncodeToString(sum[:])+"'")
	}
	return out
}
