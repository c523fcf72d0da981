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

// lockWait takes f's exclusive flock, waiting for it until ctx ends. On
// error f is closed, perhaps later: a blocking flock cannot be interrupted,
// so it runs on its own goroutine, which owns f once ctx has ended and
// closes it (dropping the lock) when its flock returns.
func lockWait(ctx context.Context, f *os.File) error {
	if ok, err := tryLock(f); ok || err != nil {
		if err != nil {
			f.Close()
		}
		return err
	}
	fd := int(f.Fd())
	done := make(chan error) // unbuffered: an abandoned result is never sent
	abandoned := make(chan struct{})
	go func() {
		var err error
		for {
			err = unix.Flock(fd, unix.LOCK_EX)
			if !errors.Is(err, unix.EINTR) {
				break
			}
		}
		select {
		case done <- err:
		case <-abandoned:
			f.Close()
		}
	}()
	select {
	case err := <-done:
		if err != nil {
			f.Close()
		}
		return err
	case <-ctx.Done():
		close(abandoned)
		return ctx.Err()
	}
}

// waitShared waits until f's shared flock can be had: no process holds the
// exclusive one any more.
func waitShared(f *os.File) {
	fd := int(f.Fd())
	for errors.Is(unix.Flock(fd, unix.LOCK_SH), unix.EINTR) {
	}
}

// processAlive reports whether a process with the id exists (EPERM: it
// does, under another user).
func processAlive(pid int) bool {
	err := unix.Kill(pid, 0)
	return err == nil || errors.Is(err, unix.EPERM)
}
