// Package storage holds the integration tests of the storage adapters against
// real servers in containers: the ports/storetest contract suite on the
// JetStream adapter, and what happens to it across a NATS outage.
package storage
