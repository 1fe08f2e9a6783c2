package security

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/naq-go/events/adapters/jsstore"
	"github.com/naq-go/events/domain/event"
)

// TestPermissions_ProducerOtherService: the producer allowed to publish
// only naq.events.prod.billing.> logs events for service search: the
// server refuses each publish (an asynchronous -ERR, never an
// acknowledgement), and the logger counts every one DropRejected within a
// few seconds, with an error naming the subject and the grant: not
// retried, not spilled, not "outcome unknown", the breaker closed. Its
// billing events on the same server are stored.
func TestPermissions_ProducerOtherService(t *testing.T) {
	url := startNATS(t, permsConf)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	createStreamAsAdmin(t, ctx, url)

	billing, doneBilling := openAs(t, ctx, permsClient(url, "producer"))
	defer doneBilling()
	cfg := permsClient(url, "producer")
	cfg.Service = "search"
	search, doneSearch := openAs(t, ctx, cfg)
	defer doneSearch()

	start := time.Now()
	// One at a time: each refusal is its own batch.
	for i := range 2 {
		require.NoError(t, billing.LogSync(ctx, event.Enqueued(fmt.Sprintf("bill-%d", i), "q", 1)))
		err := search.LogSync(ctx, event.Enqueued(fmt.Sprintf("find-%d", i), "q", 1))
		require.ErrorIs(t, err, jsstore.ErrPermission)
		require.ErrorIs(t, err, event.ErrInvalid)
		assert.Contains(t, err.Error(), fmt.Sprintf(`the NATS user may not publish to "naq.events.prod.search.find-%d.enqueued"`, i))
		assert.Contains(t, err.Error(), `grant it publish on "naq.events.prod.search.>"`)
	}
	// Several refused subjects in one batch: natsconn records every one
	// (nc.LastError alone names only the last), so all fail at once.
	for i := range 5 {
		require.NoError(t, search.Log(event.Enqueued(fmt.Sprintf("batch-%d", i), "q", 1)))
	}
	require.ErrorContains(t, search.Close(ctx), "5 events not stored: 0 spilled, 5 dropped, 0 outcome unknown")
	require.NoError(t, billing.Close(ctx))
	took := time.Since(start)
	t.Logf("2 + 5 refused events took %v", took)
	assert.Less(t, took, jsstore.DefaultAckTimeout, "refusals are known long before the ack timeout")

	st := search.Stats()
	assert.Zero(t, st.Stored)
	assert.Equal(t, uint64(7), st.Dropped.Rejected)
	assert.Equal(t, st.Dropped.Rejected, st.Dropped.Total())
	assert.Zero(t, st.OutcomeUnknown)
	assert.Zero(t, st.Spilled)
	assert.Zero(t, st.Retried)
	assert.False(t, st.BreakerOpen)
	bs := billing.Stats()
	assert.Equal(t, uint64(2), bs.Stored)
	assert.Zero(t, bs.Dropped.Total())
}
