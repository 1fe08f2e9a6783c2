package config

import (
	"flag"
	"io"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func envOf(m map[string]string) Getenv { return func(k string) string { return m[k] } }

// load registers the flags of Default() with env and parses args.
func load(t *testing.T, env map[string]string, args ...string) (Config, *flag.FlagSet, error) {
	t.Helper()
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	cfg := Default()
	envErr := cfg.RegisterFlags(fs, envOf(env))
	require.NoError(t, fs.Parse(args))
	return cfg, fs, EnvErrors(envErr, fs)
}

func TestPrecedence(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		args []string
		want func(*testing.T, Config)
	}{
		{"defaults", nil, nil, func(t *testing.T, c Config) {
			assert.Empty(t, c.NATS.URL)
			assert.Equal(t, 2000, c.Logger.BatchSize)
			assert.Equal(t, 5*time.Second, c.NATS.ConnectTimeout)
			assert.True(t, c.Embedded())
		}},
		{"env over default", map[string]string{
			"NATS_URL": "nats://a:4222", "NAQ_BATCH_SIZE": "50", "NAQ_FLUSH_INTERVAL": "1s",
			"NAQ_SPILL": "false", "NATS_CREDS": "/x.creds", "NAQ_MAX_MSGS": "7",
		}, nil, func(t *testing.T, c Config) {
			assert.Equal(t, "nats://a:4222", c.NATS.URL)
			assert.Equal(t, 50, c.Logger.BatchSize)
			assert.Equal(t, time.Second, c.Logger.FlushInterval)
			assert.False(t, c.Logger.Spill)
			assert.Equal(t, "/x.creds", c.NATS.Creds)
			assert.Equal(t, int64(7), c.Stream.MaxMsgs)
			assert.False(t, c.Embedded())
		}},
		{"flag over env", map[string]string{"NATS_URL": "nats://a:4222", "NAQ_BATCH_SIZE": "50"},
			[]string{"--server", "nats://b:4222", "--batch-size", "9"}, func(t *testing.T, c Config) {
				assert.Equal(t, "nats://b:4222", c.NATS.URL)
				assert.Equal(t, 9, c.Logger.BatchSize)
			}},
		{"flag over default", nil, []string{"--storage", "memory", "--shutdown-timeout", "3s"}, func(t *testing.T, c Config) {
			assert.Equal(t, StorageMemory, c.Storage)
			assert.Equal(t, 3*time.Second, c.ShutdownTimeout)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, _, err := load(t, tt.env, tt.args...)
			require.NoError(t, err)
			tt.want(t, cfg)
			assert.NoError(t, cfg.Validate())
		})
	}
}

func TestBadEnvNamed(t *testing.T) {
	tests := []struct {
		env, value, flag string
	}{
		{"NAQ_BATCH_SIZE", "lots", "batch-size"},
		{"NAQ_FLUSH_INTERVAL", "5", "flush-interval"},
		{"NAQ_SPILL", "maybe", "spill"},
		{"NAQ_MAX_BYTES", "1GB", "max-bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.env, func(t *testing.T) {
			cfg, _, err := load(t, map[string]string{tt.env: tt.value})
			require.Error(t, err)
			assert.ErrorIs(t, err, ErrEnv)
			var ee *EnvError
			require.ErrorAs(t, err, &ee)
			assert.Equal(t, tt.env, ee.Var)
			assert.Equal(t, tt.flag, ee.Flag)
			assert.Contains(t, err.Error(), tt.env)
			assert.Contains(t, err.Error(), tt.value)
			// The flag keeps its default.
			def := Default()
			assert.Equal(t, def.Logger, cfg.Logger)
			assert.Equal(t, def.Stream.MaxBytes, cfg.Stream.MaxBytes)
		})
	}
	t.Run("overridden by its flag", func(t *testing.T) {
		cfg, _, err := load(t, map[string]string{"NAQ_BATCH_SIZE": "lots"}, "--batch-size", "7")
		require.NoError(t, err)
		assert.Equal(t, 7, cfg.Logger.BatchSize)
	})
	t.Run("two bad, one overridden", func(t *testing.T) {
		_, _, err := load(t, map[string]string{"NAQ_BATCH_SIZE": "lots", "NAQ_MAX_BUFFER": "x"}, "--batch-size", "7")
		require.Error(t, err)
		assert.Contains(t, err.Error(), "NAQ_MAX_BUFFER")
		assert.NotContains(t, err.Error(), "NAQ_BATCH_SIZE")
	})
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Config)
		want   string // substring of the error; "" = valid
	}{
		{"default", func(*Config) {}, ""},
		{"memory without data dir", func(c *Config) {
			c.Storage = StorageMemory
			c.DataDir = ""
			c.NATS.URL = "nats://x"
			c.Logger.Spill = false
		}, ""},
		{"random embedded port", func(c *Config) { c.NATS.EmbeddedPort = -1 }, ""},
		{"storage", func(c *Config) { c.Storage = "redis" }, `--storage "redis"`},
		{"environment dot", func(c *Config) { c.Environment = "a.b" }, `--environment "a.b"`},
		{"service empty", func(c *Config) { c.Service = "" }, `--service ""`},
		{"data dir", func(c *Config) { c.DataDir = "" }, "--data-dir"},
		{"half tls", func(c *Config) { c.NATS.Cert = "c.pem" }, "--tlscert"},
		{"connect timeout", func(c *Config) { c.NATS.ConnectTimeout = 0 }, "--connect-timeout"},
		{"max reconnects", func(c *Config) { c.NATS.MaxReconnects = -2 }, "--max-reconnects -2"},
		{"ping interval", func(c *Config) { c.NATS.PingInterval = 0 }, "--ping-interval"},
		{"pings out", func(c *Config) { c.NATS.MaxPingsOut = 0 }, "--max-pings-out 0"},
		{"embedded port", func(c *Config) { c.NATS.EmbeddedPort = 70000 }, "--embedded-port 70000"},
		{"stream name", func(c *Config) { c.Stream.Name = "a.b" }, `--stream "a.b"`},
		{"max age", func(c *Config) { c.Stream.MaxAge = -time.Second }, "--max-age"},
		{"max msgs", func(c *Config) { c.Stream.MaxMsgs = -1 }, "--max-msgs -1"},
		{"max bytes", func(c *Config) { c.Stream.MaxBytes = -1 }, "--max-bytes -1"},
		{"replicas", func(c *Config) { c.Stream.Replicas = 6 }, "--replicas 6"},
		{"duplicates", func(c *Config) { c.Stream.Duplicates = 0 }, "--duplicates"},
		{"duplicates over age", func(c *Config) { c.Stream.MaxAge = 10 * time.Second }, "--duplicates 30s"},
		{"batch size", func(c *Config) { c.Logger.BatchSize = 0 }, "--batch-size 0"},
		{"buffer", func(c *Config) { c.Logger.MaxBuffer = 10 }, "--max-buffer 10"},
		{"spill max", func(c *Config) { c.Logger.SpillMax = 0 }, "--spill-max-events 0"},
		{"pipeline depth", func(c *Config) { c.Logger.PipelineDepth = 3 }, "--pipeline-depth 3: want 1"},
		{"flush interval", func(c *Config) { c.Logger.FlushInterval = 0 }, "--flush-interval"},
		{"http", func(c *Config) { c.HTTP.Addr = "8080" }, `--http "8080"`},
		{"http port", func(c *Config) { c.HTTP.Addr = ":99999" }, `--http ":99999"`},
		{"http disabled", func(c *Config) { c.HTTP.Addr = "" }, ""},
		{"log format", func(c *Config) { c.Log.Format = "xml" }, `--log-format "xml"`},
		{"log level", func(c *Config) { c.Log.Level = "loud" }, `--log-level "loud"`},
		{"shutdown", func(c *Config) { c.ShutdownTimeout = 0 }, "--shutdown-timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Default()
			c.DataDir = t.TempDir()
			tt.mutate(&c)
			err := c.Validate()
			if tt.want == "" {
				assert.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.ErrorIs(t, err, ErrInvalid)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
}

func TestDefaultDataDir(t *testing.T) {
	t.Setenv("XDG_DATA_HOME", "/xdg")
	assert.Equal(t, "/xdg/naq-events", Default().DataDir)
}
