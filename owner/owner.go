package owner

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// Files in the data directory.
const (
	// LockFile is held (flock, exclusive) by the owner for its lifetime.
	LockFile = "voicedock.lock"
	// startLockFile is held while a process decides whether it owns the
	// directory, and by the owner until it is ready for attachers.
	startLockFile = "voicedock.start.lock"
	// SocketFile is the owner's MCP endpoint (streamable HTTP, mode 0600).
	SocketFile = "voicedock.sock"
	// InfoFile records how to reach the owner.
	InfoFile = "owner.json"
)

// takeOverWait bounds the wait for a lock whose holder is not a live owner.
const takeOverWait = 5 * time.Second

// maxSocketPath is the longest Unix socket path Linux accepts (sun_path is
// 108 bytes with its terminating NUL; macOS allows 104).
const maxSocketPath = 103

// ErrOwned is returned by Acquire when another live process owns the
// directory and is ready to be attached to.
var ErrOwned = errors.New("the data directory is owned by another voicedock process")

// Info is what owner.json records.
type Info struct {
	PID int `json:"pid"`
	// Socket is the path of the Unix socket serving MCP.
	Socket string `json:"socket"`
	// URL is the MCP endpoint on that socket, as an HTTP client asks for it.
	URL       string    `json:"url"`
	Version   string    `json:"version"`
	StartedAt time.Time `json:"started_at"`
}

// SocketPath returns the owner's socket path in dir, or an error when the
// path is too long for a Unix socket.
func SocketPath(dir string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("data directory: %w", err)
	}
	p := filepath.Join(abs, SocketFile)
	if len(p) > maxSocketPath {
		return "", fmt.Errorf("socket path %s is longer than the %d bytes a Unix socket allows: use a shorter VOICEDOCK_DATA_DIR", p, maxSocketPath)
	}
	return p, nil
}

// ReadInfo reads owner.json in dir.
func ReadInfo(dir string) (Info, error) {
	var info Info
	b, err := os.ReadFile(filepath.Join(dir, InfoFile))
	if err != nil {
		return info, fmt.Errorf("owner info: %w", err)
	}
	if err := json.Unmarshal(b, &info); err != nil {
		return info, fmt.Errorf("owner info %s: %w", filepath.Join(dir, InfoFile), err)
	}
	return info, nil
}

// Lock is a held ownership of a data directory.
type Lock struct {
	dir   string
	own   *os.File
	start *os.File
}

// Acquire takes ownership of dir, or returns ErrOwned when a live process
// owns it and is ready. It waits while another process is starting up,
// until ctx ends.
func Acquire(ctx context.Context, dir string) (*Lock, error) {
	start, err := openLockFile(filepath.Join(dir, startLockFile))
	if err != nil {
		return nil, err
	}
	if err := lockWait(ctx, start); err != nil { // closes start
		return nil, fmt.Errorf("waiting for another voicedock process to start: %w", err)
	}
	own, err := openLockFile(filepath.Join(dir, LockFile))
	if err != nil {
		start.Close()
		return nil, err
	}
	got, err := tryLock(own)
	if err == nil && !got && !ownerAlive(dir) {
		// The holder is not a live owner: a watching bridge holds the lock
		// shared for a moment after the owner died (see Watch). It lets go
		// at once.
		wctx, cancel := context.WithTimeout(ctx, takeOverWait)
		err = lockWait(wctx, own)
		cancel()
		if err == nil {
			got = true
		} else if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
			err = nil
		}
		if !got {
			// lockWait closed own.
			start.Close()
			if err != nil {
				return nil, fmt.Errorf("lock %s: %w", filepath.Join(dir, LockFile), err)
			}
			return nil, ErrOwned
		}
	}
	if err != nil || !got {
		own.Close()
		start.Close() // closing drops the flock
		if err != nil {
			return nil, fmt.Errorf("lock %s: %w", filepath.Join(dir, LockFile), err)
		}
		return nil, ErrOwned
	}
	// A previous owner that was killed left its info file behind; it
	// names a dead process, so it goes before anyone can read it.
	_ = os.Remove(filepath.Join(dir, InfoFile))
	return &Lock{dir: dir, own: own, start: start}, nil
}

// Ready records info in owner.json (atomically: attachers never read half
// a file) and lets waiting processes attach.
func (l *Lock) Ready(info Info) error {
	b, err := json.MarshalIndent(info, "", "  ")
	if err != nil {
		return err
	}
	tmp := filepath.Join(l.dir, InfoFile+".tmp")
	if err := os.WriteFile(tmp, append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("owner info: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(l.dir, InfoFile)); err != nil {
		return fmt.Errorf("owner info: %w", err)
	}
	l.releaseStart()
	return nil
}

func (l *Lock) releaseStart() {
	if l.start != nil {
		l.start.Close()
		l.start = nil
	}
}

// Release gives the directory up: owner.json and the socket are removed
// and the lock dropped. It is safe to call more than once.
func (l *Lock) Release() {
	if l.own == nil {
		return
	}
	_ = os.Remove(filepath.Join(l.dir, InfoFile))
	_ = os.Remove(filepath.Join(l.dir, SocketFile))
	l.own.Close()
	l.own = nil
	l.releaseStart()
}

// ownerAlive reports whether owner.json names a live process.
func ownerAlive(dir string) bool {
	info, err := ReadInfo(dir)
	return err == nil && info.PID > 0 && processAlive(info.PID)
}

// Watch returns a channel that is closed when the process owning dir lets
// its lock go: it exited, or was killed. A bridge learns so at once, even
// with nothing in flight.
func Watch(dir string) (<-chan struct{}, error) {
	f, err := openLockFile(filepath.Join(dir, LockFile))
	if err != nil {
		return nil, err
	}
	gone := make(chan struct{})
	go func() {
		defer close(gone)
		defer f.Close() // drops the shared lock, so a new owner can start
		waitShared(f)
	}()
	return gone, nil
}

func openLockFile(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock file: %w", err)
	}
	return f, nil
}
