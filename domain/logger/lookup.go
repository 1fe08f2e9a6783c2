package logger

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/naq-go/events/domain/event"
)

// Exactly once beyond the store's de-duplication window.
//
// A store de-duplicates a re-published event by id only within its window
// (JetStream: the stream's duplicate window). An event whose publish had an
// unknown outcome (sent, never acknowledged) may be stored already; once
// its first such publish is older than most of the window, re-publishing
// it could store it twice. So before re-publishing such an event, on a
// retry or a spill replay, the logger asks the store's Lookup whether it is
// stored, and leaves out what is (counted as stored, and as FoundStored).
//
// Which events are asked about:
//   - a retry from memory: events whose sentAt (their first publish of
//     unknown outcome) is at least lookupAge(window) ago;
//   - a replay from the Spill: the events this Logger spilled after a
//     publish of unknown outcome, by when that publish began (the spiller
//     keeps it, spill.go), and the events the Spill held when the Logger
//     opened it (their history is unknown), by their own Timestamp (an
//     event is published after it happened, so this is a superset). The
//     events spilled straight from the queue were never sent: they need no
//     lookup, which keeps a replay after a long outage at the store's speed.
//
// Events never sent, or sent recently, go out without a lookup: the window
// de-duplicates them. A store without a window (DedupWindow 0, as jsstore
// publishing without Nats-Msg-Id) gets no such help, so then every event
// of unknown outcome is looked up before a retry, and every replayed event
// before the replay.

// lookupAge is the age from which an event is looked up before it is
// re-published: three quarters of the window, leaving a quarter of margin
// for the time between the server storing a message and the logger
// learning nothing about it.
func lookupAge(window time.Duration) time.Duration {
	window = max(window, 0)
	return window - window/4
}

// lookupFor reports which of evs must be looked up before a re-publish at
// now, given when each was first sent with an unknown outcome (sentAt, or,
// if nil, the events' own timestamps). It returns nil when none must, or
// when the store has no Lookup. A window of 0 (the store does not
// de-duplicate) makes every such event one to look up.
func (l *Logger) lookupFor(evs []event.JobEvent, sentAt []time.Time, now time.Time) []bool {
	if l.lookup == nil {
		return nil
	}
	age := lookupAge(l.window)
	var check []bool
	for i := range evs {
		t := evs[i].Timestamp
		if sentAt != nil {
			t = sentAt[i]
		}
		if t.IsZero() || now.Sub(t) < age {
			continue
		}
		if check == nil {
			check = make([]bool, len(evs))
		}
		check[i] = true
	}
	return check
}

// lookupChunk is how many events one Lookup.Stored call asks about. Each
// call has its own store timeout, so a lookup of a whole replay batch
// (thousands of events, each a direct get) makes progress on a slow store
// instead of running out of one timeout again on every retry.
const lookupChunk = 256

// storeChecked stores evs, first asking the Lookup about those check marks
// and leaving out those it finds stored; it returns how many it found (the
// caller counts them as FoundStored once their write is settled). sentAt
// is what lookupFor was given for evs. ctx bounds the whole call; every
// lookup of up to lookupChunk events, and the write, each get the store
// timeout within it. The lookups take time, and an event not asked about
// may meanwhile come within reach of a re-publish beyond the window: so
// once the marked ones are answered, lookupFor is asked again for the
// moment the write could end (now plus the store timeout), and what it
// adds is looked up too, until nothing is added. The error reads as
// StoreBatch's for all of evs: an event found stored has a nil entry. If a
// lookup fails, nothing was published: the error wraps ErrNotSent.
func (l *Logger) storeChecked(ctx context.Context, evs []event.JobEvent, sentAt []time.Time, check []bool) (found int, _ error) {
	asked := make([]bool, len(evs))
	isStored := make([]bool, len(evs))
	for {
		var ask []event.JobEvent
		var askIdx []int
		for i, c := range check {
			if c && !asked[i] {
				ask = append(ask, evs[i])
				askIdx = append(askIdx, i)
			}
		}
		if len(ask) == 0 {
			break
		}
		for start := 0; start < len(ask); start += lookupChunk {
			end := min(start+lookupChunk, len(ask))
			part := ask[start:end]
			cctx, cancel := context.WithTimeout(ctx, l.cfg.storeTimeout)
			got, err := l.lookup.Stored(cctx, part)
			cancel()
			if err == nil && len(got) != len(part) {
				err = fmt.Errorf("Lookup.Stored answered %d of %d events", len(got), len(part))
			}
			if err != nil {
				return 0, fmt.Errorf("logger: look up %d events of unknown outcome before publishing them again (%d answered): %w: %w",
					len(ask), start, ErrNotSent, err)
			}
			for k, i := range askIdx[start:end] {
				asked[i], isStored[i] = true, got[k]
			}
		}
		more := l.lookupFor(evs, sentAt, time.Now().Add(l.cfg.storeTimeout))
		for i := range more {
			check[i] = check[i] || more[i]
		}
	}
	ctx, cancel := context.WithTimeout(ctx, l.cfg.storeTimeout)
	defer cancel()
	nskip := 0
	for _, st := range isStored {
		if st {
			nskip++
		}
	}
	if nskip == 0 {
		return 0, l.store.StoreBatch(ctx, evs)
	}
	if nskip == len(evs) {
		return nskip, nil
	}
	rest := make([]event.JobEvent, 0, len(evs)-nskip)
	restIdx := make([]int, 0, len(evs)-nskip)
	for i := range evs {
		if !isStored[i] {
			rest = append(rest, evs[i])
			restIdx = append(restIdx, i)
		}
	}
	err := l.store.StoreBatch(ctx, rest)
	if err == nil {
		return nskip, nil
	}
	errs := make([]error, len(evs))
	var be *BatchError
	if errors.As(err, &be) && len(be.Errs) == len(rest) {
		for k, i := range restIdx {
			errs[i] = be.Errs[k]
		}
	} else {
		for _, i := range restIdx {
			errs[i] = err
		}
	}
	return nskip, &BatchError{Errs: errs}
}
