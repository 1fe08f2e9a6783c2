package processing

import (
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"
	"go.uber.org/fx"

	"github.com/naq-go/events/adapters/jsconsume"
	"github.com/naq-go/events/adapters/natsembed"
	"github.com/naq-go/events/app/config"
	"github.com/naq-go/events/app/shutdown"
	"github.com/naq-go/events/domain/subject"
)

// TestModuleWaitsBeyondTheConnectTimeout: the Module's processor waits
// --connect-timeout + SetUpWait for JetStream, not only --connect-timeout.
// The connect timeout here is 100 ms, and the first request of the
// consumer's set-up is swallowed (no answer, as a cluster electing its
// leaders does), so it is given up only after jsconsume's 5 s request
// bound. Meanwhile a JetStream server with the stream takes the plain
// server's place on its port; the try after it succeeds and the app is
// built. Were the set-up's budget only the connect timeout, fx.New would
// fail with ErrUnavailable.
func TestModuleWaitsBeyondTheConnectTimeout(t *testing.T) {
	plain, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, NoSigs: true, NoLog: true})
	require.NoError(t, err)
	plain.Start()
	t.Cleanup(plain.Shutdown)
	require.True(t, plain.ReadyForConnections(10*time.Second), "nats-server not ready")
	port := plain.Addr().(*net.TCPAddr).Port

	hole, err := nats.Connect(plain.ClientURL())
	require.NoError(t, err)
	swallowed := make(chan string, 1)
	_, err = hole.Subscribe("$JS.API.>", func(m *nats.Msg) {
		select {
		case swallowed <- m.Subject:
		default:
		}
	})
	require.NoError(t, err)
	require.NoError(t, hole.Flush())

	nc, err := nats.Connect(plain.ClientURL(), nats.MaxReconnects(-1), nats.ReconnectWait(20*time.Millisecond), nats.ReconnectJitter(0, 0))
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	cfg := config.Default()
	cfg.NATS.ConnectTimeout = 100 * time.Millisecond
	quiet := slog.New(slog.DiscardHandler)

	built := make(chan error, 1)
	go func() {
		app := fx.New(
			fx.NopLogger,
			fx.Supply(nc, cfg, quiet, shutdown.New(shutdown.Order, quiet)),
			Module,
		)
		built <- app.Err()
	}()

	select {
	case subj := <-swallowed:
		require.Equal(t, "$JS.API.STREAM.INFO."+cfg.Stream.Name, subj)
	case err := <-built:
		t.Fatalf("the app was built (err %v) before any JetStream request was sent", err)
	case <-time.After(30 * time.Second):
		t.Fatal("no JetStream request within 30 s")
	}
	hole.Close()

	// A JetStream server with the event stream in its store takes the
	// port: the set-up's next try finds stream and all.
	store := t.TempDir()
	prep, err := natsembed.Start(natsembed.WithStoreDir(store))
	require.NoError(t, err)
	pnc, err := nats.Connect(prep.ClientURL())
	require.NoError(t, err)
	pjs, err := jetstream.New(pnc)
	require.NoError(t, err)
	_, err = pjs.CreateStream(t.Context(), jetstream.StreamConfig{Name: cfg.Stream.Name, Subjects: []string{subject.StreamFilter()}})
	require.NoError(t, err)
	pnc.Close()
	prep.Shutdown()
	plain.Shutdown()
	plain.WaitForShutdown()
	srv, err := natsembed.Start(natsembed.WithStoreDir(store), natsembed.WithPort(port))
	require.NoError(t, err, "restart on the freed port %d (taken by another process meanwhile?)", port)
	t.Cleanup(srv.Shutdown)

	select {
	case err := <-built:
		require.NoError(t, err, "the processor's set-up outlasted the 100 ms connect timeout")
	case <-time.After(cfg.NATS.ConnectTimeout + SetUpWait + 30*time.Second):
		t.Fatal("the app was not built within the set-up's budget")
	}
	ajs, err := jetstream.New(nc)
	require.NoError(t, err)
	_, err = ajs.Consumer(t.Context(), cfg.Stream.Name, Durable)
	require.NoError(t, err, "the durable consumer was made")
	_, err = ajs.Stream(t.Context(), jsconsume.DefaultDeadLetterStream)
	require.NoError(t, err, "the dead-letter stream was made")
}
