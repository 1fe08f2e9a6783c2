package httpapi

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/naq-go/events/adapters/memstore"
	"github.com/naq-go/events/app/metrics"
	"github.com/naq-go/events/domain/event"
	"github.com/naq-go/events/domain/logger"
)

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// seeded returns a fixture over a memstore holding sampleEvents.
func seeded(t *testing.T, opts ...Option) (*fixture, []event.JobEvent) {
	t.Helper()
	store := memstore.New()
	t.Cleanup(func() { _ = store.Close() })
	evs := sampleEvents(t0)
	require.NoError(t, store.StoreBatch(context.Background(), evs))
	return newFixture(t, store, opts...), evs
}

func ids(docs []json.RawMessage) []string {
	out := make([]string, len(docs))
	for i, d := range docs {
		ev, err := event.Decode(d)
		if err != nil {
			panic(err)
		}
		out[i] = ev.ID
	}
	return out
}

func idsOf(evs ...event.JobEvent) []string {
	out := make([]string, len(evs))
	for i := range evs {
		out[i] = evs[i].ID
	}
	return out
}

func TestQueries(t *testing.T) {
	f, evs := seeded(t)
	t.Run("job", func(t *testing.T) {
		var body pageBody
		require.Equal(t, http.StatusOK, f.do(t, "GET", "/api/v1/jobs/job-1/events", "", &body))
		assert.Equal(t, idsOf(evs[0:3]...), ids(body.Events))
		assert.Equal(t, 3, body.Count)
		assert.Equal(t, DefaultLimit, body.Limit)
	})
	t.Run("job page", func(t *testing.T) {
		var body pageBody
		require.Equal(t, http.StatusOK, f.do(t, "GET", "/api/v1/jobs/job-1/events?limit=1&offset=1", "", &body))
		assert.Equal(t, idsOf(evs[1]), ids(body.Events))
	})
	t.Run("unknown job is empty", func(t *testing.T) {
		var body pageBody
		require.Equal(t, http.StatusOK, f.do(t, "GET", "/api/v1/jobs/nobody/events", "", &body))
		assert.Empty(t, body.Events)
		assert.NotNil(t, body.Events, "an empty list, not null")
	})
	t.Run("type", func(t *testing.T) {
		var body pageBody
		require.Equal(t, http.StatusOK, f.do(t, "GET", "/api/v1/types/enqueued/events", "", &body))
		assert.Equal(t, idsOf(evs[0], evs[3], evs[6]), ids(body.Events))
	})
	list := func(t *testing.T, q string) []string {
		t.Helper()
		var body listBody
		require.Equal(t, http.StatusOK, f.do(t, "GET", "/api/v1/events?"+q, "", &body))
		out := make([]string, len(body.Records))
		for i, r := range body.Records {
			ev, err := event.Decode(r.Event)
			require.NoError(t, err)
			out[i] = ev.ID
			assert.Equal(t, "dev", r.Environment)
			assert.Equal(t, "naq", r.Service)
			assert.NotZero(t, r.Seq)
		}
		return out
	}
	count := func(t *testing.T, q string) int {
		t.Helper()
		var body map[string]int
		require.Equal(t, http.StatusOK, f.do(t, "GET", "/api/v1/events/count?"+q, "", &body))
		return body["count"]
	}
	unix := func(i int) string { return strconv.FormatInt(t0.Add(time.Duration(i)*time.Minute).Unix(), 10) }
	rfc := func(i int) string {
		return url.QueryEscape(t0.Add(time.Duration(i) * time.Minute).Format(time.RFC3339))
	}
	filters := []struct {
		name, q string
		want    []event.JobEvent
	}{
		{"all", "", evs},
		{"job", "job=job-2", evs[3:6]},
		{"types repeated", "type=started&type=failed", []event.JobEvent{evs[1], evs[4], evs[5]}},
		{"types comma", "type=started,failed", []event.JobEvent{evs[1], evs[4], evs[5]}},
		{"queue", "queue=emails", []event.JobEvent{evs[0], evs[1], evs[2], evs[6]}},
		{"worker", "worker=w2", evs[4:6]},
		{"since unix", "since=" + unix(5), evs[5:]},
		{"until rfc3339", "until=" + rfc(2), evs[:2]},
		{"window", "since=" + rfc(1) + "&until=" + unix(4), evs[1:4]},
		{"environment", "environment=dev&service=naq&job=job-3", evs[6:]},
		{"other environment", "environment=prod", nil},
	}
	for _, tt := range filters {
		t.Run("list "+tt.name, func(t *testing.T) {
			assert.Equal(t, idsOf(tt.want...), list(t, tt.q))
			assert.Equal(t, len(tt.want), count(t, tt.q))
		})
	}
	t.Run("list page", func(t *testing.T) {
		assert.Equal(t, idsOf(evs[2:4]...), list(t, "limit=2&offset=2"))
	})
}

func TestBadInput(t *testing.T) {
	f, _ := seeded(t)
	tests := []struct {
		method, path string
		status       int
		want         string
	}{
		{"GET", "/api/v1/events?limit=-1", 400, "limit"},
		{"GET", "/api/v1/events?limit=abc", 400, "limit"},
		{"GET", "/api/v1/events?limit=100000", 400, "limit"},
		{"GET", "/api/v1/events?offset=-3", 400, "offset"},
		{"GET", "/api/v1/events?type=exploded", 400, `type="exploded"`},
		{"GET", "/api/v1/events?since=yesterday", 400, "since"},
		{"GET", "/api/v1/events?until=2025-13-01", 400, "until"},
		{"GET", "/api/v1/events?since=2&until=1", 400, "since must be before until"},
		{"GET", "/api/v1/events?job=a.b", 400, "job"},
		{"GET", "/api/v1/events?environment=a*", 400, "environment"},
		{"GET", "/api/v1/events?jobs=x", 400, `unknown parameter "jobs"`},
		{"GET", "/api/v1/events?job=a&job=b", 400, "job given 2 times"},
		{"GET", "/api/v1/events/count?limit=5", 400, `unknown parameter "limit"`},
		{"GET", "/api/v1/jobs/a.b/events", 400, "job"},
		{"GET", "/api/v1/types/nope/events", 400, `"nope"`},
		{"DELETE", "/api/v1/jobs/a*b", 400, "job"},
		{"GET", "/api/v1/stream?history=perhaps", 400, "history"},
		{"GET", "/api/v1/stream?last_event_id=x", 400, "last_event_id"},
		{"GET", "/api/v1/nothing", 404, "no route GET /api/v1/nothing"},
		{"GET", "/metrics", 404, "metrics are not enabled"},
		{"POST", "/api/v1/events", 503, "intake is not enabled"},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			var body errorBody
			assert.Equal(t, tt.status, f.do(t, tt.method, tt.path, "", &body))
			assert.Contains(t, body.Error, tt.want)
		})
	}
}

func TestDeleteJob(t *testing.T) {
	f, _ := seeded(t)
	var body map[string]any
	require.Equal(t, http.StatusOK, f.do(t, "DELETE", "/api/v1/jobs/job-2", "", &body))
	assert.Equal(t, map[string]any{"job_id": "job-2", "deleted": float64(3)}, body)
	var page pageBody
	require.Equal(t, http.StatusOK, f.do(t, "GET", "/api/v1/jobs/job-2/events", "", &page))
	assert.Empty(t, page.Events)
}

func newLogger(t *testing.T, store logger.Store) *logger.Logger {
	t.Helper()
	l := logger.New(store, logger.WithFlushInterval(5*time.Millisecond))
	t.Cleanup(func() { _ = l.Close(context.Background()) })
	return l
}

func TestPost(t *testing.T) {
	store := memstore.New()
	t.Cleanup(func() { _ = store.Close() })
	f := newFixture(t, store, WithEventLogger(newLogger(t, store)))

	doc := func(ev event.JobEvent) string {
		b, err := ev.AppendJSON(nil)
		require.NoError(t, err)
		return string(b)
	}
	good1 := event.Enqueued("post-1", "q", 1)
	good2 := event.Started("post-1", "w", "thread")
	pretty := event.Completed("post-2", "w", time.Second)

	t.Run("json lines with a bad line", func(t *testing.T) {
		body := doc(good1) + "\n{not json\n\n" + doc(good2) + "\n" + `{"job_id":"x","event_type":"nope","timestamp":1}` + "\n"
		var res postBody
		require.Equal(t, http.StatusAccepted, f.do(t, "POST", "/api/v1/events", body, &res))
		assert.Equal(t, 2, res.Accepted)
		require.Len(t, res.Errors, 2)
		assert.Equal(t, 2, res.Errors[0].Line)
		assert.Equal(t, 5, res.Errors[1].Line)
		assert.Contains(t, res.Errors[1].Error, "event_type")
	})
	t.Run("one pretty document", func(t *testing.T) {
		var v any
		require.NoError(t, json.Unmarshal([]byte(doc(pretty)), &v))
		b, err := json.MarshalIndent(v, "", "  ")
		require.NoError(t, err)
		var res postBody
		require.Equal(t, http.StatusAccepted, f.do(t, "POST", "/api/v1/events", string(b), &res))
		assert.Equal(t, postBody{Accepted: 1, Errors: []lineError{}}, res)
	})
	t.Run("nothing valid", func(t *testing.T) {
		var res postBody
		require.Equal(t, http.StatusBadRequest, f.do(t, "POST", "/api/v1/events", "garbage\nmore garbage\n", &res))
		assert.Zero(t, res.Accepted)
		assert.Len(t, res.Errors, 2)
	})
	t.Run("empty", func(t *testing.T) {
		var res errorBody
		require.Equal(t, http.StatusBadRequest, f.do(t, "POST", "/api/v1/events", "  \n", &res))
		assert.Contains(t, res.Error, "empty body")
	})
	t.Run("stored", func(t *testing.T) {
		waitFor(t, "3 posted events stored", func() bool {
			n, err := store.Count(context.Background(), event.Filter{})
			return err == nil && n == 3
		})
		got, err := store.Job(context.Background(), "post-1", event.Page{})
		require.NoError(t, err)
		assert.Equal(t, idsOf(good1, good2), idsOf(got...))
	})
}

func TestHealth(t *testing.T) {
	f, _ := seeded(t)
	var body healthBody
	require.Equal(t, http.StatusOK, f.do(t, "GET", "/healthz", "", &body))
	assert.Equal(t, "ok", body.Status)
	assert.True(t, body.Store.OK)
	assert.Equal(t, "memory", body.Store.Backend)
	assert.Nil(t, body.NATS)

	require.NoError(t, f.store.Close())
	body = healthBody{}
	require.Equal(t, http.StatusServiceUnavailable, f.do(t, "GET", "/healthz", "", &body))
	assert.Equal(t, "unavailable", body.Status)
	assert.False(t, body.Store.OK)

	var e errorBody
	assert.Equal(t, http.StatusServiceUnavailable, f.do(t, "GET", "/api/v1/events", "", &e), "closed store: 503")
	assert.Contains(t, e.Error, "list events")
}

func TestMetricsEndpoint(t *testing.T) {
	store := memstore.New()
	t.Cleanup(func() { _ = store.Close() })
	m := metrics.New()
	l := newLogger(t, store)
	m.Logger(l)
	f := newFixture(t, store, WithEventLogger(l), WithMetrics(m.Handler()))
	require.NoError(t, l.Log(event.Enqueued("m-1", "q", 1)))
	require.NoError(t, l.Flush(context.Background()))

	resp, err := http.Get(f.srv.URL + "/metrics")
	require.NoError(t, err)
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Contains(t, string(b), "naq_events_logger_logged_total 1\n")
	assert.Contains(t, string(b), "naq_events_logger_stored_total 1\n")
	assert.Contains(t, string(b), `naq_events_logger_dropped_total{reason="overflow"} 0`)
}

func TestStreamMemory(t *testing.T) {
	f, evs := seeded(t, WithHeartbeat(20*time.Millisecond))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	t.Run("history with filter", func(t *testing.T) {
		s := openStream(t, ctx, f.srv.URL+"/api/v1/stream?history=true&job=job-2", "")
		for _, want := range evs[3:6] {
			got := s.next(t)
			assert.Equal(t, string(want.Type), got.Type)
			ev, err := event.Decode([]byte(got.Data))
			require.NoError(t, err)
			assert.Equal(t, want.ID, ev.ID)
			_, err = strconv.ParseUint(seqOf(got.ID), 10, 64)
			assert.NoError(t, err, "id is the store sequence")
		}
		s.nextComment(t, "heartbeat")
	})
	t.Run("live only", func(t *testing.T) {
		s := openStream(t, ctx, f.srv.URL+"/api/v1/stream?type=cancelled", "")
		live := event.Cancelled("job-9", "user asked")
		require.NoError(t, f.store.StoreBatch(ctx, []event.JobEvent{event.Enqueued("job-9", "q", 1), live}))
		got := s.next(t)
		assert.Equal(t, "cancelled", got.Type)
		assert.Contains(t, got.Data, live.ID)
	})
	t.Run("last event id as parameter", func(t *testing.T) {
		s := openStream(t, ctx, f.srv.URL+"/api/v1/stream?last_event_id=5", "")
		got := s.next(t)
		assert.Equal(t, "6", seqOf(got.ID))
		assert.Contains(t, got.Data, evs[5].ID)
	})
}

func ExampleAPI() {
	store := memstore.New()
	defer func() { _ = store.Close() }()
	_ = store.Store(context.Background(), event.Enqueued("job-1", "emails", 1, event.WithID("01JQ0000000000000000000000")))
	api := New(store)
	srv := newTestServer(api)
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/api/v1/events/count?job=job-1")
	if err != nil {
		panic(err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, _ := io.ReadAll(resp.Body)
	fmt.Println(resp.StatusCode, strings.TrimSpace(string(b)))
	// Output: 200 {"count":1}
}
