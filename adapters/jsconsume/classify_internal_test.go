package jsconsume

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/naq-go/events/ports"
)

// wire turns an error nats-server answers with into the *jetstream.APIError
// a client decodes from the JSON of the answer.
func wire(t *testing.T, e *server.ApiError) error {
	t.Helper()
	b, err := json.Marshal(e)
	require.NoError(t, err)
	var out jetstream.APIError
	require.NoError(t, json.Unmarshal(b, &out))
	require.NotZero(t, out.ErrorCode, "%s", b)
	return &out
}

// TestTransient: the answers of nats-server v2.15.2 and nats.go that New
// tries again, built with the server's own constructors, and those that
// end it at once.
func TestTransient(t *testing.T) {
	for _, tc := range []struct {
		name      string
		err       func(t *testing.T) error
		transient bool
	}{
		{"cluster not available 10008", func(t *testing.T) error { return wire(t, server.NewJSClusterNotAvailError()) }, true},
		{"cluster incomplete 10004", func(t *testing.T) error { return wire(t, server.NewJSClusterIncompleteError()) }, true},
		{"cluster not leader 10009", func(t *testing.T) error { return wire(t, server.NewJSClusterNotLeaderError()) }, true},
		{"cluster not assigned 10007", func(t *testing.T) error { return wire(t, server.NewJSClusterNotAssignedError()) }, true},
		{"JetStream not enabled (not ready) 10076", func(t *testing.T) error { return wire(t, server.NewJSNotEnabledError()) }, true},
		{"stream offline 10118", func(t *testing.T) error { return wire(t, server.NewJSStreamOfflineError()) }, true},
		{"member change in flight 10202", func(t *testing.T) error { return wire(t, server.NewJSClusterServerMemberChangeInflightError()) }, true},
		{"bare 503 status", func(*testing.T) error { return &jetstream.APIError{Code: 503, Description: "no responders"} }, true},
		{"nats.go ErrJetStreamNotEnabled", func(*testing.T) error { return jetstream.ErrJetStreamNotEnabled }, true},
		{"no responders", func(*testing.T) error { return nats.ErrNoResponders }, true},
		{"no stream response", func(*testing.T) error { return jetstream.ErrNoStreamResponse }, true},
		{"timeout", func(*testing.T) error { return nats.ErrTimeout }, true},
		{"deadline", func(*testing.T) error { return context.DeadlineExceeded }, true},
		{"disconnected", func(*testing.T) error { return nats.ErrDisconnected }, true},
		{"reconnecting", func(*testing.T) error { return nats.ErrConnectionReconnecting }, true},
		{"reconnect buffer (none, or full)", func(*testing.T) error { return nats.ErrReconnectBufExceeded }, true},
		{"draining", func(*testing.T) error { return nats.ErrConnectionDraining }, true},
		{"closed", func(*testing.T) error { return nats.ErrConnectionClosed }, true},
		{"wrapped", func(t *testing.T) error {
			return fmt.Errorf("consumer info: %w", wire(t, server.NewJSClusterNotAvailError()))
		}, true},

		{"stream not found 10059", func(t *testing.T) error { return wire(t, server.NewJSStreamNotFoundError()) }, false},
		{"nats.go ErrStreamNotFound", func(*testing.T) error { return jetstream.ErrStreamNotFound }, false},
		{"no suitable peers 10005", func(t *testing.T) error {
			return wire(t, server.NewJSClusterNoPeersError(errors.New("no suitable peers for placement")))
		}, false},
		{"insufficient resources 10023", func(t *testing.T) error { return wire(t, server.NewJSInsufficientResourcesError()) }, false},
		{"not enabled for account 10039", func(t *testing.T) error { return wire(t, server.NewJSNotEnabledForAccountError()) }, false},
		{"consumer config refused 10012", func(t *testing.T) error {
			return wire(t, server.NewJSConsumerCreateError(errors.New("bad")))
		}, false},
		{"permission", func(*testing.T) error { return fmt.Errorf("refused (%w)", ErrPermission) }, false},
		{"cancelled", func(*testing.T) error { return context.Canceled }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.err(t)
			assert.Equal(t, tc.transient, transient(err))
			got := classify(err)
			require.ErrorIs(t, got, err, "the original is kept")
			if tc.transient {
				assert.ErrorIs(t, got, ports.ErrUnavailable)
			} else {
				assert.NotErrorIs(t, got, ports.ErrUnavailable)
			}
		})
	}
}
