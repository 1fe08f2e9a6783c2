package logging

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/naq-go/events/app/config"
)

func TestNew(t *testing.T) {
	tests := []struct {
		name        string
		cfg         config.Log
		want, wantN string // in / not in the output
		err         string
	}{
		{"text info", config.Log{Format: "text", Level: "info"}, "level=INFO msg=shown", "hidden", ""},
		{"json debug", config.Log{Format: "json", Level: "DEBUG"}, `"msg":"hidden"`, "level=", ""},
		{"warn", config.Log{Format: "text", Level: "warn"}, "", "shown", ""},
		{"bad level", config.Log{Format: "text", Level: "loud"}, "", "", `--log-level "loud"`},
		{"bad format", config.Log{Format: "xml", Level: "info"}, "", "", `--log-format "xml"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			l, err := New(tt.cfg, &buf)
			if tt.err != "" {
				require.Error(t, err)
				assert.ErrorIs(t, err, ErrConfig)
				assert.Contains(t, err.Error(), tt.err)
				return
			}
			require.NoError(t, err)
			l.Debug("hidden")
			l.Info("shown")
			assert.Contains(t, buf.String(), tt.want)
			if tt.wantN != "" {
				assert.NotContains(t, buf.String(), tt.wantN)
			}
		})
	}
}
