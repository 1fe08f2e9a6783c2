package jsstore

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
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
// timeout. It wraps ports.ErrForbidden.
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

// inboxRefused is an error wrapping ErrPermission when err (the
// connection's LastError) is the server's refusal of the connection's
// response subscription: no JetStream API request of the connection can
// be answered then. Else nil.
func (s *Store) inboxRefused(err error) error {
	if err == nil || !errors.Is(err, nats.ErrPermissionViolation) {
		return nil
	}
	m := subDeniedRe.FindStringSubmatch(err.Error())
	if m == nil || m[1] != s.respSub {
		return nil
	}
	nuid := strings.TrimSuffix(m[1], ".*") // "<inbox prefix>.<nuid>": grant the prefix
	return fmt.Errorf("the NATS server refused the user a subscription to %q, the inbox on which it answers the connection's requests: %w; "+
		"grant it subscribe on %q, then reconnect (see Security in docs/operations.md)",
		m[1], ErrPermission, nuid[:strings.LastIndexByte(nuid, '.')]+".>")
}

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
