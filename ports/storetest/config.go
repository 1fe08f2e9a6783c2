package storetest

import (
	"testing"
	"time"

	"github.com/naq-go/events/ports"
)

// Config is what the suite asks of a new store.
type Config struct {
	// Environment and Service the store writes under.
	Environment string
	Service     string
	// MaxAge and MaxEvents are the store's retention; zero means unlimited.
	MaxAge    time.Duration
	MaxEvents int
}

// Factory returns a fresh, empty store configured by cfg. Stores made by one
// Factory in one test share their backend (same stream, directory or memory),
// so a store made with another Environment or Service sees the same data; the
// suite closes every store it makes.
type Factory func(t *testing.T, cfg Config) ports.Store
