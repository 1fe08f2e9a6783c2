package reads

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/naq-go/events/adapters/jsrollup"
	"github.com/naq-go/events/adapters/jsstore"
	"github.com/naq-go/events/app/httpapi"
	"github.com/naq-go/events/app/rollups"
	"github.com/naq-go/events/domain/rollup"
)

// The rollup benchmarks run on the reads data set (OpenDataset: 1M events,
// 100k jobs, 10 queues).

// rollupKeeper starts a keeper on the data set's stream and bucket, like
// serve's, and waits until it covers the whole stream: at once when a
// previous run saved the rollups, else after building them (logged).
func rollupKeeper(tb testing.TB, nc *nats.Conn) *rollups.Keeper {
	tb.Helper()
	ctx := context.Background()
	log, err := jsrollup.NewLog(ctx, nc, jsstore.DefaultStream)
	if err != nil {
		tb.Fatal(err)
	}
	state, err := jsrollup.NewState(ctx, nc, true, jsrollup.WithBucket(rollups.Bucket(jsstore.DefaultStream)))
	if err != nil {
		tb.Fatal(err)
	}
	k := rollups.New(log, state)
	start := time.Now()
	if err := k.Start(ctx); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = k.Stop(context.Background()) })
	loaded := k.Rollups().Seq()
	deadline := time.Now().Add(30 * time.Minute)
	for k.Rollups().Seq() < DatasetEvents {
		if time.Now().After(deadline) {
			tb.Fatalf("the rollups cover %d of %d events after 30 minutes", k.Rollups().Seq(), DatasetEvents)
		}
		time.Sleep(100 * time.Millisecond) // polling a deadline-bound build, not a sync point
	}
	if loaded < DatasetEvents {
		tb.Logf("rollups built from sequence %d to %d in %s", loaded, DatasetEvents, time.Since(start).Round(time.Millisecond))
		if err := k.Stop(ctx); err != nil { // saves them for the CLI and later runs
			tb.Fatal(err)
		}
		if err := k.Start(ctx); err != nil {
			tb.Fatal(err)
		}
	}
	return k
}

// BenchmarkRollupStatsCLI runs `naq-events stats --all` (a separate
// process, as a user would) over the 1M-event stream whose rollups serve
// keeps, and reports its wall time and peak RSS (ru_maxrss).
func BenchmarkRollupStatsCLI(b *testing.B) {
	d := OpenDataset(b)
	srv := d.Server
	rollupKeeper(b, d.NC)
	bin := filepath.Join(b.TempDir(), "naq-events")
	build := exec.Command("go", "build", "-o", bin, "./naq-events")
	build.Dir = filepath.Join("..", "..", "cmd")
	if out, err := build.CombinedOutput(); err != nil {
		b.Fatalf("build the CLI: %v\n%s", err, out)
	}
	// Peak RSS: ru_maxrss of a child forked from this (big) test process
	// counts the parent's pages it shared before exec, so the CLI runs
	// under GNU time, a small process whose child's rusage is the CLI's
	// own.
	gnuTime, _ := exec.LookPath("time")
	if _, err := os.Stat("/usr/bin/time"); err == nil {
		gnuTime = "/usr/bin/time"
	}
	rssFile := filepath.Join(b.TempDir(), "rss")
	var walls, cpu []time.Duration
	var rss []int64
	b.ResetTimer()
	for b.Loop() {
		args := []string{"stats", "--all", "--json", "--server", srv.ClientURL()}
		var cmd *exec.Cmd
		if gnuTime != "" {
			cmd = exec.Command(gnuTime, append([]string{"-f", "%M %U %S", "-o", rssFile, bin}, args...)...)
		} else {
			cmd = exec.Command(bin, args...)
		}
		cmd.Env = append(os.Environ(), "NO_COLOR=1")
		cmd.Stderr = os.Stderr
		start := time.Now()
		out, err := cmd.Output()
		wall := time.Since(start)
		if err != nil {
			b.Fatalf("stats: %v\n%s", err, out)
		}
		var res struct {
			Total  int    `json:"total"`
			Source string `json:"source"`
		}
		if err := json.Unmarshal(out, &res); err != nil || res.Total != DatasetEvents || res.Source != "rollups" {
			b.Fatalf("stats answered total %d from %q (%v), want %d from the rollups:\n%s", res.Total, res.Source, err, DatasetEvents, out)
		}
		walls = append(walls, wall)
		if gnuTime != "" {
			doc, err := os.ReadFile(rssFile)
			if err != nil {
				b.Fatal(err)
			}
			var kb int64
			var user, sys float64
			if _, err := fmt.Sscanf(strings.TrimSpace(string(doc)), "%d %f %f", &kb, &user, &sys); err != nil {
				b.Fatalf("GNU time wrote %q: %v", doc, err)
			}
			rss = append(rss, kb)
			cpu = append(cpu, time.Duration((user+sys)*float64(time.Second)))
		}
	}
	if gnuTime == "" {
		b.Log("no GNU time (/usr/bin/time): peak RSS not measured")
	}
	b.StopTimer()
	slices.Sort(walls)
	slices.Sort(rss)
	b.ReportMetric(float64(walls[len(walls)/2].Microseconds())/1000, "wall-ms-p50")
	b.ReportMetric(float64(walls[len(walls)-1].Microseconds())/1000, "wall-ms-max")
	if len(cpu) > 0 {
		slices.Sort(cpu)
		b.ReportMetric(float64(cpu[len(cpu)/2].Microseconds())/1000, "cpu-ms-p50")
	}
	if len(rss) > 0 {
		b.ReportMetric(float64(rss[len(rss)/2])/1024, "rss-MB-p50")
		b.ReportMetric(float64(rss[len(rss)-1])/1024, "rss-MB-max")
	}
}

// BenchmarkRollupCountByQueue answers GET /api/v1/events/count?queue=…
// through the service's HTTP API over the 1M-event stream: from the
// rollups, O(cells).
func BenchmarkRollupCountByQueue(b *testing.B) {
	nc := OpenDataset(b).NC
	k := rollupKeeper(b, nc)
	store, err := jsstore.New(context.Background(), nc)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = store.Close() })
	ts := httptest.NewServer(httpapi.New(store, httpapi.WithRollups(k)))
	b.Cleanup(ts.Close)
	var lat []time.Duration
	i := 0
	for b.Loop() {
		q := fmt.Sprintf("queue-%d", i%DatasetQueues)
		i++
		start := time.Now()
		resp, err := http.Get(ts.URL + "/api/v1/events/count?queue=" + q)
		if err != nil {
			b.Fatal(err)
		}
		var body struct {
			Count int `json:"count"`
		}
		err = json.NewDecoder(resp.Body).Decode(&body)
		_ = resp.Body.Close()
		lat = append(lat, time.Since(start))
		if err != nil || resp.StatusCode != http.StatusOK || body.Count != DatasetEvents/DatasetQueues {
			b.Fatalf("count?queue=%s: status %d, count %d (%v), want %d", q, resp.StatusCode, body.Count, err, DatasetEvents/DatasetQueues)
		}
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "ms-p50")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "ms-p99")
}

// BenchmarkRollupSummary is one Summary over the whole 1M stream in
// process (what the dashboard and GET /api/v1/stats do), with the memory
// the rollups hold.
func BenchmarkRollupSummary(b *testing.B) {
	nc := OpenDataset(b).NC
	k := rollupKeeper(b, nc)
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	ctx := context.Background()
	for b.Loop() {
		s, err := k.Rollups().Summary(ctx, rollup.Query{})
		if err != nil || s.Total != DatasetEvents {
			b.Fatalf("summary total %d (%v), want %d", s.Total, err, DatasetEvents)
		}
	}
	b.ReportMetric(float64(ms.HeapAlloc)/(1<<20), "heap-MB")
	b.ReportMetric(float64(len(k.Rollups().Chunks())), "chunks")
}
