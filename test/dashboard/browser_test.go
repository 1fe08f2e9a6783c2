package dashboard

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/naq-go/events/domain/event"
)

// browser is one headless Chromium tab with a record of what the page
// wrote to its console and every URL it requested.
type browser struct {
	ctx  context.Context
	host string

	mu       sync.Mutex
	problems []string // console errors, exceptions, error log entries
	requests []string // every URL the page requested
}

func newBrowser(t *testing.T, base string) *browser {
	t.Helper()
	path, err := exec.LookPath("chromium")
	require.NoError(t, err, "the browser tests need Debian's chromium: apt-get install -y chromium (.ci/run and `make test/test` install it when missing)")
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path), chromedp.NoSandbox, chromedp.Headless, chromedp.DisableGPU,
		chromedp.WindowSize(1280, 800), chromedp.Flag("lang", "en-US"))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(actx)
	t.Cleanup(func() { cancelTab(); cancelAlloc() })
	u, err := url.Parse(base)
	require.NoError(t, err)
	b := &browser{ctx: ctx, host: u.Host}
	require.NoError(t, chromedp.Listen(ctx, b.on), "start Chromium")
	_, err = chromedp.Call(ctx, network.Enable, network.EnableParams{})
	require.NoError(t, err)
	_, err = chromedp.Call(ctx, cdplog.Enable, struct{}{})
	require.NoError(t, err)
	return b
}

// on records the events the checks need; it runs in chromedp's read loop,
// so it only appends under the lock.
func (b *browser) on(ev any) {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch e := ev.(type) {
	case *runtime.EventConsoleAPICalled:
		if e.Type == runtime.ConsoleAPICalledTypeError || e.Type == runtime.ConsoleAPICalledTypeAssert {
			var parts []string
			for _, a := range e.Args {
				parts = append(parts, string(a.Value)+a.Description)
			}
			b.problems = append(b.problems, "console."+string(e.Type)+": "+strings.Join(parts, " "))
		}
	case *runtime.EventExceptionThrown:
		d := e.ExceptionDetails
		msg := d.Text
		if d.Exception != nil {
			msg += " " + d.Exception.Description
		}
		b.problems = append(b.problems, "exception: "+msg)
	case *cdplog.EventEntryAdded:
		if e.Entry.Level == "error" {
			b.problems = append(b.problems, fmt.Sprintf("log %s: %s %s", e.Entry.Source, e.Entry.Text, e.Entry.URL))
		}
	case *network.EventRequestWillBeSent:
		b.requests = append(b.requests, e.Request.URL)
	}
}

// check returns the problems seen and the requested URLs that leave the host.
func (b *browser) check() (problems, foreign []string, requests int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, r := range b.requests {
		u, err := url.Parse(r)
		if err != nil || (u.Scheme != "data" && u.Host != b.host) {
			foreign = append(foreign, r)
		}
	}
	return append([]string(nil), b.problems...), foreign, len(b.requests)
}

// do runs actions with a deadline.
func (b *browser) do(t *testing.T, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	require.NoError(t, chromedp.Do(ctx, actions...))
}

func eval[T any](t *testing.T, b *browser, js string) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](js))
	require.NoError(t, err, "evaluate %s", js)
	return v
}

// poll waits until the expression is truthy, failing after d.
func (b *browser) poll(t *testing.T, d time.Duration, js string, msgAndArgs ...any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, d+5*time.Second)
	defer cancel()
	_, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](js, chromedp.WithPollingTimeout(d), chromedp.WithPollingInterval(10*time.Millisecond)))
	require.NoError(t, err, msgAndArgs...)
}

// after waits until the expression is true when the page navigates on the
// way (a poll inside the page dies with the page, so this one polls from
// outside, retrying through the navigation), failing after d.
func (b *browser) after(t *testing.T, d time.Duration, js string, msgAndArgs ...any) {
	t.Helper()
	deadline := time.Now().Add(d)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	var last error
	for {
		ctx, cancel := context.WithTimeout(b.ctx, time.Second)
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.readyState === 'complete' && (`+js+`)`))
		cancel()
		if err == nil && ok {
			return
		}
		last = err
		if time.Now().After(deadline) {
			require.Fail(t, fmt.Sprintf("not true within %s: %s (last error: %v)", d, js, last), msgAndArgs...)
		}
		<-tick.C
	}
}

func (b *browser) open(t *testing.T, path string) {
	t.Helper()
	b.do(t, chromedp.Navigate(srv.baseURL+path), chromedp.WaitReady("body"))
}

func (b *browser) theme(t *testing.T, scheme string) {
	t.Helper()
	_, err := chromedp.Call(b.ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
		Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}},
	})
	require.NoError(t, err)
}

// post logs events through the API and waits until the store holds them.
func post(t *testing.T, evs ...event.JobEvent) {
	t.Helper()
	var body bytes.Buffer
	for i := range evs {
		b, err := evs[i].AppendJSON(nil)
		require.NoError(t, err)
		body.Write(b)
		body.WriteByte('\n')
	}
	resp, err := http.Post(srv.baseURL+"/api/v1/events", "application/x-ndjson", &body)
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	require.Equal(t, http.StatusAccepted, resp.StatusCode)
	for _, ev := range evs {
		waitStored(t, ev.JobID, ev.ID)
	}
}

// waitStored polls the API until the job's events include id.
func waitStored(t *testing.T, job, id string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		for _, ev := range jobEvents(t, job) {
			if ev.EventID == id {
				return
			}
		}
		require.True(t, time.Now().Before(deadline), "event %s of job %s not stored within 10 s", id, job)
		time.Sleep(10 * time.Millisecond) // polling the API with a deadline
	}
}

type apiEvent struct {
	EventID string `json:"event_id"`
	Type    string `json:"event_type"`
}

func jobEvents(t *testing.T, job string) []apiEvent {
	t.Helper()
	b, err := srv.get(t.Context(), "/api/v1/jobs/"+job+"/events?limit=10000")
	require.NoError(t, err)
	var page struct {
		Events []apiEvent `json:"events"`
	}
	require.NoError(t, json.Unmarshal(b, &page))
	return page.Events
}

func apiCount(t *testing.T, query string) int64 {
	t.Helper()
	b, err := srv.get(t.Context(), "/api/v1/events/count?"+query)
	require.NoError(t, err)
	var c struct {
		Count int64 `json:"count"`
	}
	require.NoError(t, json.Unmarshal(b, &c))
	return c.Count
}

// seed stores the fixture jobs: one completed, one completed after a
// failure and a retry, two failed with the same error.
func seed(t *testing.T) {
	t.Helper()
	t0 := time.Now().Add(-20 * time.Minute)
	at := func(d time.Duration) event.Option { return event.WithTimestamp(t0.Add(d)) }
	q := event.WithQueue("emails")
	failed := func(job, worker string, d time.Duration) event.JobEvent {
		ev := event.Failed(job, worker, fmt.Errorf("bad address in row %d", 40+len(job)), 300*time.Millisecond, 0, at(d), q)
		ev.ErrorType = "ValueError"
		return ev
	}
	post(t,
		event.Enqueued("ui-ok", "emails", 1, at(0)),
		event.Dequeued("ui-ok", "emails", "w-1", at(100*time.Millisecond)),
		event.Started("ui-ok", "w-1", "async", at(200*time.Millisecond), q),
		event.Completed("ui-ok", "w-1", 1200*time.Millisecond, at(1400*time.Millisecond), q),

		event.Enqueued("ui-retry", "reports", 2, at(time.Second)),
		event.Started("ui-retry", "w-2", "async", at(2*time.Second), event.WithQueue("reports")),
		event.Failed("ui-retry", "w-2", fmt.Errorf("upstream timed out"), 2*time.Second, 0, at(4*time.Second), event.WithQueue("reports")),
		event.RetryScheduled("ui-retry", 1, 2130*time.Millisecond, at(4100*time.Millisecond)),
		event.RetryStarted("ui-retry", 1, at(6230*time.Millisecond)),
		event.Started("ui-retry", "w-1", "async", at(6300*time.Millisecond), event.WithQueue("reports")),
		event.Completed("ui-retry", "w-1", 900*time.Millisecond, at(7200*time.Millisecond), event.WithQueue("reports")),

		event.Enqueued("ui-fail-1", "emails", 1, at(8*time.Second)),
		event.Started("ui-fail-1", "w-1", "async", at(9*time.Second), q),
		failed("ui-fail-1", "w-1", 10*time.Second),
		event.Enqueued("ui-fail-2", "emails", 1, at(11*time.Second)),
		event.Started("ui-fail-2", "w-2", "async", at(12*time.Second), q),
		failed("ui-fail-2", "w-2", 13*time.Second),
	)
}

// TestDashboard drives every page of the dashboard in headless Chromium
// against `naq-events serve`, and at the end checks that no page wrote a
// console error and none requested anything from another host.
func TestDashboard(t *testing.T) {
	seed(t)
	b := newBrowser(t, srv.baseURL)

	t.Run("overview numbers match the API", func(t *testing.T) {
		want := apiCount(t, "")
		// The rollups follow the stream: reload until they caught up.
		deadline := time.Now().Add(15 * time.Second)
		for {
			b.open(t, "/?window=1h")
			if eval[string](t, b, `document.querySelector('#total').dataset.value`) == strconv.FormatInt(want, 10) {
				break
			}
			require.True(t, time.Now().Before(deadline), "overview total never reached the API's count %d", want)
		}
		text := eval[string](t, b, `document.querySelector('#total').textContent`)
		assert.Equal(t, strconv.FormatInt(want, 10), strings.ReplaceAll(text, ",", ""), "the visible number")
		byType := eval[map[string]int64](t, b, `Object.fromEntries([...document.querySelectorAll('#types tbody tr[data-type]')].map(tr => [tr.dataset.type, Number(tr.querySelector('td.num').dataset.value)]))`)
		require.NotEmpty(t, byType)
		var sum int64
		for typ, n := range byType {
			assert.Equal(t, apiCount(t, "type="+typ), n, "count of %s", typ)
			sum += n
		}
		assert.Equal(t, want, sum)
		failed, completed := apiCount(t, "type=failed"), apiCount(t, "type=completed")
		rate := eval[float64](t, b, `Number(document.querySelector('#failure-rate').dataset.value)`)
		assert.InDelta(t, float64(failed)/float64(failed+completed), rate, 1e-9)
		assert.Equal(t, "emails", eval[string](t, b, `document.querySelector('#queues tbody tr[data-queue="emails"]').dataset.queue`))
		assert.Equal(t, "2", eval[string](t, b, `document.querySelector('#queues tr[data-queue="emails"] td.num').dataset.value`), "emails: 3 enqueued − 1 dequeued")
		assert.True(t, eval[bool](t, b, `document.querySelector('svg.chart polyline') !== null`), "the chart has lines")
	})

	t.Run("job page shows its history in order", func(t *testing.T) {
		b.open(t, "/jobs/ui-retry")
		got := eval[[]string](t, b, `[...document.querySelectorAll('#events tbody tr')].map(tr => tr.dataset.eventId)`)
		var want []string
		for _, ev := range jobEvents(t, "ui-retry") {
			want = append(want, ev.EventID)
		}
		require.Len(t, want, 7)
		assert.Equal(t, want, got, "every event of the job, in the API's order")
		assert.Equal(t, 2, eval[int](t, b, `document.querySelectorAll('#attempts tbody tr').length`), "two attempts")
		assert.Contains(t, eval[string](t, b, `document.querySelector('#attempts').textContent`), "upstream timed out")
		assert.Equal(t, 1, eval[int](t, b, `document.querySelectorAll('svg.waterfall rect.phase-backoff').length`), "one retry back-off")
		// The raw document is one click away.
		b.do(t, chromedp.Click(`#events tbody tr:first-child details summary`))
		raw := eval[string](t, b, `document.querySelector('#events tbody tr:first-child details pre').innerText`)
		var doc map[string]any
		require.NoError(t, json.Unmarshal([]byte(raw), &doc))
		assert.Equal(t, want[0], doc["event_id"])
		assert.Equal(t, "1.0", doc["version"])
	})

	t.Run("a failure group lists its failing jobs", func(t *testing.T) {
		b.open(t, "/failures?window=1h")
		sel := `#failures tr[data-error-type="ValueError"]`
		b.do(t, chromedp.Click(sel+` details summary`))
		jobs := eval[[]string](t, b, `[...document.querySelectorAll('`+sel+` a[data-job]')].map(a => a.dataset.job).sort()`)
		assert.Equal(t, []string{"ui-fail-1", "ui-fail-2"}, jobs)
		assert.Equal(t, "2", eval[string](t, b, `document.querySelector('`+sel+` td.num').dataset.value`))
		b.do(t, chromedp.Click(sel+` a[data-job="ui-fail-2"]`))
		b.after(t, 5*time.Second, `location.pathname === '/jobs/ui-fail-2' && document.querySelector('#job-id') !== null`)
	})

	t.Run("a failure group pages its failing jobs by cursor", func(t *testing.T) {
		b.open(t, "/failures?window=1h")
		b.do(t, chromedp.Click(`#failures tr[data-error-type="ValueError"] a.all-jobs`))
		b.after(t, 5*time.Second, `location.pathname.startsWith('/failures/') && document.querySelector('#group-jobs') !== null`)
		assert.Equal(t, "ValueError", eval[string](t, b, `document.querySelector('#group-type').textContent`))
		// One job a page, chosen in the form: the URL keeps it.
		b.do(t, chromedp.SetValue(`form.filters input[name="limit"]`, "1"), chromedp.Click(`form.filters button[type="submit"]`))
		b.after(t, 5*time.Second, `new URLSearchParams(location.search).get('limit') === '1' && document.querySelector('#group-jobs') !== null`)
		rows := `[...document.querySelectorAll('#group-jobs tbody tr[data-job]')].map(tr => tr.dataset.job)`
		assert.Equal(t, []string{"ui-fail-2"}, eval[[]string](t, b, rows), "page 1: the newest")
		assert.Equal(t, "1h", eval[string](t, b, `new URLSearchParams(location.search).get('window')`))
		b.do(t, chromedp.Click(`#older`))
		b.after(t, 5*time.Second, `new URLSearchParams(location.search).get('before') !== null && document.querySelector('#group-jobs') !== null`)
		assert.Equal(t, []string{"ui-fail-1"}, eval[[]string](t, b, rows), "page 2: the next older")
		assert.Equal(t, "1", eval[string](t, b, `new URLSearchParams(location.search).get('limit')`), "the filter state stays in the URL")
		assert.True(t, eval[bool](t, b, `document.querySelector('#older') === null && document.querySelector('#no-older') !== null`), "the window's start: no older page")
		b.do(t, chromedp.Click(`#group-jobs a[data-job="ui-fail-1"]`))
		b.after(t, 5*time.Second, `location.pathname === '/jobs/ui-fail-1' && document.querySelector('#job-id') !== null`)
	})

	t.Run("an event logged by the CLI shows in the live feed within 2 s", func(t *testing.T) {
		b.open(t, "/live")
		b.poll(t, 5*time.Second, `document.querySelector('#feed').dataset.connected === 'true'`, "the feed connects")
		_, err := srv.cli(t.Context(), "", "log", "--job", "ui-live", "--type", "enqueued", "--queue", "emails", "--message", "from the CLI")
		require.NoError(t, err)
		logged := time.Now()
		b.poll(t, 2*time.Second, `document.querySelector('#feed tr[data-job="ui-live"]') !== null`, "the CLI's event is not in the feed 2 s after `log` returned")
		t.Logf("CLI event in the feed %s after `naq-events log` returned", time.Since(logged).Round(time.Millisecond))
	})

	t.Run("pause holds events and counts them", func(t *testing.T) {
		b.do(t, chromedp.Click(`#pause`))
		assert.Equal(t, "true", eval[string](t, b, `document.querySelector('#pause').getAttribute('aria-pressed')`))
		post(t, event.Enqueued("ui-paused", "emails", 1))
		b.poll(t, 2*time.Second, `document.querySelector('#paused-count').textContent === '1 new while paused'`)
		assert.False(t, eval[bool](t, b, `document.querySelector('#feed tr[data-job="ui-paused"]') !== null`), "held while paused")
		b.do(t, chromedp.Click(`#pause`))
		b.poll(t, 2*time.Second, `document.querySelector('#feed tr[data-job="ui-paused"]') !== null`, "shown on resume")
		assert.Empty(t, eval[string](t, b, `document.querySelector('#paused-count').textContent`))
	})

	t.Run("a hidden tab closes its stream and resumes without a gap", func(t *testing.T) {
		b.do(t, chromedp.Evaluate[chromedp.Void](`Object.defineProperty(document, 'hidden', {configurable: true, get: () => true}); document.dispatchEvent(new Event('visibilitychange'))`))
		b.poll(t, 2*time.Second, `document.querySelector('#feed').dataset.connected === 'false'`, "the stream closes while hidden")
		post(t, event.Enqueued("ui-hidden", "emails", 1))
		assert.False(t, eval[bool](t, b, `document.querySelector('#feed tr[data-job="ui-hidden"]') !== null`))
		b.do(t, chromedp.Evaluate[chromedp.Void](`Object.defineProperty(document, 'hidden', {configurable: true, get: () => false}); document.dispatchEvent(new Event('visibilitychange'))`))
		b.poll(t, 2*time.Second, `document.querySelector('#feed tr[data-job="ui-hidden"]') !== null`, "the event stored while hidden arrives after")
		seqs := eval[[]int64](t, b, `[...document.querySelectorAll('#feed tbody tr[data-seq]')].map(tr => Number(tr.dataset.seq))`)
		for i := 1; i < len(seqs); i++ {
			assert.Greater(t, seqs[i-1], seqs[i], "newest first, each event once: %v", seqs)
		}
		assert.Len(t, seqs, 3, "ui-live, ui-paused, ui-hidden")
	})

	t.Run("filters change the URL and survive a reload", func(t *testing.T) {
		b.open(t, "/live")
		b.do(t, chromedp.Evaluate[chromedp.Void](`const s = document.querySelector('select[name="type"]'); s.value = 'failed'; s.dispatchEvent(new Event('change'))`))
		b.after(t, 5*time.Second, `location.search === '?type=failed'`, "choosing a type submits the filter")
		b.do(t, chromedp.WaitReady(`input[name="queue"]`), chromedp.SendKeys(`input[name="queue"]`, "emails\r"))
		b.after(t, 5*time.Second, `location.search === '?queue=emails&type=failed'`, "empty fields stay out of the URL")
		b.do(t, chromedp.Reload(), chromedp.WaitReady(`#feed`))
		assert.Equal(t, "failed", eval[string](t, b, `document.querySelector('select[name="type"]').value`))
		assert.Equal(t, "emails", eval[string](t, b, `document.querySelector('input[name="queue"]').value`))
		assert.Equal(t, "/api/v1/stream?queue=emails&type=failed", eval[string](t, b, `document.querySelector('#feed').dataset.stream`))

		b.open(t, "/")
		b.do(t, chromedp.Evaluate[chromedp.Void](`const w = document.querySelector('select[name="window"]'); w.value = '24h'; w.dispatchEvent(new Event('change'))`))
		b.after(t, 5*time.Second, `location.search === '?window=24h'`)
		b.do(t, chromedp.Reload(), chromedp.WaitReady(`#total`))
		assert.Equal(t, "24h", eval[string](t, b, `document.querySelector('select[name="window"]').value`))
	})

	t.Run("keyboard shortcuts", func(t *testing.T) {
		b.open(t, "/")
		b.do(t, chromedp.KeyEvent("/"))
		assert.Equal(t, "q", eval[string](t, b, `document.activeElement.id`), "/ focuses the search")
		// CDP sends the "/" character after its keydown, which a browser
		// would not after preventDefault: clear it, then type the id.
		b.do(t, chromedp.Evaluate[chromedp.Void](`document.querySelector('#q').value = ''`), chromedp.KeyEvent("ui-retry\r"))
		b.after(t, 5*time.Second, `location.pathname === '/jobs/ui-retry' && document.querySelector('#events') !== null`, "searching a job id opens its page")
		b.do(t, chromedp.WaitReady(`#events`), chromedp.KeyEvent("jj"))
		assert.Equal(t, 1, eval[int](t, b, `[...document.querySelectorAll('table.rows tbody tr')].findIndex(tr => tr.classList.contains('selected'))`), "j twice selects the second row")
		b.do(t, chromedp.KeyEvent("k"))
		assert.Equal(t, 0, eval[int](t, b, `[...document.querySelectorAll('table.rows tbody tr')].findIndex(tr => tr.classList.contains('selected'))`), "k goes back up")
		b.do(t, chromedp.KeyEvent("?"))
		assert.True(t, eval[bool](t, b, `document.querySelector('#help').open`), "? opens the help")
		b.do(t, chromedp.KeyEvent("?"))
		assert.False(t, eval[bool](t, b, `document.querySelector('#help').open`), "? closes it again")
	})

	pages := []string{"/", "/live", "/failures?window=1h", "/jobs/ui-retry"}

	t.Run("themes follow the system", func(t *testing.T) {
		bg := func() string { return eval[string](t, b, `getComputedStyle(document.body).backgroundColor`) }
		b.theme(t, "light")
		b.open(t, "/")
		light := bg()
		b.theme(t, "dark")
		dark := bg()
		assert.NotEqual(t, light, dark)
		assert.Equal(t, "rgb(15, 18, 22)", dark)
		b.theme(t, "light")
	})

	t.Run("readable at 1280x800 and at phone width, with accessible names", func(t *testing.T) {
		for _, size := range [][2]int64{{1280, 800}, {390, 844}} {
			b.do(t, chromedp.EmulateViewport(size[0], size[1]))
			for _, p := range pages {
				b.open(t, p)
				over := eval[int](t, b, `document.documentElement.scrollWidth - document.documentElement.clientWidth`)
				assert.LessOrEqual(t, over, 0, "%s at %dx%d scrolls sideways by %d px", p, size[0], size[1], over)
				unnamed := eval[[]string](t, b, `[...document.querySelectorAll('input, select, button, a[href], textarea, svg[role="img"]')].filter(el => {
					const name = (el.getAttribute('aria-label') || '') + (el.getAttribute('aria-labelledby') ? (document.getElementById(el.getAttribute('aria-labelledby')) || {}).textContent || '' : '') +
						(el.labels ? [...el.labels].map(l => l.textContent).join('') : '') + (el.tagName === 'svg' ? '' : el.textContent) + (el.getAttribute('title') || '');
					return name.trim() === '';
				}).map(el => el.outerHTML.slice(0, 100))`)
				assert.Empty(t, unnamed, "controls without an accessible name on %s", p)
			}
		}
		b.do(t, chromedp.EmulateViewport(1280, 800))
	})

	if dir := os.Getenv("NAQ_SCREENSHOTS"); dir != "" {
		t.Run("screenshots", func(t *testing.T) { screenshots(t, b, dir) })
	}

	problems, foreign, n := b.check()
	assert.Empty(t, problems, "console errors")
	assert.Empty(t, foreign, "requests that left %s", srv.baseURL)
	assert.Greater(t, n, 20, "the requests were seen")
}

// screenshots writes each page light and dark at 1280×800 into dir, after
// a demo workload has given the pages something to show.
func screenshots(t *testing.T, b *browser, dir string) {
	_, err := srv.cli(t.Context(), "", "demo", "--jobs", "120", "--rate", "60", "--speed", "40", "--seed", "7")
	require.NoError(t, err)
	b.do(t, chromedp.EmulateViewport(1280, 800))
	job := failedDemoJob(t)
	shots := []struct{ name, path string }{
		{"overview", "/?window=1h"}, {"live", "/live"}, {"failures", "/failures?window=1h"}, {"job", "/jobs/" + job},
	}
	require.NoError(t, os.MkdirAll(dir, 0o755))
	for _, scheme := range []string{"light", "dark"} {
		b.theme(t, scheme)
		for _, s := range shots {
			b.open(t, s.path)
			if s.name == "live" {
				b.poll(t, 5*time.Second, `document.querySelector('#feed').dataset.connected === 'true'`)
				go func() {
					_, _ = srv.cli(context.Background(), "", "demo", "--jobs", "8", "--rate", "20", "--speed", "50", "--seed", "9")
				}()
				b.poll(t, 10*time.Second, `document.querySelectorAll('#feed tbody tr[data-seq]').length >= 12`)
			}
			if s.name == "failures" {
				b.do(t, chromedp.Click(`#failures tbody tr:first-child details summary`))
			}
			ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
			png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
			cancel()
			require.NoError(t, err)
			require.NoError(t, os.WriteFile(filepath.Join(dir, "dashboard-"+s.name+"-"+scheme+".png"), png, 0o644))
		}
	}
	b.theme(t, "light")
}

// failedDemoJob is a demo job that failed and was retried, for the job
// page's screenshot.
func failedDemoJob(t *testing.T) string {
	b, err := srv.get(t.Context(), "/api/v1/events?type=retry_started&limit=1")
	require.NoError(t, err)
	var list struct {
		Records []struct {
			Event struct {
				JobID string `json:"job_id"`
			} `json:"event"`
		} `json:"records"`
	}
	require.NoError(t, json.Unmarshal(b, &list))
	require.NotEmpty(t, list.Records, "the demo retried no job")
	return list.Records[0].Event.JobID
}
