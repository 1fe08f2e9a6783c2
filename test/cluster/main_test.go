package cluster

import (
	"os"
	"testing"
)

// TestMain applies the testcontainers settings these machines need (no Ryuk
// reaper, whose image cannot be pulled; container ports reached on loopback)
// before testcontainers reads its configuration. An explicit value wins.
func TestMain(m *testing.M) {
	for k, v := range map[string]string{
		"TESTCONTAINERS_RYUK_DISABLED": "true",
		"TESTCONTAINERS_HOST_OVERRIDE": "127.0.0.1",
	} {
		if _, ok := os.LookupEnv(k); !ok {
			_ = os.Setenv(k, v) // cannot fail for these names
		}
	}
	os.Exit(m.Run())
}
