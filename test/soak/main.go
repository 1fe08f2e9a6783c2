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
	"net/http"
	_ "net/http/pprof" // -pprof: heap and CPU profiles of the soak
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
	drain := flag.Duration("drain", 5*time.Minute, "how long to wait after logging for the spill and buffer to drain")
	pprofAddr := flag.String("pprof", "", "serve net/http/pprof on this address (e.g. 127.0.0.1:6060); empty: off")
	flag.Parse()
	if *pprofAddr != "" {
		go func() {
			srv := &http.Server{Addr: *pprofAddr, ReadHeaderTimeout: 10 * time.Second}
			fmt.Fprintln(os.Stderr, "soak: pprof:", srv.ListenAndServe())
		}()
	}
	if err := run(*url, *rate, *duration, *drain, *spillDir); err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
		os.Exit(1)
	}
}

func run(url string, rate int, duration, drain time.Duration, spillDir string) error {
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

	stopStats := make(chan struct{})
	defer close(stopStats)
	go printStats(l, stopStats)

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
	// Close does not replay the Spill (the next Logger would): wait until
	// the spill and the buffer are drained, so every event is in the
	// stream, and say how long that took.
	drainStart := time.Now()
	for {
		s := l.Stats()
		if s.SpillPending == 0 && s.BufferDepth == 0 {
			break
		}
		if time.Since(drainStart) > drain {
			return fmt.Errorf("not drained %s after logging stopped: spill_pending=%d buffer=%d", drain, s.SpillPending, s.BufferDepth)
		}
		time.Sleep(100 * time.Millisecond) // polling the counters, not waiting for an event
	}
	fmt.Printf("drained %s after logging stopped\n", time.Since(drainStart).Round(time.Second))
	cctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := l.Close(cctx); err != nil {
		return fmt.Errorf("close: %w", err)
	}
	s := l.Stats()
	fmt.Printf("logged=%d stored=%d replayed=%d found_stored=%d dropped=%d (%+v) spilled=%d batches=%d failed_batches=%d\n",
		s.Logged, s.Stored, s.Replayed, s.FoundStored, s.Dropped.Total(), s.Dropped, s.Spilled, s.Batches, s.FailedBatches)
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

// printStats writes the logger's counters to stderr every 10 s, so a soak
// shows how the spill fills during the outage and drains after it.
func printStats(l *logger.Logger, stop <-chan struct{}) {
	t := time.NewTicker(10 * time.Second)
	defer t.Stop()
	start := time.Now()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			s := l.Stats()
			fmt.Fprintf(os.Stderr, "t=%3.0fs logged=%d stored=%d spilled=%d replayed=%d spill_pending=%d found_stored=%d buffer=%d dropped=%d batches=%d failed=%d\n",
				time.Since(start).Seconds(), s.Logged, s.Stored, s.Spilled, s.Replayed, s.SpillPending, s.FoundStored,
				s.BufferDepth, s.Dropped.Total(), s.Batches, s.FailedBatches)
		}
	}
}
