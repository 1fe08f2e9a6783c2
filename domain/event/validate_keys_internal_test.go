package event

import (
	"errors"
	"math"
	"slices"
	"testing"
	"time"
)

// TestConstructorDetailsMatchConstructors keeps constructorDetails in step
// with the constructors: for every constructor, the keys it lists for the
// event's type are exactly the keys of the details the constructor set
// (so that Validate's lookup path is the one these events take), or the
// constructor's details vary in shape (then any list is only a first try).
func TestConstructorDetailsMatchConstructors(t *testing.T) {
	err := errors.New("boom")
	now := time.Now()
	events := []JobEvent{
		Enqueued("j", "q", 5), Dequeued("j", "q", "w"), Started("j", "w", "async"),
		Completed("j", "w", time.Second), Failed("j", "w", err, time.Second, 2),
		Cancelled("j", "why"), Cancelled("j", ""), Timeout("j", "w", time.Second),
		RetryScheduled("j", 1, time.Second), RetryStarted("j", 1), MaxRetriesExceeded("j", 3, err),
		DependencySatisfied("j", "d"), DependencyFailed("j", "d", err), WaitingForDependencies("j", []string{"a"}),
		Scheduled("j", now), ScheduleTriggered("j", "s"), SchedulePaused("j", "s"), ScheduleResumed("j", "s"),
		ScheduleDeactivated("j", "s", ""), ScheduleDeactivated("j", "s", "done"),
		WorkerAssigned("j", "w", "async"), WorkerReleased("j", "w"),
		QueuePriorityChanged("j", 1, 2), QueueMoved("j", "a", "b"), TTLExpired("j", time.Second), TTLExtended("j", now),
	}
	// Every type's constructor is here, so a new type cannot be left out.
	covered := map[JobEventType]bool{}
	for _, e := range events {
		covered[e.Type] = true
	}
	for _, typ := range Types() {
		if !covered[typ] {
			t.Errorf("type %s: its constructor is not in this test", typ)
		}
		keys := constructorDetails(typ)
		if len(slices.Compact(slices.Sorted(slices.Values(keys)))) != len(keys) {
			t.Errorf("type %s: constructorDetails %v repeats a key; the lookup path needs distinct keys", typ, keys)
		}
	}
	for _, e := range events {
		var got []string
		for k := range e.Details {
			got = append(got, k)
		}
		slices.Sort(got)
		want := slices.Sorted(slices.Values(constructorDetails(e.Type)))
		switch {
		case slices.Equal(got, want):
			if _, ok := checkKnownKeys(e.Details, constructorDetails(e.Type)); len(got) > 0 && !ok {
				t.Errorf("%s: details %v have the listed keys, but the lookup path does not take them", e.Type, e.Details)
			}
		case e.Type == TypeScheduleDeactivated && len(got) == 2, // schedule_id plus the optional reason
			e.Type == TypeCancelled && len(got) == 0, // no reason given
			e.Type == TypeWaitingForDependencies:     // a []string value: checked the long way
		default:
			t.Errorf("%s: constructor sets details keys %v, constructorDetails lists %v", e.Type, got, want)
		}
		if err := e.Validate(); err != nil {
			t.Errorf("%s: %v", e.Type, err)
		}
	}
}

// TestKnownKeysPathAgreesWithIteration checks the lookup path against the
// long way on maps of the constructors' shape and near it: a bad value
// under a known key, a known key beside an unknown one, the right number of
// keys but a different one, values of other kinds. Both must agree on
// valid or not, on the size, and on the error's text.
func TestKnownKeysPathAgreesWithIteration(t *testing.T) {
	keys := []string{"attempt", "delay_ms"}
	for _, tc := range []struct {
		name string
		m    map[string]any
	}{
		{"exact, ints", map[string]any{"attempt": 1, "delay_ms": 2}},
		{"exact, strings", map[string]any{"attempt": "one", "delay_ms": "two"}},
		{"exact, float", map[string]any{"attempt": 1, "delay_ms": 2.5}},
		{"exact, nil and bool", map[string]any{"attempt": nil, "delay_ms": true}},
		{"NaN under a known key", map[string]any{"attempt": 1, "delay_ms": math.NaN()}},
		{"+Inf under a known key", map[string]any{"attempt": math.Inf(1), "delay_ms": 1}},
		{"a channel under a known key", map[string]any{"attempt": make(chan int), "delay_ms": 1}},
		{"nested map under a known key", map[string]any{"attempt": map[string]any{"x": math.NaN()}, "delay_ms": 1}},
		{"one key replaced", map[string]any{"attempt": 1, "other": math.NaN()}},
		{"one key missing", map[string]any{"attempt": 1}},
		{"one key more", map[string]any{"attempt": 1, "delay_ms": 2, "x": math.Inf(-1)}},
		{"unknown keys only", map[string]any{"a": 1, "b": "x"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fast, fastErr := checkTopMap("details", tc.m, keys, 7)
			slow, slowErr := checkTopMap("details", tc.m, nil, 7)
			if fast != slow {
				t.Errorf("size: lookup path %d, iteration %d", fast, slow)
			}
			if (fastErr == nil) != (slowErr == nil) || (fastErr != nil && fastErr.Error() != slowErr.Error()) {
				t.Errorf("error: lookup path %v, iteration %v", fastErr, slowErr)
			}
			if fastErr != nil && !errors.Is(fastErr, ErrInvalid) {
				t.Errorf("error %v does not wrap ErrInvalid", fastErr)
			}
		})
	}
}
