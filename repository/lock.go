package repository

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// lockDir takes an exclusive, non-blocking lock on DATA_DIR/tally.lock. The
// embedded engine's file belongs to one process; a second server on the same
// directory would overwrite the first one's writes, so it is refused. The lock
// is the operating system's (flock): it goes away with the process, even on a
// crash, so there is never a stale lock to clean up.
func lockDir(dir string) (func(), error) {
	path := filepath.Join(dir, "tally.lock")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open lock file: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("DATA_DIR %s is in use by another Tally server (lock %s); stop it or choose another DATA_DIR", dir, path)
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	_ = f.Truncate(0)
	_, _ = fmt.Fprintf(f, "%d\n", os.Getpid())
	return func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}
