package rollup

import (
	"cmp"
	"context"
	"slices"
	"time"

	"github.com/naq-go/events/domain/event"
)

// SeqRange is the stream sequences First through Last, both inclusive.
// From FailureRanges, Failed is how many failed events the rollups counted
// in it within the query's interval, environment and service (of every
// queue and group): at least what a read of those failed events from the
// store finds, so a read with that limit stops after the last of them
// instead of looking on past Last.
type SeqRange struct {
	First, Last uint64
	Failed      int64
}

// FailureLocator says where in the stream the failures of one group are:
// what lets a reader list a group's failures by reading those parts of the
// stream only. The rollups and the service's keeper implement it.
type FailureLocator interface {
	// FailureRanges returns, newest first, the sequence ranges of the
	// chunks whose buckets within q's interval and scope (q.Types is
	// ignored) hold failures of the group (errType, msg), and the last
	// sequence the rollups have applied: failures stored after it are not
	// located yet, so a reader reads everything above it.
	FailureRanges(ctx context.Context, q Query, errType, msg string) (ranges []SeqRange, seq uint64, err error)
}

var _ FailureLocator = (*Rollups)(nil)

// FailureRanges implements FailureLocator: O(cells), no event read. A
// chunk is named when one of its buckets overlapping q's interval counted
// a failure of the group; failures a bucket counted in OtherFailures (past
// MaxFailureGroups) do not name it, as they do not count in the group.
func (r *Rollups) FailureRanges(ctx context.Context, q Query, errType, msg string) ([]SeqRange, uint64, error) {
	if err := ctx.Err(); err != nil {
		return nil, 0, err
	}
	var since, until int64
	if !q.Since.IsZero() {
		since = q.Since.UnixNano()
	}
	if !q.Until.IsZero() {
		until = q.Until.UnixNano()
	}
	const sec = int64(time.Second)
	fk := failKey{errType: errType, msg: msg}
	r.mu.RLock()
	defer r.mu.RUnlock()
	iFailed := typeIndex[event.TypeFailed]
	var out []SeqRange
	for _, c := range r.chunks {
		if c.seq < c.from {
			continue // nothing applied
		}
		var failed int64
		found := false
		for k, cl := range c.cells {
			startN, endN := k.start*sec, (k.start+k.width)*sec
			if (since != 0 && endN <= since) || (until != 0 && startN >= until) ||
				(q.Environment != "" && q.Environment != k.env) ||
				(q.Service != "" && q.Service != k.svc) {
				continue
			}
			failed += cl.counts[iFailed]
			if !found && (q.Queue == "" || q.Queue == k.queue) && cl.failures[fk] != nil {
				found = true
			}
		}
		if found {
			out = append(out, SeqRange{First: max(chunkStart(c.n), c.from), Last: c.seq, Failed: failed})
		}
	}
	slices.SortFunc(out, func(a, b SeqRange) int { return cmp.Compare(b.First, a.First) })
	return out, r.seq, nil
}
