package filestore

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/naq-go/events/domain/event"
	"github.com/naq-go/events/ports"
)

// File names in the root directory.
const (
	lockName  = "LOCK"
	headName  = "start.seq"
	tombName  = "deleted.jsonl"
	segSuffix = ".jsonl"
)

var segName = regexp.MustCompile(`^[0-9]{20}\.jsonl$`)

// typeIndex numbers the 24 types so an index entry holds one byte.
var (
	typeByIndex = event.Types()
	typeIndex   = func() map[event.JobEventType]uint8 {
		m := make(map[event.JobEventType]uint8, len(typeByIndex))
		for i, t := range typeByIndex {
			m[t] = uint8(i)
		}
		return m
	}()
)

// pair is one environment/service directory.
type pair struct {
	id       uint16
	env, svc string
	dir      string
	made     bool // the directory exists and was synced
}

// segment is one segment file. base is the seq of its first line and next the
// seq after its last; size and next change only with wmu and mu held.
type segment struct {
	pair   *pair
	base   uint64
	next   uint64
	size   int64
	path   string
	f      *os.File
	tf     *os.File // store-time file <base>.times, opened for the first append
	sealed bool     // never append again (a failed write could not be undone)
}

// entry is the in-memory index of one seq. seg == nil means no event has
// this seq (a corrupt line or a gap).
type entry struct {
	seg     *segment
	off     int64
	n       uint32 // line length without the newline
	typ     uint8
	deleted bool
	pair    uint16
	ts      int64 // unix microseconds
	id      string
	job     string
	queue   string
	worker  string
}

func (e *entry) live() bool { return e.seg != nil && !e.deleted }

type jobKey struct {
	pair uint16
	job  string
}

type typeKey struct {
	pair uint16
	typ  uint8
}

// tombstone is one line of deleted.jsonl: every event of the job stored
// before BeforeSeq is deleted.
type tombstone struct {
	Environment string `json:"environment"`
	Service     string `json:"service"`
	JobID       string `json:"job_id"`
	BeforeSeq   uint64 `json:"before_seq"`
}

// log is the state of one directory, shared by every Store opened on it in
// this process.
//
// Lock order: registry.mu, then wmu, then mu. wmu serialises everything
// that writes files (appends, tombstones, the head file, segment removal);
// mu guards the index. Readers hold mu.RLock while they read segment files,
// so a segment file is closed only after its entries left the index under
// mu.
type log struct {
	dir  string
	cfg  config
	lg   *slog.Logger
	lock *os.File
	refs int // guarded by registry.mu

	wmu       sync.Mutex
	buf       []byte
	refsBuf   []lineRef
	dirty     bool // written since the last fsync (SyncInterval)
	tombFile  *os.File
	savedHead uint64 // last head written to start.seq

	mu        sync.RWMutex
	closed    bool
	pairs     []*pair
	pairByKey map[[2]string]*pair
	segs      []*segment
	entries   []entry // entries[i] is seq first+i; len == next-first
	first     uint64  // the head: first seq still retained
	next      uint64  // seq of the next event
	byJob     map[jobKey][]uint64
	byType    map[typeKey][]uint64
	ids       map[string]uint64
	liveCount int
	liveBytes int64
	tombs     []tombstone
	marks     []mark        // store times of the retained seqs, for FromTime
	notify    chan struct{} // closed and replaced on every append

	rmu sync.Mutex // serialises Replay

	torn, corrupt, dups, removed, replayed, syncErrs, timeErrs atomic.Uint64

	stop chan struct{}
	wg   sync.WaitGroup
}

var registry = struct {
	sync.Mutex
	logs map[string]*log
}{logs: map[string]*log{}}

func openLog(dir string, cfg config) (*log, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("filestore: create %s: %w", dir, err)
	}
	lock, err := lockDir(filepath.Join(dir, lockName))
	if err != nil {
		return nil, err
	}
	l := &log{
		dir:       dir,
		cfg:       cfg,
		lg:        cfg.log.With("component", "filestore", "dir", dir),
		lock:      lock,
		pairByKey: map[[2]string]*pair{},
		byJob:     map[jobKey][]uint64{},
		byType:    map[typeKey][]uint64{},
		ids:       map[string]uint64{},
		notify:    make(chan struct{}),
		stop:      make(chan struct{}),
	}
	if err := l.load(); err != nil {
		return nil, errors.Join(err, l.closeFiles())
	}
	if cfg.sync.mode == syncInterval {
		l.wg.Add(1)
		go l.syncLoop(cfg.sync.every)
	}
	return l, nil
}

// pairFor returns the pair of env/svc, creating it (not its directory).
// Callers hold mu (or own l exclusively).
func (l *log) pairFor(env, svc string) (*pair, error) {
	k := [2]string{env, svc}
	if p := l.pairByKey[k]; p != nil {
		return p, nil
	}
	if len(l.pairs) >= 1<<16 {
		return nil, fmt.Errorf("filestore: %w: more than %d environment/service pairs in %s", ports.ErrInvalid, 1<<16, l.dir)
	}
	p := &pair{id: uint16(len(l.pairs)), env: env, svc: svc, dir: filepath.Join(l.dir, env, svc)}
	l.pairs = append(l.pairs, p)
	l.pairByKey[k] = p
	return p, nil
}

// load rebuilds the index from the files: segments in seq order, then the
// tombstones, then the head and the retention.
func (l *log) load() error {
	head, err := l.readHead()
	if err != nil {
		return err
	}
	l.savedHead = head
	l.first, l.next = max(head, 1), max(head, 1)
	segs, err := l.listSegments()
	if err != nil {
		return err
	}
	for _, s := range segs {
		if err := l.scan(s); err != nil {
			return err
		}
	}
	if err := l.loadTombstones(); err != nil {
		return err
	}
	removed := l.enforce(time.Now(), true)
	l.removed.Add(uint64(removed))
	dead := l.deadSegments()
	l.removeSegments(dead)
	l.lg.Debug("filestore: opened", "segments", len(l.segs), "events", l.liveCount,
		"first_seq", l.first, "next_seq", l.next, "torn", l.torn.Load(), "corrupt", l.corrupt.Load(),
		"duplicates", l.dups.Load(), "expired", removed)
	return nil
}

func (l *log) readHead() (uint64, error) {
	path := filepath.Join(l.dir, headName)
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("filestore: read %s: %w", path, err)
	}
	head, perr := strconv.ParseUint(strings.TrimSpace(string(data)), 10, 64)
	if perr == nil {
		return head, nil
	}
	// A corrupt head is not an error of Open, on purpose: starting from
	// head 0 replays the oldest retained segment again, which is safe (the
	// store de-duplicates by id), while refusing to open is not. It is
	// counted (Stats().CorruptLines) and logged, not silent.
	l.corrupt.Add(1)
	l.lg.Warn("filestore: head file is corrupt, starting from the oldest segment",
		"file", path, "content", string(data), "error", perr)
	return 0, nil
}

// writeHead durably records that every seq below head is removed. Caller
// holds wmu.
func (l *log) writeHead(head uint64) error {
	if head <= l.savedHead {
		return nil
	}
	path := filepath.Join(l.dir, headName)
	if err := writeFileAtomic(path, []byte(strconv.FormatUint(head, 10)+"\n")); err != nil {
		return err
	}
	l.savedHead = head
	return nil
}

// writeFileAtomic replaces path by data: temporary file, fsync, rename,
// fsync of the directory.
func writeFileAtomic(path string, data []byte) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("filestore: create %s: %w", tmp, err)
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err == nil {
		err = syncDir(filepath.Dir(path))
	}
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("filestore: write %s: %w", path, err)
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// listSegments finds dir/<env>/<service>/<base>.jsonl, opens each and
// returns them sorted by base. Empty segment files hold nothing and are
// removed.
func (l *log) listSegments() ([]*segment, error) {
	envs, err := os.ReadDir(l.dir)
	if err != nil {
		return nil, fmt.Errorf("filestore: read %s: %w", l.dir, err)
	}
	var segs []*segment
	for _, env := range envs {
		if !env.IsDir() {
			continue
		}
		svcs, err := os.ReadDir(filepath.Join(l.dir, env.Name()))
		if err != nil {
			return nil, fmt.Errorf("filestore: read %s: %w", filepath.Join(l.dir, env.Name()), err)
		}
		for _, svc := range svcs {
			if !svc.IsDir() {
				continue
			}
			c := config{env: env.Name(), svc: svc.Name(), segmentSize: MinSegmentSize}
			if err := c.validate(); err != nil {
				l.lg.Warn("filestore: ignoring a directory that is not an environment/service pair", "path", filepath.Join(l.dir, env.Name(), svc.Name()), "error", err)
				continue
			}
			p, err := l.pairFor(env.Name(), svc.Name())
			if err != nil {
				return nil, err
			}
			p.made = true
			files, err := os.ReadDir(p.dir)
			if err != nil {
				return nil, fmt.Errorf("filestore: read %s: %w", p.dir, err)
			}
			for _, f := range files {
				if f.IsDir() || !segName.MatchString(f.Name()) {
					continue
				}
				base, err := strconv.ParseUint(strings.TrimSuffix(f.Name(), segSuffix), 10, 64)
				if err != nil || base == 0 {
					l.lg.Warn("filestore: ignoring a segment file with an invalid name", "file", filepath.Join(p.dir, f.Name()))
					continue
				}
				s := &segment{pair: p, base: base, next: base, path: filepath.Join(p.dir, f.Name())}
				if s.f, err = os.OpenFile(s.path, os.O_RDWR, 0); err != nil {
					for _, o := range segs {
						_ = o.f.Close()
					}
					return nil, fmt.Errorf("filestore: open segment %s: %w", s.path, err)
				}
				segs = append(segs, s)
			}
		}
	}
	slices.SortFunc(segs, func(a, b *segment) int {
		if c := cmpUint(a.base, b.base); c != 0 {
			return c
		}
		return strings.Compare(a.path, b.path)
	})
	return segs, nil
}

func cmpUint(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// scan indexes one segment file. A last line without its newline is a torn
// write (kill -9, power loss): it is cut off, with a warning. A line that
// does not decode keeps its seq but holds no event. Neither is fatal and
// neither loses a line before it.
func (l *log) scan(s *segment) error {
	data, err := os.ReadFile(s.path)
	if err != nil {
		_ = s.f.Close()
		return fmt.Errorf("filestore: read segment %s: %w", s.path, err)
	}
	if len(data) == 0 {
		_ = s.f.Close()
		l.removeTimes(s)
		if err := os.Remove(s.path); err != nil {
			l.lg.Warn("filestore: cannot remove an empty segment", "file", s.path, "error", err)
		}
		return nil
	}
	l.segs = append(l.segs, s)
	seq := s.base
	off := 0
	for off < len(data) {
		nl := bytes.IndexByte(data[off:], '\n')
		if nl < 0 {
			l.cutTorn(s, data[off:], int64(off))
			break
		}
		l.scanLine(s, seq, int64(off), data[off:off+nl])
		seq++
		off += nl + 1
	}
	s.size = int64(off)
	s.next = seq
	l.loadMarks(s)
	return nil
}

func (l *log) cutTorn(s *segment, tail []byte, off int64) {
	l.torn.Add(1)
	if err := s.f.Truncate(off); err != nil {
		s.sealed = true
		l.lg.Warn("filestore: torn last line (interrupted write) could not be cut off; it is skipped and the segment sealed",
			"file", s.path, "offset", off, "bytes", len(tail), "error", err)
		return
	}
	l.lg.Warn("filestore: cut off a torn last line (interrupted write); every line before it is kept",
		"file", s.path, "offset", off, "bytes", len(tail))
}

func (l *log) scanLine(s *segment, seq uint64, off int64, line []byte) {
	if seq < l.next {
		if seq >= l.savedHead {
			l.corrupt.Add(1)
			l.lg.Warn("filestore: segment overlaps the one before it; line skipped", "file", s.path, "offset", off, "seq", seq)
		}
		return // removed by Replay or retention
	}
	if len(l.entries) == 0 {
		l.first, l.next = seq, seq
	}
	for l.next < seq {
		l.index(entry{}) // gap left by a torn line of an earlier segment
	}
	ev, err := event.Decode(line)
	if err != nil {
		l.corrupt.Add(1)
		if l.corrupt.Load() <= 10 {
			l.lg.Warn("filestore: skipping a line that is not a valid v1.0 event", "file", s.path, "offset", off, "seq", seq, "error", err)
		}
		l.index(entry{})
		return
	}
	if prev, dup := l.ids[ev.ID]; dup {
		// The write path never stores an id it retains, so the earlier
		// copy had been removed (DeleteJob, retention) by the time this
		// one was written, and that removal may not be applied yet (the
		// tombstones and retention come after the scan): the later line
		// is the live one.
		l.dups.Add(1)
		if e := l.at(prev); e != nil && e.live() {
			e.deleted = true
			l.unindex(prev, e)
		}
	}
	// Decode's strings share one copy of the line; the index keeps only
	// its own copies of the few it needs.
	ev.ID, ev.JobID = strings.Clone(ev.ID), strings.Clone(ev.JobID)
	ev.QueueName, ev.WorkerID = strings.Clone(ev.QueueName), strings.Clone(ev.WorkerID)
	l.index(makeEntry(s, off, len(line), &ev))
}

func makeEntry(s *segment, off int64, n int, ev *event.JobEvent) entry {
	return entry{
		seg: s, off: off, n: uint32(n), typ: typeIndex[ev.Type], pair: s.pair.id,
		ts: ev.Timestamp.UnixMicro(), id: ev.ID, job: ev.JobID, queue: ev.QueueName, worker: ev.WorkerID,
	}
}

// index appends e as seq l.next. Caller holds mu (or owns l).
func (l *log) index(e entry) {
	seq := l.next
	if e.seg != nil {
		l.ids[e.id] = seq
		l.liveCount++
		l.liveBytes += int64(e.n) + 1
		jk := jobKey{e.pair, e.job}
		l.byJob[jk] = append(l.byJob[jk], seq)
		tk := typeKey{e.pair, e.typ}
		l.byType[tk] = append(l.byType[tk], seq)
	}
	l.entries = append(l.entries, e)
	l.next++
}

// at returns the entry of seq, nil when seq is not retained. Caller holds mu.
func (l *log) at(seq uint64) *entry {
	if seq < l.first || seq >= l.next {
		return nil
	}
	return &l.entries[seq-l.first]
}

// unindex forgets that e (seq) is live. Caller holds mu.
func (l *log) unindex(seq uint64, e *entry) {
	l.liveCount--
	l.liveBytes -= int64(e.n) + 1
	if l.ids[e.id] == seq {
		delete(l.ids, e.id)
	}
}

func (l *log) loadTombstones() error {
	path := filepath.Join(l.dir, tombName)
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("filestore: read %s: %w", path, err)
	}
	off := 0
	for off < len(data) {
		nl := bytes.IndexByte(data[off:], '\n')
		if nl < 0 {
			l.torn.Add(1)
			l.lg.Warn("filestore: cut off a torn last line of the tombstone file", "file", path, "offset", off)
			if err := os.Truncate(path, int64(off)); err != nil {
				return fmt.Errorf("filestore: cut torn line of %s: %w", path, err)
			}
			break
		}
		var t tombstone
		if err := json.Unmarshal(data[off:off+nl], &t); err != nil {
			l.corrupt.Add(1)
			l.lg.Warn("filestore: skipping a corrupt tombstone", "file", path, "offset", off, "error", err)
		} else {
			l.tombs = append(l.tombs, t)
			if p := l.pairByKey[[2]string{t.Environment, t.Service}]; p != nil {
				l.applyTombstone(jobKey{p.id, t.JobID}, t.BeforeSeq)
			}
		}
		off += nl + 1
	}
	return nil
}

// applyTombstone deletes the job's events below before and returns how many
// were live. Caller holds mu.
func (l *log) applyTombstone(k jobKey, before uint64) int {
	seqs := l.byJob[k]
	n, i := 0, 0
	for ; i < len(seqs) && seqs[i] < before; i++ {
		if e := l.at(seqs[i]); e != nil && e.live() {
			e.deleted = true
			l.unindex(seqs[i], e)
			n++
		}
	}
	if i == len(seqs) {
		delete(l.byJob, k)
	} else {
		l.byJob[k] = seqs[i:]
	}
	return n
}

func (l *log) syncLoop(every time.Duration) {
	defer l.wg.Done()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
			l.wmu.Lock()
			l.syncActive()
			l.wmu.Unlock()
		}
	}
}

// syncActive fsyncs the segment written last, if it was written since the
// last fsync. Caller holds wmu.
func (l *log) syncActive() {
	if !l.dirty || len(l.segs) == 0 {
		return
	}
	s := l.segs[len(l.segs)-1]
	if s.tf != nil {
		_ = s.tf.Sync() // best effort: see writeMark
	}
	if err := s.f.Sync(); err != nil {
		l.syncErrs.Add(1)
		l.lg.Warn("filestore: fsync failed", "file", s.path, "error", err)
		return
	}
	l.dirty = false
}

// close is called when the last Store of the directory closes.
func (l *log) close() error {
	close(l.stop)
	l.wg.Wait()
	l.wmu.Lock()
	defer l.wmu.Unlock()
	if l.cfg.sync.mode == syncInterval {
		l.syncActive()
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closed = true
	close(l.notify)
	return l.closeFiles()
}

func (l *log) closeFiles() error {
	var errs []error
	for _, s := range l.segs {
		errs = append(errs, s.f.Close(), l.closeTimes(s, l.cfg.sync.mode != syncNever))
	}
	if l.tombFile != nil {
		errs = append(errs, l.tombFile.Close())
	}
	errs = append(errs, l.lock.Close())
	return errors.Join(errs...)
}
