package natstest_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/naq-go/events/test/natstest"
)

// connect dials srv with reconnects forever and reports disconnects and
// reconnects on the returned channels.
func connect(t *testing.T, url string) (nc *nats.Conn, disconnected, reconnected <-chan struct{}) {
	t.Helper()
	down := make(chan struct{}, 16)
	up := make(chan struct{}, 16)
	nc, err := nats.Connect(url,
		nats.MaxReconnects(-1),
		nats.ReconnectWait(100*time.Millisecond),
		nats.DisconnectErrHandler(func(*nats.Conn, error) { down <- struct{}{} }),
		nats.ReconnectHandler(func(*nats.Conn) { up <- struct{}{} }),
	)
	require.NoError(t, err, "connect to %s", url)
	t.Cleanup(nc.Close)
	return nc, down, up
}

func await(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(60 * time.Second):
		t.Fatalf("no %s within 60s", what)
	}
}

// fill creates a file-backed stream and publishes n acknowledged messages.
func fill(ctx context.Context, t *testing.T, js jetstream.JetStream, name string, n int) jetstream.Stream {
	t.Helper()
	st, err := js.CreateStream(ctx, jetstream.StreamConfig{
		Name:     name,
		Subjects: []string{name + ".>"},
		Storage:  jetstream.FileStorage,
	})
	require.NoError(t, err)
	for i := range n {
		_, err := js.Publish(ctx, fmt.Sprintf("%s.job-%d", name, i%7), fmt.Appendf(nil, "msg-%d", i),
			jetstream.WithMsgID(fmt.Sprintf("id-%d", i)))
		require.NoError(t, err, "publish %d", i)
	}
	return st
}

// checkStream asserts the stream still holds messages 1..n with their payloads.
func checkStream(ctx context.Context, t *testing.T, js jetstream.JetStream, name string, n int) {
	t.Helper()
	st, err := js.Stream(ctx, name)
	require.NoError(t, err, "stream %s after restart", name)
	info, err := st.Info(ctx)
	require.NoError(t, err)
	assert.Equal(t, uint64(n), info.State.Msgs, "messages kept")
	assert.Equal(t, uint64(1), info.State.FirstSeq)
	assert.Equal(t, uint64(n), info.State.LastSeq)
	for _, seq := range []uint64{1, uint64(n)} {
		m, err := st.GetMsg(ctx, seq)
		require.NoError(t, err, "get seq %d", seq)
		assert.Equal(t, fmt.Sprintf("msg-%d", seq-1), string(m.Data), "payload of seq %d", seq)
	}
}

func TestRun_ServesJetStream(t *testing.T) {
	srv := natstest.Run(t)
	ctx := t.Context()

	nc, _, _ := connect(t, srv.URL())
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	_, err = js.AccountInfo(ctx)
	require.NoError(t, err, "JetStream enabled in the container")

	fill(ctx, t, js, "SERVES", 10)
	checkStream(ctx, t, js, "SERVES", 10)

	// The de-duplication window works as the store relies on it.
	ack, err := js.Publish(ctx, "SERVES.job-0", []byte("again"), jetstream.WithMsgID("id-0"))
	require.NoError(t, err)
	assert.True(t, ack.Duplicate, "same Nats-Msg-Id is a duplicate")

	resp, err := http.Get(srv.MonitorURL(t) + "/healthz")
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	assert.Equal(t, http.StatusOK, resp.StatusCode, "monitoring port reachable")
}

func TestStartNATS_ReturnsLoopbackURL(t *testing.T) {
	url := natstest.StartNATS(t)
	assert.Regexp(t, `^nats://127\.0\.0\.1:\d+$`, url)
	nc, _, _ := connect(t, url)
	assert.NoError(t, nc.Flush())
}

// The container survives a NATS restart with its data: a graceful stop and a
// SIGKILL both keep every acknowledged message, the URL stays the same and a
// client reconnects by itself.
func TestServer_RestartKeepsStream(t *testing.T) {
	tests := []struct {
		name string
		stop func(*natstest.Server, testing.TB)
	}{
		{"stop", (*natstest.Server).Stop},
		{"kill", (*natstest.Server).Kill},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := natstest.Run(t)
			ctx := t.Context()
			url := srv.URL()
			nc, down, up := connect(t, url)
			js, err := jetstream.New(nc)
			require.NoError(t, err)
			const n = 200
			fill(ctx, t, js, "RESTART", n)

			tt.stop(srv, t)
			await(t, down, "disconnect after "+tt.name)
			short, cancel := context.WithTimeout(ctx, time.Second)
			_, err = js.AccountInfo(short)
			cancel()
			require.Error(t, err, "JetStream answers while the server is down")

			srv.Start(t)
			assert.Equal(t, url, srv.URL(), "URL stable across restart")
			await(t, up, "reconnect after start")
			checkStream(ctx, t, js, "RESTART", n)

			ack, err := js.Publish(ctx, "RESTART.after", []byte("after"))
			require.NoError(t, err, "publish after restart")
			assert.Equal(t, uint64(n+1), ack.Sequence)
		})
	}
}

func TestPreflight_MissingImage(t *testing.T) {
	err := natstest.Preflight(t.Context(), natstest.ImageRepository+":no-such-version")
	require.ErrorIs(t, err, natstest.ErrImageMissing)
	assert.Contains(t, err.Error(), "make nats-image")
}

func TestDefaultImage_IsPinnedVersion(t *testing.T) {
	img, err := natstest.DefaultImage()
	require.NoError(t, err)
	if env := os.Getenv(natstest.EnvImage); env != "" {
		assert.Equal(t, env, img)
		return
	}
	assert.Regexp(t, `^naq-events/nats:v2\.\d+\.\d+`, img)
}

// Without the image a container test fails, naming the fix; it never skips.
// Runs TestRun_ServesJetStream in a child process with a broken environment.
// (A missing Docker engine takes the same path through Preflight, but cannot
// be faked while /var/run/docker.sock exists: testcontainers falls back to it.)
func TestRun_FailsNotSkips(t *testing.T) {
	tests := []struct {
		name string
		env  []string
		want string
	}{
		{"no image", []string{natstest.EnvImage + "=" + natstest.ImageRepository + ":no-such-version"}, "make nats-image"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestRun_ServesJetStream$", "-test.v", "-test.count=1")
			cmd.Env = append(os.Environ(), tt.env...)
			out, err := cmd.CombinedOutput()
			var ee *exec.ExitError
			require.ErrorAs(t, err, &ee, "child must exit non-zero; output:\n%s", out)
			assert.Contains(t, string(out), "--- FAIL: TestRun_ServesJetStream")
			assert.NotContains(t, string(out), "--- SKIP")
			assert.Contains(t, string(out), tt.want)
		})
	}
}
