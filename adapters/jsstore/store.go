package jsstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/naq-go/events/domain/event"
	"github.com/naq-go/events/domain/subject"
	"github.com/naq-go/events/ports"
)

// Store is the JetStream event store. It is safe for concurrent use.
type Store struct {
	cfg    config
	nc     *nats.Conn
	js     jetstream.JetStream
	stream jetstream.Stream
	scheme subject.Scheme
	log    *slog.Logger

	// respSub is the subject of the connection's response subscription,
	// "<inbox prefix>.<nuid>.*", on which the server answers every
	// JetStream API request (see refusableRequest).
	respSub      string
	apiDirectGet string // $JS.API.DIRECT.GET.<stream>
	apiPurge     string // $JS.API.STREAM.PURGE.<stream>
	// $JS.API.CONSUMER.CREATE.<stream>. (streamwatch.go)
	apiConsumerCreate string

	jobBatch         int  // messages a direct get request of Job asks for; 0: single
	countByDirectGet bool // Count from direct get headers instead of a consumer

	decodeErrors atomic.Uint64
	streams      atomic.Int64
	warm         warmer // KeepIndexWarm's state (warm.go)
	resent       atomic.Uint64
	retried      atomic.Uint64 // further tries of reads (retryRead, cluster.go)

	pub         pubState      // how StoreBatch publishes
	pipe        pipeline      // the open pipelined fast batch (pipeline.go)
	dedupWindow time.Duration // the stream's duplicate window, as the server has it

	mu     sync.Mutex
	closed bool
	// running Streams by their consumers' name prefix (register)
	streamsByPrefix map[string]*streamWatch
	done            chan struct{} // closed by Close
}

var _ ports.Store = (*Store)(nil)

// pubState is how StoreBatch publishes: fast-ingest batches while fast is
// set, else asynchronous publishes, for the reason in fallback.
type pubState struct {
	fast     atomic.Bool
	fallback atomic.Pointer[string]
	noMsgID  bool
}

// fastIngestMinMinor is the first nats-server 2.x minor version with
// fast-ingest batches.
const fastIngestMinMinor = 14

// fallBack switches StoreBatch to asynchronous publishes for good and logs
// why.
func (s *Store) fallBack(reason string) {
	s.pub.fallback.Store(&reason)
	if s.pub.fast.Swap(false) || s.cfg.pub.mode == PublishFast {
		s.log.Warn("jsstore: publishing with one asynchronous publish per event, not fast-ingest batches", "reason", reason)
	}
}

// New binds to the stream when it already has every setting of the options
// (which needs only the stream-info permission), creates or updates it
// otherwise, and returns a Store on it. The Store uses nc but does not own it: Close leaves it open. nc should
// be configured to reconnect forever (nats.MaxReconnects(-1)) for a
// long-lived Store.
//
// New has until ctx's deadline, or the Store's timeout (WithTimeout,
// default 5 s) when ctx has none. Each request it makes (a stream info,
// then maybe a create or update) waits at most the Store's timeout, and a
// transient answer (no responders, a leader election, JetStream not ready,
// no answer in time) is retried with backoff until that deadline: a server
// that still does not answer makes New fail with an error wrapping
// ports.ErrUnavailable that names the request. A request the server
// refuses for lack of permission (an asynchronous -ERR, never an answer;
// recognised as WithPublishDenied describes) ends at once, without a
// retry, with an error wrapping ErrPermission that names the refused
// subject.
func New(ctx context.Context, nc *nats.Conn, opts ...Option) (*Store, error) {
	cfg := defaults()
	for _, o := range opts {
		o(&cfg)
	}
	if err := cfg.check(); err != nil {
		return nil, err
	}
	if nc == nil {
		return nil, fmt.Errorf("jsstore: %w: nil *nats.Conn", ports.ErrInvalid)
	}
	s := &Store{
		cfg:               cfg,
		nc:                nc,
		scheme:            subject.Default,
		log:               cfg.logger.With("component", "jsstore", "stream", cfg.stream),
		jobBatch:          cfg.jobBatch,
		respSub:           respSubject(nc),
		apiDirectGet:      "$JS.API.DIRECT.GET." + cfg.stream,
		apiPurge:          "$JS.API.STREAM.PURGE." + cfg.stream,
		apiConsumerCreate: "$JS.API.CONSUMER.CREATE." + cfg.stream + ".",
		streamsByPrefix:   make(map[string]*streamWatch),
		done:              make(chan struct{}),
	}
	js, err := jetstream.New(nc,
		jetstream.WithPublishAsyncMaxPending(cfg.maxPending),
		jetstream.WithPublishAsyncTimeout(cfg.ackTimeout),
		jetstream.WithDefaultTimeout(cfg.timeout),
		// A running Stream learns from its consumer's re-creates that the
		// stream was deleted or re-created (streamwatch.go).
		jetstream.WithClientTrace(&jetstream.ClientTrace{ResponseReceived: s.watchResponse}),
	)
	if err != nil {
		return nil, fmt.Errorf("jsstore: %w", err)
	}
	s.js = js
	s.pub.noMsgID = cfg.pub.noMsgID
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()
	if err := s.createStream(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// createStream creates or updates the stream and chooses the publish mode:
// fast-ingest batches when asked for, the server is 2.14 or newer and the
// stream keeps allow_batched; asynchronous publishes otherwise, with the
// reason logged and kept for Health. With PublishAsync an allow_batched
// the stream already has is left on (other clients may use it).
func (s *Store) createStream(ctx context.Context) error {
	sc := s.streamConfig()
	fail := func(err error) error {
		return fmt.Errorf("jsstore: create or update stream %q: %w", s.cfg.stream, classify(err))
	}
	// One stream info: a stream that has every setting is bound to as it
	// is. Without an answer (no permission, no JetStream, a server that
	// does not answer in time) a create or update would fare no better.
	var have jetstream.Stream
	infoSubj := "$JS.API.STREAM.INFO." + sc.Name
	err := s.retryRefusable(ctx, retryMax, strconv.Quote(infoSubj), s.refusedOneOf(infoSubj), func(ctx context.Context) error {
		var err error
		have, err = s.js.Stream(ctx, sc.Name)
		return err
	})
	switch {
	case ctx.Err() != nil && err != nil:
		return fail(err) // the caller gave up: nothing more to ask
	case errors.Is(err, jetstream.ErrStreamNotFound):
		have = nil
	case err != nil && (errors.Is(err, ErrPermission) || transient(err)):
		return fail(err)
	case err != nil:
		have = nil // another answer: creating or updating the stream tells more
	}
	reason := ""
	switch v := s.nc.ConnectedServerVersion(); {
	case s.cfg.pub.mode == PublishAsync:
		reason = "WithPublishMode(PublishAsync)"
		if have != nil {
			sc.AllowBatchPublish = have.CachedInfo().Config.AllowBatchPublish
		}
	case !serverAtLeast(v, 2, fastIngestMinMinor):
		reason = fmt.Sprintf("nats-server %s is older than 2.%d (no fast-ingest batches)", v, fastIngestMinMinor)
	default:
		sc.AllowBatchPublish = true
	}
	st, err := s.openStream(ctx, sc, have)
	if err != nil && sc.AllowBatchPublish && reason == "" && !transient(err) && !errors.Is(err, ErrPermission) {
		// A stream that cannot take allow_batched (a mirror, say) is
		// still written, one publish at a time. Not after a timeout or a
		// disconnect: the retry would turn allow_batched off on a stream
		// that has it, for good and for every client.
		sc.AllowBatchPublish = false
		if st2, err2 := s.createOrUpdate(ctx, sc); err2 == nil {
			reason = "the stream refuses allow_batched: " + err.Error()
			st, err = st2, nil
		}
	}
	if err != nil {
		return fail(err)
	}
	s.stream = st
	info := st.CachedInfo()
	s.dedupWindow = info.Config.Duplicates
	if reason == "" && !info.Config.AllowBatchPublish {
		reason = "the server did not keep allow_batched on the stream"
	}
	if reason != "" {
		s.fallBack(reason)
		return nil
	}
	s.pub.fast.Store(true)
	return nil
}

// openStream binds to the stream have (nil: none found) when it already
// has every setting of sc, and creates or updates it otherwise. Binding
// needs only $JS.API.STREAM.INFO, so producers and readers whose options
// match the stream need no permission to change it (docs/operations.md).
func (s *Store) openStream(ctx context.Context, sc jetstream.StreamConfig, have jetstream.Stream) (jetstream.Stream, error) {
	if have != nil && hasSettings(have.CachedInfo().Config, sc) {
		return have, nil
	}
	return s.createOrUpdate(ctx, sc)
}

// createOrUpdate updates the stream to sc, or creates it when there is
// none (nats.go asks for the update first), as a request of New (retried
// while the answer is transient).
func (s *Store) createOrUpdate(ctx context.Context, sc jetstream.StreamConfig) (jetstream.Stream, error) {
	var st jetstream.Stream
	update, create := "$JS.API.STREAM.UPDATE."+sc.Name, "$JS.API.STREAM.CREATE."+sc.Name
	err := s.retryRefusable(ctx, retryMax, strconv.Quote(update), s.refusedOneOf(update, create), func(ctx context.Context) error {
		var err error
		st, err = s.js.CreateOrUpdateStream(ctx, sc)
		return err
	})
	return st, err
}

// refusalPoll is how often a refusable request checks whether the server
// refused it for lack of permission.
const refusalPoll = 5 * time.Millisecond

// refusedOneOf returns a refused func for refusableRequest: the first of
// subjects the server refused the user a publish to since now (as
// WithPublishDenied describes), or "".
func (s *Store) refusedOneOf(subjects ...string) func() string {
	den := s.newDenials()
	return func() string {
		for _, subj := range subjects {
			if den.denied(subj) {
				return subj
			}
		}
		return ""
	}
}

// retryRefusable is refusableRequest tried again, by retryUnavailable
// (pauses up to most), while its answer is transient; a refusal ends it.
func (s *Store) retryRefusable(ctx context.Context, most time.Duration, what string, refused func() string, op func(context.Context) error) error {
	return s.retryUnavailable(ctx, most, func(ctx context.Context) error {
		return classify(s.refusableRequest(ctx, what, refused, op))
	})
}

// refusableRequest runs op, a JetStream API request (what names it, e.g.
// its subject), with the Store's timeout (a shorter deadline of ctx wins).
// A NATS server answers a publish it refuses for lack of permission with
// an asynchronous -ERR, never on the request, which would only time out:
// while op waits, refusableRequest checks every refusalPoll whether
// refused names a refused subject, and if so ends op at once and returns
// an error wrapping ErrPermission that names the subject. A refused
// subscription to the connection's response inbox, where every answer
// arrives, ends op the same way, and ends it before it is sent when the
// connection's LastError still holds one (nats.go subscribes again only on
// a reconnect, which clears LastError). Without an answer in time, the
// error names the request and wraps ports.ErrUnavailable.
func (s *Store) refusableRequest(ctx context.Context, what string, refused func() string, op func(context.Context) error) error {
	start := time.Now()
	reconnects := s.nc.Stats().Reconnects // before LastError: see inboxRefused
	before := s.nc.LastError()
	if err := s.inboxRefused(before, reconnects); err != nil {
		return err
	}
	rctx, cancel := s.requestTimeout(ctx)
	defer cancel()
	var found atomic.Pointer[string]
	var inbox atomic.Pointer[error]
	stop := make(chan struct{})
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		t := time.NewTicker(refusalPoll)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-rctx.Done():
				return
			case <-t.C:
				if subj := refused(); subj != "" {
					found.Store(&subj)
					cancel()
					return
				}
				reconnects := s.nc.Stats().Reconnects
				if last := s.nc.LastError(); last != before { //nolint:errorlint // identity, not kind
					if err := s.inboxRefused(last, reconnects); err != nil {
						inbox.Store(&err)
						cancel()
						return
					}
				}
			}
		}
	}()
	err := op(rctx)
	close(stop)
	<-watched
	if err == nil {
		return nil
	}
	if p := inbox.Load(); p != nil {
		return *p
	}
	reconnects = s.nc.Stats().Reconnects
	if last := s.nc.LastError(); last != before { //nolint:errorlint // identity, not kind
		if err := s.inboxRefused(last, reconnects); err != nil {
			return err
		}
	}
	subj := refused()
	if p := found.Load(); p != nil {
		subj = *p
	}
	if subj != "" {
		return fmt.Errorf("the NATS server refused the user a publish to %q: %w", subj, ErrPermission)
	}
	if rctx.Err() != nil && ctx.Err() == nil {
		// The Store's timeout, not the caller's ctx, ended the request.
		return fmt.Errorf("no answer to %s within %s (jsstore.WithTimeout): %w", what, s.cfg.timeout, classify(err))
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout) {
		return fmt.Errorf("no answer to %s within %s: %w", what, time.Since(start).Round(time.Millisecond), classify(err))
	}
	return err
}

// hasSettings reports whether the stream config have holds every setting
// that streamConfig puts in want (the server fills in the others).
func hasSettings(have, want jetstream.StreamConfig) bool {
	return slices.Equal(have.Subjects, want.Subjects) &&
		have.Description == want.Description &&
		have.Retention == want.Retention &&
		have.Discard == want.Discard &&
		have.MaxAge == want.MaxAge &&
		have.MaxMsgs == want.MaxMsgs &&
		have.MaxBytes == want.MaxBytes &&
		have.Replicas == want.Replicas &&
		have.Storage == want.Storage &&
		have.Duplicates == want.Duplicates &&
		have.AllowDirect == want.AllowDirect &&
		have.AllowBatchPublish == want.AllowBatchPublish
}

// PublishMode reports how StoreBatch publishes now: PublishFast, or
// PublishAsync when asked for or fallen back to (Health says why).
func (s *Store) PublishMode() PublishMode {
	if s.pub.fast.Load() {
		return PublishFast
	}
	return PublishAsync
}

func (c *config) check() error {
	bad := func(format string, v ...any) error {
		return fmt.Errorf("jsstore: %w: "+format, append([]any{ports.ErrInvalid}, v...)...)
	}
	if err := event.CheckToken("environment", c.env); err != nil {
		return fmt.Errorf("jsstore: WithEnvironment: %w", err)
	}
	if err := event.CheckToken("service", c.svc); err != nil {
		return fmt.Errorf("jsstore: WithService: %w", err)
	}
	switch {
	case c.stream == "" || strings.ContainsAny(c.stream, ".*>/\\ \t\r\n"):
		return bad("WithStream(%q): not a valid stream name", c.stream)
	case c.maxAge < 0:
		return bad("WithMaxAge(%v): must be ≥ 0", c.maxAge)
	case c.maxMsgs < 0:
		return bad("WithMaxMsgs(%d): must be ≥ 0", c.maxMsgs)
	case c.maxBytes < 0:
		return bad("WithMaxBytes(%d): must be ≥ 0", c.maxBytes)
	case c.replicas < 1 || c.replicas > 5:
		return bad("WithReplicas(%d): must be 1 to 5", c.replicas)
	case c.duplicates <= 0:
		return bad("WithDuplicates(%v): must be > 0", c.duplicates)
	case c.ackTimeout <= 0:
		return bad("WithAckTimeout(%v): must be > 0", c.ackTimeout)
	case c.maxPending < 1:
		return bad("WithMaxPending(%d): must be ≥ 1", c.maxPending)
	case c.timeout <= 0:
		return bad("WithTimeout(%v): must be > 0", c.timeout)
	case c.clockSkew < 0:
		return bad("WithClockSkew(%v): must be ≥ 0", c.clockSkew)
	case c.maxScan < 0:
		return bad("WithMaxScan(%d): must be ≥ 0", c.maxScan)
	case c.lateness < 0:
		return bad("WithMaxLateness(%v): must be ≥ 0", c.lateness)
	case c.jobBatch < 0:
		return bad("WithJobBatch(%d): must be ≥ 0", c.jobBatch)
	case c.storage != jetstream.FileStorage && c.storage != jetstream.MemoryStorage:
		return bad("WithStorage(%d): want jetstream.FileStorage or jetstream.MemoryStorage", c.storage)
	}
	return c.pub.check()
}

func (s *Store) streamConfig() jetstream.StreamConfig {
	dup := s.cfg.duplicates
	if s.cfg.maxAge > 0 && dup > s.cfg.maxAge {
		dup = s.cfg.maxAge
	}
	limit := func(n int64) int64 {
		if n == 0 {
			return -1
		}
		return n
	}
	return jetstream.StreamConfig{
		Name:        s.cfg.stream,
		Description: "naq job lifecycle events",
		Subjects:    []string{subject.StreamFilter()},
		Retention:   jetstream.LimitsPolicy,
		Discard:     jetstream.DiscardOld,
		MaxAge:      s.cfg.maxAge,
		MaxMsgs:     limit(s.cfg.maxMsgs),
		MaxBytes:    limit(s.cfg.maxBytes),
		Replicas:    s.cfg.replicas,
		Storage:     s.cfg.storage,
		Duplicates:  dup,
		AllowDirect: true,
	}
}

// Stats are the Store's counters.
type Stats struct {
	// DecodeErrors counts stored messages that could not be decoded into an
	// event, or whose subject names another job or type than their
	// document, and were skipped by a query or a stream (once per read that
	// met them).
	DecodeErrors uint64
	// Streams is the number of Streams running now.
	Streams int64
	// Resent counts events sent again by StoreBatch in a further fast
	// batch after one ended short (a gap, an error, a timeout, a restart).
	Resent uint64
	// Retried counts further tries of reads (Job, ByType, List, Count,
	// FindJob, Cluster) after a transient answer: a leader election, a
	// reconnect, a cluster not ready.
	Retried uint64
}

// Stats returns the Store's counters.
func (s *Store) Stats() Stats {
	return Stats{DecodeErrors: s.decodeErrors.Load(), Streams: s.streams.Load(), Resent: s.resent.Load(), Retried: s.retried.Load()}
}

// StreamName returns the name of the JetStream stream.
func (s *Store) StreamName() string { return s.cfg.stream }

// Health reports the connection status, the server the connection is on
// (name, redacted URL, cluster), the round-trip time to it, the stream's
// state and, on a cluster, the stream's Raft group (Detail "cluster": its
// leader and each replica's current, offline, active and lag). It sends
// no $SYS request and does not retry. OK is false when the connection is
// not connected or the stream cannot be read; the error is then non-nil
// and wraps ports.ErrUnavailable when that may pass.
func (s *Store) Health(ctx context.Context) (ports.Health, error) {
	if err := s.checkOpen(); err != nil {
		return ports.Health{Backend: "jetstream"}, err
	}
	srv := s.ConnectedServer()
	h := ports.Health{Backend: "jetstream", Detail: map[string]any{
		"status":      s.nc.Status().String(),
		"stream":      s.cfg.stream,
		"server":      srv.URL,
		"server_name": srv.Name,
		"publish":     s.PublishMode().String(),
		"retried":     s.retried.Load(),
	}}
	if srv.Cluster != "" {
		h.Detail["server_cluster"] = srv.Cluster
	}
	if r := s.pub.fallback.Load(); r != nil {
		h.Detail["publish_fallback"] = *r
	}
	if !s.nc.IsConnected() {
		return h, fmt.Errorf("jsstore: health: connection %s: %w", s.nc.Status(), ports.ErrUnavailable)
	}
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()
	// nc.RTT waits up to 10 s whatever ctx says; a flush bounded by ctx
	// measures the same round trip (a PING and its PONG).
	start := time.Now()
	if err := s.nc.FlushWithContext(ctx); err != nil {
		return h, fmt.Errorf("jsstore: health: rtt: %w", classify(err))
	}
	h.RTT = time.Since(start)
	info, err := s.stream.Info(ctx)
	if err != nil {
		return h, fmt.Errorf("jsstore: health: stream info %q: %w", s.cfg.stream, classify(err))
	}
	st := info.State
	h.Detail["messages"] = st.Msgs
	h.Detail["bytes"] = st.Bytes
	h.Detail["first_seq"] = st.FirstSeq
	h.Detail["last_seq"] = st.LastSeq
	h.LastSeq = st.LastSeq
	h.Created = info.Created
	h.Detail["consumers"] = st.Consumers
	h.Detail["decode_errors"] = s.decodeErrors.Load()
	h.Detail["replicas"] = info.Config.Replicas
	if info.Cluster != nil {
		h.Detail["cluster"] = s.clusterOf(info).detail()
	}
	h.OK = true
	return h, nil
}

// Close stops every running Stream (each yields an error wrapping
// ports.ErrClosed) and makes every later call fail with ports.ErrClosed. It
// does not close the *nats.Conn given to New, which belongs to the caller,
// and does not wait for StoreBatch calls in flight (they finish on their own
// deadlines). Close again returns nil.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	close(s.done)
	for _, w := range s.streamsByPrefix {
		w.end()
	}
	s.mu.Unlock()
	s.warm.wg.Wait() // KeepIndexWarm's loop, which done ends
	return nil
}

func (s *Store) checkOpen() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return fmt.Errorf("jsstore: %w", ports.ErrClosed)
	}
	return nil
}

// withTimeout gives ctx the Store's default timeout unless it has a deadline.
func (s *Store) withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, s.cfg.timeout)
}

// classify wraps errors that mean "try again later" with
// ports.ErrUnavailable, keeping the original in the chain.
func classify(err error) error {
	if err == nil || errors.Is(err, ports.ErrUnavailable) {
		return err
	}
	if transient(err) {
		return fmt.Errorf("%w: %w", ports.ErrUnavailable, err)
	}
	return err
}

// transient reports whether err means "try again later": a JetStream
// answer of transientCodes (cluster.go) or a bare 503 (no responders), no
// answer in time, a connection down, reconnecting (with its reconnect
// buffer full) or draining, a slow consumer. A closed connection counts
// too for the callers that classify (a new one may replace it); reads do
// not retry it (retryRead).
func transient(err error) bool {
	if apiErr, ok := errors.AsType[*jetstream.APIError](err); ok && transientAPI(apiErr) {
		return true
	}
	for _, target := range []error{
		nats.ErrNoResponders, jetstream.ErrNoStreamResponse,
		nats.ErrTimeout, context.DeadlineExceeded, jetstream.ErrAsyncPublishTimeout,
		nats.ErrDisconnected, nats.ErrConnectionClosed, nats.ErrConnectionDraining,
		nats.ErrConnectionReconnecting, nats.ErrReconnectBufExceeded,
		jetstream.ErrTooManyStalledMsgs, nats.ErrSlowConsumer,
	} {
		if errors.Is(err, target) {
			return true
		}
	}
	return false
}
