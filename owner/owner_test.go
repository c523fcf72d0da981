//go:build unix

package owner

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestSecondAcquireFindsTheOwner(t *testing.T) {
	dir := t.TempDir()
	l, err := Acquire(t.Context(), dir)
	if err != nil {
		t.Fatal(err)
	}
	info := Info{PID: os.Getpid(), Socket: filepath.Join(dir, SocketFile), URL: "http://localhost/mcp"}
	if err := l.Ready(info); err != nil {
		t.Fatal(err)
	}
	if _, err := Acquire(t.Context(), dir); !errors.Is(err, ErrOwned) {
		t.Fatalf("second Acquire: %v, want ErrOwned", err)
	}
	got, err := ReadInfo(dir)
	if err != nil || got.PID != info.PID || got.Socket != info.Socket {
		t.Fatalf("ReadInfo = %+v, %v", got, err)
	}
	l.Release()
	if _, err := os.Stat(filepath.Join(dir, InfoFile)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("owner.json after Release: %v", err)
	}
	l2, err := Acquire(t.Context(), dir)
	if err != nil {
		t.Fatalf("Acquire after Release: %v", err)
	}
	l2.Release()
}

// TestAcquireWaitsForAStartingOwner: while the owner has not said it is
// ready, another process waits rather than reading a missing owner.json.
func TestAcquireWaitsForAStartingOwner(t *testing.T) {
	dir := t.TempDir()
	l, err := Acquire(t.Context(), dir)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release()
	result := make(chan error, 1)
	go func() {
		_, err := Acquire(t.Context(), dir)
		result <- err
	}()
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	if _, err := Acquire(ctx, dir); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Acquire while the owner starts: %v, want it to wait", err)
	}
	select {
	case err := <-result:
		t.Fatalf("Acquire returned before the owner was ready: %v", err)
	default:
	}
	if err := l.Ready(Info{PID: os.Getpid()}); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-result:
		if !errors.Is(err, ErrOwned) {
			t.Fatalf("Acquire after Ready: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Acquire still waits after Ready")
	}
}

// TestKilledOwnersLockIsTakenOver: a process holding the lock is killed;
// the kernel drops its flock, and the next Acquire owns the directory and
// removes the dead owner's info.
func TestKilledOwnersLockIsTakenOver(t *testing.T) {
	if _, err := exec.LookPath("flock"); err != nil {
		t.Skip("flock(1) is not installed")
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, InfoFile), []byte(`{"pid":1}`), 0o600); err != nil {
		t.Fatal(err)
	}
	// flock(1) holds the same kind of lock on the same file, in another
	// process (--no-fork: the shell that says so is the process that holds
	// it), and says when it has it.
	cmd := exec.Command("flock", "--exclusive", "--no-fork", filepath.Join(dir, LockFile), "sh", "-c", "echo locked; exec sleep 600")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	buf := make([]byte, 16)
	if n, err := out.Read(buf); err != nil || !strings.Contains(string(buf[:n]), "locked") {
		t.Fatalf("flock(1): %q %v", buf[:n], err)
	}
	if _, err := Acquire(t.Context(), dir); !errors.Is(err, ErrOwned) {
		t.Fatalf("Acquire while another process holds the lock: %v", err)
	}
	cmd.Process.Kill()
	cmd.Wait()
	l, err := Acquire(t.Context(), dir)
	if err != nil {
		t.Fatalf("Acquire after the holder was killed: %v", err)
	}
	defer l.Release()
	if _, err := os.Stat(filepath.Join(dir, InfoFile)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the dead owner's owner.json is still there: %v", err)
	}
}

func TestSocketPathTooLong(t *testing.T) {
	if _, err := SocketPath("/" + strings.Repeat("d", 120)); err == nil || !strings.Contains(err.Error(), "VOICEDOCK_DATA_DIR") {
		t.Errorf("long path: %v", err)
	}
	if p, err := SocketPath("/var/lib/voicedock"); err != nil || p != "/var/lib/voicedock/voicedock.sock" {
		t.Errorf("SocketPath = %q, %v", p, err)
	}
}

// TestWatchSeesTheOwnerGo: Watch's channel closes when the owner lets the
// lock go, and the watcher does not keep the directory from a new owner.
func TestWatchSeesTheOwnerGo(t *testing.T) {
	dir := t.TempDir()
	l, err := Acquire(t.Context(), dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Ready(Info{PID: os.Getpid()}); err != nil {
		t.Fatal(err)
	}
	gone, err := Watch(dir)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-gone:
		t.Fatal("Watch fired while the owner holds the lock")
	default:
	}
	l.Release()
	select {
	case <-gone:
	case <-time.After(10 * time.Second):
		t.Fatal("Watch did not see the owner go")
	}
	next, err := Acquire(t.Context(), dir)
	if err != nil {
		t.Fatalf("Acquire after the owner went: %v", err)
	}
	next.Release()
}
