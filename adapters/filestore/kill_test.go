package filestore_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/naq-go/events/adapters/filestore"
	"github.com/naq-go/events/domain/event"
	"github.com/naq-go/events/ports"
)

// childEnv makes the test binary run childMain on the directory it names
// instead of the tests.
const childEnv = "FILESTORE_TEST_CHILD_DIR"

// childMain appends batches to dir until it is killed, printing the id of
// every event after StoreBatch returned for it.
func childMain(dir string) int {
	st, err := filestore.Open(dir, filestore.WithSync(filestore.SyncNever), filestore.WithSegmentSize(256<<10))
	if err != nil {
		fmt.Fprintln(os.Stderr, "child: open:", err)
		return 2
	}
	out := bufio.NewWriter(os.Stdout)
	for i := 0; ; i++ {
		evs := make([]event.JobEvent, 1+i%200)
		for k := range evs {
			evs[k] = event.New(fmt.Sprintf("job-%d", i%13), event.TypeStarted,
				event.WithMessage(strings.Repeat("x", 500+k*7)), event.WithDetail("i", i))
		}
		if err := st.StoreBatch(context.Background(), evs); err != nil {
			fmt.Fprintln(os.Stderr, "child: store:", err)
			return 2
		}
		for _, ev := range evs {
			// A bufio.Writer's error is sticky: Flush below reports it.
			if _, err := out.WriteString(ev.ID + "\n"); err != nil {
				return 2
			}
		}
		if err := out.Flush(); err != nil {
			return 2
		}
	}
}

// TestKill9: a child process appends in a loop and is killed with SIGKILL
// mid-stream; after reopening, every event it reported stored is there,
// each once, and the directory is usable.
func TestKill9(t *testing.T) {
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+dir)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	require.NoError(t, cmd.Start())

	// Drain stdout all along, so that the kill lands wherever the child
	// is (usually mid-batch), not while it waits on a full pipe.
	enough := make(chan struct{})
	result := make(chan map[string]bool)
	go func() {
		reported := map[string]bool{}
		lines := bufio.NewScanner(stdout)
		for lines.Scan() {
			reported[lines.Text()] = true
			if len(reported) == 5000 {
				close(enough)
			}
		}
		if len(reported) < 5000 {
			close(enough)
		}
		result <- reported
	}()
	<-enough

	// The child holds the directory: another process cannot open it.
	_, err = filestore.Open(dir)
	require.ErrorIs(t, err, ports.ErrUnavailable)

	// Kill as soon as the log grows again: usually while the kernel is
	// still copying a large batch, which leaves a torn last line.
	size := logSize(t, dir)
	grew := false
	for deadline := time.Now().Add(10 * time.Second); !grew && time.Now().Before(deadline); {
		grew = logSize(t, dir) != size
	}
	require.NoError(t, cmd.Process.Kill())
	require.True(t, grew, "the child stopped writing: %s", stderr.String())
	reported := <-result // ids printed before the kill
	err = cmd.Wait()
	require.Error(t, err, "the child only ends by being killed")
	require.GreaterOrEqual(t, len(reported), 5000, "child stopped early: %s", stderr.String())
	assert.Contains(t, err.Error(), "killed")

	st := open(t, dir)
	recs := listAll(t, st)
	stored := make(map[string]bool, len(recs))
	for i, r := range recs {
		require.False(t, stored[r.Event.ID], "event %s stored twice", r.Event.ID)
		stored[r.Event.ID] = true
		if i > 0 {
			require.Greater(t, r.Seq, recs[i-1].Seq)
		}
	}
	missing := 0
	for id := range reported {
		if !stored[id] {
			missing++
		}
	}
	assert.Zero(t, missing, "of %d reported events, %d are missing", len(reported), missing)
	stats := st.Stats()
	t.Logf("reported %d, stored %d (%d segments), torn lines cut: %d", len(reported), len(recs), stats.Segments, stats.TornLines)
	assert.Zero(t, stats.CorruptLines)

	// The directory keeps working.
	ev := event.New("after", event.TypeEnqueued)
	require.NoError(t, st.Store(t.Context(), ev))
	got, err := st.Job(t.Context(), "after", event.Page{})
	require.NoError(t, err)
	require.Len(t, got, 1)
}

// logSize is the total size of the segment files under dir.
func logSize(t *testing.T, dir string) int64 {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*", "*", "*.jsonl"))
	require.NoError(t, err)
	var n int64
	for _, f := range files {
		if fi, err := os.Stat(f); err == nil {
			n += fi.Size()
		}
	}
	return n
}
