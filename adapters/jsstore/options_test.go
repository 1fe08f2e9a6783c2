package jsstore_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/naq-go/events/adapters/jsstore"
	"github.com/naq-go/events/ports"
)

// TestOptionsNameTheOption: every option's out-of-range value fails New
// with ports.ErrInvalid naming the option and the value, before the
// connection is used (here there is none).
func TestOptionsNameTheOption(t *testing.T) {
	tests := []struct {
		opt  jsstore.Option
		want string
	}{
		{jsstore.WithEnvironment("a.b"), `WithEnvironment: invalid event: environment "a.b"`},
		{jsstore.WithService("x y"), `WithService: invalid event: service "x y"`},
		{jsstore.WithStream("a/b"), `WithStream("a/b")`},
		{jsstore.WithMaxAge(-time.Second), "WithMaxAge(-1s)"},
		{jsstore.WithMaxMsgs(-1), "WithMaxMsgs(-1)"},
		{jsstore.WithMaxBytes(-2), "WithMaxBytes(-2)"},
		{jsstore.WithReplicas(6), "WithReplicas(6)"},
		{jsstore.WithDuplicates(-time.Minute), "WithDuplicates(-1m0s)"},
		{jsstore.WithAckTimeout(0), "WithAckTimeout(0s)"},
		{jsstore.WithMaxPending(0), "WithMaxPending(0)"},
		{jsstore.WithTimeout(0), "WithTimeout(0s)"},
		{jsstore.WithClockSkew(-time.Second), "WithClockSkew(-1s)"},
		{jsstore.WithMaxScan(-1), "WithMaxScan(-1)"},
		{jsstore.WithMaxLateness(-time.Second), "WithMaxLateness(-1s)"},
		{jsstore.WithStorage(7), "WithStorage(7)"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			st, err := jsstore.New(t.Context(), nil, tt.opt)
			require.ErrorIs(t, err, ports.ErrInvalid)
			assert.Nil(t, st)
			assert.Contains(t, err.Error(), tt.want)
			assert.NotContains(t, err.Error(), "nil *nats.Conn", "the option is checked first")
		})
	}
}
