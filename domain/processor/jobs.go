package processor

import (
	"sync"

	"github.com/naq-go/events/domain/event"
)

// jobQueues serialises the events of each job (WithJobOrdering): the first
// event of an idle job takes a handler slot and a goroutine, which then
// drains the job's queue in delivery order. The queues are bounded by the
// source's unacknowledged-message limit (JetStream MaxAckPending).
type jobQueues struct {
	mu sync.Mutex
	m  map[jobKey]*jobQueue
}

type jobKey struct{ env, svc, job string }

type jobQueue struct{ items []queued }

type queued struct {
	f   *flight
	rec event.Record
}

// enqueueJob queues a held message behind its job's earlier events; the
// queued message stays in the held set, so it is reported in progress
// while it waits.
func (p *Processor) enqueueJob(f *flight, rec event.Record) {
	k := jobKey{rec.Environment, rec.Service, rec.Event.JobID}
	p.jobs.mu.Lock()
	if q, ok := p.jobs.m[k]; ok {
		q.items = append(q.items, queued{f, rec})
		p.jobs.mu.Unlock()
		return
	}
	q := &jobQueue{}
	p.jobs.m[k] = q
	p.jobs.mu.Unlock()

	if !p.acquire() {
		p.jobs.mu.Lock()
		rest := q.items
		delete(p.jobs.m, k)
		p.jobs.mu.Unlock()
		p.abandon(f)
		for _, it := range rest {
			p.abandon(it.f)
		}
		return
	}
	p.work.Add(1)
	go func() {
		defer p.work.Done()
		s := &slot{held: true}
		defer p.releaseSlot(s)
		p.runJob(k, q, queued{f, rec}, s)
	}()
}

// slot is a job goroutine's handler slot. The goroutine gives it back while
// one of its events waits on the dead-letter sink (see deadLetter), and
// takes one again before the job's next event.
type slot struct{ held bool }

func (p *Processor) releaseSlot(s *slot) {
	if s.held {
		s.held = false
		p.release()
	}
}

// takeSlot makes sure s holds a slot; false if Stop began first.
func (p *Processor) takeSlot(s *slot) bool {
	if !s.held {
		if !p.acquire() {
			return false
		}
		s.held = true
	}
	return true
}

// runJob handles a job's events one at a time: the next starts only once
// the one before is settled (acked, dead-lettered and terminated, or
// handed back by Stop).
func (p *Processor) runJob(k jobKey, q *jobQueue, it queued, s *slot) {
	for {
		if p.takeSlot(s) {
			p.processInPlace(it.f, it.rec, s)
		} else {
			p.abandon(it.f)
		}
		p.jobs.mu.Lock()
		if len(q.items) == 0 {
			delete(p.jobs.m, k)
			p.jobs.mu.Unlock()
			return
		}
		it = q.items[0]
		q.items[0] = queued{}
		q.items = q.items[1:]
		p.jobs.mu.Unlock()
	}
}

// processInPlace handles one delivery, retrying a failure here (with
// backoff, the message held and so kept in progress) rather than by
// redelivery, so the job's later events wait for it. The handler calls of
// one event — in place and on redeliveries to this processor — are at most
// MaxDeliveries; then it is dead-lettered, the job waiting until the letter
// is written (deadLetter with s).
func (p *Processor) processInPlace(f *flight, rec event.Record, s *slot) {
	if p.stopping() {
		p.abandon(f)
		return
	}
	d := f.msg.Delivery()
	n, owed := p.admit(f, rec, s)
	if owed {
		return
	}
	for attempt := n; ; attempt++ {
		err := p.run(f.msg, rec)
		switch {
		case err == nil:
			p.c.handled.Add(1)
			p.ack(f)
			return
		case p.shutdownErr(err):
			p.abandon(f)
			return
		}
		p.c.failed.Add(1)
		p.memo.failed(d.Seq, err)
		if attempt >= p.cfg.maxDeliveries {
			l := p.letter(f.msg, rec, ReasonFailed, err)
			l.Delivery.NumDelivered = attempt // deliveries plus retries in place
			p.deadLetter(f, l, s)
			return
		}
		p.c.retried.Add(1)
		delay := p.cfg.backoff(attempt)
		p.log.Warn("handler failed; retrying in place", "job_id", rec.Event.JobID,
			"type", rec.Event.Type, "seq", d.Seq, "attempt", attempt, "delay", delay, "err", err)
		if !p.pause(delay) {
			p.abandon(f)
			return
		}
	}
}
