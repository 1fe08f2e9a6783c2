package rollup

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/naq-go/events/domain/event"
)

// ErrCorrupt marks persisted rollups that cannot be decoded; the fix is to
// drop them and rebuild from the stream.
var ErrCorrupt = errors.New("rollup: corrupt persisted state")

// wireVersion is the version of the persisted encoding.
const wireVersion = 1

// Head is the persisted entry point of the rollups: the sequence they
// cover and their chunks (each with the sequence it covered when the head
// was written).
type Head struct {
	V      int         `json:"v"`
	Seq    uint64      `json:"seq"`
	First  uint64      `json:"first"`
	Chunks []ChunkInfo `json:"chunks"`
}

type chunkWire struct {
	V           int        `json:"v"`
	N           uint64     `json:"n"`
	From        uint64     `json:"from"`
	Seq         uint64     `json:"seq"`
	Msgs        int64      `json:"msgs"`
	Undecodable int64      `json:"undecodable,omitempty"`
	Cells       []cellWire `json:"cells"`
}

type cellWire struct {
	Start     int64            `json:"t"`
	Width     int64            `json:"w"`
	Env       string           `json:"e"`
	Svc       string           `json:"s"`
	Queue     string           `json:"q,omitempty"`
	Counts    map[string]int64 `json:"n"`
	Completed *sketchWire      `json:"dc,omitempty"`
	Failed    *sketchWire      `json:"df,omitempty"`
	Last      int64            `json:"l"`
	Failures  []failWire       `json:"f,omitempty"`
	Workers   []workerWire     `json:"wk,omitempty"`
}

type failWire struct {
	Type   string   `json:"t,omitempty"`
	Msg    string   `json:"m"`
	Count  int64    `json:"n"`
	First  int64    `json:"a"`
	Last   int64    `json:"b"`
	Jobs   []string `json:"j,omitempty"`
	JobsAt []int64  `json:"ja,omitempty"`
}

type workerWire struct {
	ID    string `json:"id"`
	Queue string `json:"q,omitempty"`
	Last  int64  `json:"l"`
}

func sortChunkInfos(cs []ChunkInfo) {
	slices.SortFunc(cs, func(a, b ChunkInfo) int { return cmp.Compare(a.N, b.N) })
}

func (c *chunk) marshal() ([]byte, error) {
	w := chunkWire{V: wireVersion, N: c.n, From: c.from, Seq: c.seq, Msgs: c.msgs, Undecodable: c.undecodable,
		Cells: make([]cellWire, 0, len(c.cells))}
	for k, cl := range c.cells {
		cw := cellWire{Start: k.start, Width: k.width, Env: k.env, Svc: k.svc, Queue: k.queue,
			Counts: make(map[string]int64), Completed: cl.completed.wire(), Failed: cl.failed.wire(), Last: cl.last}
		for i, n := range cl.counts {
			if n != 0 {
				cw.Counts[string(allTypes[i])] = n
			}
		}
		for fk, f := range cl.failures {
			fw := failWire{Type: fk.errType, Msg: fk.msg, Count: f.count, First: f.first, Last: f.last}
			for _, j := range f.jobs {
				fw.Jobs, fw.JobsAt = append(fw.Jobs, j.job), append(fw.JobsAt, j.at)
			}
			cw.Failures = append(cw.Failures, fw)
		}
		for id, wk := range cl.workers {
			cw.Workers = append(cw.Workers, workerWire{ID: id, Queue: wk.queue, Last: wk.last})
		}
		w.Cells = append(w.Cells, cw)
	}
	return json.Marshal(&w)
}

func unmarshalChunk(b []byte) (*chunk, error) {
	var w chunkWire
	if err := json.Unmarshal(b, &w); err != nil {
		return nil, fmt.Errorf("%w: chunk: %w", ErrCorrupt, err)
	}
	if w.V != wireVersion {
		return nil, fmt.Errorf("%w: chunk %d has version %d, want %d", ErrCorrupt, w.N, w.V, wireVersion)
	}
	if w.From < chunkStart(w.N) || w.From > chunkEnd(w.N)+1 || w.Seq+1 < w.From || w.Seq > chunkEnd(w.N) {
		return nil, fmt.Errorf("%w: chunk %d covers [%d, %d], outside its range", ErrCorrupt, w.N, w.From, w.Seq)
	}
	c := &chunk{n: w.N, from: w.From, seq: w.Seq, msgs: w.Msgs, undecodable: w.Undecodable,
		cells: make(map[cellKey]*cell, len(w.Cells))}
	for i := range w.Cells {
		cw := &w.Cells[i]
		if cw.Width <= 0 {
			return nil, fmt.Errorf("%w: chunk %d: a cell of width %d", ErrCorrupt, w.N, cw.Width)
		}
		cl := &cell{last: cw.Last}
		for name, n := range cw.Counts {
			ti, ok := typeIndex[event.JobEventType(name)]
			if !ok {
				return nil, fmt.Errorf("%w: chunk %d: unknown event type %q", ErrCorrupt, w.N, name)
			}
			cl.counts[ti] = n
		}
		var ok1, ok2 bool
		cl.completed, ok1 = cw.Completed.sketch()
		cl.failed, ok2 = cw.Failed.sketch()
		if !ok1 || !ok2 {
			return nil, fmt.Errorf("%w: chunk %d: a sketch whose bins do not add up", ErrCorrupt, w.N)
		}
		for _, fw := range cw.Failures {
			if cl.failures == nil {
				cl.failures = make(map[failKey]*failAgg, len(cw.Failures))
			}
			f := &failAgg{count: fw.Count, first: fw.First, last: fw.Last}
			for j := range fw.Jobs {
				if j < len(fw.JobsAt) {
					f.jobs = append(f.jobs, jobSeen{fw.Jobs[j], fw.JobsAt[j]})
				}
			}
			cl.failures[failKey{fw.Type, fw.Msg}] = f
		}
		for _, ww := range cw.Workers {
			if cl.workers == nil {
				cl.workers = make(map[string]*workerAgg, len(cw.Workers))
			}
			cl.workers[ww.ID] = &workerAgg{queue: ww.Queue, last: ww.Last}
		}
		c.cells[cellKey{start: cw.Start, width: cw.Width, seriesKey: seriesKey{cw.Env, cw.Svc, cw.Queue}}] = cl
	}
	return c, nil
}

// Flush is what changed since the last Flush, encoded for persistence.
type Flush struct {
	Head    Head
	HeadDoc []byte            // Head as JSON
	Chunks  map[uint64][]byte // chunks written since the last flush, by N
	Gone    []uint64          // chunks removed since the last flush
}

// Changed reports whether there is anything to write.
func (f *Flush) Changed() bool { return len(f.Chunks) > 0 || len(f.Gone) > 0 }

// TakeFlush encodes the chunks changed since the last TakeFlush and the
// head. If writing them fails, call Dirty so that the next TakeFlush
// writes everything again.
func (r *Rollups) TakeFlush() (Flush, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	f := Flush{Chunks: make(map[uint64][]byte), Gone: r.gone}
	r.gone = nil
	f.Head = Head{V: wireVersion, Seq: r.seq, First: r.first}
	for n, c := range r.chunks {
		f.Head.Chunks = append(f.Head.Chunks, ChunkInfo{N: n, From: c.from, Seq: c.seq, Msgs: c.msgs})
		if !c.dirty {
			continue
		}
		b, err := c.marshal()
		if err != nil {
			return Flush{}, fmt.Errorf("rollup: encode chunk %d: %w", n, err)
		}
		f.Chunks[n] = b
		c.dirty = false
	}
	sortChunkInfos(f.Head.Chunks)
	var err error
	if f.HeadDoc, err = json.Marshal(&f.Head); err != nil {
		return Flush{}, fmt.Errorf("rollup: encode head: %w", err)
	}
	return f, nil
}

// Dirty marks every chunk as changed, so that the next TakeFlush writes
// them all (after a failed write).
func (r *Rollups) Dirty(gone []uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, c := range r.chunks {
		c.dirty = true
	}
	r.gone = append(r.gone, gone...)
}

// DecodeHead decodes a persisted head.
func DecodeHead(b []byte) (Head, error) {
	var h Head
	if err := json.Unmarshal(b, &h); err != nil {
		return Head{}, fmt.Errorf("%w: head: %w", ErrCorrupt, err)
	}
	if h.V != wireVersion {
		return Head{}, fmt.Errorf("%w: head has version %d, want %d", ErrCorrupt, h.V, wireVersion)
	}
	return h, nil
}

// Restore rebuilds rollups from a persisted head and its chunks (get
// returns a chunk's document, or ok false when it is missing). Chunks
// written by a writer that was behind the head, or missing, lower the
// sequence the result covers, so that reading the stream from Seq()+1 and
// applying it makes the state whole: Apply skips what a chunk already
// covers.
func Restore(h Head, get func(n uint64) (doc []byte, ok bool, err error)) (*Rollups, error) {
	r := New()
	r.first = max(h.First, 1)
	r.seq = h.Seq
	for _, info := range h.Chunks {
		doc, ok, err := get(info.N)
		if err != nil {
			return nil, err
		}
		want := min(info.Seq, h.Seq)
		if !ok {
			if info.Msgs > 0 {
				r.seq = min(r.seq, max(info.From, 1)-1)
			}
			continue
		}
		c, err := unmarshalChunk(doc)
		if err != nil {
			return nil, err
		}
		if c.n != info.N {
			return nil, fmt.Errorf("%w: chunk %d stored under %d", ErrCorrupt, c.n, info.N)
		}
		if c.seq < want {
			r.seq = min(r.seq, c.seq)
		}
		r.chunks[c.n] = c
	}
	return r, nil
}
