package memstore_test

import (
	"sync"
	"testing"
	"time"

	"github.com/naq-go/events/adapters/memstore"
	"github.com/naq-go/events/ports"
	"github.com/naq-go/events/ports/storetest"
)

// factory gives each test one backend shared by the stores it makes.
func factory() storetest.Factory {
	var mu sync.Mutex
	backends := map[*testing.T]*memstore.Backend{}
	return func(t *testing.T, cfg storetest.Config) ports.Store {
		mu.Lock()
		defer mu.Unlock()
		b := backends[t]
		if b == nil {
			b = memstore.NewBackend()
			backends[t] = b
			t.Cleanup(func() { mu.Lock(); delete(backends, t); mu.Unlock() })
		}
		return memstore.New(
			memstore.WithBackend(b),
			memstore.WithEnvironment(cfg.Environment),
			memstore.WithService(cfg.Service),
			memstore.WithMaxAge(cfg.MaxAge),
			memstore.WithMaxEvents(cfg.MaxEvents),
		)
	}
}

func TestContract(t *testing.T) {
	storetest.Run(t, factory(), storetest.WithBackendName("memory"), storetest.WithRetentionAge(100*time.Millisecond))
}
