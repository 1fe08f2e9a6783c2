package memstore_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/naq-go/events/adapters/memstore"
	"github.com/naq-go/events/ports"
)

// TestOpenRejectsInvalidValues: Open reports a value out of an option's
// range as an error wrapping ports.ErrInvalid that names the option and the
// value; the first bad option is the one reported.
func TestOpenRejectsInvalidValues(t *testing.T) {
	cases := []struct {
		opts []memstore.Option
		want string
	}{
		{[]memstore.Option{memstore.WithEnvironment("a.b")}, `WithEnvironment("a.b")`},
		{[]memstore.Option{memstore.WithService("")}, `WithService("")`},
		{[]memstore.Option{memstore.WithMaxAge(-time.Second)}, "WithMaxAge(-1s)"},
		{[]memstore.Option{memstore.WithMaxEvents(-1)}, "WithMaxEvents(-1)"},
		{[]memstore.Option{memstore.WithClock(nil)}, "WithClock(nil)"},
		{[]memstore.Option{memstore.WithBackend(nil)}, "WithBackend(nil)"},
		{[]memstore.Option{memstore.WithMaxEvents(-2), memstore.WithMaxAge(-time.Hour)}, "WithMaxEvents(-2)"},
	}
	for _, c := range cases {
		t.Run(c.want, func(t *testing.T) {
			st, err := memstore.Open(c.opts...)
			require.Error(t, err)
			assert.Nil(t, st)
			assert.ErrorIs(t, err, ports.ErrInvalid)
			assert.Contains(t, err.Error(), c.want)
		})
	}
	st, err := memstore.Open(memstore.WithEnvironment("prod"), memstore.WithMaxEvents(0))
	require.NoError(t, err)
	require.NoError(t, st.Close())
}
