package processor

import (
	"sync"
	"time"

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
	m   Message
	rec event.Record
}

func (p *Processor) enqueueJob(m Message, rec event.Record) {
	k := jobKey{rec.Environment, rec.Service, rec.Event.JobID}
	p.jobs.mu.Lock()
	if q, ok := p.jobs.m[k]; ok {
		q.items = append(q.items, queued{m, rec})
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
		p.abandon(m)
		for _, it := range rest {
			p.abandon(it.m)
		}
		return
	}
	p.work.Add(1)
	go func() {
		defer p.work.Done()
		defer p.release()
		p.runJob(k, q, queued{m, rec})
	}()
}

func (p *Processor) runJob(k jobKey, q *jobQueue, it queued) {
	for {
		p.processInPlace(it.m, it.rec)
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
// backoff, the message kept in progress) rather than by redelivery, so the
// job's later events wait for it.
func (p *Processor) processInPlace(m Message, rec event.Record) {
	if p.stopping() {
		p.abandon(m)
		return
	}
	d := m.Delivery()
	if d.NumDelivered > p.cfg.maxDeliveries {
		p.giveUp(m, p.letter(m, rec, ReasonRedelivered, errRedelivered(d, p.cfg.maxDeliveries)))
		return
	}
	for attempt := d.NumDelivered; ; attempt++ {
		err := p.run(m, rec)
		switch {
		case err == nil:
			p.c.handled.Add(1)
			p.settle(m.Ack())
			return
		case p.shutdownErr(err):
			p.abandon(m)
			return
		}
		p.c.failed.Add(1)
		if attempt >= p.cfg.maxDeliveries {
			l := p.letter(m, rec, ReasonFailed, err)
			l.Delivery.NumDelivered = attempt // deliveries plus retries in place
			p.giveUp(m, l)
			return
		}
		p.c.retried.Add(1)
		delay := p.cfg.backoff(attempt)
		p.log.Warn("handler failed; retrying in place", "job_id", rec.Event.JobID,
			"type", rec.Event.Type, "seq", d.Seq, "attempt", attempt, "delay", delay, "err", err)
		if !p.wait(m, delay) {
			p.abandon(m)
			return
		}
	}
}

// wait keeps m in progress for d; false if Stop began meanwhile.
func (p *Processor) wait(m Message, d time.Duration) bool {
	f := p.flights.add(m)
	defer p.flights.remove(f)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-p.stopCh:
		return false
	}
}
