package processor

import (
	"sync"
	"time"
)

// flights is the set of messages being handled, so that one goroutine can
// report them all in progress.
type flights struct {
	mu sync.Mutex
	m  map[*flight]struct{}
}

type flight struct {
	msg  Message
	last time.Time // start, or the last in-progress report
}

func (fs *flights) add(m Message) *flight {
	f := &flight{msg: m, last: time.Now()}
	fs.mu.Lock()
	fs.m[f] = struct{}{}
	fs.mu.Unlock()
	return f
}

func (fs *flights) remove(f *flight) {
	fs.mu.Lock()
	delete(fs.m, f)
	fs.mu.Unlock()
}

// due returns the messages last reported at least every ago, and marks
// them reported now.
func (fs *flights) due(now time.Time, every time.Duration) []Message {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	var out []Message
	for f := range fs.m {
		if now.Sub(f.last) >= every {
			f.last = now
			out = append(out, f.msg)
		}
	}
	return out
}
