package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/naq-go/events/ports"
)

// TestErrorStatus: each sentinel a store wraps answers its own status,
// whatever wraps it; a refusal for lack of permission is a 403 even when
// the error also says the input was refused (a logged event's).
func TestErrorStatus(t *testing.T) {
	live := httptest.NewRequest(http.MethodGet, "/", nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	gone := live.WithContext(ctx)
	for _, tc := range []struct {
		name string
		r    *http.Request
		err  error
		want int
	}{
		{"forbidden", live, fmt.Errorf("purge: %w", ports.ErrForbidden), http.StatusForbidden},
		{"forbidden event", live, fmt.Errorf("event: %w: %w", ports.ErrInvalid, ports.ErrForbidden), http.StatusForbidden},
		{"invalid", live, fmt.Errorf("bad: %w", ports.ErrInvalid), http.StatusBadRequest},
		{"not found", live, fmt.Errorf("job: %w", ports.ErrNotFound), http.StatusNotFound},
		{"unavailable", live, fmt.Errorf("x: %w", ports.ErrUnavailable), http.StatusServiceUnavailable},
		{"closed", live, fmt.Errorf("x: %w", ports.ErrClosed), http.StatusServiceUnavailable},
		{"deadline", live, fmt.Errorf("x: %w", context.DeadlineExceeded), http.StatusGatewayTimeout},
		{"client went away", gone, fmt.Errorf("x: %w", context.Canceled), 0},
		{"other", live, errors.New("boom"), http.StatusInternalServerError},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := ErrorStatus(tc.r, tc.err); got != tc.want {
				t.Errorf("ErrorStatus(%v) = %d, want %d", tc.err, got, tc.want)
			}
		})
	}
}
