package natsembed_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/naq-go/events/adapters/natsembed"
	"github.com/naq-go/events/ports"
)

// TestInvalidOptions: a value out of an option's range fails Start with
// ports.ErrInvalid naming the option and the value, before anything is
// started or created.
func TestInvalidOptions(t *testing.T) {
	tests := []struct {
		opt  natsembed.Option
		want string
	}{
		{natsembed.WithPort(-2), "WithPort(-2)"},
		{natsembed.WithPort(65536), "WithPort(65536)"},
		{natsembed.WithMaxPayload(-1), "WithMaxPayload(-1)"},
		{natsembed.WithMaxPayload(64<<20 + 1), "WithMaxPayload(67108865)"},
		{natsembed.WithReadyTimeout(0), "WithReadyTimeout(0s)"},
		{natsembed.WithReadyTimeout(-time.Second), "WithReadyTimeout(-1s)"},
		{natsembed.WithServerName("my server"), `WithServerName("my server")`},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "store")
			srv, err := natsembed.Start(natsembed.WithStoreDir(dir), tt.opt)
			require.Error(t, err)
			assert.Nil(t, srv)
			assert.ErrorIs(t, err, ports.ErrInvalid)
			assert.Contains(t, err.Error(), tt.want)
			_, statErr := os.Stat(dir)
			assert.True(t, os.IsNotExist(statErr), "nothing created for a bad option")
		})
	}
}

func TestDefaults(t *testing.T) {
	assert.Equal(t, 4222, natsembed.StandardPort)
	srv, err := natsembed.Start()
	require.NoError(t, err)
	defer srv.Shutdown()
	assert.Contains(t, srv.ClientURL(), natsembed.DefaultHost)
	assert.NotEqual(t, natsembed.StandardPort, srv.Port(), "DefaultPort picks a free port")
}
