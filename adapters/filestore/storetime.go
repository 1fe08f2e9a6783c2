package filestore

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"
)

// timesSuffix names a segment's store-time file: <base>.times beside
// <base>.jsonl.
const timesSuffix = ".times"

// mark says that the events from seq up to the next mark's seq were stored
// at or before at (unix nanoseconds, the store's clock). Marks are
// ascending in seq and in at: a batch is stamped no earlier than the one
// before it, even if the clock steps back.
type mark struct {
	seq uint64
	at  int64
}

// mtimeSlack is added to a segment's modification time where it stands in
// for lost store times: file systems keep a coarse clock (a kernel tick, up
// to a second or two on some), so the bare mtime can be a little earlier
// than the write it records.
const mtimeSlack = 2 * time.Second

func timesPath(segPath string) string { return strings.TrimSuffix(segPath, segSuffix) + timesSuffix }

// stamp returns the store time of a batch written now. Caller holds wmu
// (marks change only with wmu and mu held).
func (l *log) stamp() int64 {
	at := time.Now().UnixNano()
	if n := len(l.marks); n > 0 {
		at = max(at, l.marks[n-1].at)
	}
	return at
}

// addMark records that the events from seq on were stored at or before at.
// Marks that would not ascend are merged into the last one. Caller holds mu
// (or owns l).
func (l *log) addMark(seq uint64, at int64) {
	if n := len(l.marks); n > 0 {
		last := &l.marks[n-1]
		at = max(at, last.at)
		if seq <= last.seq {
			last.at = at
			return
		}
		if at == last.at {
			return // same time: the last mark covers these seqs too
		}
	}
	l.marks = append(l.marks, mark{seq: seq, at: at})
}

// trimMarks forgets the marks wholly below the head. Caller holds mu.
func (l *log) trimMarks() {
	i := 0
	for i+1 < len(l.marks) && l.marks[i+1].seq <= l.first {
		i++
	}
	if i > 0 {
		l.marks = l.marks[i:]
	}
}

// storedFrom returns the first seq stored at or after at, or l.next if
// there is none, by binary search of the marks. Caller holds mu.
func (l *log) storedFrom(at int64) uint64 {
	i := sort.Search(len(l.marks), func(i int) bool { return l.marks[i].at >= at })
	if i == len(l.marks) {
		return l.next
	}
	return max(l.marks[i].seq, l.first)
}

// writeMark appends "end at" to s's store-time file: the lines of s from
// the end of the previous entry up to seq end were stored at or before at.
// The file is not synced per batch (it is synced with the segment under
// SyncInterval, when the segment is left and on Close): a line lost to a
// crash or a failed write is replaced on Open by the segment file's
// modification time (plus mtimeSlack), later than the true store time, so a FromTime
// stream may then start a few events early but never misses one. A failure
// is counted (Stats.StoreTimeErrors) and logged. Caller holds wmu.
func (l *log) writeMark(s *segment, end uint64, at int64) {
	if s.tf == nil {
		f, err := os.OpenFile(timesPath(s.path), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
		if err != nil {
			l.timeErrs.Add(1)
			l.lg.Warn("filestore: cannot open the store-time file; FromTime falls back to the segment's modification time after a restart",
				"file", timesPath(s.path), "error", err)
			return
		}
		s.tf = f
	}
	var b [48]byte
	line := strconv.AppendUint(b[:0], end, 10)
	line = append(line, ' ')
	line = strconv.AppendInt(line, at, 10)
	line = append(line, '\n')
	if _, err := s.tf.Write(line); err != nil {
		l.timeErrs.Add(1)
		l.lg.Warn("filestore: cannot append to the store-time file; FromTime falls back to the segment's modification time after a restart",
			"file", timesPath(s.path), "error", err)
	}
}

// loadMarks adds the marks of scanned segment s from its store-time file.
// Lines of s the file does not cover (lost in a crash, or a file written
// before store times were recorded) get the segment file's modification
// time plus mtimeSlack, an upper bound of their store time. A torn last line is cut off so
// that later appends start on a line of their own. Caller owns l.
func (l *log) loadMarks(s *segment) {
	path := timesPath(s.path)
	data, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		l.timeErrs.Add(1)
		l.lg.Warn("filestore: cannot read the store-time file; using the segment's modification time", "file", path, "error", err)
	}
	if i := bytes.LastIndexByte(data, '\n'); i+1 < len(data) {
		data = data[:i+1]
		if err := os.Truncate(path, int64(i+1)); err != nil {
			l.timeErrs.Add(1)
			l.lg.Warn("filestore: cannot cut a torn line off the store-time file", "file", path, "error", err)
		}
	}
	from := s.base
	for len(data) > 0 && from < s.next {
		nl := bytes.IndexByte(data, '\n')
		end, at, ok := parseMark(data[:nl])
		data = data[nl+1:]
		if !ok {
			l.corrupt.Add(1)
			l.lg.Warn("filestore: skipping a corrupt line of the store-time file", "file", path)
			continue
		}
		if end <= from {
			continue
		}
		l.addMark(from, at)
		from = min(end, s.next)
	}
	if from < s.next {
		at := time.Now()
		if fi, err := s.f.Stat(); err == nil {
			at = fi.ModTime().Add(mtimeSlack)
		}
		l.addMark(from, unixNano(at))
	}
}

func parseMark(line []byte) (end uint64, at int64, ok bool) {
	a, b, found := bytes.Cut(line, []byte{' '})
	if !found {
		return 0, 0, false
	}
	end, err1 := strconv.ParseUint(string(a), 10, 64)
	at, err2 := strconv.ParseInt(string(b), 10, 64)
	return end, at, err1 == nil && err2 == nil
}

// closeTimes closes s's store-time file, syncing it first when sync is set.
func (l *log) closeTimes(s *segment, sync bool) error {
	if s.tf == nil {
		return nil
	}
	var err error
	if sync {
		err = s.tf.Sync()
	}
	if cerr := s.tf.Close(); err == nil {
		err = cerr
	}
	s.tf = nil
	if err != nil {
		return fmt.Errorf("filestore: close %s: %w", timesPath(s.path), err)
	}
	return nil
}

// removeTimes deletes s's store-time file, if any.
func (l *log) removeTimes(s *segment) {
	_ = l.closeTimes(s, false)
	if err := os.Remove(timesPath(s.path)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		l.lg.Warn("filestore: cannot remove a store-time file", "file", timesPath(s.path), "error", err)
	}
}

// unixNano is t in unix nanoseconds, clamped to the int64 range.
func unixNano(t time.Time) int64 {
	switch {
	case t.Before(time.Unix(0, math.MinInt64)):
		return math.MinInt64
	case t.After(time.Unix(0, math.MaxInt64)):
		return math.MaxInt64
	}
	return t.UnixNano()
}
