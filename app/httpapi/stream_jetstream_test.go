package httpapi

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/naq-go/events/adapters/jsstore"
	"github.com/naq-go/events/adapters/natsembed/natsembedtest"
	"github.com/naq-go/events/domain/event"
)

// TestStreamResumeJetStream reads 5 events, disconnects, misses 4 writes and
// reconnects with Last-Event-ID: it gets exactly the 4 it missed, then live
// events again.
func TestStreamResumeJetStream(t *testing.T) {
	_, nc := natsembedtest.Connect(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	store, err := jsstore.New(ctx, nc)
	require.NoError(t, err)
	t.Cleanup(func() { _ = store.Close() })
	f := newFixture(t, store, WithNATS(nc))

	batch := func(from, n int) []event.JobEvent {
		evs := make([]event.JobEvent, n)
		for i := range evs {
			evs[i] = event.Enqueued(fmt.Sprintf("job-%d", from+i), "q", 1)
		}
		require.NoError(t, store.StoreBatch(ctx, evs))
		return evs
	}
	first := batch(0, 8)

	streamCtx, stop := context.WithCancel(ctx)
	s := openStream(t, streamCtx, f.srv.URL+"/api/v1/stream?history=true", "")
	var last string
	for i := range 5 {
		got := s.next(t)
		assert.Contains(t, got.Data, first[i].ID)
		last = got.ID
	}
	stop() // disconnect
	assert.Equal(t, "5", seqOf(last))

	missed := batch(100, 4)
	s2 := openStream(t, ctx, f.srv.URL+"/api/v1/stream", last)
	want := append(first[5:], missed...)
	for i, w := range want {
		got := s2.next(t)
		assert.Equal(t, fmt.Sprint(6+i), seqOf(got.ID))
		assert.Contains(t, got.Data, w.ID)
	}
	marker := batch(200, 1)
	got := s2.next(t)
	assert.Contains(t, got.Data, marker[0].ID, "nothing but the missed events came before the new one")
	assert.Equal(t, "13", seqOf(got.ID))

	var h healthBody
	require.Equal(t, 200, f.do(t, "GET", "/healthz", "", &h))
	require.NotNil(t, h.NATS)
	assert.True(t, h.NATS.Connected)
	assert.Equal(t, "jetstream", h.Store.Backend)
	assert.Equal(t, nc.ConnectedServerName(), h.NATS.Server, "healthz names the server the client is on")
	assert.Equal(t, nc.ConnectedServerName(), h.Store.Detail["server_name"])
	assert.Contains(t, h.Store.Detail, "cluster", "the stream's leader and replicas")
}

// seqOf is the sequence part of an SSE id ("<seq>@<epoch>").
func seqOf(id string) string {
	seq, _, _ := strings.Cut(id, "@")
	return seq
}

// TestStreamResumeAcrossRecreatedStream: a Last-Event-ID from a stream
// that was deleted and re-created is detected, whether the new stream is
// still short of that sequence or already past it: the client gets a "gap"
// event naming the cause, then every event of the new stream from its
// start (and live ones after), never a silent wait or a resume in the
// middle of unrelated events.
func TestStreamResumeAcrossRecreatedStream(t *testing.T) {
	for _, c := range []struct {
		name      string
		recreated int  // events in the re-created stream before the resume
		plainID   bool // resume with the sequence alone, no @epoch
		reason    string
	}{
		{"beyond the last sequence", 2, true, "beyond the stream's last sequence"},
		{"same sequences, new stream", 8, false, "from a stream created at"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, nc := natsembedtest.Connect(t)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			js, err := jetstream.New(nc)
			require.NoError(t, err)
			// nats-server removes a deleted stream's directory in the
			// background: every case uses a stream name of its own.
			name := fmt.Sprintf("resume_%d", c.recreated)
			open := func() *jsstore.Store {
				st, err := jsstore.New(ctx, nc, jsstore.WithStream(name))
				require.NoError(t, err)
				t.Cleanup(func() { _ = st.Close() })
				return st
			}
			write := func(st *jsstore.Store, prefix string, n int) []event.JobEvent {
				evs := make([]event.JobEvent, n)
				for i := range evs {
					evs[i] = event.Enqueued(fmt.Sprintf("%s-%d", prefix, i), "q", 1)
				}
				require.NoError(t, st.StoreBatch(ctx, evs))
				return evs
			}
			old := open()
			write(old, "old", 5)
			f := newFixture(t, old)
			streamCtx, stop := context.WithCancel(ctx)
			s := openStream(t, streamCtx, f.srv.URL+"/api/v1/stream?history=true", "")
			var last string
			for range 5 {
				last = s.next(t).ID
			}
			stop()
			require.Equal(t, "5", seqOf(last))
			require.Contains(t, last, "@", "the id carries the stream's epoch")
			if c.plainID {
				last = seqOf(last)
			}
			require.NoError(t, old.Close())
			f.srv.Close()

			require.NoError(t, js.DeleteStream(ctx, name))
			fresh := open()
			want := write(fresh, "new", c.recreated)
			f2 := newFixture(t, fresh)
			readCtx, stopRead := context.WithTimeout(ctx, 10*time.Second)
			defer stopRead()
			s2 := openStream(t, readCtx, f2.srv.URL+"/api/v1/stream", last)
			gap := s2.next(t)
			require.Equal(t, "gap", gap.Type, "first event after a resume across a re-created stream: %+v", gap)
			var body gapBody
			require.NoError(t, json.Unmarshal([]byte(gap.Data), &body))
			assert.Equal(t, last, body.LastEventID)
			assert.Contains(t, body.Reason, c.reason)
			assert.Equal(t, "start", body.ResumeFrom)
			assert.Equal(t, uint64(c.recreated), body.LastSeq)
			assert.Contains(t, s2.comments, "gap: "+body.Reason, "the gap is also a comment for clients that ignore unknown events")
			for i, w := range want {
				got := s2.next(t)
				assert.Equal(t, fmt.Sprint(1+i), seqOf(got.ID))
				assert.Contains(t, got.Data, w.ID)
			}
			live := write(fresh, "live", 1)
			got := s2.next(t)
			assert.Contains(t, got.Data, live[0].ID)

			// A resume from an id of the new stream is an ordinary resume.
			s3 := openStream(t, readCtx, f2.srv.URL+"/api/v1/stream", got.ID)
			write(fresh, "after", 1)
			next := s3.next(t)
			assert.Equal(t, "enqueued", next.Type, "no gap for an id of this stream")
			assert.Equal(t, fmt.Sprint(c.recreated+2), seqOf(next.ID))
		})
	}
}

// TestStreamEndsWhenTheStreamIsDeleted: a live SSE client whose JetStream
// stream is deleted under it gets an "error" event that says so, and the
// response ends (the browser then reconnects with its Last-Event-ID and
// is told of the gap once the stream exists again), rather than a stream
// of heartbeats that never carries another event.
func TestStreamEndsWhenTheStreamIsDeleted(t *testing.T) {
	_, nc := natsembedtest.Connect(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	store, err := jsstore.New(ctx, nc)
	require.NoError(t, err)
	t.Cleanup(func() { _ = store.Close() })
	f := newFixture(t, store, WithNATS(nc))
	require.NoError(t, store.Store(ctx, event.Enqueued("job-1", "q", 1)))

	s := openStream(t, ctx, f.srv.URL+"/api/v1/stream?history=true", "")
	require.Equal(t, "enqueued", s.next(t).Type)
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	require.NoError(t, js.DeleteStream(ctx, jsstore.DefaultStream))

	got := s.next(t)
	require.Equal(t, "error", got.Type, "%+v", got)
	assert.Contains(t, got.Data, "the stream naq_events was deleted while this stream ran")
	_, err = s.r.ReadString('\n')
	require.ErrorIs(t, err, io.EOF, "the response ends after the error")

	// A reconnect while the stream is absent is told so, as an event (an
	// EventSource gives up on a status other than 200, and this one should
	// keep trying until the stream is back).
	again := openStream(t, ctx, f.srv.URL+"/api/v1/stream", "") // 200, text/event-stream
	got = again.next(t)
	require.Equal(t, "error", got.Type, "%+v", got)
	assert.Contains(t, got.Data, "stream not found")
}
