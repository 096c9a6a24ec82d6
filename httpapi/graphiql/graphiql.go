// Package graphiql serves GraphiQL, the in-browser GraphQL IDE, entirely
// from the binary: the page, its starter script and style, and the browser
// builds of GraphiQL and React in dist/, which web/build.mjs
// produces from the npm packages pinned in web/package-lock.json
// (CI rebuilds them and fails on a difference). Nothing is fetched from
// another origin, so it works offline.
package graphiql

import (
	"embed"
	"io/fs"
	"net/http"
	"strings"
)

//go:embed index.html tally-graphiql.js tally-graphiql.css dist
var files embed.FS

// CSP is the page's Content-Security-Policy: scripts, styles, fonts and
// images from this origin only (GraphiQL's fonts and icons are data: URIs,
// and React sets style attributes), requests to this origin, no framing.
const CSP = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; font-src 'self' data:; " +
	"img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"

// Page serves the GraphiQL page.
func Page() http.Handler {
	page, err := files.ReadFile("index.html")
	if err != nil {
		panic(err)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Type", "text/html; charset=utf-8")
		h.Set("Content-Security-Policy", CSP)
		h.Set("Cache-Control", "no-cache")
		_, _ = w.Write(page)
	})
}

// Assets serves the page's scripts and styles under prefix (for example
// "/graphiql/"). They change only with the binary: browsers may keep them
// an hour.
func Assets(prefix string) http.Handler {
	dist, _ := fs.Sub(files, "dist")
	own := http.FileServerFS(files)
	lib := http.FileServerFS(dist)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := strings.TrimPrefix(r.URL.Path, prefix)
		if strings.Contains(name, "/") || !(strings.HasSuffix(name, ".js") || strings.HasSuffix(name, ".css") || strings.HasSuffix(name, ".txt")) {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Cache-Control", "public, max-age=3600")
		r2 := r.Clone(r.Context())
		r2.URL.Path = "/" + name
		if strings.HasPrefix(name, "tally-graphiql.") {
			own.ServeHTTP(w, r2)
			return
		}
		lib.ServeHTTP(w, r2)
	})
}
