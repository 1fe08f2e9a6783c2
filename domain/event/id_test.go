package event_test

import (
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/naq-go/events/domain/event"
)

func TestNewIDShape(t *testing.T) {
	before := time.Now().Truncate(time.Millisecond)
	id := event.NewID()
	after := time.Now()
	if err := event.CheckID(id); err != nil {
		t.Fatal(err)
	}
	check(t, "length", len(id), event.IDLen)
	for i := range len(id) {
		if c := id[i]; (c < '0' || c > '9') && (c < 'A' || c > 'Z') {
			t.Fatalf("id %q has %q", id, id[i])
		}
	}
	at, err := event.IDTime(id)
	if err != nil {
		t.Fatal(err)
	}
	// NewID never goes back, so it may run ahead of the clock by the ids
	// issued earlier in this millisecond, but not behind.
	if at.Before(before) || at.After(after.Add(time.Second)) {
		t.Errorf("IDTime = %v, want between %v and %v", at, before, after)
	}
}

// TestNewIDOrderedWithinGoroutine: ids of one goroutine strictly increase,
// across many milliseconds and many ids per millisecond.
func TestNewIDOrderedWithinGoroutine(t *testing.T) {
	prev := event.NewID()
	for range 200000 { // tens of milliseconds: crosses many millisecond boundaries
		id := event.NewID()
		if id <= prev {
			t.Fatalf("id %s after %s does not sort later", id, prev)
		}
		prev = id
	}
}

// TestNewIDConcurrentUniqueAndOrdered: ids made by many goroutines are all
// distinct, and the ids of each goroutine are increasing, so the merged set
// sorts consistently with every goroutine's own creation order.
func TestNewIDConcurrentUniqueAndOrdered(t *testing.T) {
	const goroutines, per = 16, 5000
	out := make([][]string, goroutines)
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			ids := make([]string, per)
			for i := range ids {
				ids[i] = event.NewID()
			}
			out[g] = ids
		})
	}
	wg.Wait()
	seen := make(map[string]bool, goroutines*per)
	for g, ids := range out {
		if !slices.IsSorted(ids) {
			t.Errorf("ids of goroutine %d are not in creation order", g)
		}
		for _, id := range ids {
			if seen[id] {
				t.Fatalf("duplicate id %s", id)
			}
			seen[id] = true
		}
	}
	check(t, "distinct ids", len(seen), goroutines*per)
}

// TestNewIDIssueOrder: an id made after another one has been returned (on
// any goroutine) sorts after it: creation order is total within a process.
func TestNewIDIssueOrder(t *testing.T) {
	first := event.NewID()
	got := make(chan string)
	go func() { got <- event.NewID() }()
	second := <-got
	if second <= first {
		t.Fatalf("id %s made after %s sorts before it", second, first)
	}
}

func TestIDTime(t *testing.T) {
	for _, bad := range []string{"", "short", "8ZZZZZZZZZZZZZZZZZZZZZZZZZ", "01JC00000000000000000000I0", "01jc0000000000000000000000"} {
		if _, err := event.IDTime(bad); !errors.Is(err, event.ErrInvalid) {
			t.Errorf("IDTime(%q) = %v, want ErrInvalid", bad, err)
		}
	}
	at, err := event.IDTime("7ZZZZZZZZZ0000000000000000")
	if err != nil {
		t.Fatal(err)
	}
	check(t, "max time", at.UnixMilli(), int64(1<<48-1))
	at, err = event.IDTime("00000000010000000000000000")
	if err != nil {
		t.Fatal(err)
	}
	check(t, "1 ms", at.UnixMilli(), int64(1))
}
