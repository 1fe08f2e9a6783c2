// Package service assembles the fx graph of `naq-events serve` from the
// modules of app/: config, logging, embedded NATS, natsconn, storage,
// processing, eventlog (the logger), metrics and httpapi.
//
// Stop hooks run in reverse start order, and each module's hook is
// registered when its value is made, after its dependencies'. The
// dependencies are chosen so that the service stops in this order, each step
// within the fx stop deadline:
//
//  1. HTTP intake (httpapi depends on the logger): streams end, requests finish;
//  2. the logger drains into the store (eventlog depends on the processor,
//     so the processor still consumes its last events);
//  3. the processor stops (it depends on the store);
//  4. the store closes (it depends on the NATS connection);
//  5. the NATS connection drains (it depends on the embedded server);
//  6. the embedded server shuts down.
package service

import (
	"go.uber.org/fx"

	"github.com/naq-go/events/app/config"
	"github.com/naq-go/events/app/embedded"
	"github.com/naq-go/events/app/eventlog"
	"github.com/naq-go/events/app/httpapi"
	"github.com/naq-go/events/app/logging"
	"github.com/naq-go/events/app/metrics"
	"github.com/naq-go/events/app/natsconn"
	"github.com/naq-go/events/app/processing"
	"github.com/naq-go/events/app/storage"
)

// Options returns the modules of the service for cfg, which should have
// passed Validate. NATS (embedded when cfg.NATS.URL is empty, with its
// connection) and the processor are part of the graph only with JetStream
// storage; memory and file storage run without NATS.
func Options(cfg config.Config) fx.Option {
	opts := []fx.Option{
		config.Module(cfg),
		logging.Module,
		storage.Module(cfg.Storage),
		eventlog.Module,
		metrics.Module,
		httpapi.Module,
	}
	if UsesNATS(cfg) {
		if cfg.Embedded() {
			opts = append(opts, embedded.Module)
		}
		opts = append(opts, natsconn.Module, processing.Module)
	}
	return fx.Options(opts...)
}

// UsesNATS reports whether the service connects to NATS for cfg.
func UsesNATS(cfg config.Config) bool { return cfg.Storage == config.StorageJetStream }
