// Package natstest runs a real nats-server in a Docker container for
// integration tests.
//
// The image is built on this machine, never pulled: `make nats-image` compiles
// a static nats-server from the version pinned in adapters/go.mod and tags it
// naq-events/nats:<version> (see test/nats-image/Dockerfile). The server runs
// with JetStream on and its store in the container's /data volume.
//
//	srv := natstest.Run(t)          // container up, JetStream healthy
//	nc, _ := nats.Connect(srv.URL())
//	srv.Stop(t)                     // outage: clients see the server gone
//	srv.Start(t)                    // same URL, same /data: streams survive
//
// The client port is bound to a fixed loopback port chosen at Run, so the URL
// stays the same across Stop and Start and nats.go clients reconnect by
// themselves. Every container is removed, with its volume, when the test ends.
//
// Nothing here skips: if Docker is not reachable or the image was not built,
// the test fails and says which command fixes it. Set NAQ_NATS_IMAGE to use
// another image.
package natstest
