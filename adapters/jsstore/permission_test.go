package jsstore_test

import (
	"context"
	"errors"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/naq-go/events/adapters/jsstore"
	"github.com/naq-go/events/domain/event"
	"github.com/naq-go/events/domain/logger"
	"github.com/naq-go/events/ports"
)

// startPermServer starts a nats-server with JetStream and two users: admin
// (no limits) and producer, who may publish to naq.events.prod.billing.>
// except job "locked" and to the JetStream API; nothing else.
func startPermServer(t *testing.T) string {
	t.Helper()
	srv, err := server.NewServer(&server.Options{
		Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: t.TempDir(), NoSigs: true, NoLog: true,
		Users: []*server.User{
			{Username: "admin", Password: "admin-pw"},
			{Username: "producer", Password: "producer-pw", Permissions: &server.Permissions{
				Publish: &server.SubjectPermission{
					Allow: []string{"naq.events.prod.billing.>", "$JS.API.>"},
					Deny:  []string{"naq.events.prod.billing.locked.>"},
				},
			}},
		},
	})
	require.NoError(t, err)
	srv.Start()
	t.Cleanup(func() { srv.Shutdown(); srv.WaitForShutdown() })
	require.True(t, srv.ReadyForConnections(10*time.Second), "nats-server not ready")
	return srv.ClientURL()
}

// permStores makes the stream as admin and returns a producer's store for
// service svc with opts.
func permStores(t *testing.T, url, svc string, opts ...jsstore.Option) (*jsstore.Store, *jsstore.Store, *nats.Conn) {
	t.Helper()
	admin := newStore(t, connect(t, url, nats.UserInfo("admin", "admin-pw")),
		jsstore.WithEnvironment("prod"), jsstore.WithService("billing"))
	nc := connect(t, url, nats.UserInfo("producer", "producer-pw"), nats.ErrorHandler(func(*nats.Conn, *nats.Subscription, error) {}))
	prod := newStore(t, nc, append([]jsstore.Option{jsstore.WithEnvironment("prod"), jsstore.WithService(svc)}, opts...)...)
	return admin, prod, nc
}

// requireDenied checks that err is the permanent refusal of a publish to
// subject.
func requireDenied(t *testing.T, err error, subject string) {
	t.Helper()
	require.Error(t, err)
	require.ErrorIs(t, err, jsstore.ErrPermission)
	require.ErrorIs(t, err, ports.ErrInvalid)
	require.ErrorIs(t, err, event.ErrInvalid)
	assert.NotErrorIs(t, err, ports.ErrUnavailable)
	assert.Contains(t, err.Error(), `the NATS user may not publish to "`+subject+`"`)
	assert.Regexp(t, `grant it publish on "naq\.events\.prod\.[a-z]+\.>"`, err.Error())
}

// TestStoreBatch_PublishDenied: in a batch for a user who may not publish
// one job's subject, that event fails for good with ErrPermission (and
// ErrInvalid) naming the subject and the grant, well before the ack
// timeout; the batch's other events are stored. With the default
// (LastError), one refused subject per batch.
func TestStoreBatch_PublishDenied(t *testing.T) {
	for _, mode := range []jsstore.PublishMode{jsstore.PublishFast, jsstore.PublishAsync} {
		t.Run(mode.String(), func(t *testing.T) {
			url := startPermServer(t)
			admin, prod, _ := permStores(t, url, "billing", jsstore.WithPublishMode(mode))
			evs := []event.JobEvent{
				event.New("ok-1", event.TypeEnqueued, event.WithQueue("q")),
				event.New("ok-1", event.TypeStarted),
				event.New("locked", event.TypeEnqueued, event.WithQueue("q")),
				event.New("ok-2", event.TypeEnqueued, event.WithQueue("q")),
			}
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			start := time.Now()
			err := prod.StoreBatch(ctx, evs)
			took := time.Since(start)
			t.Logf("%s: StoreBatch took %v: %v", mode, took, err)
			assert.Less(t, took, jsstore.DefaultAckTimeout/2, "a known refusal must not wait for the ack timeout")
			be, ok := errors.AsType[*logger.BatchError](err)
			require.True(t, ok, "want a *logger.BatchError, got %v", err)
			require.Len(t, be.Errs, len(evs))
			for i, e := range be.Errs {
				if i == 2 {
					requireDenied(t, e, "naq.events.prod.billing.locked.enqueued")
					continue
				}
				assert.NoError(t, e, "event %d", i)
			}
			found, err := admin.Stored(ctx, evs)
			require.NoError(t, err)
			assert.Equal(t, []bool{true, true, false, true}, found)
		})
	}
}

// TestStoreBatch_PublishDeniedOption: with WithPublishDenied fed by a
// record of every refusal (as app/natsconn keeps), several refused
// subjects of one batch all fail for good at the first attempt.
func TestStoreBatch_PublishDeniedOption(t *testing.T) {
	for _, mode := range []jsstore.PublishMode{jsstore.PublishFast, jsstore.PublishAsync} {
		t.Run(mode.String(), func(t *testing.T) {
			url := startPermServer(t)
			rec := &refusals{at: map[string]time.Time{}}
			admin := newStore(t, connect(t, url, nats.UserInfo("admin", "admin-pw")),
				jsstore.WithEnvironment("prod"), jsstore.WithService("billing"))
			nc := connect(t, url, nats.UserInfo("producer", "producer-pw"), nats.ErrorHandler(rec.handle))
			prod := newStore(t, nc, jsstore.WithEnvironment("prod"), jsstore.WithService("billing"),
				jsstore.WithPublishMode(mode), jsstore.WithPublishDenied(rec.denied))
			evs := []event.JobEvent{
				event.New("locked", event.TypeEnqueued, event.WithQueue("q")),
				event.New("ok-1", event.TypeEnqueued, event.WithQueue("q")),
				event.New("locked", event.TypeStarted),
				event.New("ok-1", event.TypeStarted),
				event.New("locked", event.TypeCompleted),
			}
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			start := time.Now()
			err := prod.StoreBatch(ctx, evs)
			took := time.Since(start)
			t.Logf("%s: StoreBatch took %v: %v", mode, took, err)
			assert.Less(t, took, jsstore.DefaultAckTimeout/2)
			be, ok := errors.AsType[*logger.BatchError](err)
			require.True(t, ok, "want a *logger.BatchError, got %v", err)
			require.Len(t, be.Errs, len(evs))
			for i, e := range be.Errs {
				if evs[i].JobID == "locked" {
					requireDenied(t, e, "naq.events.prod.billing.locked."+string(evs[i].Type))
					continue
				}
				assert.NoError(t, e, "event %d", i)
			}
			found, err := admin.Stored(ctx, evs)
			require.NoError(t, err)
			assert.Equal(t, []bool{false, true, false, true, false}, found)
		})
	}
}

// TestLogger_PublishDeniedIsRejected: a logger whose store is for a
// service the user may not publish counts its events DropRejected within
// a few seconds (not outcome unknown, not spilled, not retried), while a
// logger for the allowed service on the same connection stores its own.
func TestLogger_PublishDeniedIsRejected(t *testing.T) {
	url := startPermServer(t)
	_, billing, nc := permStores(t, url, "billing")
	search := newStore(t, nc, jsstore.WithEnvironment("prod"), jsstore.WithService("search"))

	lgOK := logger.New(billing, logger.WithFlushInterval(5*time.Millisecond))
	lgNo := logger.New(search, logger.WithFlushInterval(5*time.Millisecond))
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	start := time.Now()
	for i := range 3 {
		require.NoError(t, lgOK.LogSync(ctx, event.New("bill-"+string(rune('a'+i)), event.TypeEnqueued, event.WithQueue("q"))))
		err := lgNo.LogSync(ctx, event.New("find-"+string(rune('a'+i)), event.TypeEnqueued, event.WithQueue("q")))
		requireDenied(t, err, "naq.events.prod.search.find-"+string(rune('a'+i))+".enqueued")
		assert.Contains(t, err.Error(), `grant it publish on "naq.events.prod.search.>"`)
	}
	require.NoError(t, lgOK.Close(ctx))
	require.NoError(t, lgNo.Close(ctx))
	took := time.Since(start)
	t.Logf("3 refused events took %v", took)
	assert.Less(t, took, 2*jsstore.DefaultAckTimeout, "three refusals, each well under the ack timeout")

	ok, no := lgOK.Stats(), lgNo.Stats()
	assert.Equal(t, uint64(3), ok.Stored)
	assert.Zero(t, ok.Dropped.Total())
	assert.Zero(t, no.Stored)
	assert.Equal(t, uint64(3), no.Dropped.Rejected)
	assert.Equal(t, no.Dropped.Rejected, no.Dropped.Total())
	assert.Zero(t, no.OutcomeUnknown)
	assert.Zero(t, no.Spilled)
	assert.Zero(t, no.Retried)
	assert.False(t, no.BreakerOpen)
}

// refusals records every publish permission violation of a connection.
type refusals struct {
	mu sync.Mutex
	at map[string]time.Time
}

var refusedRe = regexp.MustCompile(`(?i)permissions violation for publish to "([^"]+)"`)

func (r *refusals) handle(_ *nats.Conn, _ *nats.Subscription, err error) {
	if m := refusedRe.FindStringSubmatch(err.Error()); m != nil {
		r.mu.Lock()
		r.at[m[1]] = time.Now()
		r.mu.Unlock()
	}
}

func (r *refusals) denied(subject string, since time.Time) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	at, ok := r.at[subject]
	return ok && !at.Before(since)
}
