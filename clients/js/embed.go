// Package jsclient embeds switchboard.js, the browser client, so every
// gateway can serve it at /switchboard.js.
package jsclient

import (
	_ "embed"
	"net/http"
)

//go:embed switchboard.js
var source []byte

// Handler serves switchboard.js as a JavaScript module.
func Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
		w.Header().Set("Cache-Control", "no-cache")
		_, _ = w.Write(source)
	})
}
