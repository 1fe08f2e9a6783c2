package metrics

import (
	"log/slog"

	"github.com/nats-io/nats.go"
	"go.uber.org/fx"

	"github.com/naq-go/events/adapters/jsstore"
	"github.com/naq-go/events/app/eventlog"
	"github.com/naq-go/events/app/processing"
	"github.com/naq-go/events/domain/logger"
	"github.com/naq-go/events/domain/processor"
)

// Sources are what the module's metrics read; each is optional.
type Sources struct {
	fx.In
	Logger     *logger.Logger          `optional:"true"`
	Processor  *processor.Processor    `optional:"true"`
	Conn       *nats.Conn              `optional:"true"`
	TypeCounts *processing.TypeCounts  `optional:"true"`
	Lag        *processing.ConsumerLag `optional:"true"`
	Log        *slog.Logger            `optional:"true"`
	JetStream  *jsstore.Store          `optional:"true"` // the stream's cluster series

}

// Module provides *Metrics, also as the eventlog.BatchObserver that times
// the logger's batches, and registers every source found in the graph.
var Module = fx.Module("metrics",
	fx.Provide(fx.Annotate(New, fx.As(new(eventlog.BatchObserver)), fx.As(fx.Self()))),
	fx.Invoke(Register),
)

// Register adds the sources present to m.
func Register(m *Metrics, s Sources) {
	if s.Logger != nil {
		m.Logger(s.Logger)
	}
	if s.Processor != nil {
		var lag LagSource
		if s.Lag != nil {
			lag = s.Lag
		}
		m.Processor(s.Processor, lag, s.Log)
	}
	if s.Conn != nil {
		m.NATS(s.Conn)
	}
	if s.JetStream != nil {
		m.Cluster(s.JetStream, s.Log)
	}
	if s.TypeCounts != nil {
		m.TypeCounts(s.TypeCounts.Snapshot)
	}
}
