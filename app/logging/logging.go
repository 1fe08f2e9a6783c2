// Package logging builds the process's log/slog logger from config.Log and
// provides it to the fx graph, which logs its own events through it at
// debug level.
package logging

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"go.uber.org/fx"
	"go.uber.org/fx/fxevent"

	"github.com/naq-go/events/app/config"
)

// ErrConfig marks a log setting that cannot work.
var ErrConfig = errors.New("bad log setting")

// New returns a slog.Logger writing to w as text or JSON at cfg.Level.
func New(cfg config.Log, w io.Writer) (*slog.Logger, error) {
	var level slog.Level
	switch strings.ToLower(cfg.Level) {
	case "debug":
		level = slog.LevelDebug
	case "info", "":
		level = slog.LevelInfo
	case "warn", "warning":
		level = slog.LevelWarn
	case "error":
		level = slog.LevelError
	default:
		return nil, fmt.Errorf("%w: --log-level %q: want debug, info, warn or error", ErrConfig, cfg.Level)
	}
	opts := &slog.HandlerOptions{Level: level}
	switch cfg.Format {
	case "text", "":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	default:
		return nil, fmt.Errorf("%w: --log-format %q: want text or json", ErrConfig, cfg.Format)
	}
}

// Output is where the process logs; the default Module writes to os.Stderr.
type Output struct{ io.Writer }

// Module provides *slog.Logger from config.Config, writing to the Output
// in the graph, or os.Stderr when there is none.
var Module = fx.Module("logging",
	fx.Provide(func(p struct {
		fx.In
		Cfg config.Config
		Out *Output `optional:"true"`
	}) (*slog.Logger, error) {
		var w io.Writer = os.Stderr
		if p.Out != nil && p.Out.Writer != nil {
			w = p.Out.Writer
		}
		return New(p.Cfg.Log, w)
	}),
)

// FxEvents routes fx's own events, errors included, to the graph's
// *slog.Logger at debug level: a failure reaches the user once, as the
// command's error line. Give it at the root of the graph: fx.WithLogger
// only applies to the module it is in.
var FxEvents = fx.WithLogger(func(l *slog.Logger) fxevent.Logger {
	fl := &fxevent.SlogLogger{Logger: l}
	fl.UseLogLevel(slog.LevelDebug)
	fl.UseErrorLevel(slog.LevelDebug)
	return fl
})
