// Package service assembles the fx graph of `naq-events serve` from the
// modules of app/: config, logging, shutdown, embedded NATS, natsconn,
// storage, processing, eventlog (the logger), metrics and httpapi.
//
// The stop order is not implied by the graph: it is written down once, in
// shutdown.Order (HTTP → logger → processor → store → NATS → embedded
// server), and run by the one stop hook of shutdown.Module, to which each
// module hands its stop function. See package shutdown.
package service

import (
	"go.uber.org/fx"

	"github.com/naq-go/events/app/config"
	"github.com/naq-go/events/app/dashboard"
	"github.com/naq-go/events/app/embedded"
	"github.com/naq-go/events/app/eventlog"
	"github.com/naq-go/events/app/httpapi"
	"github.com/naq-go/events/app/logging"
	"github.com/naq-go/events/app/metrics"
	"github.com/naq-go/events/app/natsconn"
	"github.com/naq-go/events/app/processing"
	"github.com/naq-go/events/app/rollups"
	"github.com/naq-go/events/app/shutdown"
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
		shutdown.Module,
		storage.Module(cfg.Storage),
		eventlog.Module,
		metrics.Module,
		httpapi.Module,
		rollups.Module,
		dashboard.Module,
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
