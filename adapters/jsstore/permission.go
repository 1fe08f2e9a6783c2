package jsstore

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/naq-go/events/domain/event"
	"github.com/naq-go/events/ports"
)

// ErrPermission marks an event the NATS server refused because the
// connection's user may not publish to the event's subject. The server
// answers such a publish with an asynchronous -ERR (never an
// acknowledgement), so StoreBatch recognises it from the connection's
// record of refusals (see WithPublishDenied). The event's error wraps
// ports.ErrInvalid as well: the refusal is permanent for this user, so the
// logger drops the event (DropRejected) instead of retrying or spilling it.
// New, DeleteJob and the other purges fail with an error wrapping it (and
// not ports.ErrInvalid) as soon as the server refuses the user their
// JetStream API request, or the subscription to the connection's response
// inbox on which every answer arrives, rather than at the request's
// timeout; a response inbox seen refused ends every later request of the
// connection at once until it reconnects (only then does nats.go subscribe
// it again), even after another error has replaced the refusal in
// LastError. Not recognised with nats.UseOldRequestStyle (an inbox per
// request), nor by the reads, which time out. A batch whose
// acknowledgements, or a lookup whose answers, the server will not deliver
// because it refused the subscription to their inbox (a config reload took
// the grant away after New) fails each of its events with an error wrapping
// it and ports.ErrUnavailable (not ports.ErrInvalid: the logger keeps the
// events and sends them again) as soon as the batch hears nothing for a
// tenth of the ack timeout (fast batches; asynchronous publishes wait out
// the ack timeout, see Security in docs/operations.md). It wraps
// ports.ErrForbidden.
var ErrPermission = fmt.Errorf("jsstore: NATS permission denied: %w", ports.ErrForbidden)

// WithPublishDenied sets how StoreBatch learns that the NATS server refused
// a publish for lack of permission: fn(subject, since) reports whether the
// server refused a publish to subject at or after since. It is called
// after a publish of the batch failed, when the batch ends short and while
// its acknowledgements are late, from the goroutine calling StoreBatch (or
// SendBatch's wait, or a pipelined batch's own goroutine), and every few
// milliseconds while a JetStream API request of New or a purge waits for
// its answer, from a goroutine of its own; it must be cheap and safe for
// concurrent use. An event whose subject fn reports refused fails with an
// error wrapping ErrPermission and ports.ErrInvalid; its batch's other
// events are stored (a pipelined SendBatch returns those after the
// refused one as not sent, for the logger to send again).
//
// Default (nil): the connection's nats.Conn.LastError, a permission
// violation naming the subject that arrived after the batch began.
// LastError holds only the latest error, so of several refused subjects in
// one batch only the last refused one is recognised per attempt; the
// others fail as unavailable and are recognised when retried. A connection
// made by app/natsconn records every refusal (natsconn.PublishDenied).
// With fn set, the connection's LastError is consulted as well: it is set
// as soon as nats.go reads the refusal, while a record kept by an error
// handler is written a moment later. There is no bad value.
func WithPublishDenied(fn func(subject string, since time.Time) bool) Option {
	return func(c *config) { c.pub.denied = fn }
}

// deniedRe extracts the subject of a publish permission violation from the
// server's -ERR as nats.go reports it.
var deniedRe = regexp.MustCompile(`(?i)permissions violation for publish to "([^"]+)"`)

// subDeniedRe extracts the subject of a refused subscription.
var subDeniedRe = regexp.MustCompile(`(?i)permissions violation for subscription to "([^"]+)"`)

// respSubject is the subject of nc's response subscription, which nats.go
// makes with the connection's first request: "<inbox prefix>.<nuid>.*",
// the prefix of nc.NewRespInbox's inboxes (calling it only sets that
// prefix, it subscribes nothing).
func respSubject(nc *nats.Conn) string {
	in := nc.NewRespInbox()
	return in[:strings.LastIndexByte(in, '.')+1] + "*"
}

// inboxRefused is an error wrapping ErrPermission when the connection's
// response subscription is refused: err (its LastError, read after
// reconnects, its reconnect count) is the server's refusal of it, or an
// earlier one was seen and the connection has not reconnected since.
// nats.go subscribes it again only on a reconnect, so until then no
// JetStream API request of the connection can be answered, even once a
// later error (another refused subscription, a slow consumer) has
// replaced the refusal in LastError. Else nil.
func (s *Store) inboxRefused(err error, reconnects uint64) error {
	if s.isInboxRefusal(err) {
		refusedInboxes.Store(s.respSub, reconnects)
		return s.inboxRefusedError()
	}
	seen, ok := refusedInboxes.Load(s.respSub)
	if !ok {
		return nil
	}
	switch status := s.nc.Status(); {
	case status == nats.CONNECTED && seen == s.nc.Stats().Reconnects:
		return s.inboxRefusedError()
	case status == nats.CONNECTED || status == nats.CLOSED:
		// Reconnected since (the inbox subscribed again), or gone.
		refusedInboxes.CompareAndDelete(s.respSub, seen)
	}
	// Not connected (reconnecting: nats.go clears LastError as it starts,
	// and counts the reconnect only once connected): not known, and the
	// request fails as unavailable anyway.
	return nil
}

// refusedInboxes remembers every refused response subscription seen
// (respSub, unique to its connection) with its connection's reconnect
// count then (a uint64); an entry goes at the first look after a
// reconnect or the connection's close.
var refusedInboxes sync.Map

// isInboxRefusal reports whether err is the server's refusal of the
// connection's response subscription.
func (s *Store) isInboxRefusal(err error) bool {
	subj := refusedSubscription(err)
	return subj != "" && subj == s.respSub
}

// refusedSubscription is the subject of the subscription whose refusal
// err (a connection's LastError) is, or "" when err is no such refusal.
func refusedSubscription(err error) string {
	if err == nil || !errors.Is(err, nats.ErrPermissionViolation) {
		return ""
	}
	if m := subDeniedRe.FindStringSubmatch(err.Error()); m != nil {
		return m[1]
	}
	return ""
}

// inboxRefusedError is the error of a refused response subscription.
func (s *Store) inboxRefusedError() error {
	return fmt.Errorf("the NATS server refused the user a subscription to %q, the inbox on which it answers the connection's requests (%w): "+
		"grant it subscribe on %q, then reconnect (nats.Conn.ForceReconnect, or restart the process); see Security in docs/operations.md",
		s.respSub, ErrPermission, inboxGrant(s.nc))
}

// replyRefused is an error wrapping ErrPermission and ports.ErrUnavailable
// when the connection's LastError, if it is not since (its value when the
// caller subscribed), is the server's refusal of subj, a reply
// subscription of the Store's own (a fast batch's "<inbox>.>", a lookup's
// "<inbox>.*"), or of any other subscription under the connection's inbox
// prefix: the grant is the prefix's, and LastError holds only the latest
// error, so with several batches or lookups subscribing at once (or other
// code on the connection) the refusal it holds may be another's. Its
// answers never come, so the caller ends at once rather than at its
// timeout. Else nil. Unavailable as well, not invalid: the events are not
// at fault and keep their ids, so the logger keeps them and sends them
// again, and the next subscription succeeds once the grant is back (a
// nats-server config reload can take it away from a running connection).
// An inbox refused for a narrower reason than the prefix's grant ends the
// batch early too: a retry, nothing lost.
func (s *Store) replyRefused(subj string, since error) error {
	err := s.nc.LastError()
	if err == since { //nolint:errorlint // identity, not kind
		return nil
	}
	refused := refusedSubscription(err)
	if refused == "" || (refused != subj && !strings.HasPrefix(refused, inboxPrefix(s.nc)+".")) {
		return nil
	}
	return fmt.Errorf("%w: the NATS server refused the user a subscription to %q, an inbox of the connection, where the answers arrive: %w; grant it subscribe on %q",
		ports.ErrUnavailable, refused, ErrPermission, inboxGrant(s.nc))
}

// replyWait waits for the answers on sub, a reply subscription of the
// Store's own, as sub.NextMsgWithContext does, and also ends, with
// replyRefused's error, once the server has refused sub: it looks after
// every refusalPoll of silence. One poll context serves the answers of a
// period, so a quick run of answers costs no timer each. Every call of
// next passes the same ctx; stop releases the poll context.
type replyWait struct {
	s      *Store
	sub    *nats.Subscription
	since  error // the connection's LastError before sub was made
	poll   context.Context
	cancel context.CancelFunc
}

func (w *replyWait) next(ctx context.Context) (*nats.Msg, error) {
	for {
		if w.poll == nil {
			w.poll, w.cancel = context.WithTimeout(ctx, refusalPoll)
		}
		m, err := w.sub.NextMsgWithContext(w.poll)
		if err == nil {
			return m, nil
		}
		w.stop()
		if ctxErr := ctx.Err(); ctxErr != nil {
			return nil, ctxErr
		}
		if !errors.Is(err, context.DeadlineExceeded) {
			return nil, err // the subscription's own end
		}
		if err := w.s.replyRefused(w.sub.Subject, w.since); err != nil {
			return nil, err
		}
	}
}

func (w *replyWait) stop() {
	if w.cancel != nil {
		w.cancel()
		w.poll, w.cancel = nil, nil
	}
}

// inboxPrefix is nc's inbox prefix (nats.CustomInboxPrefix, by default
// "_INBOX").
func inboxPrefix(nc *nats.Conn) string {
	if p := nc.Opts.InboxPrefix; p != "" {
		return p
	}
	return "_INBOX"
}

// inboxGrant is the grant that covers every inbox of nc: its inbox
// prefix and ".>".
func inboxGrant(nc *nats.Conn) string { return inboxPrefix(nc) + ".>" }

// denials answers, for one StoreBatch call begun at since, whether the
// server refused a publish to a subject since then. It caches what it
// parsed, so it is not safe for concurrent use: each goroutine or call
// has its own, or uses it under a lock (a pipelined call's under b.mu).
type denials struct {
	s      *Store
	since  time.Time
	before error // the connection's LastError at since
	// The last LastError parsed and its subject: a batch asks about each
	// of its unconfirmed events, and the regexp need not run for each.
	parsed     error
	parsedSubj string
}

func (s *Store) newDenials() denials {
	return denials{s: s, since: time.Now(), before: s.nc.LastError()}
}

// denied reports whether the server refused a publish to subject since
// the batch began.
func (d *denials) denied(subject string) bool {
	if subject == "" {
		return false
	}
	if fn := d.s.cfg.pub.denied; fn != nil && fn(subject, d.since) {
		return true
	}
	// Also with a record of every refusal: nats.go sets LastError as it
	// reads the -ERR, before the answers that follow it, while the error
	// handler that keeps the record runs later, on a goroutine of its own.
	return d.lastRefused() == subject
}

// lastRefused is the subject of the connection's LastError when it is a
// publish permission violation that arrived since the batch began, else "".
func (d *denials) lastRefused() string {
	err := d.s.nc.LastError()
	if !errors.Is(err, nats.ErrPermissionViolation) {
		return ""
	}
	// Both are nats.go's wrapped permission errors (pointers): a new
	// refusal, even of the same subject, is a new value.
	if errors.Is(d.before, nats.ErrPermissionViolation) && err == d.before { //nolint:errorlint // identity, not kind
		return ""
	}
	if err == d.parsed { //nolint:errorlint // identity, not kind
		return d.parsedSubj
	}
	d.parsed, d.parsedSubj = err, ""
	if m := deniedRe.FindStringSubmatch(err.Error()); m != nil {
		d.parsedSubj = m[1]
	}
	return d.parsedSubj
}

// deniedError is the permanent error of an event whose publish to subject
// the server refused.
func (s *Store) deniedError(ev *event.JobEvent, subject string) error {
	// The service's filter ("naq.events.prod.billing.*.*") as a grant
	// ("naq.events.prod.billing.>").
	grant, err := s.scheme.Service(s.cfg.env, s.cfg.svc)
	if err != nil {
		grant = subject
	} else {
		for strings.HasSuffix(grant, ".*") {
			grant = strings.TrimSuffix(grant, ".*")
		}
		grant += ".>"
	}
	return fmt.Errorf("event %s (job %s, %s): %w (%w): the NATS user may not publish to %q; "+
		"grant it publish on %q (see Security in docs/operations.md)",
		ev.ID, ev.JobID, ev.Type, ErrPermission, ports.ErrInvalid, subject, grant)
}

// first returns the position in idx of the first message of b whose
// publish the server refused since the batch began, or -1.
func (d *denials) first(b *batchMsgs, idx []int) int {
	if d.s.cfg.pub.denied == nil { // one LastError for the whole batch
		subj := d.lastRefused()
		if subj == "" {
			return -1
		}
		for k, i := range idx {
			if b.msgs[i].Subject == subj {
				return k
			}
		}
		return -1
	}
	for k, i := range idx {
		if d.denied(b.msgs[i].Subject) {
			return k
		}
	}
	return -1
}

// dropDenied fails for good the events among todo[:n] (sent, not
// confirmed) whose publish the server refused for lack of permission, and
// returns todo without them and how many they were.
func (s *Store) dropDenied(events []event.JobEvent, b *batchMsgs, todo []int, n int, den *denials, errs []error) ([]int, int) {
	n = min(n, len(todo))
	if den.first(b, todo[:n]) < 0 {
		return todo, 0
	}
	kept := make([]int, 0, len(todo))
	for _, i := range todo[:n] {
		if subj := b.msgs[i].Subject; den.denied(subj) {
			errs[i] = s.deniedError(&events[i], subj)
			continue
		}
		kept = append(kept, i)
	}
	refused := n - len(kept)
	return append(kept, todo[n:]...), refused
}
