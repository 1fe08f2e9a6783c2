package httpapi

import (
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestServer_TimeoutDefaults : the http.Server of
// NewServer has ReadHeaderTimeout, ReadTimeout, IdleTimeout and
// MaxHeaderBytes set to the documented defaults, and no server-wide
// WriteTimeout (it would cut the SSE streams; Protect sets a per-request
// write deadline for ordinary requests instead).
func TestServer_TimeoutDefaults(t *testing.T) {
	s := NewServer("127.0.0.1:0", http.NotFoundHandler(), nil)
	assert.Equal(t, DefaultReadHeaderTimeout, s.srv.ReadHeaderTimeout)
	assert.Equal(t, 10*time.Second, s.srv.ReadHeaderTimeout)
	assert.Equal(t, DefaultReadTimeout, s.srv.ReadTimeout)
	assert.Equal(t, DefaultIdleTimeout, s.srv.IdleTimeout)
	assert.Equal(t, DefaultMaxHeaderBytes, s.srv.MaxHeaderBytes)
	assert.Zero(t, s.srv.WriteTimeout, "a server WriteTimeout would end every SSE stream")
}

// TestServer_ReadHeaderTimeoutClosesSlowHeaders : a client
// that sends half a request header and then nothing (slowloris) is
// disconnected by the server's ReadHeaderTimeout, without an answer, and
// the server keeps serving others.
func TestServer_ReadHeaderTimeoutClosesSlowHeaders(t *testing.T) {
	const timeout = 300 * time.Millisecond
	srv := startServer(t, memAPI(t), WithTimeouts(timeout, time.Minute, time.Minute))
	conn, err := net.Dial("tcp", srv.Addr())
	require.NoError(t, err)
	defer func() { _ = conn.Close() }()
	_, err = io.WriteString(conn, "GET /api/v1/events/count HTTP/1.1\r\nHost: x\r\nX-Slow: ")
	require.NoError(t, err)
	// Bound the wait: the server must close the connection well before this.
	require.NoError(t, conn.SetReadDeadline(time.Now().Add(30*time.Second)))
	b, err := io.ReadAll(conn)
	if ne, ok := errors.AsType[net.Error](err); ok && ne.Timeout() {
		t.Fatalf("the server kept a half-sent header open for 30 s (ReadHeaderTimeout %s not applied)", timeout)
	}
	assert.NotContains(t, string(b), "200 OK", "a half-sent request was answered")
	a := send(t, http.DefaultClient, "GET", srv.URL()+"/api/v1/events/count", nil)
	assert.Equal(t, 200, a.status, "the server still answers")
	assert.Contains(t, a.body, `"count":1`)
}

// TestServer_WriteDeadlineCutsSlowRequest: the other half of what
// TestServer_StreamOutlivesTimeouts checks (a stream outlives the
// timeouts): an ordinary request whose handler answers after
// Policy.WriteTimeout gets no answer (its connection is closed).
func TestServer_WriteDeadlineCutsSlowRequest(t *testing.T) {
	const timeout = 200 * time.Millisecond
	done := make(chan struct{})
	mux := http.NewServeMux()
	mux.HandleFunc("/slow", func(w http.ResponseWriter, _ *http.Request) {
		defer close(done)
		<-time.After(5 * timeout) // a handler that works longer than the write deadline
		_, _ = io.WriteString(w, strings.Repeat("late answer\n", 1<<12))
	})
	srv := startServer(t, mux, WithPolicy(Policy{WriteTimeout: timeout}))
	resp, err := http.Get(srv.URL() + "/slow")
	if err == nil {
		_, err = io.ReadAll(resp.Body)
		_ = resp.Body.Close()
	}
	require.Error(t, err, "the slow answer was delivered after the write deadline")
	<-done
}
