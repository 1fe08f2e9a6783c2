package httpapi

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/naq-go/events/domain/event"
	"github.com/naq-go/events/ports"
)

// fixture is an API over a store, served by httptest.
type fixture struct {
	store ports.Store
	srv   *httptest.Server
}

func newFixture(t *testing.T, store ports.Store, opts ...Option) *fixture {
	t.Helper()
	srv := httptest.NewServer(New(store, opts...))
	t.Cleanup(srv.Close)
	return &fixture{store: store, srv: srv}
}

// do sends a request and decodes a JSON answer into out (if not nil).
func (f *fixture) do(t *testing.T, method, path, body string, out any) int {
	t.Helper()
	req, err := http.NewRequest(method, f.srv.URL+path, strings.NewReader(body))
	require.NoError(t, err)
	resp, err := f.srv.Client().Do(req)
	require.NoError(t, err)
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	if out != nil {
		require.NoError(t, json.Unmarshal(b, out), "body: %s", b)
	}
	return resp.StatusCode
}

// sseEvent is one event read from a stream.
type sseEvent struct {
	ID, Type, Data string
}

// sseStream reads a Server-Sent Events response.
type sseStream struct {
	resp     *http.Response
	r        *bufio.Reader
	comments []string
}

func openStream(t *testing.T, ctx context.Context, url, lastID string) *sseStream {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	require.NoError(t, err)
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, "text/event-stream", resp.Header.Get("Content-Type"))
	s := &sseStream{resp: resp, r: bufio.NewReader(resp.Body)}
	t.Cleanup(func() { _ = resp.Body.Close() })
	return s
}

// next returns the next event, collecting comments on the way.
func (s *sseStream) next(t *testing.T) sseEvent {
	t.Helper()
	var ev sseEvent
	for {
		line, err := s.r.ReadString('\n')
		require.NoError(t, err, "stream ended before the next event")
		line = strings.TrimSuffix(line, "\n")
		switch {
		case line == "":
			if ev.Data != "" {
				return ev
			}
		case strings.HasPrefix(line, ":"):
			s.comments = append(s.comments, strings.TrimSpace(line[1:]))
		case strings.HasPrefix(line, "id: "):
			ev.ID = line[4:]
		case strings.HasPrefix(line, "event: "):
			ev.Type = line[7:]
		case strings.HasPrefix(line, "data: "):
			ev.Data = line[6:]
		}
	}
}

// nextComment reads until a comment other than those already seen.
func (s *sseStream) nextComment(t *testing.T, want string) {
	t.Helper()
	for {
		line, err := s.r.ReadString('\n')
		require.NoError(t, err)
		if strings.TrimSpace(strings.TrimPrefix(line, ":")) == want && strings.HasPrefix(line, ":") {
			return
		}
	}
}

// sampleEvents are events of three jobs at fixed times.
func sampleEvents(t0 time.Time) []event.JobEvent {
	at := func(i int) event.Option { return event.WithTimestamp(t0.Add(time.Duration(i) * time.Minute)) }
	return []event.JobEvent{
		event.Enqueued("job-1", "emails", 1, at(0)),
		event.Started("job-1", "w1", "thread", at(1), event.WithQueue("emails")),
		event.Completed("job-1", "w1", time.Second, at(2), event.WithQueue("emails")),
		event.Enqueued("job-2", "reports", 1, at(3)),
		event.Started("job-2", "w2", "thread", at(4), event.WithQueue("reports")),
		event.Failed("job-2", "w2", io.ErrUnexpectedEOF, time.Second, 0, at(5), event.WithQueue("reports")),
		event.Enqueued("job-3", "emails", 1, at(6)),
	}
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		<-time.After(5 * time.Millisecond)
	}
}

func newTestServer(h http.Handler) *httptest.Server { return httptest.NewServer(h) }
