package jsconsume

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/naq-go/events/ports"
)

// ErrPermission marks a JetStream API request of a Source that the NATS
// server refused because the connection's user may not publish to its
// subject, or may not subscribe to the connection's response inbox (where
// the server sends every answer). The server answers either refusal only
// with an asynchronous -ERR, never on the request's reply subject, so
// without this the request would look like a server that does not answer:
// New would try it again until its ctx ended. A Source watches the
// connection's LastError while a request waits and ends the request, and
// New, at once; a response inbox seen refused ends every later request
// of the connection before it is sent, until the connection reconnects
// (only then does nats.go subscribe it again), even after another error
// has replaced the refusal in LastError. Not recognised with
// nats.UseOldRequestStyle (an inbox per request). It wraps
// ports.ErrForbidden; the error names the refused subject and the
// permission to grant.
var ErrPermission = fmt.Errorf("jsconsume: NATS permission denied: %w", ports.ErrForbidden)

// deniedRe extracts the operation ("publish" or "subscription") and the
// subject of a permission violation from the server's -ERR as nats.go
// reports it (nats.ErrPermissionViolation).
var deniedRe = regexp.MustCompile(`(?i)permissions violation for (publish|subscription) to "([^"]+)"`)

// respSubject is the subject of nc's response subscription, which nats.go
// makes with the connection's first request: "<inbox prefix>.<nuid>.*",
// the prefix of nc.NewRespInbox's inboxes (calling it only sets that
// prefix, it subscribes nothing).
func respSubject(nc *nats.Conn) string {
	in := nc.NewRespInbox()
	return in[:strings.LastIndexByte(in, '.')+1] + "*"
}

// refusalPoll is how often a waiting request looks for a refusal.
const refusalPoll = 5 * time.Millisecond

// call runs op, one JetStream API request of s, bounded by
// WithRequestTimeout. While op waits, the connection's LastError is
// polled: a publish permission violation that arrived after op began and
// names one of s's own API subjects (ownsAPISubject) ends op at once, and
// call returns an error wrapping ErrPermission. A refusal of another
// subject, on a connection shared with other code, is not this Source's
// and changes nothing.
func call[T any](ctx context.Context, s *Source, op func(context.Context) (T, error)) (T, error) {
	nc := s.js.Conn()
	reconnects := nc.Stats().Reconnects // before LastError: see inboxRefused
	before := nc.LastError()
	if err := s.inboxRefused(nc, before, reconnects); err != nil {
		// The response subscription was refused and not made again since
		// (only a reconnect does): no answer can arrive.
		var zero T
		return zero, err
	}
	tctx, cancelTimeout := context.WithTimeout(ctx, s.cfg.reqTimeout)
	defer cancelTimeout()
	rctx, cancel := context.WithCancelCause(tctx)
	defer cancel(nil)

	stop, watched := make(chan struct{}), make(chan struct{})
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
				if err := s.refusal(nc, before); err != nil {
					cancel(err)
					return
				}
			}
		}
	}()
	v, err := op(rctx)
	close(stop)
	<-watched
	if err == nil {
		return v, nil
	}
	if cause := context.Cause(rctx); errors.Is(cause, ErrPermission) {
		return v, cause
	}
	// A refusal read just as op gave up (its timeout), before a tick.
	if refused := s.refusal(nc, before); refused != nil {
		return v, refused
	}
	return v, err
}

// refusal is the error of a publish permission violation of one of s's
// API subjects that nc read after before was its LastError; else nil.
// nats.go makes a new error value for every violation it reads, so a
// second refusal of the same subject is told from the first by identity.
func (s *Source) refusal(nc *nats.Conn, before error) error {
	reconnects := nc.Stats().Reconnects
	err := nc.LastError()
	if err == before { //nolint:errorlint // identity, not kind
		return nil
	}
	refused, inbox := s.refusalOf(err)
	if inbox {
		refusedInboxes.Store(s.respSub, reconnects)
	}
	return refused
}

// refusalOf is the error for err when it is a permission violation of
// one of s's API subjects (a publish) or of its connection's response
// subscription (then inbox is true); else nil.
func (s *Source) refusalOf(err error) (refused error, inbox bool) {
	if err == nil || !errors.Is(err, nats.ErrPermissionViolation) {
		return nil, false
	}
	m := deniedRe.FindStringSubmatch(err.Error())
	switch {
	case m == nil:
		return nil, false
	case strings.EqualFold(m[1], "subscription"):
		if m[2] != s.respSub {
			return nil, false
		}
		return s.inboxRefusedError(), true
	case !s.ownsAPISubject(m[2]):
		return nil, false
	}
	return fmt.Errorf("the NATS server refused the user a publish to %q (%w): grant it publish on %q "+
		"(a processor needs its stream's and the dead-letter stream's STREAM.INFO, the dead-letter stream's STREAM.CREATE, "+
		"and its durable's CONSUMER.INFO, CONSUMER.CREATE and CONSUMER.MSG.NEXT; see Security in docs/operations.md)",
		m[2], ErrPermission, s.grant(m[2])), false
}

// inboxRefused is the error of a refused response subscription when err
// (nc's LastError, read after reconnects, nc's reconnect count) is one, or
// an earlier one was seen and nc has not reconnected since: nats.go
// subscribes it again only on a reconnect, so until then no request of nc
// can be answered, even once a later error (another refused subscription,
// a slow consumer) has replaced the refusal in LastError. Else nil.
func (s *Source) inboxRefused(nc *nats.Conn, err error, reconnects uint64) error {
	if refused, inbox := s.refusalOf(err); inbox {
		refusedInboxes.Store(s.respSub, reconnects)
		return refused
	}
	seen, ok := refusedInboxes.Load(s.respSub)
	if !ok {
		return nil
	}
	switch status := nc.Status(); {
	case status == nats.CONNECTED && seen == nc.Stats().Reconnects:
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

// inboxRefusedError is the error of a refused response subscription.
func (s *Source) inboxRefusedError() error {
	// respSub is "<inbox prefix>.<nuid>.*": grant the inbox prefix.
	nuid := strings.TrimSuffix(s.respSub, ".*")
	grant := nuid[:strings.LastIndexByte(nuid, '.')] + ".>"
	return fmt.Errorf("the NATS server refused the user a subscription to %q, the inbox on which it answers "+
		"the connection's requests (%w): grant it subscribe on %q, "+
		"then reconnect (nats.Conn.ForceReconnect, or restart the process); see Security in docs/operations.md",
		s.respSub, ErrPermission, grant)
}

// refusedInboxes remembers every refused response subscription seen
// (respSub, unique to its connection) with its connection's reconnect
// count then (a uint64); an entry goes at the first look after a
// reconnect or the connection's close.
var refusedInboxes sync.Map

// grant is the publish permission that allows subj, one of s's API
// subjects: the subject itself, or for a consumer create (whose subject
// ends with the filter, when there is one) every create on the stream.
func (s *Source) grant(subj string) string {
	if i := strings.Index(subj, ".CONSUMER.CREATE."); i >= 0 {
		return subj[:i] + ".CONSUMER.CREATE." + s.cfg.stream + ".>"
	}
	return subj
}

// ownsAPISubject reports whether subj is a JetStream API request that s
// makes: the info of its stream or its dead-letter stream, the creation of
// the dead-letter stream, and the info or the creation (or update, the same
// subject, possibly with the filter appended) of its durable consumer. Any
// API prefix ("$JS.API.", "$JS.<domain>.API.", a custom one) is accepted.
func (s *Source) ownsAPISubject(subj string) bool {
	i := strings.Index(subj, "API.")
	if i < 0 {
		return false
	}
	op := subj[i+len("API."):]
	create := "CONSUMER.CREATE." + s.cfg.stream + "." + s.cfg.durable
	switch op {
	case "STREAM.INFO." + s.cfg.stream, "STREAM.INFO." + s.cfg.dlqStream, "STREAM.CREATE." + s.cfg.dlqStream,
		"CONSUMER.INFO." + s.cfg.stream + "." + s.cfg.durable, create:
		return true
	}
	return strings.HasPrefix(op, create+".")
}
