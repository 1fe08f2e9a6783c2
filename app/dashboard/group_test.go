package dashboard_test

import (
	"fmt"
	"html"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/naq-go/events/adapters/memstore"
	"github.com/naq-go/events/app/dashboard"
	"github.com/naq-go/events/app/httpapi"
	"github.com/naq-go/events/domain/event"
	"github.com/naq-go/events/domain/rollup"
)

// groupFixture stores, in this order: a TimeoutError two hours old (job
// old-1); then, a few seconds apart with other events between them, the
// TimeoutErrors "db timeout after N ms" of jobs f-0 … f-6 in queue emails
// (f-3 three times in a row) with a ValueError of another group among
// them; and last a TimeoutError of job r-1 in queue reports. The
// dashboard reads the memstore and real rollups fed from it.
func groupFixture(t *testing.T, opts ...dashboard.Option) *fixture {
	t.Helper()
	return groupFixtureOf(t, nil, func(r *rollup.Rollups) rollup.Reader { return r }, opts...)
}

// plainReader hides the rollups' FailureLocator: the page then scans
// from the window's first failure on.
type plainReader struct{ rollup.Reader }

// groupFixtureOf is groupFixture with filler events stored after the
// TimeoutError of job f-filler (before f-0's), and the rollups seen
// through reader.
func groupFixtureOf(t *testing.T, filler []event.JobEvent, reader func(*rollup.Rollups) rollup.Reader, opts ...dashboard.Option) *fixture {
	t.Helper()
	store := memstore.New(memstore.WithEnvironment("prod"), memstore.WithService("billing"))
	t.Cleanup(func() { _ = store.Close() })
	now := time.Now()
	t0 := now.Add(-30 * time.Minute)
	timeout := func(job, queue string, at time.Time, n int) event.JobEvent {
		ev := event.Failed(job, "w-1", fmt.Errorf("db timeout after %d ms", n), time.Second, 0, event.WithTimestamp(at), event.WithQueue(queue))
		ev.ErrorType = "TimeoutError"
		return ev
	}
	evs := []event.JobEvent{timeout("old-1", "emails", now.Add(-2*time.Hour), 1)}
	at := t0
	if filler != nil {
		evs = append(evs, timeout("f-filler", "emails", t0, 3))
		evs = append(evs, filler...)
	}
	tick := func() time.Time { at = at.Add(time.Second); return at }
	for i := range 7 {
		job := "f-" + strconv.Itoa(i)
		evs = append(evs, event.Enqueued(job, "emails", 1, event.WithTimestamp(tick())),
			event.Started(job, "w-1", "async", event.WithTimestamp(tick()), event.WithQueue("emails")))
		repeat := 1
		if i == 3 {
			repeat = 3
		}
		for range repeat {
			evs = append(evs, timeout(job, "emails", tick(), 100*i+7))
		}
		if i == 4 {
			bad := event.Failed("v-1", "w-2", fmt.Errorf("bad row 7"), time.Second, 0, event.WithTimestamp(tick()), event.WithQueue("emails"))
			bad.ErrorType = "ValueError"
			evs = append(evs, bad)
		}
	}
	evs = append(evs, timeout("r-1", "reports", tick(), 9))
	require.NoError(t, store.StoreBatch(t.Context(), evs))
	r := rollup.New()
	recs, err := store.List(t.Context(), event.Filter{}, event.Page{})
	require.NoError(t, err)
	for i := range recs {
		r.Apply(recs[i].Seq, recs[i].Environment, recs[i].Service, &recs[i].Event)
	}
	d, err := dashboard.New(store, reader(r), opts...)
	require.NoError(t, err)
	srv := httptest.NewServer(httpapi.New(store, httpapi.WithUI(d)))
	t.Cleanup(srv.Close)
	return &fixture{srv: srv, store: store, t0: t0}
}

var (
	groupLink = regexp.MustCompile(`<tr id="g\d+" class="group" data-error-type="TimeoutError">[\s\S]*?<a class="small all-jobs" href="([^"]+)">`)
	jobRow    = regexp.MustCompile(`<tr data-job="([^"]+)" data-seq="\d+">\s*<td><a href="/jobs/([^"]+)" data-job="[^"]+">[^<]*</a></td>\s*<td class="num" data-value="(\d+)">`)
	olderLink = regexp.MustCompile(`<a href="([^"]+)" id="older"`)
)

// groupURL is the link of the TimeoutError group on the failures page of query.
func (f *fixture) groupURL(t *testing.T, query string) string {
	t.Helper()
	resp, body := f.get(t, "/failures?"+query)
	require.Equal(t, http.StatusOK, resp.status, body)
	m := groupLink.FindStringSubmatch(body)
	require.Len(t, m, 2, "the failures page links the TimeoutError group: %s", body)
	return html.UnescapeString(m[1])
}

type groupPageRows struct {
	jobs    []string // in page order
	counts  map[string]int
	older   string
	stopped bool
}

func (f *fixture) groupPage(t *testing.T, path string) groupPageRows {
	t.Helper()
	resp, body := f.get(t, path)
	require.Equal(t, http.StatusOK, resp.status, body)
	p := groupPageRows{counts: map[string]int{}, stopped: strings.Contains(body, `id="scan-stopped"`)}
	for _, m := range jobRow.FindAllStringSubmatch(body, -1) {
		require.Equal(t, m[1], m[2], "the row links its job's page")
		require.NotContains(t, p.counts, m[1], "a job once per page")
		n, _ := strconv.Atoi(m[3])
		p.jobs, p.counts[m[1]] = append(p.jobs, m[1]), n
	}
	if m := olderLink.FindStringSubmatch(body); m != nil {
		p.older = html.UnescapeString(m[1])
	} else {
		require.Contains(t, body, `id="no-older"`, "no Older link only at the window's start")
	}
	return p
}

// walk follows the Older links from path and returns the pages.
func (f *fixture) walk(t *testing.T, path string) []groupPageRows {
	t.Helper()
	var pages []groupPageRows
	for path != "" {
		require.Less(t, len(pages), 50, "the Older links end")
		p := f.groupPage(t, path)
		pages = append(pages, p)
		path = p.older
	}
	return pages
}

func TestFailureGroupPages(t *testing.T) {
	f := groupFixture(t)
	base := f.groupURL(t, "window=1h")
	assert.Regexp(t, `^/failures/[0-9a-f]{16}\?window=1h$`, base)

	pages := f.walk(t, base+"&limit=3")
	require.Len(t, pages, 3)
	assert.Equal(t, []string{"r-1", "f-6", "f-5"}, pages[0].jobs, "newest first")
	assert.Equal(t, []string{"f-4", "f-3", "f-2"}, pages[1].jobs)
	assert.Equal(t, []string{"f-1", "f-0"}, pages[2].jobs, "old-1 is outside the hour, v-1 in another group")
	assert.Equal(t, 3, pages[1].counts["f-3"], "a job failing three times shows once with its count")
	assert.Contains(t, pages[0].older, "limit=3", "the page size stays in the URL")
	assert.Regexp(t, `^/failures/[0-9a-f]{16}\?before=\d+&limit=3&window=1h$`, pages[0].older)
	for _, p := range pages {
		assert.False(t, p.stopped)
	}

	// The default page holds them all.
	all := f.walk(t, base)
	require.Len(t, all, 1)
	assert.Equal(t, []string{"r-1", "f-6", "f-5", "f-4", "f-3", "f-2", "f-1", "f-0"}, all[0].jobs)

	// The queue filter, and a wider window.
	emails := f.walk(t, f.groupURL(t, "window=1h&queue=emails")+"&limit=4")
	require.Len(t, emails, 2)
	assert.Equal(t, []string{"f-6", "f-5", "f-4", "f-3"}, emails[0].jobs)
	assert.Equal(t, []string{"f-2", "f-1", "f-0"}, emails[1].jobs)
	day := f.walk(t, f.groupURL(t, "window=24h"))
	require.Len(t, day, 1)
	assert.Equal(t, []string{"r-1", "f-6", "f-5", "f-4", "f-3", "f-2", "f-1", "f-0", "old-1"}, day[0].jobs)

	resp, _ := f.get(t, "/failures/0123456789abcdef?window=1h")
	assert.Equal(t, http.StatusNotFound, resp.status, "no such group")
	for _, q := range []string{"limit=0", "limit=501", "limit=x", "before=0", "before=-3", "window=2w"} {
		resp, body := f.get(t, strings.Replace(base, "window=1h", q, 1))
		assert.Equal(t, http.StatusBadRequest, resp.status, "%s: %s", q, body)
	}
}

// TestFailureGroupScanBudget: with a budget of 4 stream sequences a page,
// pages stop before they are full, say so, and their Older links continue
// where the scan stopped until every job has been listed, in order.
func TestFailureGroupScanBudget(t *testing.T) {
	f := groupFixtureOf(t, nil, func(r *rollup.Rollups) rollup.Reader { return plainReader{r} }, dashboard.WithGroupScan(4))
	pages := f.walk(t, f.groupURL(t, "window=1h")+"&limit=3")
	var jobs []string
	stopped := 0
	for _, p := range pages {
		if p.stopped {
			stopped++
			assert.NotEmpty(t, p.older, "a stopped scan links the older jobs")
		}
		assert.LessOrEqual(t, len(p.jobs), 3)
		for _, j := range p.jobs {
			if len(jobs) == 0 || jobs[len(jobs)-1] != j {
				jobs = append(jobs, j)
			}
		}
	}
	assert.Positive(t, stopped, "some pages ran out of budget")
	assert.Greater(t, len(pages), 3, "more pages than the full ones")
	assert.Equal(t, []string{"r-1", "f-6", "f-5", "f-4", "f-3", "f-2", "f-1", "f-0"}, jobs, "every job, newest first, none skipped")
}

// TestFailureGroupLocated: with the rollups' FailureLocator a page reads
// only the chunks of the stream where the group failed. The failure of
// f-filler is 10,000 events below the others (three chunks): a budget of
// 9,000 sequences reaches it through the located chunks in one page,
// where a scan of the whole stream stops before it.
func TestFailureGroupLocated(t *testing.T) {
	filler := make([]event.JobEvent, 10_000)
	at := time.Now().Add(-31 * time.Minute)
	for i := range filler {
		filler[i] = event.Enqueued("fill-"+strconv.Itoa(i), "emails", 1, event.WithTimestamp(at))
	}
	want := []string{"r-1", "f-6", "f-5", "f-4", "f-3", "f-2", "f-1", "f-0", "f-filler"}

	located := groupFixtureOf(t, filler, func(r *rollup.Rollups) rollup.Reader { return r }, dashboard.WithGroupScan(9000))
	pages := located.walk(t, located.groupURL(t, "window=1h"))
	require.Len(t, pages, 1)
	assert.Equal(t, want, pages[0].jobs)
	assert.False(t, pages[0].stopped)

	plain := groupFixtureOf(t, filler, func(r *rollup.Rollups) rollup.Reader { return plainReader{r} }, dashboard.WithGroupScan(9000))
	pages = plain.walk(t, plain.groupURL(t, "window=1h"))
	require.Len(t, pages, 2, "the budget stops the first page of a whole-stream scan")
	assert.True(t, pages[0].stopped)
	assert.Equal(t, want[:8], pages[0].jobs)
	assert.Equal(t, want[8:], pages[1].jobs, "and Older continues where it stopped")
}
