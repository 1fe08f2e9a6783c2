package natsconn

import (
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRedact(t *testing.T) {
	for in, want := range map[string]string{
		"nats://u:secret@h:4222":                 "nats://u:xxxxx@h:4222",
		"nats://s3cr3t-token@h:4222":             "nats://xxxxx@h:4222",
		"nats://a:p1@h1:1, nats://tok@h2:2,h3:3": "nats://a:xxxxx@h1:1,nats://xxxxx@h2:2,h3:3",
		"nats://h:4222":                          "nats://h:4222",
		// net/url sees no user in these; nats.go still sends the secret.
		"u:secret@h:4222":           "u:xxxxx@h:4222",
		"s3cr3t@h:4222":             "xxxxx@h:4222",
		"nats://u:sec%zzret@h:4222": "nats://u:xxxxx@h:4222",
		"nats://s3cr3t@h:42x":       "nats://xxxxx@h:42x",
	} {
		assert.Equal(t, want, Redact(in), in)
	}
}

func TestDenials_RecordLogsOncePerSubjectAndMinute(t *testing.T) {
	var d denials
	now := time.Now()
	e := func(subj string) error {
		return errors.Join(nats.ErrPermissionViolation, errors.New(`Permissions Violation for Publish to "`+subj+`"`))
	}
	dn, worth := d.record(e("a.b"), now)
	assert.True(t, worth)
	assert.Equal(t, denial{op: "Publish", subject: "a.b", at: now}, dn)
	_, worth = d.record(e("a.b"), now.Add(time.Second))
	assert.False(t, worth, "a repeat within the minute")
	_, worth = d.record(e("c.d"), now.Add(time.Second))
	assert.True(t, worth, "another subject")
	_, worth = d.record(e("a.b"), now.Add(permissionLogEvery+time.Second))
	assert.True(t, worth, "a minute later")
	assert.Equal(t, "a.b", d.last().subject)
}

// TestExplain: a request refused for lack of permission times out; Explain
// names the refused subject, only for refusals since the operation began.
func TestExplain(t *testing.T) {
	_, nc := connectLimited(t, &server.Permissions{
		Publish:   &server.SubjectPermission{Allow: []string{"ok.>"}},
		Subscribe: &server.SubjectPermission{Allow: []string{"_INBOX.>"}},
	}, "explain test")

	before := time.Now()
	_, err := nc.Request("denied.subject", nil, 500*time.Millisecond)
	require.Error(t, err)
	var got error
	deadline := time.Now().Add(5 * time.Second)
	for {
		got = Explain(nc, before, err)
		if errors.Is(got, ErrPermission) || time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond) // the -ERR arrives asynchronously
	}
	require.ErrorIs(t, got, ErrPermission)
	assert.ErrorIs(t, got, err)
	assert.Contains(t, got.Error(), `NATS refused a publish to "denied.subject"`)
	assert.Equal(t, err, Explain(nc, time.Now().Add(time.Second), err), "a refusal before the operation is not its reason")
	assert.NoError(t, Explain(nc, before, nil))
}
