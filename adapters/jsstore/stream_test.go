package jsstore_test

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"

	"github.com/naq-go/events/domain/event"
)

// gatedDialer dials at once until it is closed; then every dial waits until
// it is opened again. It lets a test hold a connection's reconnect back
// until another client has done something on the restarted server.
type gatedDialer struct {
	mu   sync.Mutex
	gate chan struct{} // nil: dial at once
}

func (d *gatedDialer) Dial(network, address string) (net.Conn, error) {
	d.mu.Lock()
	g := d.gate
	d.mu.Unlock()
	if g != nil {
		<-g
	}
	return net.Dial(network, address)
}

func (d *gatedDialer) close() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.gate == nil {
		d.gate = make(chan struct{})
	}
}

func (d *gatedDialer) open() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.gate != nil {
		close(d.gate)
		d.gate = nil
	}
}

// TestStreamResetBeforeFirstMessage: a Stream that has yielded nothing yet
// when nats.go recreates its ordered consumer (here after a server restart)
// resumes from where it started, not from "new" at the time of the reset:
// an event another client stores between the restart and the reconnect of
// the stream's connection is delivered, then the ones after it.
func TestStreamResetBeforeFirstMessage(t *testing.T) {
	for _, tt := range []struct {
		name string
		opts func() event.StreamOptions
	}{
		{"live", func() event.StreamOptions { return event.StreamOptions{} }},
		{"from time", func() event.StreamOptions { return event.StreamOptions{FromTime: time.Now()} }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := startServer(t)
			dialer := &gatedDialer{}
			nc := connect(t, srv.ClientURL(), nats.SetCustomDialer(dialer))
			t.Cleanup(dialer.open) // runs before nc.Close: never leave a dial waiting
			st := newStore(t, nc)
			ctx := t.Context()

			before := event.New("job1", event.TypeEnqueued, event.WithMessage("before"))
			require.NoError(t, st.Store(ctx, before))
			got := make(chan event.Record)
			errs := make(chan error, 1)
			done := make(chan struct{})
			sctx, cancel := context.WithCancel(ctx)
			t.Cleanup(func() { cancel(); <-done })
			opts := tt.opts()
			go func() {
				defer close(done)
				for rec, err := range st.Stream(sctx, event.Filter{JobID: "job1"}, opts) {
					if err != nil {
						errs <- err
						return
					}
					select {
					case got <- rec:
					case <-sctx.Done():
						return
					}
				}
			}()
			// The stream's consumer exists, and no message has reached it.
			require.Eventually(t, func() bool {
				h, err := st.Health(ctx)
				return err == nil && h.Detail["consumers"] == 1
			}, 30*time.Second, 5*time.Millisecond) // reconnect + consumer reset can take long on a loaded machine

			dialer.close()
			srv.Stop()
			require.NoError(t, srv.Restart())
			other := newStore(t, connect(t, srv.ClientURL()))
			a := event.New("job1", event.TypeStarted, event.WithMessage("while the stream was away"))
			require.NoError(t, other.Store(ctx, a))
			dialer.open()
			// a arrives once the stream's connection is back and nats.go has
			// made its consumer again (a reset that started from "new" would
			// never deliver it); b, stored after that, arrives next.
			b := event.New("job1", event.TypeCompleted, event.WithMessage("after"))
			for _, want := range []struct {
				ev   event.JobEvent
				what string
				wait time.Duration
			}{
				// reconnect + consumer reset can take long on a loaded machine
				{a, "a, stored while the stream's connection was away", time.Minute},
				{b, "b, stored after it came back", 15 * time.Second},
			} {
				if want.ev.ID == b.ID {
					require.NoError(t, other.Store(ctx, b))
				}
				select {
				case rec := <-got:
					require.Equal(t, want.ev.ID, rec.Event.ID, "want %s (before=%s a=%s b=%s)", want.what, before.ID, a.ID, b.ID)
				case err := <-errs:
					t.Fatalf("stream ended with %v, want %s", err, want.what)
				case <-time.After(want.wait):
					t.Fatalf("stream yielded nothing in %v, want %s", want.wait, want.what)
				}
			}
		})
	}
}
