// Command soak is the logger process of scripts/soak-logger.sh: it logs
// 512-byte events at a steady rate through the logger (defaults, a file
// spill) into the JetStream store (defaults: fast-ingest batches) on the
// nats-server at -url for -duration, then closes the logger, which drains
// memory and the spill, and prints its counters and the stream's message
// count. The script stops the server for a while in the middle and samples
// the resident memory of this process and of nats-server every second.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/naq-go/events/adapters/filestore"
	"github.com/naq-go/events/adapters/jsstore"
	"github.com/naq-go/events/domain/event"
	"github.com/naq-go/events/domain/logger"
)

func main() {
	url := flag.String("url", nats.DefaultURL, "nats-server URL")
	rate := flag.Int("rate", 20_000, "events per second")
	duration := flag.Duration("duration", 10*time.Minute, "how long to log")
	spillDir := flag.String("spill", "", "spill directory (required)")
	flag.Parse()
	if err := run(*url, *rate, *duration, *spillDir); err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
		os.Exit(1)
	}
}

func run(url string, rate int, duration time.Duration, spillDir string) error {
	if spillDir == "" || rate < 1000 {
		return fmt.Errorf("-spill is required and -rate must be ≥ 1000 (got %q, %d)", spillDir, rate)
	}
	quiet := slog.New(slog.DiscardHandler)
	nc, err := nats.Connect(url, nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond), nats.ReconnectBufSize(-1))
	if err != nil {
		return err
	}
	defer nc.Close()
	ctx := context.Background()
	st, err := jsstore.New(ctx, nc, jsstore.WithSlog(quiet), jsstore.WithMaxMsgs(0), jsstore.WithMaxBytes(0))
	if err != nil {
		return err
	}
	defer func() { _ = st.Close() }()
	spill, err := filestore.Open(spillDir)
	if err != nil {
		return err
	}
	defer func() { _ = spill.Close() }()
	l := logger.New(st, logger.WithSpill(spill), logger.WithSlog(quiet))

	tmpl := event.New("job-00000", event.TypeStarted, event.WithQueue("default"), event.WithWorker("worker-01", "async"),
		event.WithDetail("pad", strings.Repeat("x", 250)))
	perTick := rate / 1000
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	start := time.Now()
	logged := 0
	for time.Since(start) < duration {
		<-tick.C
		// Catch up on ticks lost to scheduling, so the rate holds.
		want := int(time.Since(start).Milliseconds()+1) * perTick
		for ; logged < want; logged++ {
			ev := tmpl
			ev.ID, ev.JobID = event.NewID(), "job-"+strconv.Itoa(10000+logged%100_000)
			ev.Timestamp = time.Now()
			if err := l.Log(ev); err != nil {
				return fmt.Errorf("log: %w", err)
			}
		}
	}
	cctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	if err := l.Close(cctx); err != nil {
		return fmt.Errorf("close: %w", err)
	}
	s := l.Stats()
	fmt.Printf("logged=%d stored=%d dropped=%d spilled=%d batches=%d failed_batches=%d\n",
		s.Logged, s.Stored, s.Dropped, s.Spilled, s.Batches, s.FailedBatches)
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	str, err := js.Stream(cctx, st.StreamName())
	if err != nil {
		return err
	}
	info, err := str.Info(cctx)
	if err != nil {
		return err
	}
	fmt.Printf("stream_msgs=%d\n", info.State.Msgs)
	return nil
}
