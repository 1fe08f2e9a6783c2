package event_test

import (
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/naq-go/events/domain/event"
)

// TestValidateRefusesWhatTheCodecCannotEncode pins that Validate refuses,
// naming the field and key, every value AppendJSON cannot write, and
// accepts every value it can: the logger relies on it to refuse such
// events at the door (issue 9, defect 1a). On the old code Validate
// accepted all of the "bad" cases.
func TestValidateRefusesWhatTheCodecCannotEncode(t *testing.T) {
	cyclic := map[string]any{}
	cyclic["self"] = cyclic
	type plain struct{ A int }
	tests := []struct {
		name  string
		opt   event.Option
		want  string // "" = valid
		field string
	}{
		{"NaN detail", event.WithDetail("ratio", math.NaN()), `details["ratio"]: NaN is not a JSON number`, "details"},
		{"+Inf detail", event.WithDetail("ratio", math.Inf(1)), `details["ratio"]: +Inf is not a JSON number`, "details"},
		{"-Inf float32 metadata", event.WithMetadata("m", float32(math.Inf(-1))), `metadata["m"]: -Inf is not a JSON number`, "metadata"},
		{"NaN nested in a list in a map", event.WithMetadata("deep", map[string]any{"l": []any{1, math.NaN()}}), `metadata["deep"]: NaN`, "metadata"},
		{"channel", event.WithDetail("ch", make(chan int)), `details["ch"]: chan int value`, "details"},
		{"func", event.WithDetail("fn", func() {}), `details["fn"]: func() value`, "details"},
		{"complex", event.WithMetadata("c", complex(1, 2)), `metadata["c"]: complex128 value`, "metadata"},
		{"cycle", event.WithDetail("loop", cyclic), `details["loop"]: nested deeper than 10000 levels`, "details"},
		{"oversized", event.WithMetadata("blob", strings.Repeat("x", event.MaxDocumentSize+1)), "more than the 67108864 bytes", ""},
		{"struct via encoding/json", event.WithDetail("s", plain{A: 1}), "", ""},
		{"finite numbers and common types", event.WithDetail("ok", map[string]any{"f": 1.5, "i": 3, "s": []string{"a"}, "m": map[string]string{"k": "v"}, "n": nil, "b": true}), "", ""},
		{"tags are strings", event.WithTag("k", "v"), "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := event.Enqueued("job-1", "q", 1, tt.opt)
			err := e.Validate()
			_, encErr := e.AppendJSON(nil)
			if tt.want == "" {
				if err != nil || encErr != nil {
					t.Fatalf("Validate = %v, AppendJSON = %v, want both nil", err, encErr)
				}
				return
			}
			if !errors.Is(err, event.ErrInvalid) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Validate = %v, want ErrInvalid containing %q", err, tt.want)
			}
			if !errors.Is(encErr, event.ErrInvalid) {
				t.Errorf("AppendJSON = %v, want ErrInvalid too (Validate and the codec must agree)", encErr)
			}
		})
	}
}

func TestValidateReportsSmallestBadKey(t *testing.T) {
	e := event.Enqueued("job-1", "q", 1, event.WithDetail("b", math.NaN()), event.WithDetail("a", math.Inf(1)), event.WithDetail("c", math.NaN()))
	for range 20 { // map order varies; the message must not
		if err := e.Validate(); err == nil || !strings.Contains(err.Error(), `details["a"]`) {
			t.Fatalf("Validate = %v, want it to name details[\"a\"]", err)
		}
	}
}

func TestValidateAllocatesNothingForCommonValues(t *testing.T) {
	e := event.Enqueued("job-1", "q", 1, event.WithDetail("ok", map[string]any{"f": 1.5, "l": []any{"x", 2}}),
		event.WithMetadata("m", map[string]string{"k": "v"}), event.WithTag("t", "v"))
	if n := testing.AllocsPerRun(100, func() {
		if err := e.Validate(); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Errorf("Validate allocates %v times per call, want 0", n)
	}
}
