package logger

import (
	"testing"
	"time"
)

func TestOptionsDefaultsAndInvalidValues(t *testing.T) {
	def := newConfig(nil)
	tests := []struct {
		name  string
		opt   Option
		check func(c config) bool
	}{
		{"defaults", nil, func(c config) bool {
			return c.batchSize == 2000 && c.flushInterval == 100*time.Millisecond && c.maxBufferSize == 20_000 &&
				c.retryAttempts == 10 && c.initialBackoff == 50*time.Millisecond && c.maxBackoff == 5*time.Second &&
				c.overflow == DropOldest && c.breakerThreshold == 5 && c.breakerCooldown == time.Second &&
				c.storeTimeout == 5*time.Second && c.log != nil && c.spill == nil
		}},
		{"batch size 0", WithBatchSize(0), func(c config) bool { return c.batchSize == def.batchSize }},
		{"batch size above buffer", func(c *config) { WithBatchSize(50)(c); WithMaxBufferSize(10)(c) }, func(c config) bool { return c.batchSize == 10 }},
		{"interval negative", WithFlushInterval(-time.Second), func(c config) bool { return c.flushInterval == def.flushInterval }},
		{"buffer 0", WithMaxBufferSize(0), func(c config) bool { return c.maxBufferSize == def.maxBufferSize }},
		{"retry invalid", WithRetry(0, 0, -1), func(c config) bool {
			return c.retryAttempts == 10 && c.initialBackoff == 50*time.Millisecond && c.maxBackoff == 5*time.Second
		}},
		{"retry max below initial", WithRetry(2, time.Second, time.Millisecond), func(c config) bool {
			return c.retryAttempts == 2 && c.initialBackoff == time.Second && c.maxBackoff == time.Second
		}},
		{"unknown overflow", WithOverflow(OverflowPolicy(42)), func(c config) bool { return c.overflow == DropOldest }},
		{"block", WithOverflow(Block), func(c config) bool { return c.overflow == Block }},
		{"breaker invalid", WithCircuitBreaker(-1, 0), func(c config) bool {
			return c.breakerThreshold == 5 && c.breakerCooldown == time.Second
		}},
		{"store timeout 0", WithStoreTimeout(0), func(c config) bool { return c.storeTimeout == 5*time.Second }},
		{"nil slog", WithSlog(nil), func(c config) bool { return c.log != nil }},
		{"nil lookup selects the default (the Store's own, if any)", WithLookup(nil), func(c config) bool { return c.lookup == nil }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if c := newConfig([]Option{tt.opt}); !tt.check(c) {
				t.Errorf("config %+v", c)
			}
		})
	}
}

func TestDropReasonAndPolicyNames(t *testing.T) {
	for r := DropOverflow; r <= DropClosed; r++ {
		if r.String() == "unknown" || dropError(r) == nil {
			t.Errorf("reason %d has no name or error", r)
		}
	}
	for _, p := range []OverflowPolicy{DropOldest, DropNewest, Block} {
		if p.String() == "unknown" {
			t.Errorf("policy %d has no name", p)
		}
	}
}
