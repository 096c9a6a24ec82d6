package httpapi

import (
	"bytes"
	"crypto/rand"
	_ "embed"
	"encoding/base64"
	"html/template"
	"net/http"
	"strconv"
)

//go:embed overlay.html
var overlayHTML string

// overlayPage is the overlay page; its one parameter is the response's CSP
// nonce. Parsed once: a broken page fails at start-up, not per request.
var overlayPage = template.Must(template.New("overlay").Parse(overlayHTML))

// overlayPageHandler serves GET /overlay/{browserSourceToken}, the page a
// streamer adds to OBS as a browser source. The page is the same for every
// token: its script reads the token from location.pathname and asks /query
// for the current slot (the overlay query), records the slot's impression
// (recordImpression) and asks again when the slot ends. The token is never
// templated into the page, so there is nothing to inject into it.
//
// The handler does not look the token up and answers 200 even for an
// unknown one: a browser source shows whatever body an error status carries
// on the live stream, and never reloads by itself, so an error page (or a
// 5xx while the store is briefly down) would stay on screen. The page
// instead shows nothing (body data-state="error") and keeps asking slowly.
//
// Everything is inline, allowed by a per-response nonce; the page makes no
// request but to /query on its own origin. The token in the URL never
// leaves in a Referer header, and the response is never cached.
func overlayPageHandler(d Deps) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		nonce := newNonce()
		var body bytes.Buffer
		if err := overlayPage.Execute(&body, struct{ Nonce string }{nonce}); err != nil {
			d.Log.ErrorContext(r.Context(), "overlay page failed", "request_id", RequestID(r.Context()), "err", err.Error())
			http.Error(w, "Internal error.", http.StatusInternalServerError)
			return
		}
		h := w.Header()
		h.Set("Content-Type", "text/html; charset=utf-8")
		h.Set("Content-Security-Policy", overlayCSP(nonce))
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "no-store")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Robots-Tag", "noindex")
		h.Set("Content-Length", strconv.Itoa(body.Len()))
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(body.Bytes())
	}
}

// overlayCSP allows the page's own inline script and style (by nonce), its
// GraphQL calls to its own origin, and nothing else: no other script, style,
// image, font, frame, form or base URL, and no DOM sinks that take HTML
// (Trusted Types with no policy: the page writes text with textContent only).
func overlayCSP(nonce string) string {
	return "default-src 'none'; " +
		"script-src 'nonce-" + nonce + "'; " +
		"style-src 'nonce-" + nonce + "'; " +
		"connect-src 'self'; " +
		"base-uri 'none'; " +
		"form-action 'none'; " +
		"frame-ancestors 'none'; " +
		"require-trusted-types-for 'script'; " +
		"trusted-types 'none'"
}

// newNonce returns 128 random bits, base64url so that it needs no escaping
// in an HTML attribute or the CSP header.
func newNonce() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand crashes the program instead)
	return base64.RawURLEncoding.EncodeToString(b[:])
}
