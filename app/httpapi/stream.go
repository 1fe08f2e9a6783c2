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
	opts, last, err := streamOptions(r)
	if err != nil {
		bad(w, err)
		return
	}
	// One health check says where "now" is, whether a Last-Event-ID can be
	// resumed, and the store's epoch for the ids sent.
	var (
		gap   *gapBody
		epoch int64
	)
	if h, err := a.store.Health(r.Context()); err != nil {
		a.slog.Debug("stream: store health failed; starting where the store's stream starts", "err", err)
	} else {
		if !h.Created.IsZero() {
			epoch = h.Created.UnixNano()
		}
		switch {
		case last.given:
			if gap = resumeGap(last, h); gap != nil {
				opts = event.StreamOptions{History: true}
			}
		case opts == (event.StreamOptions{}):
			opts = fromNow(h)
		}
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
	if gap != nil {
		a.slog.Info("stream: resume across a re-created stream", "last_event_id", gap.LastEventID, "reason", gap.Reason)
		msg, _ := json.Marshal(gap)
		if _, err := fmt.Fprintf(w, ": gap: %s\nevent: gap\ndata: %s\n\n", gap.Reason, msg); err != nil {
			return
		}
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
			if _, err := fmt.Fprintf(w, "id: %s\nevent: %s\ndata: %s\n\n", eventID(it.rec.Seq, epoch), it.rec.Event.Type, b); err != nil {
				return
			}
			if rc.Flush() != nil {
				return
			}
		}
	}
}

// lastID is a parsed Last-Event-ID: "<seq>" or "<seq>@<epoch>", the epoch
// being the store's Health.Created in Unix nanoseconds.
type lastID struct {
	given bool
	raw   string
	seq   uint64
	epoch int64 // 0: none given
}

// eventID is the SSE id of the record at seq: the sequence, and the
// store's epoch when it has one, so that a resume can tell a re-created
// stream from the one the id came from.
func eventID(seq uint64, epoch int64) string {
	if epoch == 0 {
		return strconv.FormatUint(seq, 10)
	}
	return strconv.FormatUint(seq, 10) + "@" + strconv.FormatInt(epoch, 10)
}

// gapBody is the data of the "gap" event: the Last-Event-ID cannot be
// resumed from, and the stream starts again at the new stream's start.
type gapBody struct {
	LastEventID string `json:"last_event_id"`
	Reason      string `json:"reason"`
	LastSeq     uint64 `json:"last_seq"`          // the store's last sequence now
	Created     string `json:"created,omitempty"` // the store's creation time now
	ResumeFrom  string `json:"resume_from"`       // always "start": every retained event follows
}

// resumeGap reports why last cannot be resumed on the store h describes,
// or nil when it can: it comes from a store created at another time, or
// it is beyond the store's last sequence (a stream deleted and re-created,
// or reset, since the client saw it).
func resumeGap(last lastID, h ports.Health) *gapBody {
	g := &gapBody{LastEventID: last.raw, LastSeq: h.LastSeq, ResumeFrom: "start"}
	if !h.Created.IsZero() {
		g.Created = h.Created.UTC().Format(time.RFC3339Nano)
	}
	switch {
	case last.epoch != 0 && !h.Created.IsZero() && last.epoch != h.Created.UnixNano():
		g.Reason = fmt.Sprintf("last event id %s is from a stream created at %s; this stream was created at %s: events may have been lost; resuming from the start of this stream",
			last.raw, time.Unix(0, last.epoch).UTC().Format(time.RFC3339Nano), g.Created)
	case last.seq > h.LastSeq:
		g.Reason = fmt.Sprintf("last event id %s is beyond the stream's last sequence %d: the stream was re-created or reset since; events may have been lost; resuming from the start of this stream",
			last.raw, h.LastSeq)
	default:
		return nil
	}
	return g
}

// streamOptions reads where the stream starts: after Last-Event-ID (header,
// or ?last_event_id=), else from the first stored event with ?history=true,
// else (the zero options) from the events stored from now on: see fromNow.
func streamOptions(r *http.Request) (event.StreamOptions, lastID, error) {
	q := r.URL.Query()
	history, err := parseBool(q, "history")
	if err != nil {
		return event.StreamOptions{}, lastID{}, err
	}
	last, name := r.Header.Get("Last-Event-ID"), "Last-Event-ID header"
	if v, err := one(q, "last_event_id"); err != nil {
		return event.StreamOptions{}, lastID{}, err
	} else if v != "" {
		last, name = v, "parameter last_event_id"
	}
	if last = strings.TrimSpace(last); last != "" {
		id := lastID{given: true, raw: last}
		seqPart, epochPart, hasEpoch := strings.Cut(last, "@")
		seq, err := strconv.ParseUint(seqPart, 10, 64)
		if err == nil && hasEpoch {
			id.epoch, err = strconv.ParseInt(epochPart, 10, 64)
		}
		if err != nil || seq == ^uint64(0) {
			return event.StreamOptions{}, lastID{}, badf("%s %q: want the id of the last event received (its stream sequence, and @epoch as sent)", name, last)
		}
		id.seq = seq
		return event.StreamOptions{FromSeq: seq + 1}, id, nil
	}
	if history {
		return event.StreamOptions{History: true}, lastID{}, nil
	}
	return event.StreamOptions{}, lastID{}, nil
}

// fromNow pins "the events stored from now on" before the response headers
// go out, so that the client misses nothing stored after it sees them: the
// stream starts after the store's last sequence, which the store's Health
// reports as LastSeq. Not a time: the app's clock is not the store's (a
// NATS server's), and a skew would skip or replay events. Nor the zero
// options alone: they start where the store's iterator is when the stream
// goroutine first pulls, which may be after the headers. A store whose
// health check fails gets the zero options.
func fromNow(h ports.Health) event.StreamOptions {
	if h.LastSeq == math.MaxUint64 {
		return event.StreamOptions{}
	}
	return event.StreamOptions{FromSeq: h.LastSeq + 1}
}
