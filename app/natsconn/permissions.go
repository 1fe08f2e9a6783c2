package natsconn

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
)

// ErrPermission marks an operation the NATS server refused because the
// user lacks the permission; the message names the subject.
var ErrPermission = errors.New("NATS permission denied")

// A NATS server answers a refused publish (a JetStream API request is one)
// with an asynchronous -ERR, not on the request: the request itself only
// times out. The connections made here remember the latest refusals, so
// that Explain can say why an operation timed out.

// permissionLogEvery bounds the log lines about refusals of one subject.
const permissionLogEvery = time.Minute

var deniedRe = regexp.MustCompile(`(?i)permissions violation for (publish|subscription) to "([^"]+)"`)

// denials records the permission violations of one connection.
type denials struct {
	mu     sync.Mutex
	latest denial
	logged map[string]time.Time // subject → last logged
	pub    map[string]time.Time // refused publish subject → last refusal (PublishDenied)
}

type denial struct {
	op, subject string
	at          time.Time
}

// record notes a permission violation; it reports whether it is worth a
// log line (the first for its subject within permissionLogEvery).
func (d *denials) record(err error, now time.Time) (denial, bool) {
	m := deniedRe.FindStringSubmatch(err.Error())
	if m == nil {
		return denial{}, true
	}
	dn := denial{op: m[1], subject: m[2], at: now}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.latest = dn
	if dn.op == "publish" || dn.op == "Publish" {
		if d.pub == nil || len(d.pub) >= 4096 { // bounded: forget old subjects
			d.pub = map[string]time.Time{}
		}
		d.pub[dn.subject] = now
	}
	if d.logged == nil {
		d.logged = map[string]time.Time{}
	}
	if last, ok := d.logged[dn.subject]; ok && now.Sub(last) < permissionLogEvery {
		return dn, false
	}
	if len(d.logged) > 256 { // bounded: forget old subjects
		clear(d.logged)
	}
	d.logged[dn.subject] = now
	return dn, true
}

// publishDenied reports whether a publish to subject was refused at or
// after since.
func (d *denials) publishDenied(subject string, since time.Time) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	at, ok := d.pub[subject]
	return ok && !at.Before(since)
}

// PublishDenied returns, for a connection made by Connect, a function that
// reports whether nc's server refused a publish to subject (permissions
// violation) at or after since: every refused subject is recorded (up to
// 4096 between resets), unlike nc.LastError, which holds only the latest.
// It is what jsstore.WithPublishDenied takes, so that the store fails the
// refused events of a batch for good. For another connection it returns
// nil (jsstore then falls back to nc.LastError).
func PublishDenied(nc *nats.Conn) func(subject string, since time.Time) bool {
	if _, ok := registry.Load(nc); !ok {
		return nil
	}
	return func(subject string, since time.Time) bool {
		v, ok := registry.Load(nc)
		return ok && v.(*denials).publishDenied(subject, since)
	}
}

// deniedPoll is how often UntilDenied checks for a refusal.
const deniedPoll = 5 * time.Millisecond

// UntilDenied returns a context derived from ctx that is cancelled as soon
// as nc's server refuses a publish to one of subjects, or, with no
// subjects, refuses nc any operation (for a connection made by Connect;
// for another one it is ctx with a cancel). A request the server refuses
// for lack of permission is answered only by the asynchronous -ERR, never
// on its reply subject; under this context it ends at once instead of
// waiting for its timeout, and Explain then names the refusal. Call the
// CancelFunc when the request is done.
func UntilDenied(ctx context.Context, nc *nats.Conn, subjects ...string) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(ctx)
	v, ok := registry.Load(nc)
	if !ok {
		return ctx, cancel
	}
	d := v.(*denials)
	since := time.Now()
	denied := func() bool {
		if len(subjects) == 0 {
			_, refused := d.lastSince(since)
			return refused
		}
		for _, subj := range subjects {
			if d.publishDenied(subj, since) {
				return true
			}
		}
		return false
	}
	go func() {
		t := time.NewTicker(deniedPoll)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if denied() {
					cancel()
					return
				}
			}
		}
	}()
	return ctx, cancel
}

func (d *denials) last() denial {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.latest
}

// registry maps the connections made by this package to their denials;
// an entry is removed when its connection closes.
var registry sync.Map // *nats.Conn → *denials

// Explain adds the reason to err when nc's server refused an operation for
// lack of permission since the operation began (at since): the result wraps
// err and ErrPermission and names the refused subject and the fix. Without
// such a refusal, or for a connection not made by this package, it returns
// err unchanged. A nil err stays nil.
func Explain(nc *nats.Conn, since time.Time, err error) error {
	if err == nil || nc == nil {
		return err
	}
	v, ok := registry.Load(nc)
	if !ok {
		return err
	}
	dn, refused := v.(*denials).lastSince(since)
	if !refused {
		return err
	}
	return fmt.Errorf("%w: NATS refused %s to %q (permissions violation): %w; give this user that permission "+
		"(see Security in docs/operations.md for the permissions of a producer, a reader and the service)",
		ErrPermission, verb(dn.op), dn.subject, err)
}

// Refused reports what nc's server last refused the user for lack of
// permission at or after since: what ("a publish" or "a subscription")
// and the subject, as Explain names them. ok is false when nothing was
// refused since then, or nc was not made by Connect.
func Refused(nc *nats.Conn, since time.Time) (what, subject string, ok bool) {
	v, found := registry.Load(nc)
	if !found {
		return "", "", false
	}
	dn, ok := v.(*denials).lastSince(since)
	if !ok {
		return "", "", false
	}
	return verb(dn.op), dn.subject, true
}

// lastSince is the latest refusal if it came at or after since.
func (d *denials) lastSince(since time.Time) (denial, bool) {
	dn := d.last()
	return dn, dn.subject != "" && !dn.at.Before(since)
}

func verb(op string) string {
	if op == "subscription" || op == "Subscription" {
		return "a subscription"
	}
	return "a publish"
}

// isPermission reports whether err is a permission violation.
func isPermission(err error) bool { return errors.Is(err, nats.ErrPermissionViolation) }
