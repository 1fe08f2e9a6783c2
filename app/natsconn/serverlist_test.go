package natsconn

import (
	"context"
	"flag"
	"io"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/naq-go/events/adapters/natsembed"
	"github.com/naq-go/events/app/config"
)

// TestConnect_ServerList: NATS_URL holding a comma-separated list (with
// spaces, as natscli accepts it) whose first server is dead connects to a
// live one, keeps the whole list for reconnects, and fails over to the
// other live server when the one it is on goes away.
func TestConnect_ServerList(t *testing.T) {
	a, err := natsembed.Start()
	require.NoError(t, err)
	t.Cleanup(a.Shutdown)
	b, err := natsembed.Start()
	require.NoError(t, err)
	t.Cleanup(b.Shutdown)
	dead := "nats://127.0.0.1:" + strconv.Itoa(freePort(t))
	list := dead + " , " + a.ClientURL() + "," + b.ClientURL()

	cfg := config.Default()
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	env := map[string]string{"NATS_URL": list}
	require.NoError(t, cfg.RegisterFlags(fs, func(k string) string { return env[k] }))
	require.NoError(t, fs.Parse(nil))
	require.Equal(t, list, cfg.NATS.URL)
	require.False(t, cfg.Embedded())
	cfg.NATS.ReconnectWait = 20 * time.Millisecond

	nc, err := Connect(context.Background(), cfg.NATS, "naq-test")
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	on := nc.ConnectedUrl()
	require.Contains(t, []string{a.ClientURL(), b.ClientURL()}, on)
	var servers []string
	for _, s := range nc.Servers() {
		servers = append(servers, strings.TrimSuffix(s, "/"))
	}
	assert.ElementsMatch(t, []string{dead, a.ClientURL(), b.ClientURL()}, servers)

	other := b.ClientURL()
	if on == a.ClientURL() {
		a.Shutdown()
	} else {
		other = a.ClientURL()
		b.Shutdown()
	}
	require.Eventually(t, func() bool { return nc.IsConnected() && nc.ConnectedUrl() == other },
		10*time.Second, 5*time.Millisecond, "no fail-over to %s", other)
	require.NoError(t, nc.Flush())
}

// TestConnect_ServerListAllDead: when no server of the list answers, the
// error names the list, with its passwords hidden.
func TestConnect_ServerListAllDead(t *testing.T) {
	cfg := config.Default().NATS
	p1, p2 := strconv.Itoa(freePort(t)), strconv.Itoa(freePort(t))
	cfg.URL = "nats://bob:secret@127.0.0.1:" + p1 + ",nats://127.0.0.1:" + p2
	cfg.ConnectTimeout = time.Second
	_, err := Connect(context.Background(), cfg, "test")
	require.ErrorIs(t, err, ErrUnreachable)
	assert.Contains(t, err.Error(), "bob:xxxxx@127.0.0.1:"+p1+",nats://127.0.0.1:"+p2)
	assert.NotContains(t, err.Error(), "secret")
}
