package metrics

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/naq-go/events/app/processing"
)

// value returns the value of the series named exactly series (name and
// labels) in a scrape, failing the test when it is missing.
func value(t *testing.T, out, series string) float64 {
	t.Helper()
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` (\S+)$`).FindStringSubmatch(out)
	require.NotNil(t, m, "series %s missing from:\n%s", series, out)
	v, err := strconv.ParseFloat(m[1], 64)
	require.NoError(t, err)
	return v
}

// TestProcessorMetrics runs the service's processor on an embedded NATS
// server and reads /metrics: handler latency and delay summaries, the
// abandoned and settle-error counters, and a lag read from the consumer at
// scrape time, so that it shows the backlog while the processor is stopped
// rather than the pending count of its last delivery.
func TestProcessorMetrics(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	sp := newStreamProcessor(ctx, t)
	nc, cfg, p, storeN := sp.nc, sp.cfg, sp.p, sp.storeN
	lag, err := processing.NewConsumerLag(nc, cfg.Stream.Name, processing.Durable)
	require.NoError(t, err)
	m := New()
	m.Processor(p, lag, nil)

	storeN(0, 10)
	require.NoError(t, p.Start(ctx))
	deadline := time.Now().Add(20 * time.Second)
	for p.Stats().Handled < 10 {
		require.True(t, time.Now().Before(deadline), "handled %d of 10", p.Stats().Handled)
		<-time.After(5 * time.Millisecond)
	}

	// Handled counts a message when its handlers return; its latency
	// observations and the ack follow just after, so wait for them.
	out := scrapeUntil(t, m, func(out string) bool {
		return seriesIs(out, "naq_events_processor_handle_duration_seconds_count", 10) &&
			seriesIs(out, "naq_events_processor_delay_seconds_count", 10) &&
			seriesIs(out, "naq_events_processor_lag", 0)
	})
	assert.InDelta(t, 10.0, value(t, out, "naq_events_processor_handled_total"), 0)
	assert.InDelta(t, 10.0, value(t, out, "naq_events_processor_handle_duration_seconds_count"), 0)
	assert.InDelta(t, 10.0, value(t, out, "naq_events_processor_delay_seconds_count"), 0)
	for _, q := range []string{"0.5", "0.9", "0.99"} {
		for _, name := range []string{"handle_duration_seconds", "delay_seconds"} {
			v := value(t, out, fmt.Sprintf(`naq_events_processor_%s{quantile="%s"}`, name, q))
			assert.True(t, v >= 0 && v < 20, "%s quantile %s = %v s", name, q, v)
		}
	}
	sum := value(t, out, "naq_events_processor_delay_seconds_sum")
	assert.True(t, sum > 0 && sum < 10*20, "delay sum %v s", sum)
	assert.LessOrEqual(t, value(t, out, `naq_events_processor_handle_duration_seconds{quantile="0.99"}`),
		value(t, out, "naq_events_processor_handle_duration_max_seconds")*1.125+1e-9)
	assert.InDelta(t, 0.0, value(t, out, "naq_events_processor_abandoned_total"), 0)
	assert.InDelta(t, 0.0, value(t, out, "naq_events_processor_settle_errors_total"), 0)
	assert.InDelta(t, 0.0, value(t, out, "naq_events_processor_lag"), 0)
	assert.InDelta(t, 0.0, value(t, out, "naq_events_processor_lag_errors_total"), 0)

	// The processor stops: no delivery reports a pending count any more,
	// but the backlog grows and the lag says so.
	require.NoError(t, p.Stop(ctx))
	storeN(100, 7)
	// The backlog is what the consumer has not had acknowledged: pending,
	// plus ack pending — a pull request the stopped processor left open at
	// the server may still take some of the new events, which then wait
	// for redelivery. Acks are sent without waiting, so poll.
	backlog := func(out string) float64 {
		return value(t, out, "naq_events_processor_lag") + value(t, out, "naq_events_processor_ack_pending")
	}
	out = scrapeUntil(t, m, func(out string) bool { return backlog(out) == 7 })
	assert.InDelta(t, 7.0, backlog(out), 0, "lag + ack pending while the processor is stopped")

	// A failing consumer info request is counted and leaves the lag out.
	nc.Close()
	out = scrape(t, m)
	assert.NotContains(t, out, "naq_events_processor_lag ")
	assert.InDelta(t, 1.0, value(t, out, "naq_events_processor_lag_errors_total"), 0)
}

// seriesIs reports whether the scrape holds series with value want.
func seriesIs(out, series string, want float64) bool {
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` (\S+)$`).FindStringSubmatch(out)
	if m == nil {
		return false
	}
	v, err := strconv.ParseFloat(m[1], 64)
	return err == nil && v == want
}

// scrapeUntil scrapes m until cond holds or 10 s pass, and returns the last
// scrape either way (the assertions that follow say what is wrong).
func scrapeUntil(t *testing.T, m *Metrics, cond func(string) bool) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		out := scrape(t, m)
		if cond(out) || time.Now().After(deadline) {
			return out
		}
		<-time.After(5 * time.Millisecond)
	}
}
