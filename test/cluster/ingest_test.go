package cluster

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/naq-go/events/adapters/jsstore"
	"github.com/naq-go/events/domain/event"
	"github.com/naq-go/events/domain/logger"
)

// ingestFor is how long one iteration of BenchmarkClusterIngest logs.
const ingestFor = 10 * time.Second

// BenchmarkClusterIngest measures the single-stream ingest on the
// three-node cluster: the logger with its defaults (Block only, so that
// logging as fast as it can refuses nothing) writes to the R3 stream
// through the URL list for ingestFor per iteration, from one goroutine,
// events spread over workloadJobs jobs; the rate counts the events stored
// from the first Log to the end of Close. Then natscli's fast-batch
// publish (`nats bench js pub fast --dedup --batch=2000 --replicas=3`, 512 B
// messages, one subject per message) on the same cluster, for the ratio.
// One iteration takes longer than the default -benchtime, so a plain
// `go test -run '^$' -bench ClusterIngest ./cluster/` runs it once.
// Needs bin/nats (`make natscli`).
func BenchmarkClusterIngest(b *testing.B) {
	natsBin, err := filepath.Abs(filepath.Join("..", "..", "bin", "nats"))
	require.NoError(b, err)
	if _, err := os.Stat(natsBin); err != nil {
		b.Fatalf("natscli: %v (run `make natscli`)", err)
	}
	c := StartCluster(b)
	var stored uint64
	var took time.Duration
	for range b.N {
		n, d := ingestOnce(b, c)
		stored += n
		took += d
	}
	rate := float64(stored) / took.Seconds()
	b.ReportMetric(rate, "events/s")
	msgs := max(int(rate*ingestFor.Seconds()), 10_000)
	out, err := exec.CommandContext(b.Context(), natsBin, "--server", c.URLs(), "--no-context", "--timeout=30s",
		"bench", "js", "pub", "fast", "--dedup", "--batch=2000", "--replicas=3", "--create", "--purge",
		"--multisubject", "--size=512B", "--msgs="+strconv.Itoa(msgs), "--no-progress", "naq.bench").CombinedOutput()
	require.NoError(b, err, "natscli:\n%s", out)
	natscli, err := natscliRate(out)
	require.NoError(b, err, "natscli:\n%s", out)
	b.ReportMetric(natscli, "natscli-msgs/s")
	b.ReportMetric(rate/natscli, "x-natscli")
	line := fmt.Sprintf("BenchmarkClusterIngest: logger %.0f events/s (%d stored in %s), natscli fast --batch=2000 R3 %.0f msgs/s (%d msgs), ratio %.2f",
		rate, stored, took.Round(time.Millisecond), natscli, msgs, rate/natscli)
	b.Log(line)
	fmt.Println(line)
}

// ingestOnce logs as fast as it can for ingestFor into a fresh R3 stream,
// closes the logger and checks the stream holds every event exactly once.
func ingestOnce(b *testing.B, c *Cluster) (uint64, time.Duration) {
	b.Helper()
	nc := productConn(b, c.URLs(), "cluster-ingest")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	js, err := jetstream.New(nc)
	require.NoError(b, err)
	if err := js.DeleteStream(ctx, workloadStream); err != nil {
		require.ErrorIs(b, err, jetstream.ErrStreamNotFound)
	}
	st, err := jsstore.New(ctx, nc, jsstore.WithReplicas(Size))
	require.NoError(b, err)
	defer func() { _ = st.Close() }()
	c.WaitStreamHealthy(b, workloadStream, Size)
	l := logger.New(st, logger.WithOverflow(logger.Block))
	next := make([]int, workloadJobs)
	began := time.Now()
	for i := 0; time.Since(began) < ingestFor; i++ {
		job := i % workloadJobs
		ev := event.Enqueued(jobName(job), "default", 0, event.WithDetail(seqDetail, next[job]))
		next[job]++
		require.NoError(b, l.LogCtx(ctx, ev))
	}
	require.NoError(b, l.Close(ctx))
	took := time.Since(began)
	s := l.Stats()
	require.Equal(b, s.Logged, s.Stored, "every logged event stored: %+v", s)
	stream, err := js.Stream(ctx, workloadStream)
	require.NoError(b, err)
	info, err := stream.Info(ctx)
	require.NoError(b, err)
	require.Equal(b, s.Stored, info.State.Msgs, "the stream holds each event once")
	return s.Stored, took
}

// natscliRate reads the publish rate from natscli's summary line, e.g.
// "NATS JetStream fast batch publisher stats: 14,615 msgs/sec ~ 7.1 MiB/sec".
func natscliRate(out []byte) (float64, error) {
	m := regexp.MustCompile(`stats: ([0-9,.]+) msgs/sec`).FindSubmatch(out)
	if m == nil {
		return 0, fmt.Errorf("no \"stats: … msgs/sec\" line in natscli's output")
	}
	v, err := strconv.ParseFloat(strings.ReplaceAll(string(m[1]), ",", ""), 64)
	if err != nil {
		return 0, fmt.Errorf("natscli rate %q: %w", m[1], err)
	}
	return v, nil
}
