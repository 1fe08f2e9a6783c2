package storetest

import (
	"fmt"
	"testing"

	"github.com/naq-go/events/domain/event"
	"github.com/naq-go/events/ports"
)

// testClosed: Close ends running streams with ErrClosed; afterwards every
// method returns ErrClosed; closing again is fine.
func (s *suite) testClosed(t *testing.T) {
	ctx := t.Context()
	cfg := config()
	st := s.open(t, cfg)
	storeAll(t, ctx, st, series("job1", "e", 3, lifecycle))

	r := s.startStream(t, st, own(cfg), event.StreamOptions{})
	markers := s.started(t, st, r, func(i int) event.JobEvent {
		return mk("job1", event.TypeEnqueued, fmt.Sprintf("marker%d", i))
	})
	if err := st.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	t.Run("running stream", func(t *testing.T) { expectFinalErr(t, r, markers, ports.ErrClosed) })

	ev := mk("job1", event.TypeStarted, "late")
	checkErr(t, "Store", st.Store(ctx, ev), ports.ErrClosed)
	checkErr(t, "StoreBatch", st.StoreBatch(ctx, []event.JobEvent{ev}), ports.ErrClosed)
	_, err := st.Job(ctx, "job1", event.Page{})
	checkErr(t, "Job", err, ports.ErrClosed)
	_, err = st.ByType(ctx, event.TypeStarted, event.Page{})
	checkErr(t, "ByType", err, ports.ErrClosed)
	_, err = st.List(ctx, own(cfg), event.Page{})
	checkErr(t, "List", err, ports.ErrClosed)
	_, err = st.Count(ctx, own(cfg))
	checkErr(t, "Count", err, ports.ErrClosed)
	_, err = st.DeleteJob(ctx, "job1")
	checkErr(t, "DeleteJob", err, ports.ErrClosed)
	_, err = st.Cleanup(ctx)
	checkErr(t, "Cleanup", err, ports.ErrClosed)
	_, err = st.Health(ctx)
	checkErr(t, "Health", err, ports.ErrClosed)
	checkErr(t, "Stream", firstStreamErr(t, s, st, own(cfg)), ports.ErrClosed)
	if err := st.Close(); err != nil {
		t.Errorf("second Close = %v, want nil", err)
	}
}

// testHealth: a fresh store is healthy and names its backend.
func (s *suite) testHealth(t *testing.T) {
	st := s.open(t, config())
	h, err := st.Health(t.Context())
	switch {
	case err != nil:
		t.Fatalf("Health: %v", err)
	case !h.OK:
		t.Errorf("Health of a fresh store = %+v, want OK", h)
	case h.Backend == "":
		t.Errorf("Health.Backend is empty; want the backend's name")
	case s.o.backendName != "" && h.Backend != s.o.backendName:
		t.Errorf("Health.Backend = %q, want %q", h.Backend, s.o.backendName)
	}

	// LastSeq names the newest stored event, so FromSeq: LastSeq+1 means
	// "from now on" without trusting anybody's clock.
	ctx := t.Context()
	storeAll(t, ctx, st, []event.JobEvent{
		mk("health-job", event.TypeEnqueued, "h1"),
		mk("health-job", event.TypeStarted, "h2"),
	})
	recs := mustList(t, ctx, st, event.Filter{JobID: "health-job"}, event.Page{})
	if len(recs) != 2 {
		t.Fatalf("List after storing 2 events = %d records, want 2", len(recs))
	}
	h, err = st.Health(ctx)
	if err != nil {
		t.Fatalf("Health after storing: %v", err)
	}
	if want := recs[1].Seq; h.LastSeq != want {
		t.Errorf("Health.LastSeq = %d after storing events up to seq %d, want %d", h.LastSeq, want, want)
	}
}
