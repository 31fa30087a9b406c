// Package admin is the live admin page served at /admin by a gateway that
// runs the api role: gateways, workers, connections and messages over the
// last minutes, groups, uid lookup, a client's session, and kick. It is a
// static page that calls the HTTP API with a token the operator types in,
// so it sees exactly what the token allows.
package admin

import (
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"fmt"
	"io/fs"
	"net/http"
	"regexp"
	"strings"
)

//go:embed static
var static embed.FS

// inline finds the page's inline scripts and styles, which the
// Content-Security-Policy allows by hash.
var inline = regexp.MustCompile(`(?s)<(script|style)[^>]*>(.*?)</(?:script|style)>`)

// Handler serves the page under prefix (e.g. "/admin/"), with a
// Content-Security-Policy that allows only the page's own inline script
// and style and calls to its own origin, and X-Frame-Options: DENY: the
// page holds an API token and must not be framed or run injected code.
func Handler(prefix string) (http.Handler, error) {
	sub, err := fs.Sub(static, "static")
	if err != nil {
		return nil, fmt.Errorf("admin page: %w", err)
	}
	csp, err := policy(sub)
	if err != nil {
		return nil, err
	}
	files := http.StripPrefix(prefix, http.FileServerFS(sub))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", csp)
		h.Set("X-Frame-Options", "DENY")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "no-store")
		files.ServeHTTP(w, r)
	}), nil
}

// policy builds the Content-Security-Policy of the page in fsys.
func policy(fsys fs.FS) (string, error) {
	page, err := fs.ReadFile(fsys, "index.html")
	if err != nil {
		return "", fmt.Errorf("admin page: %w", err)
	}
	hashes := map[string][]string{}
	for _, m := range inline.FindAllSubmatch(page, -1) {
		sum := sha256.Sum256(m[2])
		hashes[string(m[1])] = append(hashes[string(m[1])], "'sha256-"+base64.StdEncoding.EncodeToString(sum[:])+"'")
	}
	src := func(kind string) string {
		if len(hashes[kind]) == 0 {
			return "'none'"
		}
		return strings.Join(hashes[kind], " ")
	}
	return "default-src 'none'; script-src " + src("script") + "; style-src " + src("style") +
		"; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'", nil
}
