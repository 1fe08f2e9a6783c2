package jsstore

import (
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestTakeEndOfBatch: a cursor takes a batch's messages and its
// end-of-batch status; an end of batch that announces more pending but
// brought no message is an error, never an answer that leaves the cursor
// where it was (each would ask the same again forever, or end the read
// early as if everything were read).
func TestTakeEndOfBatch(t *testing.T) {
	msg := func(seq string) *nats.Msg {
		return &nats.Msg{Header: nats.Header{"Nats-Sequence": {seq}, "Nats-Subject": {"a.b"}}, Data: []byte("{}")}
	}
	eob := func(pending string) *nats.Msg {
		return &nats.Msg{Header: nats.Header{"Status": {"204"}, "Description": {"EOB"}, numPendingHeader: {pending}}}
	}
	start := time.Now()
	for _, tt := range []struct {
		name     string
		cursor   func() *cursor
		msgs     []*nats.Msg
		wantErr  bool
		wantNext uint64
		wantDone bool
	}{
		{"by time, messages then more pending", func() *cursor { return &cursor{start: &start} },
			[]*nats.Msg{msg("7"), msg("9"), eob("4")}, false, 10, false},
		{"by time, messages then nothing pending", func() *cursor { return &cursor{start: &start} },
			[]*nats.Msg{msg("7"), eob("0")}, false, 8, true},
		{"by time, more pending but no message", func() *cursor { return &cursor{start: &start} },
			[]*nats.Msg{eob("4")}, true, 0, false},
		{"by sequence, more pending but no message", func() *cursor { return &cursor{next: 5} },
			[]*nats.Msg{eob("4")}, true, 5, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := tt.cursor()
			var (
				end bool
				err error
			)
			for i, m := range tt.msgs {
				require.False(t, end, "message %d after the end", i)
				end, err = c.take(m, false)
			}
			assert.True(t, end)
			if tt.wantErr {
				require.Error(t, err)
				assert.Contains(t, err.Error(), "no message")
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.wantNext, c.next)
			assert.Nil(t, c.start, "a cursor that has taken a message goes on by sequence")
			assert.Equal(t, tt.wantDone, c.done)
		})
	}
}
