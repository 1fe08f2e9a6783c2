package natsconn

import (
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestPublishDenied: every subject the server refused a publish to is
// recorded (not only the latest, as nc.LastError), with its time; a
// connection not made by Connect gets nil.
func TestPublishDenied(t *testing.T) {
	s, nc := connectLimited(t, &server.Permissions{
		Publish: &server.SubjectPermission{Allow: []string{"ok.>"}},
	}, "publish denied test")
	denied := PublishDenied(nc)
	require.NotNil(t, denied)

	before := time.Now()
	for _, subj := range []string{"no.a", "ok.a", "no.b"} {
		require.NoError(t, nc.Publish(subj, nil))
	}
	require.NoError(t, nc.Flush()) // the -ERRs come before the PONG ...
	deadline := time.Now().Add(5 * time.Second)
	for (!denied("no.a", before) || !denied("no.b", before)) && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond) // ... the error handler runs on nats.go's callback goroutine
	}
	assert.True(t, denied("no.a", before), "the first refusal is kept after a later one")
	assert.True(t, denied("no.b", before))
	assert.False(t, denied("ok.a", before), "allowed")
	assert.False(t, denied("no.c", before), "never published")
	assert.False(t, denied("no.a", time.Now().Add(time.Second)), "refused before since")

	other, err := nats.Connect(s.ClientURL(), nats.UserInfo("u", "p"))
	require.NoError(t, err)
	defer other.Close()
	assert.Nil(t, PublishDenied(other), "not made by Connect")
}
