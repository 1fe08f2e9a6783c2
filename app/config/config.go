// Package config holds the settings of the naq-events binary and reads them
// from command-line flags and environment variables. NATS settings follow
// natscli's conventions (NATS_URL, NATS_CREDS, …) so a NATS user's existing
// environment just works; every naq-events setting has a NAQ_ variable too.
//
// Precedence: a flag given on the command line, then the environment, then
// the default.
package config

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/naq-go/events/adapters/jsstore"
	"github.com/naq-go/events/adapters/natsembed"
	"github.com/naq-go/events/domain/event"
	"github.com/naq-go/events/domain/logger"
)

// Storage backends.
const (
	StorageJetStream = "jetstream"
	StorageMemory    = "memory"
	StorageFile      = "file"
)

// Config is every setting of the binary.
type Config struct {
	Environment string // subject token for events written by this process
	Service     string // subject token for events written by this process
	Storage     string // StorageJetStream (default), StorageMemory or StorageFile
	DataDir     string // embedded NATS store, file storage and spill live below it

	NATS   NATS
	Stream Stream
	Logger Logger
	HTTP   HTTP
	Log    Log

	// ShutdownTimeout bounds the whole stop sequence of `serve` (stop
	// intake, drain the logger, stop the processor, close the store and
	// NATS). Default 15 s.
	ShutdownTimeout time.Duration
}

// NATS is how to reach NATS. With an empty URL the service starts an
// embedded nats-server (see Embedded).
type NATS struct {
	URL      string // NATS_URL; empty = embedded server
	Creds    string // NATS_CREDS: path to a .creds file
	NKey     string // NATS_NKEY: path to an nkey seed file
	User     string // NATS_USER
	Password string // NATS_PASSWORD
	Token    string // NATS_TOKEN
	CA       string // NATS_CA: PEM file of CAs to trust
	Cert     string // NATS_CERT: client certificate (with Key)
	Key      string // NATS_KEY

	ConnectTimeout time.Duration // design: 5 s
	ReconnectWait  time.Duration // design: 2 s
	MaxReconnects  int           // -1 = forever (default, so outages never end the service)
	PingInterval   time.Duration // design: 120 s
	MaxPingsOut    int           // design: 2

	// Embedded server, used when URL is empty.
	EmbeddedHost string // default 127.0.0.1
	EmbeddedPort int    // default 4222; -1 picks a random free port
}

// Stream holds the JetStream stream limits (design: STREAM_CONFIG).
type Stream struct {
	Name       string        // naq_events
	MaxAge     time.Duration // 7 days
	MaxMsgs    int64         // 1,000,000
	MaxBytes   int64         // 1 GiB
	Replicas   int           // 1
	Duplicates time.Duration // 30 s
}

// Logger tunes the buffered event logger.
type Logger struct {
	BatchSize     int
	FlushInterval time.Duration
	MaxBuffer     int
	Spill         bool // spill to DataDir/spill when NATS is unreachable
	SpillMax      int  // events the spill holds at most (logger.WithSpillLimit)
	PipelineDepth int  // store calls in flight, 1 or 2 (logger.WithPipelineDepth)
}

// HTTP is the API server.
type HTTP struct {
	Addr string // default 127.0.0.1:8080; empty disables the server
	HTTPSecurity
}

// Log configures the process's own log/slog output.
type Log struct {
	Format string // "text" (default) or "json"
	Level  string // "debug", "info" (default), "warn", "error"
}

// The binary's own defaults. Every other default of Default is the
// exported constant of the package that owns the setting (logger.Default*,
// jsstore.Default*, natsembed.Default*, nats.go's Default*), so the two
// cannot drift apart.
const (
	// DefaultConnectTimeout is the design's NATS connect timeout (nats.go's
	// own default is 2 s).
	DefaultConnectTimeout = 5 * time.Second
	// DefaultMaxReconnects, -1, reconnects for ever, so an outage never
	// ends the service.
	DefaultMaxReconnects   = -1
	DefaultHTTPAddr        = "127.0.0.1:8080"
	DefaultLogFormat       = "text"
	DefaultLogLevel        = "info"
	DefaultShutdownTimeout = 15 * time.Second
)

// Default returns the configuration used when nothing is set.
func Default() Config {
	return Config{
		Environment: jsstore.DefaultEnvironment,
		Service:     jsstore.DefaultService,
		Storage:     StorageJetStream,
		DataDir:     defaultDataDir(),
		NATS: NATS{
			ConnectTimeout: DefaultConnectTimeout,
			ReconnectWait:  nats.DefaultReconnectWait,
			MaxReconnects:  DefaultMaxReconnects,
			PingInterval:   nats.DefaultPingInterval,
			MaxPingsOut:    nats.DefaultMaxPingOut,
			EmbeddedHost:   natsembed.DefaultHost,
			EmbeddedPort:   natsembed.StandardPort,
		},
		Stream: Stream{
			Name:       jsstore.DefaultStream,
			MaxAge:     jsstore.DefaultMaxAge,
			MaxMsgs:    jsstore.DefaultMaxMsgs,
			MaxBytes:   jsstore.DefaultMaxBytes,
			Replicas:   jsstore.DefaultReplicas,
			Duplicates: jsstore.DefaultDuplicates,
		},
		Logger: Logger{
			BatchSize:     logger.DefaultBatchSize,
			FlushInterval: logger.DefaultFlushInterval,
			MaxBuffer:     logger.DefaultMaxBufferSize,
			Spill:         true,
			SpillMax:      logger.DefaultSpillLimit,
			PipelineDepth: logger.DefaultPipelineDepth,
		},
		HTTP:            HTTP{Addr: DefaultHTTPAddr, HTTPSecurity: HTTPSecurity{MaxStreams: DefaultMaxStreams}},
		Log:             Log{Format: DefaultLogFormat, Level: DefaultLogLevel},
		ShutdownTimeout: DefaultShutdownTimeout,
	}
}

// defaultDataDir is $XDG_DATA_HOME/naq-events (or ~/.local/share/naq-events),
// falling back to ./data when no home directory is known.
func defaultDataDir() string {
	if d := os.Getenv("XDG_DATA_HOME"); d != "" {
		return d + "/naq-events"
	}
	if h, err := os.UserHomeDir(); err == nil && h != "" {
		return h + "/.local/share/naq-events"
	}
	return "data"
}

// Getenv looks up an environment variable; tests replace it.
type Getenv func(string) string

// ErrEnv is wrapped by every *EnvError.
var ErrEnv = errors.New("bad environment variable")

// EnvError is an environment variable whose value does not parse.
type EnvError struct {
	Var, Value string
	Flag       string // the flag that overrides the variable, without "--"
	Want       string // what would parse, e.g. "a duration like 5s or 2m"
}

func (e *EnvError) Error() string {
	return fmt.Sprintf("environment %s=%q: want %s (or give --%s)", e.Var, e.Value, e.Want, e.Flag)
}

// Unwrap returns ErrEnv.
func (e *EnvError) Unwrap() error { return ErrEnv }

// RegisterFlags defines the flags of c on fs. Each flag's default is c's
// current value overridden by its environment variable (read via getenv, nil
// means os.Getenv), so call it on Default() and parse fs afterwards. An
// environment value that does not parse is returned as an *EnvError naming
// the variable and value (several are joined with errors.Join); the flag
// keeps its default. After parsing, EnvErrors drops the errors of variables
// that a flag given on the command line overrides.
func (c *Config) RegisterFlags(fs *flag.FlagSet, getenv Getenv) error {
	if getenv == nil {
		getenv = os.Getenv
	}
	var errs []error
	envErr := func(env, v, name, want string) {
		errs = append(errs, &EnvError{Var: env, Value: v, Flag: name, Want: want})
	}
	str := func(p *string, name, env, usage string) {
		if v := getenv(env); v != "" {
			*p = v
		}
		fs.StringVar(p, name, *p, usage+" (env "+env+")")
	}
	dur := func(p *time.Duration, name, env, usage string) {
		if v := getenv(env); v != "" {
			d, err := time.ParseDuration(v)
			if err != nil {
				envErr(env, v, name, "a duration like 5s or 2m")
			} else {
				*p = d
			}
		}
		fs.DurationVar(p, name, *p, usage+" (env "+env+")")
	}
	integer := func(p *int, name, env, usage string) {
		if v := getenv(env); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil {
				envErr(env, v, name, "an integer")
			} else {
				*p = n
			}
		}
		fs.IntVar(p, name, *p, usage+" (env "+env+")")
	}
	int64v := func(p *int64, name, env, usage string) {
		if v := getenv(env); v != "" {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				envErr(env, v, name, "an integer")
			} else {
				*p = n
			}
		}
		fs.Int64Var(p, name, *p, usage+" (env "+env+")")
	}
	boolean := func(p *bool, name, env, usage string) {
		if v := getenv(env); v != "" {
			b, err := strconv.ParseBool(v)
			if err != nil {
				envErr(env, v, name, "true or false")
			} else {
				*p = b
			}
		}
		fs.BoolVar(p, name, *p, usage+" (env "+env+")")
	}

	str(&c.Environment, "environment", "NAQ_ENVIRONMENT", "environment token of written events")
	str(&c.Service, "service", "NAQ_SERVICE", "service token of written events")
	str(&c.Storage, "storage", "NAQ_STORAGE", "storage backend: jetstream, memory or file")
	str(&c.DataDir, "data-dir", "NAQ_DATA_DIR", "directory for the embedded NATS store, file storage and spill")

	str(&c.NATS.URL, "server", "NATS_URL", "NATS server URL(s), comma separated; empty starts an embedded server")
	str(&c.NATS.Creds, "creds", "NATS_CREDS", "NATS user credentials file")
	str(&c.NATS.NKey, "nkey", "NATS_NKEY", "NATS nkey seed file")
	str(&c.NATS.User, "user", "NATS_USER", "NATS user name")
	secretVar(fs, getenv, &c.NATS.Password, "password", "NATS_PASSWORD", "NATS password")
	secretVar(fs, getenv, &c.NATS.Token, "token", "NATS_TOKEN", "NATS token")
	str(&c.NATS.CA, "tlsca", "NATS_CA", "PEM file of certificate authorities to trust")
	str(&c.NATS.Cert, "tlscert", "NATS_CERT", "TLS client certificate")
	str(&c.NATS.Key, "tlskey", "NATS_KEY", "TLS client key")
	dur(&c.NATS.ConnectTimeout, "connect-timeout", "NAQ_CONNECT_TIMEOUT", "NATS connect timeout")
	dur(&c.NATS.ReconnectWait, "reconnect-wait", "NAQ_RECONNECT_WAIT", "wait between NATS reconnect attempts")
	integer(&c.NATS.MaxReconnects, "max-reconnects", "NAQ_MAX_RECONNECTS", "NATS reconnect attempts, -1 forever")
	dur(&c.NATS.PingInterval, "ping-interval", "NAQ_PING_INTERVAL", "NATS ping interval")
	integer(&c.NATS.MaxPingsOut, "max-pings-out", "NAQ_MAX_PINGS_OUT", "unanswered NATS pings before the connection is stale")
	str(&c.NATS.EmbeddedHost, "embedded-host", "NAQ_EMBEDDED_HOST", "listen host of the embedded NATS server")
	integer(&c.NATS.EmbeddedPort, "embedded-port", "NAQ_EMBEDDED_PORT", "listen port of the embedded NATS server, -1 random")

	str(&c.Stream.Name, "stream", "NAQ_STREAM", "JetStream stream name")
	dur(&c.Stream.MaxAge, "max-age", "NAQ_MAX_AGE", "stream retention: maximum event age")
	int64v(&c.Stream.MaxMsgs, "max-msgs", "NAQ_MAX_MSGS", "stream retention: maximum number of events")
	int64v(&c.Stream.MaxBytes, "max-bytes", "NAQ_MAX_BYTES", "stream retention: maximum bytes")
	integer(&c.Stream.Replicas, "replicas", "NAQ_REPLICAS", "stream replicas (1 to 5)")
	dur(&c.Stream.Duplicates, "duplicates", "NAQ_DUPLICATES", "stream de-duplication window")

	integer(&c.Logger.BatchSize, "batch-size", "NAQ_BATCH_SIZE", "logger: events per batch")
	dur(&c.Logger.FlushInterval, "flush-interval", "NAQ_FLUSH_INTERVAL", "logger: longest wait before a partial batch is written")
	integer(&c.Logger.MaxBuffer, "max-buffer", "NAQ_MAX_BUFFER", "logger: events held in memory at most")
	boolean(&c.Logger.Spill, "spill", "NAQ_SPILL", "logger: spill to disk when NATS is unreachable")
	integer(&c.Logger.SpillMax, "spill-max-events", "NAQ_SPILL_MAX_EVENTS", "logger: events the spill holds at most (about 250 B of memory and the event's size on disk each)")
	integer(&c.Logger.PipelineDepth, "pipeline-depth", "NAQ_PIPELINE_DEPTH", "logger: JetStream batches in flight, 2 (pipelined, in order) or 1 (one at a time: one batch, not two, out of reach of overflow while NATS is down)")

	str(&c.HTTP.Addr, "http", "NAQ_HTTP_ADDR", "HTTP API listen address; empty disables it")
	errs = append(errs, c.registerSecurityFlags(fs, getenv)...)
	str(&c.Log.Format, "log-format", "NAQ_LOG_FORMAT", "log format: text or json")
	str(&c.Log.Level, "log-level", "NAQ_LOG_LEVEL", "log level: debug, info, warn or error")
	dur(&c.ShutdownTimeout, "shutdown-timeout", "NAQ_SHUTDOWN_TIMEOUT", "longest wait for a clean stop (drain the logger, close NATS)")
	return errors.Join(errs...)
}

// EnvErrors returns the *EnvErrors in err (from RegisterFlags) whose flag
// was not given on the command line parsed into fs, joined; nil if none.
// Other errors in err are kept.
func EnvErrors(err error, fs *flag.FlagSet) error {
	if err == nil {
		return nil
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	errs := []error{err}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	}
	var keep []error
	for _, e := range errs {
		var ee *EnvError
		if errors.As(e, &ee) && set[ee.Flag] {
			continue
		}
		keep = append(keep, e)
	}
	return errors.Join(keep...)
}

// ErrInvalid is wrapped by every error of Validate.
var ErrInvalid = errors.New("invalid setting")

// Validate reports the first setting that cannot work, naming its flag, its
// value and what would. The error wraps ErrInvalid.
func (c *Config) Validate() error {
	if err := c.validate(); err != nil {
		return invalidError{err}
	}
	return nil
}

// invalidError keeps the message of a Validate error free of a prefix while
// errors.Is finds ErrInvalid.
type invalidError struct{ error }

func (e invalidError) Is(target error) bool { return target == ErrInvalid }
func (e invalidError) Unwrap() error        { return e.error }

func (c *Config) validate() error {
	switch c.Storage {
	case StorageJetStream, StorageMemory, StorageFile:
	default:
		return fmt.Errorf("--storage %q: want jetstream, memory or file", c.Storage)
	}
	for _, kv := range []struct{ name, v string }{{"--environment", c.Environment}, {"--service", c.Service}} {
		if err := checkToken(kv.name, kv.v); err != nil {
			return err
		}
	}
	if c.DataDir == "" && (c.Storage == StorageFile || c.NATS.URL == "" || c.Logger.Spill) {
		return errors.New("--data-dir is empty: the embedded server, file storage and the spill need a directory")
	}
	if (c.NATS.Cert == "") != (c.NATS.Key == "") {
		return fmt.Errorf("--tlscert %q and --tlskey %q: give both or neither", c.NATS.Cert, c.NATS.Key)
	}
	if c.NATS.ConnectTimeout <= 0 {
		return fmt.Errorf("--connect-timeout %s: want a positive duration", c.NATS.ConnectTimeout)
	}
	if c.NATS.ReconnectWait < 0 {
		return fmt.Errorf("--reconnect-wait %s: want a duration ≥ 0", c.NATS.ReconnectWait)
	}
	if c.NATS.MaxReconnects < -1 {
		return fmt.Errorf("--max-reconnects %d: want -1 (forever) or a count ≥ 0", c.NATS.MaxReconnects)
	}
	if c.NATS.PingInterval <= 0 {
		return fmt.Errorf("--ping-interval %s: want a positive duration", c.NATS.PingInterval)
	}
	if c.NATS.MaxPingsOut < 1 {
		return fmt.Errorf("--max-pings-out %d: want at least 1", c.NATS.MaxPingsOut)
	}
	if p := c.NATS.EmbeddedPort; p < -1 || p > 65535 {
		return fmt.Errorf("--embedded-port %d: want 1 to 65535, or -1 for a random free port", p)
	}
	if c.NATS.URL == "" && c.NATS.EmbeddedHost == "" {
		return errors.New("--embedded-host is empty: give the address the embedded server listens on, e.g. 127.0.0.1")
	}
	if c.Stream.Name == "" || strings.ContainsAny(c.Stream.Name, ".*> \t\n/\\") {
		return fmt.Errorf("--stream %q: want a non-empty JetStream stream name without '.', '*', '>', '/', '\\' or spaces", c.Stream.Name)
	}
	if c.Stream.MaxAge < 0 {
		return fmt.Errorf("--max-age %s: want a duration ≥ 0 (0: no age limit)", c.Stream.MaxAge)
	}
	if c.Stream.MaxMsgs < 0 {
		return fmt.Errorf("--max-msgs %d: want a count ≥ 0 (0: no limit)", c.Stream.MaxMsgs)
	}
	if c.Stream.MaxBytes < 0 {
		return fmt.Errorf("--max-bytes %d: want a size ≥ 0 (0: no limit)", c.Stream.MaxBytes)
	}
	if c.Stream.Replicas < 1 || c.Stream.Replicas > 5 {
		return fmt.Errorf("--replicas %d: want 1 to 5", c.Stream.Replicas)
	}
	if c.Stream.Duplicates <= 0 {
		return fmt.Errorf("--duplicates %s: want a positive duration", c.Stream.Duplicates)
	}
	if c.Stream.MaxAge > 0 && c.Stream.Duplicates > c.Stream.MaxAge {
		return fmt.Errorf("--duplicates %s: want at most --max-age (%s)", c.Stream.Duplicates, c.Stream.MaxAge)
	}
	if c.Logger.BatchSize < 1 {
		return fmt.Errorf("--batch-size %d: want at least 1", c.Logger.BatchSize)
	}
	if d := c.Logger.PipelineDepth; d != 1 && d != 2 {
		return fmt.Errorf("--pipeline-depth %d: want 1 (one batch in flight) or 2 (pipelined)", d)
	}
	if c.Logger.SpillMax < 1 {
		return fmt.Errorf("--spill-max-events %d: want at least 1", c.Logger.SpillMax)
	}
	if c.Logger.MaxBuffer < c.Logger.BatchSize {
		return fmt.Errorf("--max-buffer %d: want at least --batch-size (%d)", c.Logger.MaxBuffer, c.Logger.BatchSize)
	}
	if c.Logger.FlushInterval <= 0 {
		return fmt.Errorf("--flush-interval %s: want a positive duration", c.Logger.FlushInterval)
	}
	if c.HTTP.Addr != "" {
		if _, port, err := net.SplitHostPort(c.HTTP.Addr); err != nil {
			return fmt.Errorf("--http %q: want host:port like 127.0.0.1:8080 (or empty to disable the API): %w", c.HTTP.Addr, err)
		} else if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
			return fmt.Errorf("--http %q: port %q: want 0 to 65535", c.HTTP.Addr, port)
		}
	}
	if err := c.validateSecurity(); err != nil {
		return err
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		return fmt.Errorf("--log-format %q: want text or json", c.Log.Format)
	}
	switch strings.ToLower(c.Log.Level) {
	case "debug", "info", "warn", "error":
	default:
		return fmt.Errorf("--log-level %q: want debug, info, warn or error", c.Log.Level)
	}
	if c.ShutdownTimeout <= 0 {
		return fmt.Errorf("--shutdown-timeout %s: want a positive duration", c.ShutdownTimeout)
	}
	return nil
}

// Embedded reports whether the service runs its own nats-server.
func (c *Config) Embedded() bool { return c.NATS.URL == "" }

// checkToken is the rule for --environment and --service: a NATS subject
// token (event.CheckToken, the rule every store applies) without '/' or '\',
// because the file store and the spill name directories after them.
func checkToken(flag, v string) error {
	if err := event.CheckToken("the value", v); err != nil {
		return fmt.Errorf("%s %q: %w", flag, v, err)
	}
	if strings.ContainsAny(v, `/\`) {
		return fmt.Errorf("%s %q: want no '/' or '\\': the file store and the spill name a directory after it", flag, v)
	}
	return nil
}
