// Package tmpdeps pins the adapters module's dependencies until real code imports them.
package tmpdeps

import (
	_ "github.com/naq-go/events/domain/event"
	_ "github.com/naq-go/events/ports"
	_ "github.com/nats-io/nats-server/v2/server"
	_ "github.com/nats-io/nats.go"
	_ "github.com/nats-io/nats.go/jetstream"
	_ "github.com/stretchr/testify/require"
	_ "go.uber.org/goleak"
)
