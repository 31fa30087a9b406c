package chat

import (
	"embed"
	"fmt"
	"io/fs"
)

// Static holds the chat demo's web page, served by the gateway at "/".
//
//go:embed static
var Static embed.FS

// StaticFS returns the page's files with "static/" stripped.
func StaticFS() (fs.FS, error) {
	sub, err := fs.Sub(Static, "static")
	if err != nil {
		return nil, fmt.Errorf("chat page: %w", err)
	}
	return sub, nil
}
