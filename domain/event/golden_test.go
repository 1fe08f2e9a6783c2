package event_test

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/naq-go/events/domain/event"
)

var update = flag.Bool("update", false, "rewrite testdata/golden from the current encoder")

// TestGolden encodes the fixture of every event type and compares the bytes
// with testdata/golden/<event_type>.json, then decodes the golden file and
// re-encodes it, which must give the same bytes again.
func TestGolden(t *testing.T) {
	for _, f := range fixtures {
		t.Run(string(f.typ), func(t *testing.T) {
			ev := f.event()
			got, err := ev.AppendJSON(nil)
			if err != nil {
				t.Fatalf("AppendJSON: %v", err)
			}
			path := filepath.Join("testdata", "golden", string(f.typ)+".json")
			if *update {
				if err := os.WriteFile(path, append(got, '\n'), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("read golden file (run with -update to create it): %v", err)
			}
			want = bytes.TrimSuffix(want, []byte("\n"))
			if !bytes.Equal(got, want) {
				t.Fatalf("encoding differs from %s\n got: %s\nwant: %s", path, got, want)
			}

			dec, err := event.Decode(want)
			if err != nil {
				t.Fatalf("Decode(golden): %v", err)
			}
			again, err := dec.AppendJSON(nil)
			if err != nil {
				t.Fatalf("AppendJSON(decoded): %v", err)
			}
			if !bytes.Equal(again, want) {
				t.Fatalf("decode+encode is not byte-identical\n got: %s\nwant: %s", again, want)
			}
			if dec.ID != ev.ID || dec.JobID != ev.JobID || dec.Type != ev.Type || !dec.Timestamp.Equal(ev.Timestamp) ||
				dec.Message != ev.Message || dec.WorkerID != ev.WorkerID || dec.ErrorType != ev.ErrorType ||
				!reflect.DeepEqual(dec.Tags, ev.Tags) {
				t.Fatalf("decoded event differs from the encoded one:\n got: %+v\nwant: %+v", dec, ev)
			}
		})
	}
}
