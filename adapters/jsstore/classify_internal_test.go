package jsstore

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

	"github.com/naq-go/events/domain/event"
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

// TestClassify: every transient cluster answer of nats-server v2.15.2 and
// nats.go wraps ports.ErrUnavailable (and keeps the original); the
// permanent ones do not.
func TestClassify(t *testing.T) {
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
		{"nats.go ErrJetStreamNotEnabled", func(*testing.T) error { return jetstream.ErrJetStreamNotEnabled }, true},
		{"stream offline 10118", func(t *testing.T) error { return wire(t, server.NewJSStreamOfflineError()) }, true},
		{"last seq per subject not ready 10163", func(t *testing.T) error {
			return wire(t, server.NewJSStreamExpectedLastSeqPerSubjectNotReadyError())
		}, true},
		{"member change in flight 10202", func(t *testing.T) error { return wire(t, server.NewJSClusterServerMemberChangeInflightError()) }, true},
		{"fast batch unknown (state lost) 10208", func(t *testing.T) error { return wire(t, server.NewJSBatchPublishUnknownBatchIDError()) }, true},
		{"fast batch too many in flight 10211", func(t *testing.T) error { return wire(t, server.NewJSBatchPublishTooManyInflightError()) }, true},
		{"bare 503 status", func(*testing.T) error { return &jetstream.APIError{Code: 503, Description: "no responders"} }, true},
		{"no responders", func(*testing.T) error { return nats.ErrNoResponders }, true},
		{"no stream response (leader changed)", func(*testing.T) error { return jetstream.ErrNoStreamResponse }, true},
		{"timeout", func(*testing.T) error { return nats.ErrTimeout }, true},
		{"deadline", func(*testing.T) error { return context.DeadlineExceeded }, true},
		{"async publish timeout", func(*testing.T) error { return jetstream.ErrAsyncPublishTimeout }, true},
		{"reconnecting", func(*testing.T) error { return nats.ErrConnectionReconnecting }, true},
		{"reconnect buffer", func(*testing.T) error { return nats.ErrReconnectBufExceeded }, true},
		{"disconnected", func(*testing.T) error { return nats.ErrDisconnected }, true},
		{"wrapped", func(t *testing.T) error {
			return fmt.Errorf("stream info: %w", wire(t, server.NewJSClusterNotAvailError()))
		}, true},

		{"stream not found 10059", func(t *testing.T) error { return wire(t, server.NewJSStreamNotFoundError()) }, false},
		{"nats.go ErrStreamNotFound", func(*testing.T) error { return jetstream.ErrStreamNotFound }, false},
		{"no suitable peers 10005", func(t *testing.T) error {
			return wire(t, server.NewJSClusterNoPeersError(errors.New("no suitable peers for placement")))
		}, false},
		{"insufficient resources 10023", func(t *testing.T) error { return wire(t, server.NewJSInsufficientResourcesError()) }, false},
		{"not enabled for account 10039", func(t *testing.T) error { return wire(t, server.NewJSNotEnabledForAccountError()) }, false},
		{"clustering required 10010", func(t *testing.T) error { return wire(t, server.NewJSClusterRequiredError()) }, false},
		{"stream offline, unsupported 10194", func(t *testing.T) error {
			return wire(t, server.NewJSStreamOfflineReasonError(errors.New("unsupported")))
		}, false},
		{"batch publish disabled 10205", func(t *testing.T) error { return wire(t, server.NewJSBatchPublishDisabledError()) }, false},
		{"message too large 10054", func(t *testing.T) error { return wire(t, server.NewJSStreamMessageExceedsMaximumError()) }, false},
		{"invalid event", func(*testing.T) error { return event.ErrInvalid }, false},
		{"other", func(*testing.T) error { return errors.New("boom") }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.err(t)
			got := classify(err)
			require.ErrorIs(t, got, err, "the original stays in the chain")
			assert.Equal(t, tc.transient, errors.Is(got, ports.ErrUnavailable))
			assert.Equal(t, tc.transient, transient(err))
		})
	}
}
