package filestore_test

import (
	"sync"
	"testing"
	"time"

	"github.com/naq-go/events/adapters/filestore"
	"github.com/naq-go/events/ports"
	"github.com/naq-go/events/ports/storetest"
)

// TestContract runs the shared storage contract suite: once with the
// defaults, once with the smallest segments (every few batches roll a new
// segment file) and no fsync.
func TestContract(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts []filestore.Option
	}{
		{"defaults", nil},
		{"small segments", []filestore.Option{filestore.WithSegmentSize(filestore.MinSegmentSize), filestore.WithSync(filestore.SyncNever)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var dirs sync.Map // *testing.T → directory: one backend per test
			storetest.Run(t, func(t *testing.T, cfg storetest.Config) ports.Store {
				dir, ok := dirs.Load(t)
				if !ok {
					dir, _ = dirs.LoadOrStore(t, t.TempDir())
				}
				opts := append([]filestore.Option{
					filestore.WithEnvironment(cfg.Environment),
					filestore.WithService(cfg.Service),
					filestore.WithMaxAge(cfg.MaxAge),
					filestore.WithMaxEvents(cfg.MaxEvents),
				}, tc.opts...)
				st, err := filestore.Open(dir.(string), opts...)
				if err != nil {
					t.Fatalf("Open: %v", err)
				}
				return st
			}, storetest.WithBackendName("file"), storetest.WithRetentionAge(200*time.Millisecond))
		})
	}
}
