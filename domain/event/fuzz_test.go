package event_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/naq-go/events/domain/event"
)

// FuzzDecode: Decode never panics; what it accepts is valid, encodes without
// error, and decodes again to an equal event whose encoding is the same
// bytes (the encoding is canonical). What it rejects wraps ErrInvalid.
//
// Seeds: the golden files, the Python documents, and testdata/fuzz/FuzzDecode.
func FuzzDecode(f *testing.F) {
	for _, dir := range []string{"golden", "python"} {
		files, _ := filepath.Glob(filepath.Join("testdata", dir, "*.json"))
		for _, p := range files {
			b, err := os.ReadFile(p)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		ev, err := event.Decode(data)
		if err != nil {
			if !errors.Is(err, event.ErrInvalid) {
				t.Fatalf("error %v does not wrap ErrInvalid", err)
			}
			return
		}
		if err := ev.Validate(); err != nil {
			t.Fatalf("Decode returned an invalid event: %v", err)
		}
		enc, err := ev.AppendJSON(nil)
		if err != nil {
			t.Fatalf("AppendJSON of a decoded event: %v\ninput: %q", err, data)
		}
		again, err := event.Decode(enc)
		if err != nil {
			t.Fatalf("Decode of our own encoding: %v\ninput: %q\nencoded: %s", err, data, enc)
		}
		if !reflect.DeepEqual(ev, again) {
			t.Fatalf("decode(encode(e)) != e\n e: %#v\ne2: %#v\nencoded: %s", ev, again, enc)
		}
		enc2, err := again.AppendJSON(nil)
		if err != nil || !bytes.Equal(enc, enc2) {
			t.Fatalf("encoding is not canonical (%v):\n%s\n%s", err, enc, enc2)
		}
	})
}
