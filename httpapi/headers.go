package httpapi

import (
	"net/http"
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
		// Shared, never-modified value slices: Set would allocate one per
		// header per response (Header.Set replaces a slice and Add copies
		// it before appending, so sharing is safe).
		h["X-Content-Type-Options"] = hdrNosniff
		h["X-Frame-Options"] = hdrDeny
		h["Referrer-Policy"] = hdrNoReferrer
		h["Content-Security-Policy"] = hdrAPICSP
		h["Cross-Origin-Opener-Policy"] = hdrSameOrigin
		// No answer is for a shared cache or the browser's: GraphQL
		// answers are per caller and per moment (authenticated or not: the
		// overlay's rotates with its slot), as Apollo Server's default.
		// GraphiQL's static assets set their own.
		h["Cache-Control"] = hdrNoStore
		next.ServeHTTP(w, r)
	})
}

var (
	hdrNosniff    = []string{"nosniff"}
	hdrDeny       = []string{"DENY"}
	hdrNoReferrer = []string{"no-referrer"}
	hdrAPICSP     = []string{apiCSP}
	hdrSameOrigin = []string{"same-origin"}
	hdrNoStore    = []string{"no-store"}
)
