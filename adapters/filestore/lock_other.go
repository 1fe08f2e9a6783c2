//go:build !unix

package filestore

import (
	"fmt"
	"os"
)

// lockDir opens the lock file; on this platform it takes no lock, so keep to
// one process per directory.
func lockDir(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("filestore: open lock file %s: %w", path, err)
	}
	return f, nil
}
