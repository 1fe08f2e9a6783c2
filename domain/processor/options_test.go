package processor

import (
	"context"
	"testing"
	"time"

	"github.com/naq-go/events/domain/event"
)

// TestBadOptionValuesFallBackToDefaults is the domain layer's rule for
// option values (doc.go): a value outside an option's range is not an
// error, the option keeps its documented default.
func TestBadOptionValuesFallBackToDefaults(t *testing.T) {
	src := newFakeSource()
	p := New(src, WithMaxConcurrent(0), WithHandlerTimeout(-time.Second), WithMaxDeliveries(-3),
		WithInProgressInterval(0), WithSlog(nil), WithDeadLetter(nil), WithMiddleware(nil, nil))
	c := p.cfg
	if c.maxConcurrent != DefaultMaxConcurrent || cap(p.sem) != DefaultMaxConcurrent {
		t.Errorf("max concurrent = %d (slots %d), want %d", c.maxConcurrent, cap(p.sem), DefaultMaxConcurrent)
	}
	if c.handlerTimeout != DefaultHandlerTimeout {
		t.Errorf("handler timeout = %s, want %s", c.handlerTimeout, DefaultHandlerTimeout)
	}
	if c.maxDeliveries != DefaultMaxDeliveries {
		t.Errorf("max deliveries = %d, want %d", c.maxDeliveries, DefaultMaxDeliveries)
	}
	if c.heartbeat != DefaultInProgressInterval {
		t.Errorf("in-progress interval = %s, want %s", c.heartbeat, DefaultInProgressInterval)
	}
	if c.logger == nil {
		t.Error("nil logger kept")
	}
	if c.deadLetter != DeadLetterSink(src) {
		t.Errorf("dead-letter sink = %v, want the source", c.deadLetter)
	}
	if len(c.middlewares) != 0 {
		t.Errorf("%d middlewares, want the nil ones skipped", len(c.middlewares))
	}
	if _, err := p.HandleAll(func(context.Context, event.JobEvent) error { return nil }); err != nil {
		t.Fatal(err)
	}

	w := NewWatcher(newFakeStore(), WatchBuffer(0), WatchSlog(nil), WatchScope("a.b", "svc"))
	if w.cfg.buffer != DefaultWatchBuffer || w.cfg.logger == nil {
		t.Errorf("watch buffer = %d, logger nil: %v", w.cfg.buffer, w.cfg.logger == nil)
	}
	if w.cfg.env != "" || w.cfg.svc != "svc" {
		t.Errorf("scope = %q/%q, want every environment (the bad token falls back) of service svc", w.cfg.env, w.cfg.svc)
	}
}
