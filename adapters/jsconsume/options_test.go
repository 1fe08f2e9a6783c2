package jsconsume_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/naq-go/events/adapters/jsconsume"
	"github.com/naq-go/events/domain/event"
)

// TestNewRejectsBadOptionValues is the adapter layer's rule for option
// values (doc.go): a value outside an option's documented range makes New
// fail with an error wrapping event.ErrInvalid that names the option and
// the value, rather than falling back to a default.
func TestNewRejectsBadOptionValues(t *testing.T) {
	h := newHarness(t)
	tests := []struct {
		name string
		opt  jsconsume.Option
		want string
	}{
		{"empty stream", jsconsume.WithStream(""), "WithStream"},
		{"empty durable", jsconsume.WithDurable(""), "WithDurable"},
		{"zero ack wait", jsconsume.WithAckWait(0), "WithAckWait 0s"},
		{"zero max deliver", jsconsume.WithMaxDeliver(0), "WithMaxDeliver 0"},
		{"max deliver below -1", jsconsume.WithMaxDeliver(-2), "WithMaxDeliver -2"},
		{"non-positive backoff", jsconsume.WithBackoff(time.Second, 0), "WithBackoff delay 1"},
		{"zero max ack pending", jsconsume.WithMaxAckPending(0), "WithMaxAckPending 0"},
		{"zero pull batch", jsconsume.WithPullBatch(0), "WithPullBatch 0"},
		{"short pull expiry", jsconsume.WithPullExpiry(500 * time.Millisecond), "WithPullExpiry 500ms"},
		{"zero check interval", jsconsume.WithCheckInterval(0), "WithCheckInterval 0s"},
		{"dead-letter stream with dot", jsconsume.WithDeadLetter("a.b", "x"), "WithDeadLetter stream"},
		{"dead-letter prefix with wildcard", jsconsume.WithDeadLetter("dlq", "x.*"), "WithDeadLetter subject prefix"},
		{"dead-letter prefix empty", jsconsume.WithDeadLetter("dlq", ""), "WithDeadLetter subject prefix"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src, err := jsconsume.New(context.Background(), h.js, tt.opt)
			require.ErrorIs(t, err, event.ErrInvalid)
			assert.Nil(t, src)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
	// The values at the edges of the ranges are accepted.
	_, err := jsconsume.New(context.Background(), h.js, jsconsume.WithMaxDeliver(-1), jsconsume.WithPullExpiry(time.Second),
		jsconsume.WithDeadLetter("dlq2", "dead.letters"), jsconsume.WithMaxAckPending(1), jsconsume.WithPullBatch(1),
		jsconsume.WithSlog(nil)) // nil keeps slog.Default(), as everywhere
	require.NoError(t, err)
}
