package processor

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/naq-go/events/domain/event"
)

// TestStopReturnsByItsDeadline: Stop returns once its ctx ends (plus
// StopGrace) even if the source does not return from Consume or a
// handler ignores its cancelled ctx; what is left ends in the background
// and Done is closed when it has.
func TestStopReturnsByItsDeadline(t *testing.T) {
	tests := []struct {
		name        string
		stuckSource bool
	}{
		{"source slow to return", true},
		{"handler ignoring its ctx", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			release := make(chan struct{})
			var released sync.Once
			unblock := func() { released.Do(func() { close(release) }) }
			defer unblock()
			src := newFakeSource()
			var s Source = src
			if tt.stuckSource {
				s = &slowStopSource{src, release}
			}
			p := New(s, WithSlog(testLogger(t)))
			running := make(chan struct{}, 1)
			mustHandleAll(t, p, func(context.Context, event.JobEvent) error {
				if !tt.stuckSource {
					running <- struct{}{}
					<-release // ignores ctx
				}
				return nil
			})
			if err := p.Start(context.Background()); err != nil {
				t.Fatal(err)
			}
			if !tt.stuckSource {
				src.publish(1, ev("j", event.TypeStarted))
				recv(t, running, "handler running")
			}

			const wait = 200 * time.Millisecond
			ctx, cancel := context.WithTimeout(context.Background(), wait)
			defer cancel()
			began := time.Now()
			done := make(chan error, 1)
			go func() { done <- p.Stop(ctx) }()
			var err error
			select {
			case err = <-done:
			case <-time.After(5 * time.Second):
				unblock()
				t.Fatalf("Stop did not return within 5 s of a 200 ms deadline (once unblocked: %v)", <-done)
			}
			if took := time.Since(began); took > wait+StopGrace+time.Second {
				t.Errorf("Stop took %s with a %s deadline", took, wait)
			}
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("Stop = %v, want deadline exceeded", err)
			}
			select {
			case <-p.Done():
				t.Fatal("Done closed while a goroutine of the processor still runs")
			default:
			}
			unblock()
			recv(t, p.Done(), "Done after the leftover goroutine ended")
			if !tt.stuckSource {
				if got := src.settlements(); len(got) != 1 || got[0].kind != "ack" {
					t.Errorf("settlements = %+v, want the late handler's message settled", got)
				}
			}
		})
	}
}

// slowStopSource returns from Consume only once released, long after its
// ctx ended (a transport stuck on the network).
type slowStopSource struct {
	*fakeSource
	release <-chan struct{}
}

func (s *slowStopSource) Consume(ctx context.Context, deliver func(Message)) error {
	err := s.fakeSource.Consume(ctx, deliver)
	<-s.release
	return err
}

// TestConsumeBackoffResetsAfterDelivery: after a source error the
// processor waits restartBackoff(attempt); the attempt count starts over
// once a Consume call delivered something, so a source that fails now and
// then is never left at the maximal backoff.
func TestConsumeBackoffResetsAfterDelivery(t *testing.T) {
	src := newFakeSource()
	// Consume calls: fail, fail, fail, deliver then fail, fail, fail, then run.
	script := []bool{false, false, false, true, false, false}
	fs := &flakySource{fakeSource: src, script: script}
	p := New(fs, WithSlog(testLogger(t)))
	var mu sync.Mutex
	var attempts []uint64
	p.cfg.restartBackoff = func(n uint64) time.Duration {
		mu.Lock()
		attempts = append(attempts, n)
		mu.Unlock()
		return 0
	}
	mustHandleAll(t, p, func(context.Context, event.JobEvent) error { return nil })
	src.publish(1, ev("j", event.TypeStarted))
	if err := p.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := p.Stop(context.Background()); err != nil {
			t.Error(err)
		}
	}()
	eventually(t, "the scripted failures", func() bool { return fs.calls.Load() > int32(len(script)) })
	eventually(t, "ack", func() bool { return src.count("ack") == 1 })
	mu.Lock()
	defer mu.Unlock()
	if want := []uint64{1, 2, 3, 1, 2, 3}; !slices.Equal(attempts, want) {
		t.Errorf("backoff attempts = %v, want %v (reset after the call that delivered)", attempts, want)
	}
	if st := p.Stats(); st.SourceErrors != uint64(len(script)) {
		t.Errorf("SourceErrors = %d, want %d", st.SourceErrors, len(script))
	}
}

// flakySource's Consume call i (from 1) fails at once, after delivering
// one message if script[i-1]; calls past the script consume normally.
type flakySource struct {
	*fakeSource
	script []bool
	calls  atomic.Int32
}

func (s *flakySource) Consume(ctx context.Context, deliver func(Message)) error {
	n := int(s.calls.Add(1))
	if n > len(s.script) {
		return s.fakeSource.Consume(ctx, deliver)
	}
	if s.script[n-1] {
		deliver(<-s.in)
	}
	return errors.New("consumer lost")
}
