package dashboard

import (
	"log/slog"

	"go.uber.org/fx"

	"github.com/naq-go/events/app/httpapi"
	"github.com/naq-go/events/domain/rollup"
	"github.com/naq-go/events/ports"
)

// Params are the dependencies of the module.
type Params struct {
	fx.In
	Store   ports.Store
	Rollups rollup.Reader
	Log     *slog.Logger
	Options []Option `group:"dashboard"`
}

// Module provides the *Dashboard and mounts it at / of the HTTP API (an
// httpapi.WithUI option in the value group "httpapi"), so it is served
// wherever the API is, behind whatever wraps the API's handler. It needs a
// rollup.Reader in the graph (the rollups module). Extra options can be
// given with the value group "dashboard".
var Module = fx.Module("dashboard",
	fx.Provide(
		NewFromGraph,
		fx.Annotate(func(d *Dashboard) httpapi.Option { return httpapi.WithUI(d) }, fx.ResultTags(`group:"httpapi"`)),
	),
)

// NewFromGraph builds the dashboard for the fx graph.
func NewFromGraph(p Params) (*Dashboard, error) {
	return New(p.Store, p.Rollups, append([]Option{WithSlog(p.Log)}, p.Options...)...)
}
