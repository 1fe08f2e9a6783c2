package jsconsume

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/naq-go/events/ports"
)

// ErrPermission marks a JetStream API request of a Source that the NATS
// server refused because the connection's user may not publish to its
// subject. The server answers such a request only with an asynchronous
// -ERR, never on the request's reply subject, so without this the request
// would look like a server that does not answer: New would try it again
// until its ctx ended. A Source watches the connection's LastError while a
// request waits and ends the request, and New, at once. It wraps
// ports.ErrForbidden; the error names the refused subject and the
// permission to grant.
var ErrPermission = fmt.Errorf("jsconsume: NATS publish permission denied: %w", ports.ErrForbidden)

// deniedRe extracts the subject of a publish permission violation from the
// server's -ERR as nats.go reports it (nats.ErrPermissionViolation).
var deniedRe = regexp.MustCompile(`(?i)permissions violation for publish to "([^"]+)"`)

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
	before := nc.LastError()
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
	err := nc.LastError()
	if err == nil || err == before || !errors.Is(err, nats.ErrPermissionViolation) { //nolint:errorlint // identity, not kind
		return nil
	}
	m := deniedRe.FindStringSubmatch(err.Error())
	if m == nil || !s.ownsAPISubject(m[1]) {
		return nil
	}
	return fmt.Errorf("the NATS server refused the user a publish to %q (%w): grant it publish on %q "+
		"(a processor needs its stream's and the dead-letter stream's STREAM.INFO, the dead-letter stream's STREAM.CREATE, "+
		"and its durable's CONSUMER.INFO, CONSUMER.CREATE and CONSUMER.MSG.NEXT; see Security in docs/operations.md)",
		m[1], ErrPermission, s.grant(m[1]))
}

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
