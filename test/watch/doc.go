// Package watch tests processor.Watcher (WaitFor, MonitorJob) over the real
// stores that need no NATS, adapters/memstore and adapters/filestore, as
// issue 5 asks: watching jobs works the same without a server. Every test
// runs once per store.
package watch
