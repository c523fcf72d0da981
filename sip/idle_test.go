package sip

import (
	"context"
	"fmt"
	"runtime"
	"testing"

	"github.com/voicedock/voicedock/core"
)

// TestIdleCallsCostNoGoroutine: once answered, calls hold no goroutine of
// ours: the goroutine count goes back to where it was before the calls
// (plus what the one sipp process costs the test), however many calls are
// up. Not parallel: it counts the process's goroutines.
func TestIdleCallsCostNoGoroutine(t *testing.T) {
	rec := newRecorder()
	h := startUA(t, rec, nil)
	base := runtime.NumGoroutine()
	const calls = 8
	s := startSippN(t, "uac_wait_bye.xml", h.addr, calls, "-s", "100", "-l", "8", "-r", "20")
	ids := make([]string, 0, calls)
	for range calls {
		ids = append(ids, rec.expect(t, "answered").callID)
	}
	// The INVITE handlers return right after their ACK.
	const slack = 4 // the sipp process: its Wait and stderr copy goroutines
	waitGoroutines(t, base+slack, fmt.Sprintf("with %d idle calls (%d before)", calls, base))
	t.Logf("%d goroutines with %d idle calls, %d before", runtime.NumGoroutine(), calls, base)
	for _, id := range ids {
		if err := h.ua.Hangup(context.Background(), id); err != nil {
			t.Fatalf("Hangup: %v", err)
		}
		rec.expectEnded(t, id, core.EndAssistantHangup)
	}
	s.Wait(t)
}
