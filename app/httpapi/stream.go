package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/naq-go/events/domain/event"
	"github.com/naq-go/events/ports"
)

// stream serves GET /api/v1/stream as Server-Sent Events; see the package
// comment.
func (a *API) stream(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if err := checkParams(q, filterParams, streamParams); err != nil {
		bad(w, err)
		return
	}
	f, err := parseFilter(q)
	if err != nil {
		bad(w, err)
		return
	}
	opts, err := streamOptions(r)
	if err != nil {
		bad(w, err)
		return
	}
	if opts == (event.StreamOptions{}) {
		opts = a.fromNow(r.Context())
	}
	rc := http.NewResponseController(w)
	// A stream outlives the server's write timeout, if any.
	_ = rc.SetWriteDeadline(time.Time{})

	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	type item struct {
		rec event.Record
		err error
	}
	items := make(chan item)
	done := make(chan struct{})
	go func() { // owned by this handler: cancel ends it, <-done waits for it
		defer close(done)
		for rec, err := range a.store.Stream(ctx, f, opts) {
			select {
			case items <- item{rec, err}:
			case <-ctx.Done():
				return
			}
			if err != nil {
				return
			}
		}
	}()
	defer func() { cancel(); <-done }()

	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
	w.WriteHeader(http.StatusOK)
	// The retry field tells EventSource clients to reconnect after 2 s.
	if _, err := fmt.Fprint(w, "retry: 2000\n: stream open\n\n"); err != nil {
		return
	}
	if rc.Flush() != nil {
		return
	}
	beat := time.NewTicker(a.heartbeat)
	defer beat.Stop()
	var buf []byte
	for {
		select {
		case <-ctx.Done():
			return
		case <-beat.C:
			if _, err := fmt.Fprint(w, ": heartbeat\n\n"); err != nil || rc.Flush() != nil {
				return
			}
		case it := <-items:
			if it.err != nil {
				if !errors.Is(it.err, context.Canceled) {
					if errors.Is(it.err, ports.ErrClosed) {
						a.slog.Debug("stream ended: store closed")
					} else {
						a.slog.Warn("stream failed", "err", it.err)
					}
					msg, _ := json.Marshal(errorBody{Error: it.err.Error()})
					_, _ = fmt.Fprintf(w, "event: error\ndata: %s\n\n", msg)
					_ = rc.Flush()
				}
				return
			}
			b, err := it.rec.Event.AppendJSON(buf[:0])
			if err != nil {
				a.slog.Warn("stream: event does not encode, skipped", "seq", it.rec.Seq, "err", err)
				continue
			}
			buf = b
			if _, err := fmt.Fprintf(w, "id: %d\nevent: %s\ndata: %s\n\n", it.rec.Seq, it.rec.Event.Type, b); err != nil {
				return
			}
			if rc.Flush() != nil {
				return
			}
		}
	}
}

// streamOptions reads where the stream starts: after Last-Event-ID (header,
// or ?last_event_id=), else from the first stored event with ?history=true,
// else (the zero options) from the events stored from now on: see fromNow.
func streamOptions(r *http.Request) (event.StreamOptions, error) {
	q := r.URL.Query()
	history, err := parseBool(q, "history")
	if err != nil {
		return event.StreamOptions{}, err
	}
	last, name := r.Header.Get("Last-Event-ID"), "Last-Event-ID header"
	if v, err := one(q, "last_event_id"); err != nil {
		return event.StreamOptions{}, err
	} else if v != "" {
		last, name = v, "parameter last_event_id"
	}
	if last = strings.TrimSpace(last); last != "" {
		seq, err := strconv.ParseUint(last, 10, 64)
		if err != nil || seq == ^uint64(0) {
			return event.StreamOptions{}, badf("%s %q: want the id (stream sequence) of the last event received", name, last)
		}
		return event.StreamOptions{FromSeq: seq + 1}, nil
	}
	if history {
		return event.StreamOptions{History: true}, nil
	}
	return event.StreamOptions{}, nil
}

// fromNow pins "the events stored from now on" before the response headers
// go out, so that the client misses nothing stored after it sees them: the
// stream starts after the store's last sequence, which the store's Health
// reports as LastSeq. Not
// a time: the app's clock is not the store's (a NATS server's), and a skew
// would skip or replay events. Nor the zero options alone: they start where
// the store's iterator is when the stream goroutine first pulls, which may
// be after the headers. A store whose health check fails gets the zero
// options.
func (a *API) fromNow(ctx context.Context) event.StreamOptions {
	h, err := a.store.Health(ctx)
	if err != nil {
		a.slog.Debug("stream: store health failed; starting where the store's stream starts", "err", err)
		return event.StreamOptions{}
	}
	if h.LastSeq == math.MaxUint64 {
		return event.StreamOptions{}
	}
	return event.StreamOptions{FromSeq: h.LastSeq + 1}
}
