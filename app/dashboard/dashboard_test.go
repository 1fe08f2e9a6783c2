package dashboard_test

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/naq-go/events/adapters/memstore"
	"github.com/naq-go/events/app/dashboard"
	"github.com/naq-go/events/app/dashboard/dashboardtest"
	"github.com/naq-go/events/app/httpapi"
	"github.com/naq-go/events/domain/event"
)

// fixture is a store with two jobs — one retried after a failure then
// completed, one failed for good — behind the API with the dashboard at /.
type fixture struct {
	srv   *httptest.Server
	store *memstore.Store
	t0    time.Time
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	store := memstore.New(memstore.WithEnvironment("prod"), memstore.WithService("billing"))
	t.Cleanup(func() { _ = store.Close() })
	t0 := time.Now().Add(-10 * time.Minute).Truncate(time.Millisecond)
	at := func(d time.Duration) event.Option { return event.WithTimestamp(t0.Add(d)) }
	evs := []event.JobEvent{
		event.Enqueued("job-a", "emails", 1, at(0)),
		event.Started("job-a", "w-1", "async", at(1*time.Second), event.WithQueue("emails")),
		event.Failed("job-a", "w-1", errors.New("SMTP timeout after 30s"), 2*time.Second, 0, at(3*time.Second), event.WithQueue("emails")),
		event.RetryScheduled("job-a", 1, 2*time.Second, at(3100*time.Millisecond)),
		event.RetryStarted("job-a", 1, at(5100*time.Millisecond)),
		event.Started("job-a", "w-2", "async", at(5200*time.Millisecond), event.WithQueue("emails")),
		event.Completed("job-a", "w-2", 800*time.Millisecond, at(6*time.Second), event.WithQueue("emails")),
		event.Enqueued("job-b", "emails", 1, at(7*time.Second)),
		event.Started("job-b", "w-1", "async", at(8*time.Second), event.WithQueue("emails")),
		event.Failed("job-b", "w-1", errors.New("SMTP timeout after 45s"), time.Second, 0, at(9*time.Second), event.WithQueue("emails")),
	}
	require.NoError(t, store.StoreBatch(t.Context(), evs))
	d, err := dashboard.New(store, dashboardtest.ScanReader{Store: store})
	require.NoError(t, err)
	api := httpapi.New(store, httpapi.WithUI(d))
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)
	return &fixture{srv: srv, store: store, t0: t0}
}

// answer is the status and headers of a response whose body was read.
type answer struct {
	status int
	header http.Header
}

func (f *fixture) get(t *testing.T, path string) (answer, string) {
	t.Helper()
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Get(f.srv.URL + path)
	require.NoError(t, err)
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	return answer{status: resp.StatusCode, header: resp.Header}, string(b)
}

func TestOverview(t *testing.T) {
	f := newFixture(t)
	resp, body := f.get(t, "/?window=1h")
	require.Equal(t, http.StatusOK, resp.status, body)
	assert.Equal(t, "text/html; charset=utf-8", resp.header.Get("Content-Type"))
	assert.Contains(t, resp.header.Get("Content-Security-Policy"), "default-src 'self'")
	assert.Regexp(t, `^app;dur=[0-9.]+, reads;dur=[0-9.]+$`, resp.header.Get("Server-Timing"))
	assert.Contains(t, body, `id="total" data-value="10"`)
	assert.Contains(t, body, `id="failure-rate" data-value="0.6666666666666666"`, "2 failed of 3 outcomes")
	assert.Regexp(t, `<tr data-type="started">.*data-value="3">3</td>`, body)
	assert.Regexp(t, `<tr data-queue="emails"><td><a href="/live\?queue=emails">emails</a></td><td class="num" data-value="2">2</td>`, body, "depth: 2 enqueued, none dequeued")
	assert.Contains(t, body, `<tr data-worker="w-2">`)
	assert.Contains(t, body, `<svg class="chart"`)
	assert.Contains(t, body, `<option value="1h" selected>`)

	resp, body = f.get(t, "/?window=2w")
	assert.Equal(t, http.StatusBadRequest, resp.status)
	assert.Contains(t, body, `window &#34;2w&#34;: want one of 1h, 24h, 7d`)
	resp, _ = f.get(t, "/?environment=a.b")
	assert.Equal(t, http.StatusBadRequest, resp.status, "an environment that is not a token")
	_, body = f.get(t, "/?queue=nothing-here")
	assert.Contains(t, body, `id="total" data-value="0"`, "the queue filter reaches the rollups")
}

func TestJobPage(t *testing.T) {
	f := newFixture(t)
	resp, body := f.get(t, "/jobs/job-a")
	require.Equal(t, http.StatusOK, resp.status, body)
	types := regexp.MustCompile(`<tr data-event-id="[^"]+" data-seq="\d+" data-type="([a-z_]+)">`).FindAllStringSubmatch(body, -1)
	var got []string
	for _, m := range types {
		got = append(got, m[1])
	}
	assert.Equal(t, []string{"enqueued", "started", "failed", "retry_scheduled", "retry_started", "started", "completed"}, got, "every event, in store order")
	assert.Contains(t, body, "prod/billing")
	assert.Contains(t, body, `<svg class="waterfall"`)
	assert.Contains(t, body, "attempt 2 · w-2")
	assert.Contains(t, body, "SMTP timeout after 30s", "the failed attempt's error")
	assert.Contains(t, body, `&#34;event_type&#34;: &#34;retry_scheduled&#34;`, "the raw document, escaped")

	resp, _ = f.get(t, "/jobs/no-such-job")
	assert.Equal(t, http.StatusNotFound, resp.status)
	resp, _ = f.get(t, "/jobs/a*b")
	assert.Equal(t, http.StatusBadRequest, resp.status)
}

func TestFailuresPage(t *testing.T) {
	f := newFixture(t)
	resp, body := f.get(t, "/failures")
	require.Equal(t, http.StatusOK, resp.status, body)
	assert.Contains(t, body, "SMTP timeout after #", "one group for both messages, normalised")
	assert.Contains(t, body, `data-job="job-a"`)
	assert.Contains(t, body, `data-job="job-b"`)
	assert.Contains(t, body, `id="fail-total" data-value="2"`)
	assert.Contains(t, body, `<svg class="spark"`)

	_, body = f.get(t, "/failures?text=disk")
	assert.Contains(t, body, `id="fail-total" data-value="0"`)
	assert.Contains(t, body, "1 hidden by the text filter")
}

func TestLiveAndSearch(t *testing.T) {
	f := newFixture(t)
	resp, body := f.get(t, "/live?type=failed&queue=emails")
	require.Equal(t, http.StatusOK, resp.status, body)
	assert.Contains(t, body, `data-stream="/api/v1/stream?queue=emails&amp;type=failed"`)
	assert.Regexp(t, `data-last-id="10(@\d+)?"`, body, "the feed starts after the last stored event")
	assert.Contains(t, body, `<option value="failed" data-tag="bad" selected>`)
	resp, _ = f.get(t, "/live?type=exploded")
	assert.Equal(t, http.StatusBadRequest, resp.status)

	resp, _ = f.get(t, "/search?q=+job-b+")
	assert.Equal(t, http.StatusSeeOther, resp.status)
	assert.Equal(t, "/jobs/job-b", resp.header.Get("Location"))
	resp, _ = f.get(t, "/search?q=a.b")
	assert.Equal(t, http.StatusBadRequest, resp.status)
}

func TestAssetsAndRouting(t *testing.T) {
	f := newFixture(t)
	_, body := f.get(t, "/")
	m := regexp.MustCompile(`src="(/assets/[0-9a-f]{12}/app\.js)"`).FindStringSubmatch(body)
	require.Len(t, m, 2, "the page links a versioned script")
	resp, js := f.get(t, m[1])
	require.Equal(t, http.StatusOK, resp.status)
	assert.Equal(t, "public, max-age=31536000, immutable", resp.header.Get("Cache-Control"))
	assert.Equal(t, "text/javascript; charset=utf-8", resp.header.Get("Content-Type"))
	assert.Contains(t, js, "EventSource")
	assert.NotContains(t, js, "http://", "no absolute URL in the script")
	assert.NotContains(t, js, "https://", "no absolute URL in the script")

	resp, _ = f.get(t, "/assets/000000000000/app.js")
	assert.Equal(t, http.StatusNotFound, resp.status, "an old version is not served")
	assert.Equal(t, "no-store", resp.header.Get("Cache-Control"))

	resp, body = f.get(t, "/nowhere")
	assert.Equal(t, http.StatusNotFound, resp.status)
	assert.Contains(t, body, "<!doctype html>")
	resp, body = f.get(t, "/api/v1/nowhere")
	assert.Equal(t, http.StatusNotFound, resp.status)
	assert.True(t, strings.HasPrefix(body, `{"error":`), "API paths keep their JSON 404: %s", body)
	resp, _ = f.get(t, "/api/v1/events/count")
	assert.Equal(t, http.StatusOK, resp.status, "the API still answers beside the UI")
}

func TestNewInvalid(t *testing.T) {
	store := memstore.New()
	t.Cleanup(func() { _ = store.Close() })
	r := dashboardtest.ScanReader{Store: store}
	for name, fn := range map[string]func() error{
		"nil store":   func() error { _, err := dashboard.New(nil, r); return err },
		"nil rollups": func() error { _, err := dashboard.New(store, nil); return err },
		"job limit":   func() error { _, err := dashboard.New(store, r, dashboard.WithJobLimit(0)); return err },
		"timeout": func() error {
			_, err := dashboard.New(store, r, dashboard.WithRequestTimeout(-time.Second))
			return err
		},
		"clock": func() error { _, err := dashboard.New(store, r, dashboard.WithClock(nil)); return err },
	} {
		err := fn()
		assert.ErrorIs(t, err, dashboard.ErrInvalid, name)
	}
}
