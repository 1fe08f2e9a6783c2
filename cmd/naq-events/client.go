package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/term"

	"github.com/naq-go/events/app/config"
	"github.com/naq-go/events/app/natsconn"
	"github.com/naq-go/events/app/storage"
	"github.com/naq-go/events/domain/event"
	"github.com/naq-go/events/domain/logger"
	"github.com/naq-go/events/ports"
)

// This file holds what the client commands (log, tail, history, stats,
// purge, bench, demo) share: the config flags, the connection to NATS and
// the JetStream store, the event filter flags and terminal output helpers.
// Client commands talk to NATS directly, like natscli: to the embedded
// server of a running `naq-events serve` by default, or to --server.

// client is a client command's flag set over the whole configuration.
type client struct {
	name   string
	fs     *flag.FlagSet
	cfg    config.Config
	envErr error // an environment variable that did not parse
}

func newClient(name string, env *Env) *client {
	c := &client{name: name, fs: newFlags(name), cfg: config.Default()}
	c.envErr = c.cfg.RegisterFlags(c.fs, env.Getenv)
	return c
}

// parse parses args and checks the configuration; problems are usage
// errors (exit status 2).
func (c *client) parse(env *Env, args []string) error {
	if err := parseFlags(c.fs, env, args); err != nil {
		return err
	}
	return c.check()
}

// check checks the configuration after parsing.
func (c *client) check() error {
	// A bad environment value matters only if no flag overrides it.
	if err := config.EnvErrors(c.envErr, c.fs); err != nil {
		return usageErrorf("%v", err)
	}
	// Client commands always use the JetStream stream of the NATS server;
	// --storage (or NAQ_STORAGE, set for serve) is for serve only.
	c.cfg.Storage = config.StorageJetStream
	if err := c.cfg.Validate(); err != nil {
		return usageErrorf("%v", err)
	}
	return nil
}

// set reports whether the named flag was given on the command line.
func (c *client) set(name string) bool {
	found := false
	c.fs.Visit(func(f *flag.Flag) { found = found || f.Name == name })
	return found
}

// session is a connection to NATS and the event store on it.
type session struct {
	nc    *nats.Conn
	store ports.Store
}

// open connects to NATS and opens the JetStream store. The error names the
// server and says how to fix it.
func (c *client) open(ctx context.Context) (*session, error) {
	nc, err := natsconn.Connect(ctx, c.cfg.NATS, "naq-events "+c.name)
	if err != nil {
		return nil, err
	}
	since := time.Now() // a permission refused from here on explains a failure (natsconn.Explain)
	// closeConn waits for the connection's callbacks, so that the warning of
	// a refusal comes before the error the command prints last.
	closeConn := func() { natsconn.CloseAndWait(nc, time.Second) }
	if err := c.adoptStream(ctx, nc); err != nil {
		closeConn()
		return nil, err
	}
	store, err := storage.Open(ctx, c.cfg, nc)
	if errors.Is(err, natsconn.ErrPermission) {
		closeConn()
		return nil, err // storage.Open has named the refusal and its fix
	}
	if err != nil {
		hint := "is JetStream enabled on that server?"
		if errors.Is(err, ports.ErrInvalid) {
			hint = "check the stream flags (--stream, --max-age, --replicas …)"
		}
		err = natsconn.Explain(nc, since, fmt.Errorf("%w (NATS at %s); %s", err, natsconn.Redact(nc.ConnectedUrl()), hint))
		closeConn()
		return nil, err
	}
	return &session{nc: nc, store: store}, nil
}

// adoptStream takes the limits of an existing stream for those not given
// on the command line. Opening the store creates or updates the stream from
// the configuration; without this, a client run with default flags would
// reset the retention a serve configured (--max-age 1h back to 7 days).
func (c *client) adoptStream(ctx context.Context, nc *nats.Conn) error {
	since := time.Now()
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("JetStream on NATS at %s: %w", natsconn.Redact(nc.ConnectedUrl()), err)
	}
	// A user without the permission gets no answer, only the server's
	// refusal: end the lookup on it rather than at its timeout.
	rctx, cancel := natsconn.UntilDenied(ctx, nc, "$JS.API.STREAM.INFO."+c.cfg.Stream.Name)
	defer cancel()
	st, err := js.Stream(rctx, c.cfg.Stream.Name)
	switch {
	case errors.Is(err, jetstream.ErrStreamNotFound):
		return nil // created from the flags
	case err != nil:
		what := fmt.Sprintf("look up stream %q on NATS at %s", c.cfg.Stream.Name, natsconn.Redact(nc.ConnectedUrl()))
		if explained := natsconn.Explain(nc, since, err); errors.Is(explained, natsconn.ErrPermission) {
			return fmt.Errorf("%s: %w", what, explained)
		}
		return fmt.Errorf("%s: %w; is JetStream enabled on that server?", what, err)
	}
	have := st.CachedInfo().Config
	unlimited := func(n int64) int64 { return max(n, 0) } // the server's -1 is the flags' 0
	if !c.set("max-age") {
		c.cfg.Stream.MaxAge = have.MaxAge
	}
	if !c.set("max-msgs") {
		c.cfg.Stream.MaxMsgs = unlimited(have.MaxMsgs)
	}
	if !c.set("max-bytes") {
		c.cfg.Stream.MaxBytes = unlimited(have.MaxBytes)
	}
	if !c.set("replicas") {
		c.cfg.Stream.Replicas = max(have.Replicas, 1)
	}
	if !c.set("duplicates") && have.Duplicates > 0 {
		c.cfg.Stream.Duplicates = have.Duplicates
	}
	return nil
}

func (s *session) close() {
	_ = s.store.Close()
	// Waits for the connection's callbacks, so that a warning they log
	// (a permission refusal) comes before the command's own last line.
	natsconn.CloseAndWait(s.nc, time.Second)
}

// newLogger returns a logger over the session's store that waits for room
// rather than dropping (the Block policy), tuned by the logger flags.
func (c *client) newLogger(s *session) *logger.Logger {
	return logger.New(s.store,
		logger.WithBatchSize(c.cfg.Logger.BatchSize),
		logger.WithFlushInterval(c.cfg.Logger.FlushInterval),
		logger.WithMaxBufferSize(c.cfg.Logger.MaxBuffer),
		logger.WithOverflow(logger.Block),
	)
}

// closeLogger closes lg, giving it closeTimeout to store what it holds even
// when ctx has already ended (Ctrl-C), so that what was accepted is stored
// or reported.
func closeLogger(ctx context.Context, lg *logger.Logger) error {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), closeTimeout)
	defer cancel()
	return lg.Close(cctx)
}

const closeTimeout = 30 * time.Second

// filterFlags are the event filter flags of tail and stats. Environment
// and service come from the config flags --environment and --service (or
// NAQ_ENVIRONMENT, NAQ_SERVICE) and filter only when set; by default every
// environment and service is shown.
type filterFlags struct {
	job, queue, worker string
	types              listFlag
}

func (f *filterFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.job, "job", "", "only events of this job id")
	fs.Var(&f.types, "type", "only events of these types (repeat, or a comma-separated list)")
	fs.StringVar(&f.queue, "queue", "", "only events on this queue")
	fs.StringVar(&f.worker, "worker", "", "only events of this worker id")
}

// filter returns the event filter the flags describe; a bad value is a
// usage error.
func (f *filterFlags) filter(c *client, env *Env) (event.Filter, error) {
	flt := event.Filter{JobID: f.job, Queue: f.queue, Worker: f.worker}
	if c.set("environment") || getenv(env, "NAQ_ENVIRONMENT") != "" {
		flt.Environment = c.cfg.Environment
	}
	if c.set("service") || getenv(env, "NAQ_SERVICE") != "" {
		flt.Service = c.cfg.Service
	}
	if f.job != "" {
		if err := event.CheckToken("--job", f.job); err != nil {
			return flt, usageErrorf("%v", err)
		}
	}
	types, err := parseTypes(f.types)
	if err != nil {
		return flt, err
	}
	flt.Types = types
	return flt, nil
}

// parseTypes turns --type values into event types; an unknown one is a
// usage error listing the known ones.
func parseTypes(values []string) ([]event.JobEventType, error) {
	var out []event.JobEventType
	for _, v := range values {
		t, err := event.ParseType(strings.TrimSpace(v))
		if err != nil {
			return nil, usageErrorf("--type %q: not an event type; want one of %s", v, typeList())
		}
		if !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	return out, nil
}

func typeList() string {
	var b strings.Builder
	for i, t := range event.Types() {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(string(t))
	}
	return b.String()
}

func getenv(env *Env, key string) string {
	if env.Getenv == nil {
		return os.Getenv(key)
	}
	return env.Getenv(key)
}

// listFlag is a repeatable flag whose values may also be comma separated.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error {
	for p := range strings.SplitSeq(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			*l = append(*l, p)
		}
	}
	return nil
}

// kvFlag is a repeatable key=value flag.
type kvFlag struct {
	keys, values []string
}

func (f *kvFlag) String() string {
	parts := make([]string, len(f.keys))
	for i := range f.keys {
		parts[i] = f.keys[i] + "=" + f.values[i]
	}
	return strings.Join(parts, ",")
}

func (f *kvFlag) Set(v string) error {
	k, val, ok := strings.Cut(v, "=")
	if !ok || strings.TrimSpace(k) == "" {
		return fmt.Errorf("%q is not key=value", v)
	}
	f.keys = append(f.keys, strings.TrimSpace(k))
	f.values = append(f.values, val)
	return nil
}

// colors says whether output to w may use ANSI colors: w is a terminal and
// NO_COLOR (https://no-color.org) is not set.
func colors(env *Env, w io.Writer) bool {
	return getenv(env, "NO_COLOR") == "" && isTerminal(w)
}

// isTerminal reports whether w is a terminal (golang.org/x/term): not a
// pipe or file, nor another character device such as /dev/null.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd())) //nolint:gosec // a file descriptor fits in an int
}

const (
	ansiReset   = "\x1b[0m"
	ansiRed     = "\x1b[31m"
	ansiGreen   = "\x1b[32m"
	ansiYellow  = "\x1b[33m"
	ansiBlue    = "\x1b[34m"
	ansiMagenta = "\x1b[35m"
	ansiCyan    = "\x1b[36m"
	ansiDim     = "\x1b[2m"
)

// typeColor is the color of an event type in readable output.
func typeColor(t event.JobEventType) string {
	switch t {
	case event.TypeCompleted, event.TypeDependencySatisfied:
		return ansiGreen
	case event.TypeFailed, event.TypeTimeout, event.TypeMaxRetriesExceeded,
		event.TypeDependencyFailed, event.TypeTTLExpired:
		return ansiRed
	case event.TypeRetryScheduled, event.TypeRetryStarted:
		return ansiYellow
	case event.TypeCancelled, event.TypeScheduleDeactivated:
		return ansiMagenta
	case event.TypeStarted, event.TypeDequeued, event.TypeWorkerAssigned:
		return ansiCyan
	case event.TypeEnqueued, event.TypeScheduled, event.TypeScheduleTriggered:
		return ansiBlue
	}
	return ansiDim
}

// paint pads s to width and colors it when on is set; padding first keeps
// columns aligned whatever the escape codes.
func paint(on bool, color, s string, width int) string {
	if pad := width - len(s); pad > 0 {
		s += strings.Repeat(" ", pad)
	}
	if !on {
		return s
	}
	return color + s + ansiReset
}

// fmtDuration shows a millisecond duration the way people read them.
func fmtDuration(ms float64) string {
	d := time.Duration(ms * float64(time.Millisecond))
	switch {
	case d < time.Millisecond:
		return fmt.Sprintf("%.3fms", ms)
	case d < time.Second:
		return fmt.Sprintf("%.1fms", ms)
	case d < time.Minute:
		return fmt.Sprintf("%.2fs", d.Seconds())
	}
	return d.Round(time.Second).String()
}

// writeJSON writes ev as one v1.0 wire document line.
func writeJSON(w io.Writer, buf []byte, ev *event.JobEvent) ([]byte, error) {
	buf, err := ev.AppendJSON(buf[:0])
	if err != nil {
		return buf, err
	}
	buf = append(buf, '\n')
	_, err = w.Write(buf)
	return buf, err
}

// parseArgs is parse for commands with positional arguments: flags may come
// before and after them (history JOB --json). It returns the positional
// arguments.
func (c *client) parseArgs(env *Env, args []string) ([]string, error) {
	var pos []string
	for {
		if err := parseFlags(c.fs, env, args); err != nil {
			return nil, err
		}
		rest := c.fs.Args()
		if len(rest) == 0 {
			break
		}
		if rest[0] == "--" {
			pos = append(pos, rest[1:]...)
			break
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
	return pos, c.check()
}
