package config_test

import (
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/naq-go/events/adapters/filestore"
	"github.com/naq-go/events/adapters/jsconsume"
	"github.com/naq-go/events/adapters/jsstore"
	"github.com/naq-go/events/adapters/memstore"
	"github.com/naq-go/events/adapters/natsembed"
	"github.com/naq-go/events/app/config"
	"github.com/naq-go/events/app/httpapi"
	"github.com/naq-go/events/domain/event"
	"github.com/naq-go/events/domain/logger"
)

// TestDefaultsAgree pins that Default() is what the packages it configures
// do when nothing is set, and that those are the values docs/service.md
// states. A default changed in one place fails here until the other places
// (and the docs) agree.
func TestDefaultsAgree(t *testing.T) {
	c := config.Default()
	tests := []struct {
		name      string
		got, pkgs any // config's value; the owning packages' defaults
		doc       any // the value docs/service.md states
		alsoAgree []any
	}{
		{"environment", c.Environment, jsstore.DefaultEnvironment, "dev", []any{memstore.DefaultEnvironment, filestore.DefaultEnvironment}},
		{"service", c.Service, jsstore.DefaultService, "naq", []any{memstore.DefaultService, filestore.DefaultService}},
		{"stream", c.Stream.Name, jsstore.DefaultStream, "naq_events", []any{jsconsume.DefaultStream}},
		{"max age", c.Stream.MaxAge, jsstore.DefaultMaxAge, 7 * 24 * time.Hour, nil},
		{"max msgs", c.Stream.MaxMsgs, int64(jsstore.DefaultMaxMsgs), int64(1_000_000), nil},
		{"max bytes", c.Stream.MaxBytes, int64(jsstore.DefaultMaxBytes), int64(1 << 30), nil},
		{"replicas", c.Stream.Replicas, jsstore.DefaultReplicas, 1, nil},
		{"duplicates", c.Stream.Duplicates, jsstore.DefaultDuplicates, 30 * time.Second, nil},
		{"batch size", c.Logger.BatchSize, logger.DefaultBatchSize, 2000, nil},
		{"flush interval", c.Logger.FlushInterval, logger.DefaultFlushInterval, 100 * time.Millisecond, nil},
		{"max buffer", c.Logger.MaxBuffer, logger.DefaultMaxBufferSize, 20_000, nil},
		{"spill max events", c.Logger.SpillMax, logger.DefaultSpillLimit, 1_000_000, nil},
		{"pipeline depth", c.Logger.PipelineDepth, logger.DefaultPipelineDepth, 2, nil},
		{"connect timeout", c.NATS.ConnectTimeout, config.DefaultConnectTimeout, 5 * time.Second, nil},
		{"reconnect wait", c.NATS.ReconnectWait, nats.DefaultReconnectWait, 2 * time.Second, nil},
		{"max reconnects", c.NATS.MaxReconnects, config.DefaultMaxReconnects, -1, nil},
		{"ping interval", c.NATS.PingInterval, nats.DefaultPingInterval, 2 * time.Minute, nil},
		{"max pings out", c.NATS.MaxPingsOut, nats.DefaultMaxPingOut, 2, nil},
		{"embedded host", c.NATS.EmbeddedHost, natsembed.DefaultHost, "127.0.0.1", nil},
		{"embedded port", c.NATS.EmbeddedPort, natsembed.StandardPort, 4222, nil},
		{"http", c.HTTP.Addr, config.DefaultHTTPAddr, "127.0.0.1:8080", nil},
		{"max streams", c.HTTP.MaxStreams, config.DefaultMaxStreams, 256, []any{httpapi.DefaultMaxStreams}},
		{"log format", c.Log.Format, config.DefaultLogFormat, "text", nil},
		{"log level", c.Log.Level, config.DefaultLogLevel, "info", nil},
		{"shutdown timeout", c.ShutdownTimeout, config.DefaultShutdownTimeout, 15 * time.Second, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.pkgs, tt.got, "Default() builds on the package's default")
			assert.Equal(t, tt.doc, tt.got, "the value docs/service.md states")
			for _, v := range tt.alsoAgree {
				assert.Equal(t, tt.got, v, "every package with this default agrees")
			}
		})
	}
	assert.True(t, c.Logger.Spill)
	assert.Equal(t, config.StorageJetStream, c.Storage)
}

// TestTokenRuleIsCheckToken: --environment and --service accept exactly
// what event.CheckToken accepts (the rule of every store), minus '/' and
// '\' (directory names of the file store and the spill), and the error
// names the flag, the value and CheckToken's reason.
func TestTokenRuleIsCheckToken(t *testing.T) {
	values := []string{
		"prod", "staging-2", "héllo", "a_b", strings.Repeat("a", event.MaxTokenLen),
		"", "a.b", "a*", ">", "a b", "tab\t", "nul\x00", "\xff", "\uFFFD", strings.Repeat("a", event.MaxTokenLen+1),
	}
	for _, flag := range []string{"--environment", "--service"} {
		for _, v := range values {
			t.Run(flag+"="+v, func(t *testing.T) {
				got := validateWith(t, flag, v)
				want := event.CheckToken("the value", v)
				if want == nil {
					assert.NoError(t, got)
					return
				}
				require.Error(t, got)
				assert.ErrorIs(t, got, config.ErrInvalid)
				assert.ErrorIs(t, got, event.ErrInvalid)
				assert.Contains(t, got.Error(), flag)
				assert.Contains(t, got.Error(), want.Error(), "CheckToken's reason")
			})
		}
		for _, v := range []string{"a/b", `a\b`} {
			err := validateWith(t, flag, v)
			require.NoError(t, event.CheckToken("x", v), "a valid subject token")
			require.Error(t, err, "but not a directory name")
			assert.ErrorIs(t, err, config.ErrInvalid)
			assert.Contains(t, err.Error(), "directory")
			assert.Contains(t, err.Error(), flag)
		}
	}
}

// validateWith validates the default configuration with flag
// (--environment or --service) set to v.
func validateWith(t *testing.T, flag, v string) error {
	c := config.Default()
	c.DataDir = t.TempDir()
	if flag == "--environment" {
		c.Environment = v
	} else {
		c.Service = v
	}
	return c.Validate()
}
