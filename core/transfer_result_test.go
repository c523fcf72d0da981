package core_test

import (
	"context"
	"testing"

	"github.com/voicedock/voicedock/core"
)

// A completed transfer ends the call in the same write, and the end of the
// call ends what the transfer was asked under (the conversation loop's
// context is the call's): Transfer still returns it completed, not the
// step it had read before both were published together.
func TestTransferEndingItsCallReturnsTheOutcome(t *testing.T) {
	for i := range 20 {
		f := newFixture(t, core.CallsConfig{})
		ctx, cancel := context.WithCancel(t.Context())
		ended := f.calls.Bus().SubscribeCall(f.callID, func(e core.Event) bool {
			return e.Type == core.EventCallStatus && !e.Call.Live()
		})
		go func() {
			if _, ok := <-ended.C; ok {
				cancel()
			}
		}()
		f.sip.refer = func(ctx context.Context, callID, _ string) (int, error) {
			go func() {
				f.calls.TransferProgress(ctx, callID, core.ReferProgress{Status: 180})
				f.calls.TransferProgress(ctx, callID, core.ReferProgress{Status: 200})
			}()
			return 202, nil
		}
		tr, err := f.calls.Transfer(ctx, core.TransferRequest{CallID: f.callID, Destination: "+31612345678"}, nil)
		ended.Close()
		cancel()
		if err != nil || tr.Status != core.TransferCompleted {
			t.Fatalf("run %d: transfer %s (%v), want completed", i, tr.Status, err)
		}
	}
}
