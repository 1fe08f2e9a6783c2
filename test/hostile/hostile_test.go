package hostile

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/naq-go/events/test/internal/naqbin"
)

var bin, natscli string

func TestMain(m *testing.M) {
	var dir string
	var err error
	bin, dir, err = naqbin.Build(filepath.Join("..", "..", "cmd"), "naq-hostile-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	natscli, _ = filepath.Abs(filepath.Join("..", "..", "bin", "nats"))
	if _, err := os.Stat(natscli); err != nil {
		fmt.Fprintf(os.Stderr, "natscli not found at %s: run `make natscli` first\n", natscli)
		_ = os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

func freePort(t *testing.T) int {
	t.Helper()
	port, err := naqbin.FreePort()
	require.NoError(t, err)
	return port
}

type result struct {
	code           int
	stdout, stderr string
}

func runBin(t *testing.T, env []string, stdin io.Reader, name string, args ...string) result {
	t.Helper()
	res, err := naqbin.Run(t.Context(), 60*time.Second, env, stdin, name, args...)
	require.NoError(t, err, "%s %v hung", name, args)
	r := result{code: res.Code, stdout: res.Stdout, stderr: res.Stderr}
	require.NotContains(t, r.stderr, "goroutine ", "a Go stack: %s", r.stderr)
	require.NotContains(t, r.stderr, "panic:", r.stderr)
	return r
}

// service is a running `serve` on an embedded NATS server.
type service struct {
	base, natsURL string
	env           []string
	out           *naqbin.Buffer
	proc          *naqbin.Proc
}

func startService(t *testing.T) *service {
	t.Helper()
	httpPort, natsPort := freePort(t), freePort(t)
	s := &service{
		base: "http://127.0.0.1:" + strconv.Itoa(httpPort), natsURL: "nats://127.0.0.1:" + strconv.Itoa(natsPort),
		env: naqbin.MinimalEnv(t.TempDir()),
		out: &naqbin.Buffer{},
	}
	proc, err := naqbin.Start(bin, s.env, s.out, s.out, "serve", "--http", "127.0.0.1:"+strconv.Itoa(httpPort),
		"--embedded-port", strconv.Itoa(natsPort), "--data-dir", t.TempDir())
	require.NoError(t, err)
	s.proc = proc
	t.Cleanup(func() {
		_ = proc.Stop(20 * time.Second)
		if t.Failed() {
			t.Logf("serve output:\n%s", s.out.String())
		}
	})
	err = proc.WaitReady(60*time.Second, func() error {
		if !strings.Contains(s.out.String(), "Press Ctrl-C to stop.") {
			return errors.New("no banner yet")
		}
		return nil
	})
	if errors.Is(err, naqbin.ErrExited) {
		t.Fatalf("serve exited: %s", s.out.String())
	}
	require.NoError(t, err, "serve did not start: %s", s.out.String())
	return s
}

func (s *service) alive(t *testing.T) {
	t.Helper()
	select {
	case <-s.proc.Done():
		t.Fatalf("serve died: %s", s.out.String())
	default:
	}
}

// do sends one request and returns status and body.
func (s *service) do(t *testing.T, method, rawPath string, hdr map[string]string, body io.Reader) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, s.base, body)
	require.NoError(t, err)
	req.URL.Opaque = rawPath // sent as is: no cleaning or re-encoding of the path
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	require.NoError(t, err)
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}

func (s *service) jobCount(t *testing.T, job string) int {
	t.Helper()
	code, body := s.do(t, "GET", "/api/v1/jobs/"+job+"/events", nil, nil)
	require.Equal(t, 200, code, body)
	var page struct{ Count int }
	require.NoError(t, json.Unmarshal([]byte(body), &page))
	return page.Count
}

func goodDoc(job, typ string, ts time.Time) string {
	return fmt.Sprintf(`{"event_id":"%s","job_id":"%s","event_type":"%s","timestamp":%d.%03d,"version":"1.0","queue_name":"q"}`,
		"01J"+strings.ToUpper(strconv.FormatInt(ts.UnixNano(), 36)), job, typ, ts.Unix(), ts.Nanosecond()/1e6)
}

// TestHostileInput is the sweep; see the package comment.
func TestHostileInput(t *testing.T) {
	s := startService(t)
	// What is stored before the sweep, and must still be there after it.
	r := runBin(t, s.env, nil, bin, "log", "--server", s.natsURL, "--job", "keep-1", "--type", "enqueued", "--queue", "q")
	require.Equal(t, 0, r.code, r.stderr)
	require.Equal(t, 1, s.jobCount(t, "keep-1"))

	nested := strings.Repeat("[", 100_000) + strings.Repeat("]", 100_000)
	stream := []struct {
		class, subject, body string
	}{
		{"garbage bytes", "naq.events.dev.naq.h-1.started", "\x00\x01\xfe\xff garbage \x9c"},
		{"empty body", "naq.events.dev.naq.h-2.started", ""},
		{"wrong version", "naq.events.dev.naq.h-3.started", strings.Replace(goodDoc("h-3", "started", time.Now()), `"1.0"`, `"9.9"`, 1)},
		{"huge document", "naq.events.dev.naq.h-4.started", strings.Replace(goodDoc("h-4", "started", time.Now()), `"queue_name":"q"`, `"queue_name":"`+strings.Repeat("q", 900_000)+`"`, 1)},
		{"deep nesting", "naq.events.dev.naq.h-5.started", strings.Replace(goodDoc("h-5", "started", time.Now()), `}`, `,"details":{"x":`+nested+`}}`, 1)},
		{"invalid UTF-8", "naq.events.dev.naq.h-6.started", strings.Replace(goodDoc("h-6", "started", time.Now()), `"queue_name":"q"`, "\"queue_name\":\"\xc3\x28\"", 1)},
		{"NUL in job id", "naq.events.dev.naq.h-7.started", strings.Replace(goodDoc("h-7", "started", time.Now()), `"job_id":"h-7"`, `"job_id":"h\u00007"`, 1)},
		{"subject disagrees with body", "naq.events.dev.naq.h-8.started", goodDoc("other-job", "failed", time.Now())},
		{"not an object", "naq.events.dev.naq.h-9.started", `[1,2,3]`},
		{"trailing garbage", "naq.events.dev.naq.h-10.started", goodDoc("h-10", "started", time.Now()) + `xyz`},
		{"unknown event type", "naq.events.dev.naq.h-11.exploded", strings.Replace(goodDoc("h-11", "started", time.Now()), `"started"`, `"exploded"`, 1)},
	}
	t.Run("stream", func(t *testing.T) {
		for _, tc := range stream {
			body := filepath.Join(t.TempDir(), "body")
			require.NoError(t, os.WriteFile(body, []byte(tc.body), 0o600))
			f, err := os.Open(body)
			require.NoError(t, err)
			r := runBin(t, s.env, f, natscli, "pub", "--server", s.natsURL, tc.subject, "--force-stdin")
			_ = f.Close()
			require.Equal(t, 0, r.code, "%s: natscli: %s", tc.class, r.stderr)
		}
		s.alive(t)
		// The processor counts each undecodable message as dead-lettered
		// (every class but the huge, valid document).
		deadline := time.Now().Add(30 * time.Second)
		for {
			_, m := s.do(t, "GET", "/metrics", nil, nil)
			if n := metric(m, "naq_events_processor_dead_lettered_total"); n >= float64(len(stream)-1) {
				assert.InDelta(t, float64(len(stream)-1), n, 0)
				break
			}
			require.True(t, time.Now().Before(deadline), "dead letters not counted: %s", grepLines(m, "dead_letter"))
			time.Sleep(50 * time.Millisecond) // polling the metrics with a deadline
		}
		// Every read still answers, skipping what does not decode.
		for _, p := range []string{"/api/v1/events?limit=1000", "/api/v1/events/count", "/api/v1/types/started/events",
			"/api/v1/jobs/h-8/events", "/api/v1/jobs/other-job/events"} {
			code, body := s.do(t, "GET", p, nil, nil)
			assert.Equal(t, 200, code, "%s: %s", p, body)
		}
		assert.Equal(t, 0, s.jobCount(t, "h-8"), "a document whose subject disagrees with it is not served as h-8's")
		r := runBin(t, s.env, nil, bin, "history", "--server", s.natsURL, "keep-1")
		assert.Equal(t, 0, r.code, r.stderr)
	})

	t.Run("cli", func(t *testing.T) {
		lines := strings.Join([]string{
			goodDoc("cli-ok", "enqueued", time.Now()),
			"not json at all",
			"{\"job_id\": \"x\", \"event_type\": \"started\", \"timestamp\": \xff}",
			"\x00\x00\x00",
			strings.Repeat("x", 5<<20), // longer than a NATS message
			goodDoc("cli-ok", "started", time.Now().Add(time.Millisecond)),
		}, "\n") + "\n"
		r := runBin(t, s.env, strings.NewReader(lines), bin, "log", "--server", s.natsURL, "--stdin")
		assert.Equal(t, 1, r.code)
		assert.Contains(t, r.stderr, "line 2: ")
		assert.Contains(t, r.stderr, "line 3: ")
		assert.Contains(t, r.stderr, "line 4: ")
		assert.Contains(t, r.stderr, "line 5: longer than")
		assert.Contains(t, r.stderr, "logged 2 events, 4 lines rejected")
		assert.Equal(t, 2, s.jobCount(t, "cli-ok"))

		for _, args := range [][]string{
			{"log", "--job", "a.b", "--type", "started"},
			{"log", "--job", "a*", "--type", "started"},
			{"log", "--job", ">", "--type", "started"},
			{"log", "--job", "a b", "--type", "started"},
			{"log", "--job", "ok", "--type", "exploded"},
			{"log", "--job", "ok", "--type", "started", "--detail", "novalue"},
			{"log", "--job", "ok", "--type", "started", "--duration", "-5s"},
			{"history", "a.b"},
			{"tail", "--type", "nope"},
			{"purge", "--yes", "*"},
			{"history", "--limit", "-1", "x"},
			{"serve", "--http", "not-an-address"},
			{"serve", "--embedded-port", "70000"},
		} {
			r := runBin(t, s.env, nil, bin, append(args, "--server", s.natsURL)...)
			assert.Equal(t, 2, r.code, "%v: %s", args, r.stderr)
			assert.Equal(t, 1, strings.Count(strings.TrimSuffix(r.stderr, "\n"), "\n")+1, "%v: one line: %s", args, r.stderr)
		}
	})

	t.Run("http", func(t *testing.T) {
		for _, tc := range []struct {
			class, method, path string
			hdr                 map[string]string
			body                io.Reader
			want                int
			says                string
		}{
			{"negative limit", "GET", "/api/v1/events?limit=-1", nil, nil, 400, "limit"},
			{"huge limit", "GET", "/api/v1/events?limit=99999999999999999999", nil, nil, 400, "limit"},
			{"non-numeric offset", "GET", "/api/v1/events?offset=abc", nil, nil, 400, "offset"},
			{"unknown parameter", "GET", "/api/v1/events?limt=5", nil, nil, 400, "limt"},
			{"repeated parameter", "GET", "/api/v1/events?job=a&job=b", nil, nil, 400, "job"},
			{"bad time", "GET", "/api/v1/events/count?since=yesterday", nil, nil, 400, "since"},
			{"NaN time", "GET", "/api/v1/events/count?since=NaN", nil, nil, 400, "since"},
			{"wildcard job param", "GET", "/api/v1/events?job=%3E", nil, nil, 400, "job"},
			{"bad escape", "GET", "/api/v1/events?job=%zz", nil, nil, 400, "malformed query"},
			{"encoded dot in path", "GET", "/api/v1/jobs/a%2Eb/events", nil, nil, 400, "job"},
			{"encoded star in path", "GET", "/api/v1/jobs/%2A/events", nil, nil, 400, "job"},
			{"encoded gt in path", "GET", "/api/v1/jobs/%3E/events", nil, nil, 400, "job"},
			{"encoded NUL in path", "GET", "/api/v1/jobs/a%00b/events", nil, nil, 400, "job"},
			{"encoded slash in path", "GET", "/api/v1/jobs/..%2F..%2Fetc/events", nil, nil, 400, "job"},
			{"delete wildcard", "DELETE", "/api/v1/jobs/%3E", nil, nil, 400, "job"},
			{"unknown type in path", "GET", "/api/v1/types/%3E/events", nil, nil, 400, "type"},
			{"garbage Last-Event-ID", "GET", "/api/v1/stream", map[string]string{"Last-Event-ID": "'; DROP TABLE"}, nil, 400, "Last-Event-ID"},
			{"overflowing Last-Event-ID", "GET", "/api/v1/stream", map[string]string{"Last-Event-ID": "18446744073709551616"}, nil, 400, "Last-Event-ID"},
			{"oversized header", "GET", "/api/v1/events", map[string]string{"X-Big": strings.Repeat("h", 1<<20)}, nil, 431, ""},
			{"body not JSON", "POST", "/api/v1/events", nil, strings.NewReader("<xml/>"), 400, "line"},
			{"body too large", "POST", "/api/v1/events", nil, bytes.NewReader(bytes.Repeat([]byte("x"), 17<<20)), 413, ""},
		} {
			code, body := s.do(t, tc.method, tc.path, tc.hdr, tc.body)
			assert.Equal(t, tc.want, code, "%s: %.300s", tc.class, body)
			if tc.says != "" {
				assert.Contains(t, body, tc.says, tc.class)
			}
		}
	})

	// Afterwards: healthy, and what was stored before is all there.
	s.alive(t)
	code, body := s.do(t, "GET", "/healthz", nil, nil)
	assert.Equal(t, 200, code, body)
	assert.Equal(t, 1, s.jobCount(t, "keep-1"))
	code, _ = s.do(t, "GET", "/metrics", nil, nil)
	assert.Equal(t, 200, code)
}

// metric sums the samples of name in a Prometheus text exposition.
func metric(text, name string) float64 {
	var sum float64
	for l := range strings.SplitSeq(text, "\n") {
		if !strings.HasPrefix(l, name) || (len(l) > len(name) && l[len(name)] != ' ' && l[len(name)] != '{') {
			continue
		}
		f := strings.Fields(l)
		if v, err := strconv.ParseFloat(f[len(f)-1], 64); err == nil {
			sum += v
		}
	}
	return sum
}

func grepLines(text, sub string) string {
	var out []string
	for l := range strings.SplitSeq(text, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
