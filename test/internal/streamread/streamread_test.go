package streamread

import (
	"strconv"
	"testing"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/naq-go/events/adapters/natsembed"
	"github.com/naq-go/events/adapters/natsembed/natsembedtest"
)

func TestEach(t *testing.T) {
	_, nc := natsembedtest.Connect(t, natsembed.WithStoreDir(t.TempDir()))
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	_, err = js.CreateStream(t.Context(), jetstream.StreamConfig{Name: "S", Subjects: []string{"s.>"}})
	require.NoError(t, err)

	var got []string
	Each(t, nc, "S", func(m jetstream.Msg) { got = append(got, string(m.Data())) })
	assert.Empty(t, got, "an empty stream")

	var want []string
	for i := range 2500 { // more than one fetch of 1000
		want = append(want, strconv.Itoa(i))
		_, err := js.Publish(t.Context(), "s."+strconv.Itoa(i%3), []byte(want[i]))
		require.NoError(t, err)
	}
	Each(t, nc, "S", func(m jetstream.Msg) { got = append(got, string(m.Data())) })
	assert.Equal(t, want, got, "every message once, in stream order")
}
