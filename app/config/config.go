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
	"os"
	"strconv"
	"strings"
	"time"
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
	Duplicates time.Duration // 2 minutes
}

// Logger tunes the buffered event logger.
type Logger struct {
	BatchSize     int
	FlushInterval time.Duration
	MaxBuffer     int
	Spill         bool // spill to DataDir/spill when NATS is unreachable
}

// HTTP is the API server.
type HTTP struct {
	Addr string // default 127.0.0.1:8080; empty disables the server
}

// Log configures the process's own log/slog output.
type Log struct {
	Format string // "text" (default) or "json"
	Level  string // "debug", "info" (default), "warn", "error"
}

// Default returns the configuration used when nothing is set.
func Default() Config {
	return Config{
		Environment: "dev",
		Service:     "naq",
		Storage:     StorageJetStream,
		DataDir:     defaultDataDir(),
		NATS: NATS{
			ConnectTimeout: 5 * time.Second,
			ReconnectWait:  2 * time.Second,
			MaxReconnects:  -1,
			PingInterval:   2 * time.Minute,
			MaxPingsOut:    2,
			EmbeddedHost:   "127.0.0.1",
			EmbeddedPort:   4222,
		},
		Stream: Stream{
			Name:       "naq_events",
			MaxAge:     7 * 24 * time.Hour,
			MaxMsgs:    1_000_000,
			MaxBytes:   1 << 30,
			Replicas:   1,
			Duplicates: 2 * time.Minute,
		},
		Logger: Logger{
			BatchSize:     500,
			FlushInterval: 100 * time.Millisecond,
			MaxBuffer:     10_000,
			Spill:         true,
		},
		HTTP: HTTP{Addr: "127.0.0.1:8080"},
		Log:  Log{Format: "text", Level: "info"},
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

// RegisterFlags defines the flags of c on fs. Each flag's default is c's
// current value overridden by its environment variable (read via getenv, nil
// means os.Getenv), so call it on Default() and parse fs afterwards. An
// environment value that does not parse is returned as an error naming the
// variable and value (the flag keeps its default).
func (c *Config) RegisterFlags(fs *flag.FlagSet, getenv Getenv) error {
	if getenv == nil {
		getenv = os.Getenv
	}
	var errs []error
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
				errs = append(errs, fmt.Errorf("environment %s=%q: not a duration like 5s or 2m: %w", env, v, err))
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
				errs = append(errs, fmt.Errorf("environment %s=%q: not an integer", env, v))
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
				errs = append(errs, fmt.Errorf("environment %s=%q: not an integer", env, v))
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
				errs = append(errs, fmt.Errorf("environment %s=%q: not true or false", env, v))
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
	str(&c.NATS.Password, "password", "NATS_PASSWORD", "NATS password")
	str(&c.NATS.Token, "token", "NATS_TOKEN", "NATS token")
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

	str(&c.HTTP.Addr, "http", "NAQ_HTTP_ADDR", "HTTP API listen address; empty disables it")
	str(&c.Log.Format, "log-format", "NAQ_LOG_FORMAT", "log format: text or json")
	str(&c.Log.Level, "log-level", "NAQ_LOG_LEVEL", "log level: debug, info, warn or error")
	return errors.Join(errs...)
}

// Validate reports the first setting that cannot work, naming it, its value
// and what would.
func (c *Config) Validate() error {
	switch c.Storage {
	case StorageJetStream, StorageMemory, StorageFile:
	default:
		return fmt.Errorf("--storage %q: want jetstream, memory or file", c.Storage)
	}
	for _, kv := range []struct{ name, v string }{{"--environment", c.Environment}, {"--service", c.Service}} {
		if kv.v == "" || strings.ContainsAny(kv.v, ".*> \t\n") {
			return fmt.Errorf("%s %q: want a non-empty NATS subject token without '.', '*', '>' or spaces", kv.name, kv.v)
		}
	}
	if c.DataDir == "" && (c.Storage == StorageFile || c.NATS.URL == "") {
		return errors.New("--data-dir is empty: the embedded server and file storage need a directory")
	}
	if (c.NATS.Cert == "") != (c.NATS.Key == "") {
		return fmt.Errorf("--tlscert %q and --tlskey %q: give both or neither", c.NATS.Cert, c.NATS.Key)
	}
	if c.Stream.Replicas < 1 || c.Stream.Replicas > 5 {
		return fmt.Errorf("--replicas %d: want 1 to 5", c.Stream.Replicas)
	}
	if c.Logger.BatchSize < 1 {
		return fmt.Errorf("--batch-size %d: want at least 1", c.Logger.BatchSize)
	}
	if c.Logger.MaxBuffer < c.Logger.BatchSize {
		return fmt.Errorf("--max-buffer %d: want at least --batch-size (%d)", c.Logger.MaxBuffer, c.Logger.BatchSize)
	}
	if c.Logger.FlushInterval <= 0 {
		return fmt.Errorf("--flush-interval %s: want a positive duration", c.Logger.FlushInterval)
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
	return nil
}

// Embedded reports whether the service runs its own nats-server.
func (c *Config) Embedded() bool { return c.NATS.URL == "" }
