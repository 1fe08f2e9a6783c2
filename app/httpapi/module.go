package httpapi

import (
	"log/slog"

	"github.com/nats-io/nats.go"
	"go.uber.org/fx"

	"github.com/naq-go/events/app/config"
	"github.com/naq-go/events/app/metrics"
	"github.com/naq-go/events/app/shutdown"
	"github.com/naq-go/events/domain/logger"
	"github.com/naq-go/events/ports"
)

// Params are the dependencies of the module.
type Params struct {
	fx.In
	Lifecycle fx.Lifecycle
	Shutdown  *shutdown.Sequence
	Config    config.Config
	Log       *slog.Logger
	Store     ports.Store
	Logger    *logger.Logger   `optional:"true"`
	Conn      *nats.Conn       `optional:"true"`
	Metrics   *metrics.Metrics `optional:"true"`
	Options   []Option         `group:"httpapi"`
}

// Module provides the *API and, unless cfg.HTTP.Addr is empty, a *Server on
// it that is started with the app and stopped at step shutdown.HTTP: intake
// stops before the logger drains. Extra options can be given with the value
// group "httpapi".
var Module = fx.Module("httpapi",
	fx.Provide(NewFromGraph),
	fx.Invoke(func(*Server) {}),
)

// NewFromGraph builds the API and its server for the fx graph; the *Server
// is nil when the HTTP API is disabled.
func NewFromGraph(p Params) (*API, *Server) {
	opts := []Option{WithSlog(p.Log)}
	if p.Logger != nil {
		opts = append(opts, WithEventLogger(p.Logger))
	}
	if p.Conn != nil {
		opts = append(opts, WithNATS(p.Conn))
	}
	if p.Metrics != nil {
		opts = append(opts, WithMetrics(p.Metrics.Handler()))
	}
	api := New(p.Store, append(opts, p.Options...)...)
	if p.Config.HTTP.Addr == "" {
		return api, nil
	}
	srv := NewServer(p.Config.HTTP.Addr, api, p.Log, WithSecurity(p.Config.HTTP.HTTPSecurity))
	p.Lifecycle.Append(fx.StartHook(srv.Start))
	p.Shutdown.Add(shutdown.HTTP, srv.Stop)
	return api, srv
}
