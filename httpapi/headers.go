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
