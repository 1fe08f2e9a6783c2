package main

import (
	"bufio"
	"errors"
	"io"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/naq-go/events/domain/event"
)

func TestLogFromFlags(t *testing.T) {
	ts := startServer(t)
	for _, name := range []string{"log", "emit"} {
		t.Run(name, func(t *testing.T) {
			job := "flags-" + name
			r := ts.run(t, "", name, "--job", job, "--type", "completed", "--queue", "emails",
				"--worker", "w-1", "--worker-type", "async", "--message", "sent", "--duration", "1.5s",
				"--error", "late", "--tag", "team=mail", "--tag", "region=eu",
				"--detail", "attempts=3", "--detail", "note=hello world", "--detail", `ok=true`)
			require.Equal(t, exitOK, r.code, r.stderr)
			assert.Contains(t, r.stdout, "logged completed event")
			assert.Empty(t, r.stderr)

			evs := ts.job(t, job)
			require.Len(t, evs, 1)
			ev := evs[0]
			assert.Contains(t, r.stdout, ev.ID)
			assert.Equal(t, event.TypeCompleted, ev.Type)
			assert.Equal(t, "emails", ev.QueueName)
			assert.Equal(t, "w-1", ev.WorkerID)
			assert.Equal(t, "async", ev.WorkerType)
			assert.Equal(t, "sent", ev.Message)
			require.NotNil(t, ev.DurationMS)
			assert.InDelta(t, 1500, *ev.DurationMS, 1e-9)
			assert.Equal(t, "late", ev.ErrorMessage)
			assert.Equal(t, "Error", ev.ErrorType)
			assert.Equal(t, map[string]string{"team": "mail", "region": "eu"}, ev.Tags)
			assert.Equal(t, map[string]any{"attempts": 3.0, "note": "hello world", "ok": true}, ev.Details)
			assert.WithinDuration(t, time.Now(), ev.Timestamp, time.Minute)
		})
	}
}

func TestLogStdin(t *testing.T) {
	ts := startServer(t)
	at := time.Now().Add(-time.Minute)
	good := func(typ event.JobEventType, i int) string {
		return jsonLine(t, event.New("stdin-job", typ, event.WithTimestamp(at.Add(time.Duration(i)*time.Second))))
	}
	tests := []struct {
		name    string
		args    []string
		lines   []string
		bad     []int // line numbers reported
		stored  int
		summary string
	}{
		{
			name:    "one bad line in the middle",
			args:    []string{"log", "-"},
			lines:   []string{good(event.TypeEnqueued, 0), `{"job_id": "stdin-job", "event_type": "started"`, good(event.TypeStarted, 2)},
			bad:     []int{2},
			stored:  2,
			summary: "logged 2 events, 1 line rejected: line 2",
		},
		{
			name: "several bad lines, blank lines skipped",
			args: []string{"log", "--stdin"},
			lines: []string{good(event.TypeCompleted, 3), "", "not json", `{"job_id":"a.b","event_type":"started","timestamp":1}`,
				`{"job_id":"x","event_type":"begun","timestamp":1}`, good(event.TypeFailed, 4)},
			bad:     []int{3, 4, 5},
			stored:  2,
			summary: "logged 2 events, 3 lines rejected: lines 3, 4 and 5",
		},
		{
			name:    "all good, last line without newline",
			args:    []string{"emit", "-"},
			lines:   []string{good(event.TypeRetryScheduled, 5), good(event.TypeRetryStarted, 6)},
			stored:  2,
			summary: "logged 2 events, 0 lines rejected",
		},
	}
	total := 0
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := ts.run(t, strings.Join(tt.lines, "\n"), tt.args...)
			total += tt.stored
			errLines := strings.Split(strings.TrimSuffix(r.stderr, "\n"), "\n")
			if len(tt.bad) == 0 {
				require.Equal(t, exitOK, r.code, r.stderr)
				assert.Equal(t, tt.summary+"\n", r.stdout)
				assert.Empty(t, r.stderr)
			} else {
				require.Equal(t, exitError, r.code)
				require.Len(t, errLines, len(tt.bad)+1, r.stderr)
				for i, n := range tt.bad {
					assert.Regexp(t, `^line `+strconv.Itoa(n)+`: invalid event: `, errLines[i])
				}
				assert.Contains(t, errLines[len(errLines)-1], "naq-events "+tt.args[0]+": "+tt.summary)
			}
			assert.Len(t, ts.job(t, "stdin-job"), total, "the good lines are stored")
		})
	}
}

func TestReadLine(t *testing.T) {
	long := strings.Repeat("x", 100)
	in := "a\r\n" + long + "\nb\n\nlast"
	r := bufio.NewReaderSize(strings.NewReader(in), 16)
	type line struct {
		text    string
		tooLong bool
	}
	var got []line
	for {
		l, tooLong, err := readLine(r, 50)
		if errors.Is(err, io.EOF) && len(l) == 0 && !tooLong {
			break
		}
		got = append(got, line{string(l), tooLong})
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err)
	}
	assert.Equal(t, []line{{"a", false}, {"", true}, {"b", false}, {"", false}, {"last", false}}, got)
}

func TestLineList(t *testing.T) {
	tests := []struct {
		lines []int
		want  string
	}{
		{[]int{2}, "line 2"},
		{[]int{2, 5}, "lines 2 and 5"},
		{[]int{1, 2, 3, 4, 5}, "lines 1, 2, 3, 4 and 5"},
		{[]int{1, 2, 3, 4, 5, 6, 7}, "lines 1, 2, 3, 4, 5 and 2 more"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			assert.Equal(t, tt.want, lineList(tt.lines))
		})
	}
}
