// Package admin is the live admin page served at /admin by a gateway that
// runs the api role: gateways, workers, connections and messages over the
// last minutes, groups, uid lookup, a client's session, and kick. It is a
// static page that calls the HTTP API with a token the operator types in,
// so it sees exactly what the token allows.
package admin

import (
	"embed"
	"fmt"
	"io/fs"
	"net/http"
)

//go:embed static
var static embed.FS

// Handler serves the page under prefix (e.g. "/admin/").
func Handler(prefix string) (http.Handler, error) {
	sub, err := fs.Sub(static, "static")
	if err != nil {
		return nil, fmt.Errorf("admin page: %w", err)
	}
	return http.StripPrefix(prefix, http.FileServerFS(sub)), nil
}
