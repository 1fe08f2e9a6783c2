package filestore_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/naq-go/events/adapters/filestore"
	"github.com/naq-go/events/ports"
)

// TestOpenNamesTheOption: Open's error for a value out of range wraps
// ports.ErrInvalid and names the option that was given and the value.
func TestOpenNamesTheOption(t *testing.T) {
	for _, tc := range []struct {
		opt  filestore.Option
		want []string
	}{
		{filestore.WithEnvironment("a.b"), []string{"WithEnvironment", `"a.b"`}},
		{filestore.WithService(`a\b`), []string{"WithService", `"a\\b"`}},
		{filestore.WithSegmentSize(filestore.MaxSegmentSize + 1), []string{"WithSegmentSize", "1099511627777"}},
		{filestore.WithMaxAge(-time.Minute), []string{"WithMaxAge", "-1m0s"}},
		{filestore.WithMaxBytes(-7), []string{"WithMaxBytes", "-7"}},
		{filestore.WithMaxEvents(-3), []string{"WithMaxEvents", "-3"}},
		{filestore.WithSync(filestore.SyncInterval(-time.Second)), []string{"WithSync", "-1s"}},
	} {
		t.Run(tc.want[0], func(t *testing.T) {
			st, err := filestore.Open(t.TempDir(), tc.opt)
			require.ErrorIs(t, err, ports.ErrInvalid)
			assert.Nil(t, st)
			for _, w := range tc.want {
				assert.Contains(t, err.Error(), w)
			}
		})
	}
}
