package logger

import "time"

// dropWarner rate-limits the drop warnings logged through slog.
type dropWarner struct {
	last   time.Time // when the last warning was logged
	warned uint64    // drops counted in warnings so far
}

func (l *Logger) report(err error) {
	l.cfg.log.Debug("naq-events logger: store or spill failed", "err", err)
	if l.cfg.onError != nil {
		l.cfg.onError(err)
	}
}

// reportDrops logs drops through slog: the first at once, then a summary
// at most every dropWarnEvery (or now, if final).
func (l *Logger) reportDrops(now time.Time, final bool) {
	w := &l.f.warn
	l.mu.Lock()
	d := l.st.Dropped
	total := d.Total()
	due := total > w.warned && (final || w.last.IsZero() || now.Sub(w.last) >= dropWarnEvery)
	if due {
		l.dropNoted = false
	}
	l.mu.Unlock()
	if !due {
		return
	}
	l.cfg.log.Warn("naq-events logger dropped events",
		"dropped", total-w.warned, "total", total,
		"overflow", d.Overflow, "rejected", d.Rejected, "retries_exhausted", d.RetriesExhausted,
		"spill_failed", d.SpillFailed, "closed", d.Closed)
	w.last, w.warned = now, total
}
