package memstore

import (
	"maps"
	"sort"
	"sync"
	"time"

	"github.com/naq-go/events/domain/event"
)

// Backend holds the events of every Store built on it (see WithBackend). Its
// zero value is not usable; make one with NewBackend. It is safe for
// concurrent use.
type Backend struct {
	mu    sync.RWMutex
	seq   uint64 // last sequence handed out
	log   index  // every live entry, in sequence order
	parts map[part]*partition
	ids   map[string]*entry // live entries by event ID, for de-duplication
	wake  chan struct{}     // closed and replaced by every write that stores
	made  time.Time         // when the sequences began (Health.Created)
}

// NewBackend returns an empty backend.
func NewBackend() *Backend {
	return &Backend{
		parts: make(map[part]*partition),
		ids:   make(map[string]*entry),
		wake:  make(chan struct{}),
		made:  time.Now(),
	}
}

// part names one environment and service.
type part struct{ env, svc string }

// partition indexes the entries of one environment and service.
type partition struct {
	all   index
	jobs  map[string]*index
	types map[event.JobEventType]*index
}

// entry is one stored event. Once dead it is only waiting to be dropped from
// the indexes that still hold it.
type entry struct {
	rec      event.Record
	storedAt time.Time
	dead     bool
	part     *partition
	job, typ *index
}

// index is a list of entries in sequence order. Removed entries are marked
// dead and counted; dead entries at the front are dropped at once (retention
// removes the oldest first) and the rest when they make up half the list.
type index struct {
	es   []*entry
	dead int
}

func (x *index) live() int { return len(x.es) - x.dead }

func (x *index) add(e *entry) { x.es = append(x.es, e) }

// killed accounts for one more dead entry in x.
func (x *index) killed() {
	x.dead++
	for len(x.es) > 0 && x.es[0].dead {
		x.es[0] = nil
		x.es = x.es[1:]
		x.dead--
	}
	if x.dead > 16 && 2*x.dead > len(x.es) {
		out := make([]*entry, 0, 2*x.live())
		for _, e := range x.es {
			if !e.dead {
				out = append(out, e)
			}
		}
		x.es, x.dead = out, 0
	}
}

// first returns the first live entry, or nil.
func (x *index) first() *entry {
	for _, e := range x.es {
		if !e.dead {
			return e
		}
	}
	return nil
}

// seek returns the position of the first entry with sequence >= seq.
func (x *index) seek(seq uint64) int {
	return sort.Search(len(x.es), func(i int) bool { return x.es[i].rec.Seq >= seq })
}

// page calls fn for the live entries of x in the window p, starting at the
// first entry after p.After (a binary search: a cursor page costs what it
// returns). An offset above event.MaxOffset over more matches than that is
// an *event.OffsetError.
func (x *index) page(p event.Page, fn func(*entry)) error {
	if x == nil || p.Empty() {
		return nil
	}
	es := x.es[x.seek(p.After+1):]
	if p.Before > 0 {
		es = es[:sort.Search(len(es), func(i int) bool { return es[i].rec.Seq >= p.Before })]
	}
	if x.dead == 0 && p.Offset <= event.MaxOffset {
		if p.Offset >= len(es) {
			return nil
		}
		es = es[p.Offset:]
		if p.Limit > 0 && p.Limit < len(es) {
			es = es[:p.Limit]
		}
		for _, e := range es {
			fn(e)
		}
		return nil
	}
	return each(es, p, func(*entry) bool { return true }, fn)
}

// each calls fn for the entries of es (in the page's sequence bounds
// already) that are live and pass match, windowed by p's offset and limit.
func each(es []*entry, p event.Page, match func(*entry) bool, fn func(*entry)) error {
	k := event.NewSkipper(p)
	for _, e := range es {
		if e.dead || !match(e) {
			continue
		}
		take, more, err := k.Offer(e.rec.Seq)
		if err != nil {
			return err
		}
		if take {
			fn(e)
		}
		if !more {
			return nil
		}
	}
	return nil
}

// partition returns the partition of k, creating it when create is set.
func (b *Backend) partition(k part, create bool) *partition {
	p := b.parts[k]
	if p == nil && create {
		p = &partition{jobs: make(map[string]*index), types: make(map[event.JobEventType]*index)}
		b.parts[k] = p
	}
	return p
}

// append stores the events of evs whose ok is set and not yet stored, under
// k at time now, then applies retention. b.mu must be held for writing.
func (b *Backend) append(k part, evs []event.JobEvent, ok []bool, now time.Time) int {
	p := b.partition(k, true)
	n := 0
	for i := range evs {
		if !ok[i] {
			continue
		}
		if _, dup := b.ids[evs[i].ID]; dup {
			continue
		}
		b.seq++
		e := &entry{
			rec:      event.Record{Seq: b.seq, Environment: k.env, Service: k.svc, Event: clone(evs[i])},
			storedAt: now,
			part:     p,
		}
		e.job = p.jobs[e.rec.Event.JobID]
		if e.job == nil {
			e.job = &index{}
			p.jobs[e.rec.Event.JobID] = e.job
		}
		e.typ = p.types[e.rec.Event.Type]
		if e.typ == nil {
			e.typ = &index{}
			p.types[e.rec.Event.Type] = e.typ
		}
		b.log.add(e)
		p.all.add(e)
		e.job.add(e)
		e.typ.add(e)
		b.ids[e.rec.Event.ID] = e
		n++
	}
	if n > 0 {
		close(b.wake)
		b.wake = make(chan struct{})
	}
	return n
}

// kill removes e from the backend. b.mu must be held for writing.
func (b *Backend) kill(e *entry) {
	e.dead = true
	delete(b.ids, e.rec.Event.ID)
	b.log.killed()
	e.part.all.killed()
	e.job.killed()
	if e.job.live() == 0 {
		delete(e.part.jobs, e.rec.Event.JobID)
	}
	e.typ.killed()
	if e.typ.live() == 0 {
		delete(e.part.types, e.rec.Event.Type)
	}
}

// expire removes the events of k stored before cutoff (when set) and the
// oldest beyond maxEvents (when > 0), and returns how many it removed. b.mu
// must be held for writing.
func (b *Backend) expire(k part, cutoff time.Time, maxEvents int) int {
	p := b.parts[k]
	if p == nil {
		return 0
	}
	n := 0
	for {
		e := p.all.first()
		if e == nil {
			return n
		}
		if (maxEvents > 0 && p.all.live() > maxEvents) || (!cutoff.IsZero() && e.storedAt.Before(cutoff)) {
			b.kill(e)
			n++
			continue
		}
		return n
	}
}

// clone copies ev deeply enough that neither the caller's nor the store's
// copy can change the other: maps (one level) and number pointers.
func clone(ev event.JobEvent) event.JobEvent {
	if ev.Details != nil {
		ev.Details = maps.Clone(ev.Details)
	}
	if ev.Tags != nil {
		ev.Tags = maps.Clone(ev.Tags)
	}
	if ev.Metadata != nil {
		ev.Metadata = maps.Clone(ev.Metadata)
	}
	ev.DurationMS = clonePtr(ev.DurationMS)
	ev.MemoryMB = clonePtr(ev.MemoryMB)
	ev.CPUTimeMS = clonePtr(ev.CPUTimeMS)
	return ev
}

func clonePtr(p *float64) *float64 {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}
