package jsconsume

import (
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/naq-go/events/domain/event"
	"github.com/naq-go/events/domain/processor"
	"github.com/naq-go/events/domain/subject"
)

// message adapts a jetstream.Msg to processor.Message.
type message struct {
	src *Source
	m   jetstream.Msg
	d   processor.Delivery
}

var _ processor.Message = (*message)(nil)

func (s *Source) wrap(m jetstream.Msg) *message {
	d := processor.Delivery{NumDelivered: 1}
	if md, err := m.Metadata(); err == nil {
		d = processor.Delivery{Seq: md.Sequence.Stream, NumDelivered: md.NumDelivered,
			Pending: md.NumPending, Stored: md.Timestamp}
	}
	return &message{src: s, m: m, d: d}
}

func (m *message) Delivery() processor.Delivery { return m.d }
func (m *message) Subject() string              { return m.m.Subject() }
func (m *message) Data() []byte                 { return m.m.Data() }

// Decode parses the subject and the v1.0 document and checks that they
// agree on job id and type: a message whose subject lies about its body
// would land in the wrong job's history.
func (m *message) Decode() (event.Record, error) {
	parts, err := subject.Parse(m.m.Subject())
	if err != nil {
		return event.Record{}, err
	}
	e, err := event.Decode(m.m.Data())
	if err != nil {
		return event.Record{}, fmt.Errorf("message %d on %s: %w", m.d.Seq, m.m.Subject(), err)
	}
	if e.JobID != parts.JobID || e.Type != parts.Type {
		return event.Record{}, fmt.Errorf("%w: message %d: subject %s says job %q type %q, the document job %q type %q",
			event.ErrInvalid, m.d.Seq, m.m.Subject(), parts.JobID, parts.Type, e.JobID, e.Type)
	}
	return event.Record{Seq: m.d.Seq, Environment: parts.Environment, Service: parts.Service, Event: e}, nil
}

// Ack and Term count their successes, so that Consume reads the ack floor
// soon after them.
func (m *message) Ack() error { return m.settled(m.m.Ack()) }

func (m *message) settled(err error) error {
	if err == nil {
		m.src.settled.Add(1)
	}
	return err
}

func (m *message) Nak(delay time.Duration) error {
	if delay <= 0 {
		return m.m.Nak()
	}
	return m.m.NakWithDelay(delay)
}

func (m *message) Term(reason string) error { return m.settled(m.m.TermWithReason(reason)) }
func (m *message) InProgress() error        { return m.m.InProgress() }
