package dashboard

import (
	"bytes"
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/naq-go/events/app/httpapi"
	"github.com/naq-go/events/domain/rollup"
	"github.com/naq-go/events/ports"
)

// Defaults and limits of the options.
const (
	// DefaultJobLimit is how many events of one job the job page reads.
	DefaultJobLimit = 10_000
	// DefaultRequestTimeout bounds the store and rollup reads of a page.
	DefaultRequestTimeout = 10 * time.Second
	// DefaultGroupPage is how many jobs a failure group's page lists
	// (?limit= chooses 1 to MaxGroupPage).
	DefaultGroupPage = 50
	// MaxGroupPage is the largest ?limit= of a failure group's page.
	MaxGroupPage = 500
	// DefaultGroupScan is the scan budget of one failure group's page:
	// how many stream sequences it reads back through at most.
	DefaultGroupScan = 50_000
)

// ErrInvalid is wrapped by New's errors for a bad argument.
var ErrInvalid = errors.New("dashboard: invalid argument")

// Store is what the dashboard reads from the storage port: lists of events
// (the job page) and the last stored sequence (where the live feed starts,
// so it misses nothing stored after the page was rendered).
type Store interface {
	ports.Reader
	Health(ctx context.Context) (ports.Health, error)
}

//go:embed templates/*.html assets/*
var files embed.FS

// Dashboard is the http.Handler of the UI. Make it with New.
type Dashboard struct {
	store     Store
	rollups   rollup.Reader
	slog      *slog.Logger
	now       func() time.Time
	jobLimit  int
	timeout   time.Duration
	groupScan int

	pages  map[string]*template.Template
	assets map[string]asset // by versioned path
	urls   map[string]string
	mux    *http.ServeMux
}

var _ http.Handler = (*Dashboard)(nil)

type asset struct {
	body        []byte
	contentType string
}

// Option configures New.
type Option func(*Dashboard)

// WithSlog sets where page failures are logged. Default slog.Default(); nil
// keeps the default.
func WithSlog(l *slog.Logger) Option {
	return func(d *Dashboard) {
		if l != nil {
			d.slog = l
		}
	}
}

// WithJobLimit sets how many events of one job the job page shows at most.
// Default DefaultJobLimit (10 000); n < 1 makes New fail with ErrInvalid.
func WithJobLimit(n int) Option { return func(d *Dashboard) { d.jobLimit = n } }

// WithRequestTimeout bounds the reads behind one page. Default 10 s; d ≤ 0
// makes New fail with ErrInvalid.
func WithRequestTimeout(t time.Duration) Option { return func(d *Dashboard) { d.timeout = t } }

// WithGroupScan sets the scan budget of a failure group's page: how many
// stream sequences one page reads back through at most (only the failed
// events among them are read). A page whose budget runs out before it is
// full shows what it found, says where the scan stopped, and links the
// older jobs from there. Default DefaultGroupScan (50 000); n < 1 makes New
// fail with ErrInvalid.
func WithGroupScan(n int) Option { return func(d *Dashboard) { d.groupScan = n } }

// WithClock sets the clock the windows of the overview and failures pages
// end at. Default time.Now; nil makes New fail with ErrInvalid.
func WithClock(now func() time.Time) Option { return func(d *Dashboard) { d.now = now } }

// New returns the dashboard over store (the job page, the live feed's
// starting point) and rollups (the overview and failures pages).
func New(store Store, rollups rollup.Reader, opts ...Option) (*Dashboard, error) {
	if store == nil {
		return nil, fmt.Errorf("%w: nil store; pass the service's ports.Store", ErrInvalid)
	}
	if rollups == nil {
		return nil, fmt.Errorf("%w: nil rollup.Reader; wire the rollups module (app/rollups) into the graph", ErrInvalid)
	}
	d := &Dashboard{
		store: store, rollups: rollups, slog: slog.Default(), now: time.Now,
		jobLimit: DefaultJobLimit, timeout: DefaultRequestTimeout, groupScan: DefaultGroupScan,
	}
	for _, o := range opts {
		o(d)
	}
	switch {
	case d.jobLimit < 1:
		return nil, fmt.Errorf("%w: job limit %d; want at least 1 (default %d)", ErrInvalid, d.jobLimit, DefaultJobLimit)
	case d.timeout <= 0:
		return nil, fmt.Errorf("%w: request timeout %s; want a positive duration (default %s)", ErrInvalid, d.timeout, DefaultRequestTimeout)
	case d.groupScan < 1:
		return nil, fmt.Errorf("%w: group scan budget %d; want at least 1 (default %d)", ErrInvalid, d.groupScan, DefaultGroupScan)
	case d.now == nil:
		return nil, fmt.Errorf("%w: nil clock; leave WithClock out for time.Now", ErrInvalid)
	}
	if err := d.loadAssets(); err != nil {
		return nil, err
	}
	if err := d.parseTemplates(); err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", d.overview)
	mux.HandleFunc("GET /live", d.live)
	mux.HandleFunc("GET /failures", d.failures)
	mux.HandleFunc("GET /failures/{group}", d.failureGroup)
	mux.HandleFunc("GET /jobs/{job}", d.job)
	mux.HandleFunc("GET /search", d.search)
	mux.HandleFunc("GET /assets/{version}/{name}", d.asset)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		d.render(w, r, http.StatusNotFound, "error", "Not found", "", errorPage{
			Status: http.StatusNotFound, Message: fmt.Sprintf("No page at %s %s.", r.Method, r.URL.Path),
		})
	})
	d.mux = mux
	return d, nil
}

// ServeHTTP implements http.Handler.
func (d *Dashboard) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	// Nothing but this origin: no CDN, no inline script, no beacon.
	h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	d.mux.ServeHTTP(w, r)
}

// AssetURL is the versioned path of an embedded asset ("app.js"), "" for
// none. The version is a hash of the content, so the URL changes exactly
// when the file does and browsers may cache it forever.
func (d *Dashboard) AssetURL(name string) string { return d.urls[name] }

func (d *Dashboard) loadAssets() error {
	d.assets, d.urls = map[string]asset{}, map[string]string{}
	entries, err := fs.ReadDir(files, "assets")
	if err != nil {
		return fmt.Errorf("dashboard: read embedded assets: %w", err)
	}
	for _, e := range entries {
		b, err := files.ReadFile("assets/" + e.Name())
		if err != nil {
			return fmt.Errorf("dashboard: read asset %s: %w", e.Name(), err)
		}
		sum := sha256.Sum256(b)
		p := "/assets/" + hex.EncodeToString(sum[:6]) + "/" + e.Name()
		d.assets[p] = asset{body: b, contentType: contentType(e.Name())}
		d.urls[e.Name()] = p
	}
	return nil
}

func contentType(name string) string {
	switch path.Ext(name) {
	case ".js":
		return "text/javascript; charset=utf-8"
	case ".css":
		return "text/css; charset=utf-8"
	case ".svg":
		return "image/svg+xml"
	default:
		return "application/octet-stream"
	}
}

func (d *Dashboard) asset(w http.ResponseWriter, r *http.Request) {
	a, ok := d.assets[r.URL.Path]
	if !ok {
		// An old version (or none): say where the current one is.
		w.Header().Set("Cache-Control", "no-store")
		http.Error(w, fmt.Sprintf("no asset %s; the current one is %q", r.URL.Path, d.urls[r.PathValue("name")]), http.StatusNotFound)
		return
	}
	h := w.Header()
	h.Set("Content-Type", a.contentType)
	h.Set("Cache-Control", "public, max-age=31536000, immutable")
	h.Set("Content-Length", strconv.Itoa(len(a.body)))
	_, _ = w.Write(a.body)
}

// layout is what every page's frame needs.
type layout struct {
	Title   string
	Nav     string // the active section
	Search  string // the search box's value
	Body    any
	Elapsed string // server time of the page's reads
	// Reads is how long the page waited for the rollups or the store,
	// reported beside the total in the Server-Timing header.
	Reads time.Duration
}

type errorPage struct {
	Status  int
	Message string
}

func (d *Dashboard) parseTemplates() error {
	funcs := template.FuncMap{
		"asset":   d.AssetURL,
		"count":   fmtCount,
		"ms":      fmtMS,
		"dur":     fmtDuration,
		"pct":     fmtPct,
		"rate":    fmtRate,
		"clock":   fmtClock,
		"hm":      func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04") },
		"iso":     fmtISO,
		"ago":     func(t time.Time) string { return fmtAgo(d.now(), t) },
		"typeTag": typeTag,
	}
	d.pages = map[string]*template.Template{}
	for _, name := range []string{"overview", "live", "failures", "group", "job", "error"} {
		t, err := template.New(name).Funcs(funcs).ParseFS(files, "templates/layout.html", "templates/"+name+".html")
		if err != nil {
			return fmt.Errorf("dashboard: parse template %s: %w", name, err)
		}
		d.pages[name] = t
	}
	return nil
}

// render writes page with status; a template failure is a 500 with the
// error, logged (the buffer means no half page goes out).
func (d *Dashboard) render(w http.ResponseWriter, r *http.Request, status int, page, title, nav string, body any) {
	d.renderTimed(w, r, status, page, layout{Title: title, Nav: nav, Search: r.URL.Query().Get("q"), Body: body}, time.Time{})
}

func (d *Dashboard) renderTimed(w http.ResponseWriter, r *http.Request, status int, page string, l layout, start time.Time) {
	if !start.IsZero() {
		l.Elapsed = fmtDuration(time.Since(start))
	}
	var buf bytes.Buffer
	if err := d.pages[page].ExecuteTemplate(&buf, "layout", l); err != nil {
		d.slog.Error("dashboard: page does not render", "page", page, "path", r.URL.Path, "err", err)
		http.Error(w, "the page does not render: "+err.Error(), http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Length", strconv.Itoa(buf.Len()))
	if !start.IsZero() {
		h.Set("Server-Timing", fmt.Sprintf("app;dur=%.2f, reads;dur=%.2f", float64(time.Since(start))/float64(time.Millisecond), float64(l.Reads)/float64(time.Millisecond)))
	}
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// fail renders an error page for a failed read.
func (d *Dashboard) fail(w http.ResponseWriter, r *http.Request, what string, err error) {
	status := httpapi.ErrorStatus(r, err)
	if status == 0 {
		return // the browser went away
	}
	if status == http.StatusServiceUnavailable && httpapi.SlowRead(r.Context(), d.store, err) {
		d.slog.Warn("dashboard: read took longer than the store timeout", "path", r.URL.Path, "err", err)
		status = http.StatusGatewayTimeout
		d.render(w, r, status, "error", http.StatusText(status), "", errorPage{Status: status, Message: what + ": " + httpapi.SlowReadMessage +
			"; try a shorter window or one queue, or reload"})
		return
	}
	if status >= 500 {
		d.slog.Warn("dashboard: page failed", "path", r.URL.Path, "err", err)
	}
	d.render(w, r, status, "error", http.StatusText(status), "", errorPage{Status: status, Message: what + ": " + err.Error()})
}

// badRequest renders a 400 for a bad filter value.
func (d *Dashboard) badRequest(w http.ResponseWriter, r *http.Request, msg string) {
	d.render(w, r, http.StatusBadRequest, "error", "Bad request", "", errorPage{Status: http.StatusBadRequest, Message: msg})
}

// trimmed is the query parameter name without surrounding space.
func trimmed(r *http.Request, name string) string { return strings.TrimSpace(r.URL.Query().Get(name)) }
