// Package security holds the end-to-end tests of the secure set-ups of
// naq-events: nats-server configured with TLS, mutual TLS, user/password,
// token, nkey and decentralized JWT auth (certificates and keys made by the
// tests), subject permissions, the HTTP API's token, read-only mode, TLS
// and bind rule, and the check that no secret shows up in any output.
//
// The servers are in-process nats-servers loaded from configuration files
// written by the tests (server.ProcessConfigFile: the same files a
// nats-server process reads, as shown in docs/operations.md); the service
// and the CLI run as the real naq-events binary, built once per run.
package security
