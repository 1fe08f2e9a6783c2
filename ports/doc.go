// Package ports declares the driven-side interfaces of naq-events: the event
// store (write, query, admin, stream, health) and the processor's transport.
// Adapters implement them; the app layer wires an adapter to each port.
//
// The narrow interfaces the domain core consumes (logger.Store) are declared
// in the domain beside their callers and embedded here, so that domain never
// imports ports.
package ports
