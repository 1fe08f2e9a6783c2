package processor

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/naq-go/events/domain/event"
)

func TestWaitFor(t *testing.T) {
	tests := []struct {
		name   string
		before []event.JobEventType // stored before WaitFor
		hook   []event.JobEventType // stored between history and live
		after  []event.JobEventType // stored once WaitFor is live
		want   event.JobEventType
	}{
		{name: "already happened", before: []event.JobEventType{event.TypeStarted, event.TypeCompleted}, want: event.TypeCompleted},
		{name: "happens later", before: []event.JobEventType{event.TypeStarted}, after: []event.JobEventType{event.TypeCompleted}, want: event.TypeCompleted},
		{name: "stored between check and subscribe", before: []event.JobEventType{event.TypeStarted}, hook: []event.JobEventType{event.TypeCompleted}, want: event.TypeCompleted},
		{name: "first of several types", before: []event.JobEventType{event.TypeStarted}, after: []event.JobEventType{event.TypeFailed, event.TypeCompleted}, want: event.TypeFailed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newFakeStore()
			s.append(ev("other", event.TypeCompleted))
			for _, typ := range tt.before {
				s.append(ev("job-1", typ))
			}
			var once sync.Once
			s.afterHistory = func() {
				once.Do(func() {
					for _, typ := range tt.hook {
						s.append(ev("job-1", typ))
					}
				})
			}
			w := NewWatcher(s)
			type result struct {
				e   event.JobEvent
				err error
			}
			res := make(chan result, 1)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			go func() {
				e, err := w.WaitFor(ctx, "job-1", event.TypeCompleted, event.TypeFailed)
				res <- result{e, err}
			}()
			if len(tt.after) > 0 {
				eventually(t, "WaitFor to be live", func() bool { return s.live() == 1 })
				for _, typ := range tt.after {
					s.append(ev("job-1", typ))
				}
			}
			r := recv(t, res, "WaitFor")
			if r.err != nil || r.e.Type != tt.want || r.e.JobID != "job-1" {
				t.Errorf("WaitFor = %v %v, want %s of job-1", r.e.Type, r.err, tt.want)
			}
			if len(s.opts) != 1 || !s.opts[0].History {
				t.Errorf("Stream options = %+v, want one call with History", s.opts)
			}
		})
	}
}

func TestWaitForHonoursDeadlineWhileQuiet(t *testing.T) {
	s := newFakeStore()
	s.append(ev("job-1", event.TypeStarted))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	_, err := NewWatcher(s).WaitFor(ctx, "job-1", event.TypeCompleted)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v, want deadline exceeded", err)
	}
}

func TestWatchRejectsBadInput(t *testing.T) {
	w := NewWatcher(newFakeStore())
	ctx := context.Background()
	tests := []struct {
		name string
		err  error
	}{
		{"job id with dot", func() error { _, err := w.WaitFor(ctx, "a.b"); return err }()},
		{"wildcard job id", func() error { _, err := w.WaitFor(ctx, "*"); return err }()},
		{"unknown type", func() error { _, err := w.WaitFor(ctx, "a", "nope"); return err }()},
		{"monitor empty job", w.MonitorJob(ctx, "", func(event.JobEvent) error { return nil })},
		{"monitor nil fn", w.MonitorJob(ctx, "a", nil)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !errors.Is(tt.err, event.ErrInvalid) {
				t.Errorf("err = %v, want ErrInvalid", tt.err)
			}
		})
	}
}

func TestMonitorJobHistoryThenLive(t *testing.T) {
	s := newFakeStore()
	var ids []string
	for _, typ := range []event.JobEventType{event.TypeEnqueued, event.TypeStarted} {
		e := ev("job-1", typ)
		ids = append(ids, e.ID)
		s.append(e)
		s.append(ev("job-2", typ))
	}
	var once sync.Once
	s.afterHistory = func() { // an event stored between history and live
		once.Do(func() {
			e := ev("job-1", event.TypeWorkerAssigned)
			ids = append(ids, e.ID)
			s.append(e)
		})
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var mu sync.Mutex
	var got []string
	done := make(chan error, 1)
	go func() {
		done <- NewWatcher(s).MonitorJob(ctx, "job-1", func(e event.JobEvent) error {
			mu.Lock()
			got = append(got, e.ID)
			mu.Unlock()
			return nil
		})
	}()
	eventually(t, "monitor live", func() bool { return s.live() == 1 })
	e := ev("job-1", event.TypeCompleted)
	ids = append(ids, e.ID)
	s.append(e)
	eventually(t, "4 events", func() bool { mu.Lock(); defer mu.Unlock(); return len(got) == 4 })
	cancel()
	if err := recv(t, done, "MonitorJob"); !errors.Is(err, context.Canceled) {
		t.Errorf("MonitorJob = %v, want context.Canceled", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(got, ids) {
		t.Errorf("saw %v, want %v (history, then live, no gap, no duplicate)", got, ids)
	}
}

func TestMonitorJobCallbackError(t *testing.T) {
	s := newFakeStore()
	s.append(ev("job-1", event.TypeStarted))
	err := NewWatcher(s).MonitorJob(context.Background(), "job-1", func(event.JobEvent) error { return errBoom })
	if !errors.Is(err, errBoom) {
		t.Errorf("err = %v, want the callback's", err)
	}
}

func TestMonitorJobSlowCallbackDropsOldest(t *testing.T) {
	s := newFakeStore()
	w := NewWatcher(s, WatchBuffer(2), WatchSlog(testLogger(t)))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	first := make(chan struct{})
	release := make(chan struct{})
	var mu sync.Mutex
	var got []int
	done := make(chan error, 1)
	go func() {
		done <- w.MonitorJob(ctx, "job-1", func(e event.JobEvent) error {
			n := e.Details["n"].(int)
			mu.Lock()
			got = append(got, n)
			mu.Unlock()
			if n == 0 {
				close(first)
				<-release
			}
			return nil
		})
	}()
	eventually(t, "monitor live", func() bool { return s.live() == 1 })
	for i := range 10 {
		e := ev("job-1", event.TypeStarted)
		e.Details = map[string]any{"n": i}
		s.append(e)
		if i == 0 {
			recv(t, first, "first callback")
		}
	}
	eventually(t, "all 10 read from the store", func() bool { return s.yields() == 10 })
	close(release)
	eventually(t, "3 events", func() bool { mu.Lock(); defer mu.Unlock(); return len(got) == 3 })
	cancel()
	err := recv(t, done, "MonitorJob")
	if !errors.Is(err, ErrDropped) || !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want ErrDropped and context.Canceled", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(got, []int{0, 8, 9}) {
		t.Errorf("callback saw %v, want [0 8 9]: the oldest are dropped", got)
	}
	if w.Dropped() != 7 {
		t.Errorf("Dropped = %d, want 7", w.Dropped())
	}
}

func TestWatchScope(t *testing.T) {
	s := newFakeStore()
	s.append(ev("job-1", event.TypeCompleted)) // stored under test/svc
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := NewWatcher(s, WatchScope("prod", "svc")).WaitFor(ctx, "job-1"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("out-of-scope event found: err = %v", err)
	}
	if e, err := NewWatcher(s, WatchScope("test", "svc")).WaitFor(context.Background(), "job-1"); err != nil || e.JobID != "job-1" {
		t.Errorf("in-scope WaitFor = %v, %v", e, err)
	}
}
