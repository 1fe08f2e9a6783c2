package reads

import (
	"context"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/naq-go/events/adapters/jsrollup"
	"github.com/naq-go/events/adapters/jsstore"
	"github.com/naq-go/events/app/dashboard"
	"github.com/naq-go/events/app/httpapi"
	"github.com/naq-go/events/app/rollups"
)

// BenchmarkDashboardOverviewDay measures the dashboard's overview (/) over
// the day variant of the data set (OpenDayDataset: 1M events spread over
// 24 h, so the 24 h window is 1,440 minute buckets per queue), as
// `naq-events serve` answers it: the jsstore store and a rollups keeper on
// the data set's stream and KV bucket, the clock set to the end of the
// data set's day. For each window, a keeper is started afresh (rollups
// loaded from the bucket, no hour-tier entry built yet): the first request
// is the cold figure, the median of the next 20 the warm one. It logs
// the Server-Timing app time, the bytes of each page and the load
// average beside them; it asserts no timing. Run it (from test/):
//
//	go test -run='^$' -bench=DashboardOverviewDay -benchtime=1x ./reads/
func BenchmarkDashboardOverviewDay(b *testing.B) {
	d := OpenDayDataset(b)
	shift := time.Until(d.DayEnd) // negative: the data set's day ended before now
	now := func() time.Time { return time.Now().Add(shift) }
	if err := dayKeeper(b, d.NC, now).Stop(context.Background()); err != nil { // built and saved once
		b.Fatal(err)
	}
	store, err := jsstore.New(context.Background(), d.NC, jsstore.WithTimeout(time.Minute))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = store.Close() })
	for b.Loop() {
		for _, w := range []string{"1h", "24h"} {
			k := dayKeeper(b, d.NC, now)
			dash, err := dashboard.New(store, k, dashboard.WithClock(now))
			if err != nil {
				b.Fatal(err)
			}
			ts := httptest.NewServer(httpapi.New(store, httpapi.WithUI(dash)))
			path := "/?window=" + w
			cold, coldBytes, total := getTimed(b, ts.URL+path)
			var warm []float64
			for range 20 {
				ms, _, _ := getTimed(b, ts.URL+path)
				warm = append(warm, ms)
			}
			slices.Sort(warm)
			b.Logf("%s: cold %.1f ms, warm median %.1f ms (min %.1f, max %.1f) of 20, %d bytes, total %s events; load average %s",
				path, cold, warm[len(warm)/2], warm[0], warm[len(warm)-1], coldBytes, total, loadAverage())
			b.ReportMetric(cold, "cold-ms-"+w)
			b.ReportMetric(warm[len(warm)/2], "warm-ms-"+w)
			b.ReportMetric(float64(coldBytes), "bytes-"+w)
			if w == "24h" {
				groupPages(b, ts.URL, path)
			}
			ts.Close()
			if err := k.Stop(context.Background()); err != nil {
				b.Fatal(err)
			}
		}
	}
}

var (
	serverTiming = regexp.MustCompile(`app;dur=([0-9.]+)`)
	pageTotal    = regexp.MustCompile(`id="total" data-value="(\d+)"`)
)

// getTimed GETs url and returns its Server-Timing app time in ms, the
// bytes of the body and the overview's total.
func getTimed(b *testing.B, url string) (float64, int, string) {
	b.Helper()
	resp, err := http.Get(url)
	if err != nil {
		b.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		b.Fatalf("GET %s: %d %v\n%s", url, resp.StatusCode, err, body)
	}
	m := serverTiming.FindStringSubmatch(resp.Header.Get("Server-Timing"))
	if m == nil {
		b.Fatalf("GET %s: no app time in Server-Timing %q", url, resp.Header.Get("Server-Timing"))
	}
	ms, _ := strconv.ParseFloat(m[1], 64)
	total := "?"
	if t := pageTotal.FindSubmatch(body); t != nil {
		total = string(t[1])
	}
	return ms, len(body), total
}

// dayKeeper is rollupKeeper on the day variant, compacting by clock now.
func dayKeeper(b *testing.B, nc *nats.Conn, now func() time.Time) *rollups.Keeper {
	b.Helper()
	ctx := context.Background()
	log, err := jsrollup.NewLog(ctx, nc, jsstore.DefaultStream)
	if err != nil {
		b.Fatal(err)
	}
	state, err := jsrollup.NewState(ctx, nc, true, jsrollup.WithBucket(rollups.Bucket(jsstore.DefaultStream)))
	if err != nil {
		b.Fatal(err)
	}
	k := rollups.New(log, state, rollups.WithClock(now))
	start := time.Now()
	if err := k.Start(ctx); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = k.Stop(context.Background()) })
	loaded := k.Rollups().Seq()
	deadline := time.Now().Add(30 * time.Minute)
	for k.Rollups().Seq() < DatasetEvents {
		if time.Now().After(deadline) {
			b.Fatalf("the rollups cover %d of %d events after 30 minutes", k.Rollups().Seq(), DatasetEvents)
		}
		time.Sleep(100 * time.Millisecond) // polling a deadline-bound build, not a sync point
	}
	if loaded < DatasetEvents {
		b.Logf("rollups built from sequence %d to %d in %s", loaded, DatasetEvents, time.Since(start).Round(time.Millisecond))
		if err := k.Stop(ctx); err != nil { // saves them for later runs
			b.Fatal(err)
		}
		if err := k.Start(ctx); err != nil {
			b.Fatal(err)
		}
	}
	return k
}

// loadAverage is the first three fields of /proc/loadavg (uptime's).
func loadAverage() string {
	out, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return fmt.Sprintf("unknown (%v)", err)
	}
	f := strings.Fields(string(out))
	if len(f) < 3 {
		return strings.TrimSpace(string(out))
	}
	return strings.Join(f[:3], " ")
}

var (
	groupHref = regexp.MustCompile(`<a class="small all-jobs" href="([^"]+)">`)
	olderHref = regexp.MustCompile(`<a href="([^"]+)" id="older"`)
	jobRows   = regexp.MustCompile(`<tr data-job="`)
)

// groupPages logs the failures page of the window of path and the pages
// of its first failure group, following Older up to 12 times.
func groupPages(b *testing.B, base, path string) {
	b.Helper()
	fpath := "/failures" + strings.TrimPrefix(path, "/")
	ms, n, _ := getTimed(b, base+fpath)
	b.Logf("%s: %.1f ms, %d bytes; load average %s", fpath, ms, n, loadAverage())
	body := getBody(b, base+fpath)
	m := groupHref.FindStringSubmatch(body)
	if m == nil {
		b.Fatalf("%s links no failure group", fpath)
	}
	next := html.UnescapeString(m[1])
	for i := 0; next != "" && i < 12; i++ {
		ms, n, _ := getTimed(b, base+next)
		page := getBody(b, base+next)
		b.Logf("group page %d %s: %.1f ms, %d bytes, %d jobs, scan stopped %v; load average %s",
			i+1, next, ms, n, len(jobRows.FindAllString(page, -1)), strings.Contains(page, `id="scan-stopped"`), loadAverage())
		next = ""
		if o := olderHref.FindStringSubmatch(page); o != nil {
			next = html.UnescapeString(o[1])
		}
	}
}

func getBody(b *testing.B, url string) string {
	b.Helper()
	resp, err := http.Get(url)
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		b.Fatal(err)
	}
	return string(body)
}
