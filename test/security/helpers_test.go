package security

import (
	"context"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/naq-go/events/domain/event"
	"github.com/naq-go/events/ports"
)

var httpClient = &http.Client{Timeout: 10 * time.Second}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return strings.TrimSpace(string(b))
}

// credsSeed returns the user seed line of a .creds file.
func credsSeed(t *testing.T, path string) string {
	t.Helper()
	for l := range strings.SplitSeq(readFile(t, path), "\n") {
		if strings.HasPrefix(l, "SU") {
			return strings.TrimSpace(l)
		}
	}
	t.Fatalf("no seed in %s", path)
	return ""
}

func jsonLine(t *testing.T, ev event.JobEvent) string {
	t.Helper()
	b, err := ev.AppendJSON(nil)
	require.NoError(t, err)
	return string(b)
}

// storeOne stores ev through the store's writer.
func storeOne(ctx context.Context, store ports.Store, ev event.JobEvent) error {
	return store.StoreBatch(ctx, []event.JobEvent{ev})
}
