package jsstore

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/naq-go/events/domain/event"
	"github.com/naq-go/events/domain/logger"
	"github.com/naq-go/events/ports"
)

var _ logger.Lookup = (*Store)(nil)

// lookupInflight bounds the direct get requests one Stored call has in
// flight at once; lookupBatch is how many messages one of them asks for.
// A job has a handful of events per type, so one request usually answers
// a subject.
const (
	lookupInflight = 128
	lookupBatch    = 64
)

// DedupWindow returns the stream's duplicate window as the server reported
// it when New created or updated the stream: within it, an event published
// again with the same id (Nats-Msg-Id) is not stored again. It is 0 when
// the Store publishes without Nats-Msg-Id (WithoutMsgID).
func (s *Store) DedupWindow() time.Duration {
	if s.pub.noMsgID {
		return 0
	}
	return s.dedupWindow
}

// lookupSubject is one literal subject ("naq.events.env.svc.job.type") a
// Stored call reads, and the events it looks for there.
type lookupSubject struct {
	subject string
	k       int       // its index in the Stored call's subjects
	idx     []int     // indexes into evs of the events stored on it
	start   time.Time // earliest store time any of them can have
	next    uint64    // next stream sequence to read; 0: by start time
	left    int       // events of idx not found yet
	got     int       // messages of the request in flight
	done    bool
}

// Stored reports for each event whether an event with its id is stored in
// the stream: found[i] answers evs[i]. It reads each distinct job subject
// of evs ("…{job}.{type}", answered from the server's per-subject index)
// with batched direct gets from the store time the event's own time allows
// (its time minus the clock skew margin, WithClockSkew), at most
// lookupInflight requests at once on one reply subscription, and compares
// each message's Nats-Msg-Id (or, for a message without one, the id in its
// document) with the ids looked for. It never scans the stream. An event
// whose subject cannot be built (an invalid job id or type) is reported
// not stored: it cannot be. On error nothing is known and found is nil.
func (s *Store) Stored(ctx context.Context, evs []event.JobEvent) (found []bool, err error) {
	if err := s.checkOpen(); err != nil {
		return nil, err
	}
	found = make([]bool, len(evs))
	if len(evs) == 0 {
		return found, nil
	}
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()

	bySubj := make(map[string]*lookupSubject, len(evs))
	var subjects []*lookupSubject
	subjOf := make([]int, len(evs)) // evs[i] is looked for on subjects[subjOf[i]]
	var buf []byte
	for i := range evs {
		ev := &evs[i]
		buf, err = s.scheme.AppendFor(buf[:0], s.cfg.env, s.cfg.svc, ev.JobID, ev.Type)
		if err != nil {
			continue
		}
		start := ev.Timestamp.Add(-s.cfg.clockSkew)
		ls := bySubj[string(buf)]
		if ls == nil {
			ls = &lookupSubject{subject: string(buf), start: start, k: len(subjects)}
			bySubj[ls.subject] = ls
			subjects = append(subjects, ls)
		}
		subjOf[i] = ls.k
		ls.idx = append(ls.idx, i)
		ls.left++
		if start.Before(ls.start) {
			ls.start = start
		}
	}
	if len(subjects) == 0 {
		return found, nil
	}
	want := make(map[string][]int, len(evs)) // event id → indexes into evs
	for _, ls := range subjects {
		for _, i := range ls.idx {
			want[evs[i].ID] = append(want[evs[i].ID], i)
		}
	}

	inbox := s.nc.NewRespInbox()
	since := s.nc.LastError()
	sub, err := s.nc.SubscribeSync(inbox + ".*")
	if err != nil {
		return nil, fmt.Errorf("jsstore: stored: subscribe: %w", classify(err))
	}
	defer func() { _ = sub.Unsubscribe() }()
	_ = sub.SetPendingLimits(-1, -1)
	replies := replyWait{s: s, sub: sub, since: since}
	defer replies.stop()

	send := func(k int) error {
		ls := subjects[k]
		req := getRequest{NextFor: ls.subject, Batch: lookupBatch, Seq: ls.next}
		if ls.next == 0 && ls.start.After(time.Unix(0, 0)) {
			t := ls.start.UTC()
			req.StartTime = &t
		} else if ls.next == 0 {
			req.Seq = 1
		}
		body, _ := json.Marshal(&req)
		ls.got = 0
		if err := s.nc.PublishRequest(s.apiDirectGet, inbox+"."+strconv.Itoa(k), body); err != nil {
			return fmt.Errorf("jsstore: stored: direct get %s: %w", ls.subject, classify(err))
		}
		return nil
	}

	queue := make([]int, 0, len(subjects)) // subjects waiting for a request
	for k := range subjects {
		queue = append(queue, k)
	}
	inflight := 0
	for len(queue) > 0 || inflight > 0 {
		for inflight < lookupInflight && len(queue) > 0 {
			if err := send(queue[0]); err != nil {
				return nil, err
			}
			queue = queue[1:]
			inflight++
		}
		m, err := replies.next(ctx)
		if err != nil {
			return nil, fmt.Errorf("jsstore: stored: direct get on stream %s: %w", s.cfg.stream, classify(err))
		}
		k, err := strconv.Atoi(m.Subject[len(inbox)+1:])
		if err != nil || k < 0 || k >= len(subjects) {
			continue
		}
		ls := subjects[k]
		end, more, err := lookupTake(ls, m, want, subjOf, found)
		if err != nil {
			return nil, fmt.Errorf("jsstore: stored: direct get %s on stream %s: %w", ls.subject, s.cfg.stream, err)
		}
		if !end {
			continue
		}
		inflight--
		if more && ls.left > 0 {
			queue = append(queue, k)
		} else {
			ls.done = true
		}
	}
	return found, nil
}

// lookupTake handles one answer message of ls's request: a stored message,
// whose id is checked against the ids looked for, or the request's end
// (end), with more when the subject holds further messages.
func lookupTake(ls *lookupSubject, m *nats.Msg, want map[string][]int, subjOf []int, found []bool) (end, more bool, err error) {
	switch status := m.Header.Get("Status"); status {
	case "":
	case "404": // nothing (more) on the subject
		return true, false, nil
	case "204": // end of batch
		np, _ := strconv.ParseUint(m.Header.Get(numPendingHeader), 10, 64)
		if np > 0 && ls.got == 0 {
			return true, false, fmt.Errorf("end of batch with %d pending but no message (from sequence %d)", np, ls.next)
		}
		return true, np > 0, nil
	case "503":
		return true, false, fmt.Errorf("%w: %s %s", ports.ErrUnavailable, status, m.Header.Get("Description"))
	default:
		return true, false, fmt.Errorf("unexpected status %s %s", status, m.Header.Get("Description"))
	}
	seq, err := strconv.ParseUint(m.Header.Get(jetstream.SequenceHeader), 10, 64)
	if err != nil {
		return false, false, fmt.Errorf("message without a valid %s header: %w", jetstream.SequenceHeader, err)
	}
	ls.next = seq + 1
	ls.got++
	id := m.Header.Get(jetstream.MsgIDHeader)
	if id == "" {
		var doc struct {
			ID string `json:"event_id"`
		}
		if json.Unmarshal(m.Data, &doc) == nil {
			id = doc.ID
		}
	}
	// An id found on another subject than its event's is another job's
	// or type's, so not this event.
	for _, i := range want[id] {
		if !found[i] && subjOf[i] == ls.k {
			found[i] = true
			ls.left--
		}
	}
	return false, false, nil
}
