package jsstore

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/naq-go/events/domain/subject"
	"github.com/naq-go/events/ports"
)

// Batched direct get ($JS.API.DIRECT.GET.<stream>, "next_by_subj" +
// "batch"): the server answers one request with up to batch messages on one
// filter subject, then an end-of-batch status (204, with the number still
// pending), or 404 when nothing matches. A scan keeps one cursor per filter
// subject, sends the requests of all cursors at once on one reply
// subscription, and merges their messages by stream sequence. Filters given
// together must not overlap (domain/subject's FromFilterAll guarantees it).

// getRequest is the body of a direct get request.
type getRequest struct {
	Seq       uint64     `json:"seq,omitempty"`
	NextFor   string     `json:"next_by_subj,omitempty"`
	Batch     int        `json:"batch,omitempty"`
	StartTime *time.Time `json:"start_time,omitempty"`
}

// rawMsg is one stored message as a direct get returns it.
type rawMsg struct {
	seq     uint64
	subject string
	data    []byte
	stamp   string // Nats-Time-Stamp: the store time, RFC 3339
}

// storedAt parses the message's store time (zero if the header is absent
// or malformed).
func (m *rawMsg) storedAt() time.Time {
	t, _ := time.Parse(time.RFC3339Nano, m.stamp)
	return t
}

type cursor struct {
	filter  string
	next    uint64 // next sequence to ask for; 0 with start set: by time
	start   *time.Time
	buf     []rawMsg
	done    bool // nothing more after buf
	waiting bool // a request is in flight
	got     int  // messages taken from the request in flight
	pending uint64
}

// scan is one merged read over several filter subjects.
type scan struct {
	s       *Store
	sub     *nats.Subscription
	inbox   string
	cursors []*cursor
	batch   int
}

// newScan opens a reply subscription for a read of filters starting at
// store sequence from (≥ 1) or, when since is non-zero, at the first message
// stored at or after since. batch is how many messages one request asks for;
// 0 asks for single messages, which spares the server the pending count a
// batch request starts with.
func (s *Store) newScan(filters []string, from uint64, since time.Time, batch int) (*scan, error) {
	inbox := s.nc.NewRespInbox()
	sub, err := s.nc.SubscribeSync(inbox + ".*")
	if err != nil {
		return nil, fmt.Errorf("subscribe for direct get: %w", classify(err))
	}
	_ = sub.SetPendingLimits(-1, -1)
	sc := &scan{s: s, sub: sub, inbox: inbox, batch: batch}
	for _, f := range filters {
		c := &cursor{filter: f, next: max(from, 1)}
		if !since.IsZero() {
			t := since.UTC()
			c.start, c.next = &t, 0
		}
		sc.cursors = append(sc.cursors, c)
	}
	return sc, nil
}

func (sc *scan) close() { _ = sc.sub.Unsubscribe() }

// fill sends a request for every cursor that has nothing buffered and may
// have more, and waits for all of them to finish.
func (sc *scan) fill(ctx context.Context) error {
	inflight := 0
	for i, c := range sc.cursors {
		if len(c.buf) > 0 || c.done || c.waiting {
			continue
		}
		req := getRequest{NextFor: serverFilter(c.filter), Batch: sc.batch, Seq: c.next, StartTime: c.start}
		body, _ := json.Marshal(&req)
		if err := sc.s.nc.PublishRequest(sc.s.apiDirectGet, sc.inbox+"."+strconv.Itoa(i), body); err != nil {
			return fmt.Errorf("direct get %s: %w", c.filter, classify(err))
		}
		c.waiting, c.got = true, 0
		inflight++
	}
	for inflight > 0 {
		m, err := sc.sub.NextMsgWithContext(ctx)
		if err != nil {
			return fmt.Errorf("direct get on stream %s: %w", sc.s.cfg.stream, classify(err))
		}
		i, err := strconv.Atoi(m.Subject[len(sc.inbox)+1:])
		if err != nil || i < 0 || i >= len(sc.cursors) || !sc.cursors[i].waiting {
			continue
		}
		c := sc.cursors[i]
		end, err := c.take(m, sc.batch == 0)
		if err != nil {
			return fmt.Errorf("direct get %s on stream %s: %w", c.filter, sc.s.cfg.stream, err)
		}
		if end {
			c.waiting = false
			inflight--
		}
	}
	return nil
}

// take handles one response message of c's request; end reports whether it
// was the last one.
// In single mode (a request without batch) the answer is one message or 404.
func (c *cursor) take(m *nats.Msg, single bool) (end bool, err error) {
	switch status := m.Header.Get("Status"); status {
	case "":
	case "404": // nothing (more) matches
		c.done = true
		return true, nil
	case "204": // end of batch
		np, _ := strconv.ParseUint(m.Header.Get(numPendingHeader), 10, 64)
		if np > 0 && c.got == 0 {
			// The server (getDirectRequest) answers a batch whose first
			// load fails with 404 and sends the end of batch only after a
			// message, so this does not happen. Were it to, the cursor
			// would not move and the same request would be sent again
			// forever: fail the read instead.
			return true, fmt.Errorf("end of batch with %d pending but no message (from sequence %d)", np, c.next)
		}
		c.pending = np
		if np == 0 {
			c.done = true
		}
		return true, nil
	case "503":
		return true, fmt.Errorf("%w: %s %s", ports.ErrUnavailable, status, m.Header.Get("Description"))
	default:
		return true, fmt.Errorf("unexpected status %s %s", status, m.Header.Get("Description"))
	}
	seq, err := strconv.ParseUint(m.Header.Get(jetstream.SequenceHeader), 10, 64)
	if err != nil {
		return false, fmt.Errorf("message without a valid %s header: %w", jetstream.SequenceHeader, err)
	}
	c.buf = append(c.buf, rawMsg{seq: seq, subject: m.Header.Get(jetstream.SubjectHeader), data: m.Data, stamp: m.Header.Get(jetstream.TimeStampHeaer)})
	c.next, c.start = seq+1, nil
	c.got++
	return single, nil
}

// each yields every message of the scan in sequence order until fn returns
// false or everything is read.
//
// The invariant it rests on: after fill, every cursor is done or holds at
// least one message. A request's answer is 404 (done), or one or more
// messages and then, in batch mode, an end of batch (take rejects an end
// of batch that announces more but brought nothing). So min is nil only
// when every cursor is done; only min's buffer is drained, so during the
// drain every other cursor that is not done still holds its head, and a
// cursor whose next is 0 (a time cursor before its first message) never
// stands as a limit. A cursor that has taken a message always goes on by
// sequence (next = its last sequence + 1).
func (sc *scan) each(ctx context.Context, fn func(rawMsg) bool) error {
	for {
		if err := sc.fill(ctx); err != nil {
			return err
		}
		var min *cursor
		for _, c := range sc.cursors {
			if len(c.buf) > 0 && (min == nil || c.buf[0].seq < min.buf[0].seq) {
				min = c
			}
		}
		if min == nil {
			return nil
		}
		// Drain min while its head stays below every other cursor's head;
		// a cursor with an empty buffer that may have more stops the drain
		// (its next message may be lower).
		limit := ^uint64(0)
		for _, c := range sc.cursors {
			if c == min {
				continue
			}
			if len(c.buf) > 0 {
				limit = minU(limit, c.buf[0].seq)
			} else if !c.done {
				limit = minU(limit, c.next)
			}
		}
		for len(min.buf) > 0 && min.buf[0].seq < limit {
			m := min.buf[0]
			min.buf = min.buf[1:]
			if !fn(m) {
				return nil
			}
		}
	}
}

// pendingCount returns how many messages match each cursor's filter from its
// start, from the Nats-Num-Pending header of a one-message batch: the server
// counts from its subject index and sends one message per filter.
func (sc *scan) count(ctx context.Context) (uint64, error) {
	var total uint64
	inflight := 0
	first := make([]bool, len(sc.cursors))
	for i, c := range sc.cursors {
		req := getRequest{NextFor: serverFilter(c.filter), Batch: 1, Seq: c.next, StartTime: c.start}
		body, _ := json.Marshal(&req)
		if err := sc.s.nc.PublishRequest(sc.s.apiDirectGet, sc.inbox+"."+strconv.Itoa(i), body); err != nil {
			return 0, fmt.Errorf("direct get %s: %w", c.filter, classify(err))
		}
		inflight++
	}
	for inflight > 0 {
		m, err := sc.sub.NextMsgWithContext(ctx)
		if err != nil {
			return 0, fmt.Errorf("count on stream %s: %w", sc.s.cfg.stream, classify(err))
		}
		i, err := strconv.Atoi(m.Subject[len(sc.inbox)+1:])
		if err != nil || i < 0 || i >= len(sc.cursors) {
			continue
		}
		switch status := m.Header.Get("Status"); status {
		case "":
			if !first[i] {
				first[i] = true
				np, err := strconv.ParseUint(m.Header.Get(numPendingHeader), 10, 64)
				if err != nil {
					return 0, fmt.Errorf("count %s: message without a valid %s header", sc.cursors[i].filter, numPendingHeader)
				}
				total += np + 1 // the header counts those after this one
			}
		case "404", "204":
			inflight--
		case "503":
			return 0, fmt.Errorf("count %s: %w: %s %s", sc.cursors[i].filter, ports.ErrUnavailable, status, m.Header.Get("Description"))
		default:
			return 0, fmt.Errorf("count %s: unexpected status %s %s", sc.cursors[i].filter, status, m.Header.Get("Description"))
		}
	}
	return total, nil
}

// serverFilter is the filter a direct get request names for filter: ">"
// for the stream's whole subject space, which the server recognises as
// "everything" and answers without matching subjects (its pending count of
// a batch is then O(1) instead of a walk of the subject index or of the
// blocks after the start: 200 ms on a 1M stream of distinct subjects).
func serverFilter(filter string) string {
	if filter == subject.StreamFilter() {
		return ">"
	}
	return filter
}

// wildcard reports whether filter has a wildcard token.
func wildcard(filter string) bool {
	for _, tok := range strings.Split(filter, ".") {
		if tok == "*" || tok == ">" {
			return true
		}
	}
	return false
}

func minU(a, b uint64) uint64 {
	if a < b {
		return a
	}
	return b
}

// numPendingHeader carries, in a batched direct get, how many matching
// messages follow.
const numPendingHeader = "Nats-Num-Pending"
