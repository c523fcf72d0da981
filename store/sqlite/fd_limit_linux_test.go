package sqlite

import (
	"errors"
	"os"
	"sync"
	"syscall"
	"testing"

	"github.com/voicedock/voicedock/core"
	"github.com/voicedock/voicedock/store/storetest"
)

// exhaustFiles leaves the process no file descriptor to open until the
// returned release is called: the soft limit is lowered just above the
// descriptors in use, and what is left below it is taken.
func exhaustFiles(t *testing.T) (release func()) {
	t.Helper()
	var orig syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &orig); err != nil {
		t.Fatal(err)
	}
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("no /proc/self/fd: %v", err) // not Linux's procfs
	}
	lowered := orig
	lowered.Cur = uint64(len(fds)) + 64
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lowered); err != nil {
		t.Fatal(err)
	}
	var held []*os.File
	release = func() {
		for _, f := range held {
			f.Close()
		}
		held = nil
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &orig); err != nil {
			t.Error(err)
		}
	}
	for {
		f, err := os.Open(os.DevNull)
		if err != nil {
			if !errors.Is(err, syscall.EMFILE) {
				release()
				t.Fatal(err)
			}
			return release
		}
		held = append(held, f)
		if len(held) > 4096 {
			release()
			t.Fatal("the lowered limit did not stop the opens")
		}
	}
}

// TestWritesWithNoFileLeftToOpen: a process out of file descriptors (the
// calls' RTP sockets and the agents' connections took them all) still
// stores its calls' steps and changes. The store opens everything it
// needs when it starts: a write that needed a temporary file (a statement
// journal of a batched transaction, SQLite's default temp_store) failed
// with "unable to open database file (14)", and the transfer steps and
// call changes of an overload were lost with it.
func TestWritesWithNoFileLeftToOpen(t *testing.T) {
	s, _ := openTemp(t)
	ctx := t.Context()
	const n = 40
	calls := make([]core.Call, n)
	for i := range calls {
		calls[i] = storetest.CallFixture(t, core.CallInProgress)
		if err := s.CreateCall(ctx, calls[i]); err != nil {
			t.Fatal(err)
		}
	}
	// Readers too: the pool's connections are opened before the files
	// run out, as a server's are by the time it is loaded.
	for _, c := range calls[:8] {
		if _, err := s.GetCall(ctx, c.ID); err != nil {
			t.Fatal(err)
		}
	}

	release := exhaustFiles(t)
	defer release()
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i, c := range calls {
		wg.Go(func() {
			tr := storetest.TransferFixture(t, c.ID, core.TransferRequested)
			tr.EndedAt, tr.SIPStatus, tr.Reason = nil, 0, ""
			tr.Steps = tr.Steps[:1]
			if err := s.SaveTransfer(ctx, tr); err != nil {
				errs[i] = err
				return
			}
			tr.Status, tr.SIPStatus = core.TransferCompleted, 200
			tr.Steps = append(tr.Steps, core.TransferStep{Status: core.TransferCompleted, SIPStatus: 200, At: storetest.Now()})
			tr.EndedAt = storetest.Ptr(storetest.Now())
			c.Status, c.EndReason = core.CallTransferred, core.EndTransferred
			c.EndedAt = tr.EndedAt
			errs[i] = s.SaveTransferAndCall(ctx, tr, c)
		})
	}
	wg.Wait()
	release()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("write %d with no file left to open: %v", i, err)
		}
	}
	for _, c := range calls {
		got, err := s.GetCall(ctx, c.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != core.CallTransferred || len(got.Transfers) != 1 || got.Transfers[0].Status != core.TransferCompleted {
			t.Fatalf("call %s: %s with %d transfers", c.ID, got.Status, len(got.Transfers))
		}
	}
}
