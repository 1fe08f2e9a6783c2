package demo

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestHuman(t *testing.T) {
	for d, want := range map[time.Duration]string{
		2131331472 * time.Nanosecond: "2.13s",
		2 * time.Second:              "2s",
		1500 * time.Millisecond:      "1.5s",
		42 * time.Millisecond:        "42ms",
		12340 * time.Microsecond:     "12.3ms",
		850 * time.Microsecond:       "850µs",
		65 * time.Second:             "1m05s",
		30 * time.Second:             "30s",
		2*time.Hour + 10*time.Minute: "2h10m",
		-3 * time.Second:             "-3s",
	} {
		assert.Equal(t, want, human(d), "%v", d)
	}
}
