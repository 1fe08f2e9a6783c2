//go:build unix

package filestore

import (
	"errors"
	"fmt"
	"os"
	"syscall"

	"github.com/naq-go/events/ports"
)

// lockDir takes an exclusive advisory lock on path, so that two processes
// never append to one directory. The lock dies with the process, kill -9
// included.
func lockDir(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("filestore: open lock file %s: %w", path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		_ = f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("filestore: %s is locked by another process: %w", path, ports.ErrUnavailable)
		}
		return nil, fmt.Errorf("filestore: lock %s: %w", path, err)
	}
	return f, nil
}
