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
		defer p.release()
		p.runJob(k, q, queued{f, rec})
	}()
}

func (p *Processor) runJob(k jobKey, q *jobQueue, it queued) {
	for {
		p.processInPlace(it.f, it.rec)
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
// redelivery, so the job's later events wait for it.
func (p *Processor) processInPlace(f *flight, rec event.Record) {
	if p.stopping() {
		p.abandon(f)
		return
	}
	d := f.msg.Delivery()
	n := p.memo.deliveries(d)
	if n > p.cfg.maxDeliveries {
		p.giveUp(f, p.overLimit(f, rec, n))
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
		if attempt >= p.cfg.maxDeliveries {
			l := p.letter(f.msg, rec, ReasonFailed, err)
			l.Delivery.NumDelivered = attempt // deliveries plus retries in place
			p.giveUp(f, l)
			return
		}
		p.memo.failed(d.Seq, err)
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
