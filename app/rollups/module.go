package rollups

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/nats-io/nats.go"
	"go.uber.org/fx"

	"github.com/naq-go/events/adapters/jsrollup"
	"github.com/naq-go/events/app/config"
	"github.com/naq-go/events/app/httpapi"
	"github.com/naq-go/events/app/shutdown"
	"github.com/naq-go/events/domain/rollup"
	"github.com/naq-go/events/ports"
)

// Bucket returns the key-value bucket that keeps the rollups of the
// stream named stream: "<stream>_rollups" (naq_events_rollups by default),
// so that two streams on one server never share rollups.
func Bucket(stream string) string { return stream + "_rollups" }

// Params are the dependencies of the module.
type Params struct {
	fx.In
	Lifecycle fx.Lifecycle
	Seq       *shutdown.Sequence
	Config    config.Config
	Log       *slog.Logger
	Store     ports.Store
	Conn      *nats.Conn `optional:"true"`
	Options   []Option   `group:"rollups"`
}

// Module provides the *Keeper as a rollup.Reader, and hands it to the HTTP
// API (GET /api/v1/stats, counts from rollups). With JetStream storage it
// reads the stream directly and keeps its state in the bucket
// Bucket(cfg.Stream.Name); with memory or file storage it reads the store
// and keeps the rollups in memory. It starts with the app and stops at step
// shutdown.Rollups: after the logger has drained (so the last events are
// applied and saved), before the store closes. Extra options can be given
// with the value group "rollups".
var Module = fx.Module("rollups",
	fx.Provide(
		NewFromGraph,
		func(k *Keeper) rollup.Reader { return k },
		fx.Annotate(func(k *Keeper) httpapi.Option { return httpapi.WithRollups(k) }, fx.ResultTags(`group:"httpapi"`)),
	),
	// The keeper runs whether or not anything else asks for it.
	fx.Invoke(func(*Keeper) {}),
)

// NewFromGraph builds the keeper for the fx graph, hooks its start to the
// lifecycle and its stop to the shutdown sequence.
func NewFromGraph(p Params) (*Keeper, error) {
	opts := append([]Option{WithSlog(p.Log)}, p.Options...)
	var k *Keeper
	if p.Config.Storage == config.StorageJetStream {
		if p.Conn == nil {
			return nil, fmt.Errorf("rollups over JetStream need a NATS connection in the graph (module natsconn)")
		}
		ctx, cancel := context.WithTimeout(context.Background(), p.Config.NATS.ConnectTimeout+jsrollup.DefaultTimeout)
		defer cancel()
		log, err := jsrollup.NewLog(ctx, p.Conn, p.Config.Stream.Name)
		if err != nil {
			return nil, fmt.Errorf("rollups: %w", err)
		}
		state, err := jsrollup.NewState(ctx, p.Conn, true,
			jsrollup.WithBucket(Bucket(p.Config.Stream.Name)), jsrollup.WithReplicas(p.Config.Stream.Replicas))
		if err != nil {
			return nil, fmt.Errorf("rollups: %w", err)
		}
		k = New(log, state, opts...)
	} else {
		k = New(StoreSource{Store: p.Store}, nil, opts...)
	}
	p.Lifecycle.Append(fx.StartHook(k.Start))
	p.Seq.Add(shutdown.Rollups, k.Stop)
	return k, nil
}
