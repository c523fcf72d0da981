//go:build unix

package owner

import (
	"context"
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// tryLock takes f's exclusive flock without waiting; false means another
// open file description holds it.
func tryLock(f *os.File) (bool, error) {
	for {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		switch {
		case err == nil:
			return true, nil
		case errors.Is(err, unix.EINTR):
			continue
		case errors.Is(err, unix.EWOULDBLOCK):
			return false, nil
		default:
			return false, err
		}
	}
}

// lockWait takes f's exclusive flock, waiting for it until ctx ends. A
// blocking flock cannot be interrupted, so it runs on its own goroutine;
// if ctx ends first, that goroutine's lock is dropped when f is closed.
func lockWait(ctx context.Context, f *os.File) error {
	if ok, err := tryLock(f); ok || err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() {
		for {
			err := unix.Flock(int(f.Fd()), unix.LOCK_EX)
			if !errors.Is(err, unix.EINTR) {
				done <- err
				return
			}
		}
	}()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}
