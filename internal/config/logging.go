package config

import (
	"io"
	"log/slog"
	"os"
)

// NewLogger builds the process logger from the log configuration,
// writing to w (nil: standard error).
func (c LogConfig) NewLogger(w io.Writer) *slog.Logger {
	if w == nil {
		w = os.Stderr
	}
	var level slog.Level
	_ = level.UnmarshalText([]byte(c.Level))
	opts := &slog.HandlerOptions{Level: level}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
