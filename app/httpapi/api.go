package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/naq-go/events/domain/event"
	"github.com/naq-go/events/domain/logger"
	"github.com/naq-go/events/domain/rollup"
	"github.com/naq-go/events/ports"
)

// Defaults of the options and limits of the API.
const (
	DefaultHeartbeat = 15 * time.Second
	DefaultLimit     = 100      // events per page when ?limit is absent
	MaxLimit         = 10_000   // largest ?limit accepted
	MaxBody          = 16 << 20 // largest POST body, bytes
	MaxLine          = 1 << 20  // largest JSON document in a POST body, bytes
)

// API is the http.Handler of the service's API. Make it with New.
type API struct {
	store     ports.Store
	log       *logger.Logger
	nc        *nats.Conn
	metrics   http.Handler
	ui        http.Handler
	rollups   rollup.Reader // stats.go
	heartbeat time.Duration
	slog      *slog.Logger
	mux       *http.ServeMux
}

var _ http.Handler = (*API)(nil)

// Option configures New.
type Option func(*API)

// WithEventLogger sets the event logger POST /api/v1/events writes through.
// Default none: POST answers 503.
func WithEventLogger(l *logger.Logger) Option { return func(a *API) { a.log = l } }

// WithNATS sets the connection whose state /healthz reports. Default none
// (not reported; memory and file storage need no NATS).
func WithNATS(nc *nats.Conn) Option { return func(a *API) { a.nc = nc } }

// WithMetrics sets the handler of GET /metrics. Default none: 404.
func WithMetrics(h http.Handler) Option { return func(a *API) { a.metrics = h } }

// WithUI sets the handler of every path no API route matches: the web
// dashboard, mounted at /. Default none: such paths answer a JSON 404.
func WithUI(h http.Handler) Option { return func(a *API) { a.ui = h } }

// WithHeartbeat sets how often the stream sends a comment to keep idle
// connections open. Default 15 s; d ≤ 0 keeps the default.
func WithHeartbeat(d time.Duration) Option {
	return func(a *API) {
		if d > 0 {
			a.heartbeat = d
		}
	}
}

// WithSlog sets where request failures are logged. Default slog.Default();
// nil keeps the default.
func WithSlog(l *slog.Logger) Option {
	return func(a *API) {
		if l != nil {
			a.slog = l
		}
	}
}

// New returns the API over store.
func New(store ports.Store, opts ...Option) *API {
	a := &API{store: store, heartbeat: DefaultHeartbeat, slog: slog.Default()}
	for _, o := range opts {
		o(a)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v1/jobs/{job}/events", a.jobEvents)
	mux.HandleFunc("GET /api/v1/types/{type}/events", a.typeEvents)
	mux.HandleFunc("GET /api/v1/events", a.list)
	mux.HandleFunc("GET /api/v1/events/count", a.count)
	mux.HandleFunc("GET /api/v1/stats", a.stats)
	mux.HandleFunc("DELETE /api/v1/jobs/{job}", a.deleteJob)
	mux.HandleFunc("POST /api/v1/events", a.post)
	mux.HandleFunc("GET /api/v1/stream", a.stream)
	mux.HandleFunc("GET /healthz", a.health)
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, r *http.Request) {
		if a.metrics == nil {
			writeError(w, http.StatusNotFound, "metrics are not enabled")
			return
		}
		a.metrics.ServeHTTP(w, r)
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if a.ui != nil && !strings.HasPrefix(r.URL.Path, "/api/") {
			a.ui.ServeHTTP(w, r)
			return
		}
		writeError(w, http.StatusNotFound, fmt.Sprintf("no route %s %s; see the routes of /api/v1 in the README", r.Method, r.URL.Path))
	})
	a.mux = mux
	return a
}

// ServeHTTP implements http.Handler.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) { a.mux.ServeHTTP(w, r) }

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

type errorBody struct {
	Error string `json:"error"`
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, errorBody{Error: msg})
}

// ErrorStatus is the HTTP status a failed read or write of r means: 403
// for ports.ErrForbidden (the store's NATS user lacks a permission), 400
// for ports.ErrInvalid, 404 for ports.ErrNotFound, 503 for
// ports.ErrUnavailable and ports.ErrClosed, 504 for a deadline, 500 for
// the rest; 0 when r's own context was cancelled (the client went away:
// answer nothing). The API and the dashboard answer by it.
func ErrorStatus(r *http.Request, err error) int {
	switch {
	case errors.Is(err, ports.ErrForbidden):
		return http.StatusForbidden
	case errors.Is(err, ports.ErrInvalid):
		return http.StatusBadRequest
	case errors.Is(err, ports.ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, ports.ErrUnavailable), errors.Is(err, ports.ErrClosed):
		return http.StatusServiceUnavailable
	case errors.Is(err, context.DeadlineExceeded):
		return http.StatusGatewayTimeout
	case errors.Is(err, context.Canceled) && r.Context().Err() != nil:
		return 0
	}
	return http.StatusInternalServerError
}

// storeError answers a failed store call with the status its error means.
func (a *API) storeError(w http.ResponseWriter, r *http.Request, what string, err error) {
	status := ErrorStatus(r, err)
	if status == 0 {
		return // the client went away
	}
	if status == http.StatusServiceUnavailable && SlowRead(r.Context(), a.store, err) {
		// The store answers, it only did not finish this read in time:
		// "store unavailable" would send the operator to the wrong place.
		a.slog.Warn("API read took longer than the store timeout", "method", r.Method, "path", r.URL.Path, "err", err)
		writeError(w, http.StatusGatewayTimeout, what+": "+SlowReadMessage+slowReadHint)
		return
	}
	if status >= 500 {
		a.slog.Warn("API request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	writeError(w, status, fmt.Sprintf("%s: %v", what, err))
}

// storeUpTimeout bounds the health check that tells a slow read from a
// store that is down.
const storeUpTimeout = time.Second

// SlowReadMessage is what a 504 for a slow read says after what failed;
// the API adds how to narrow the read (slowReadHint).
const SlowReadMessage = "the store is up but the read did not finish in time (context deadline exceeded)"

// slowReadHint is the API's advice after SlowReadMessage.
const slowReadHint = ": narrow it with since=/until=, type= or job=, or read smaller pages with limit= and after="

// SlowRead reports whether err, a failed read, ran out of time while the
// store is up: err wraps context.DeadlineExceeded and the store answers a
// health check (bounded by storeUpTimeout) that says it is OK. Such a read
// is a 504 with SlowReadMessage, not a 503 "store unavailable", which
// would send the operator to the wrong place. The API and the dashboard
// answer by it.
func SlowRead(ctx context.Context, store interface {
	Health(context.Context) (ports.Health, error)
}, err error) bool {
	if !errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), storeUpTimeout)
	defer cancel()
	h, herr := store.Health(ctx)
	return herr == nil && h.OK
}

// docs encodes events as their v1.0 wire documents.
func docs(evs []event.JobEvent) ([]json.RawMessage, error) {
	out := make([]json.RawMessage, 0, len(evs))
	for i := range evs {
		b, err := evs[i].AppendJSON(nil)
		if err != nil {
			return nil, fmt.Errorf("encode event %s: %w", evs[i].ID, err)
		}
		out = append(out, b)
	}
	return out, nil
}
