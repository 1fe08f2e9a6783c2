// Package security holds the end-to-end tests of the secure set-ups of
// naq-events: nats-server configured with TLS, mutual TLS, user/password,
// token, nkey and decentralized JWT auth (certificates and keys made by the
// tests), subject permissions, the HTTP API's token, read-only mode, TLS
// and bind rule, and the check that no secret shows up in any output.
//
// The servers are nats-server processes (the module version this module
// pins, built once per run) started with configuration files the tests
// write, as docs/operations.md shows them; the service and the CLI run as
// the real naq-events binary, built once per run too.
package security
