package sip

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/voicedock/voicedock/core"
)

// TestNotifiesArrivingMeanwhileReportedTogether: NOTIFYs that arrive
// while the call's previous one is being reported (each is answered
// first, so the far side sends the next at once) are reported together
// next, in order, so that the core can store their steps in one write.
func TestNotifiesArrivingMeanwhileReportedTogether(t *testing.T) {
	t.Parallel()
	rec := newRecorder()
	h := startUA(t, rec, nil)
	target := startSipp(t, "uas_target_answer.xml", "")
	caller := startSipp(t, "uac_transfer_ok.xml", h.addr, "-s", "+31201234567")
	id := rec.expect(t, "answered").callID
	c := h.ua.calls.get(id)
	if c == nil {
		t.Fatalf("call %s not registered", id)
	}
	rec.mu.Lock()
	rec.onProgress = func(callID string, p core.ReferProgress) {
		switch {
		case p.Status == 100:
			// Held until the 180 and the 200 have arrived and queued.
			deadline := time.Now().Add(10 * time.Second)
			for queued(c) < 2 {
				if time.Now().After(deadline) {
					t.Errorf("NOTIFYs queued behind the 100: %d, want 2", queued(c))
					return
				}
				runtime.Gosched()
			}
		case p.Status >= 200 && p.Status < 300:
			go func() { _ = h.ua.Hangup(context.Background(), callID) }()
		}
	}
	rec.mu.Unlock()

	refer(t, h, id, "sip:+31207654321@"+target.Addr())
	rec.expectFinalProgress(t, id, 200, "OK")
	rec.expectEnded(t, id, core.EndAssistantHangup)
	caller.Wait(t)
	target.Wait(t)
	rec.mu.Lock()
	got := fmt.Sprint(rec.reports[id])
	rec.mu.Unlock()
	if want := "[[100] [180 200]]"; got != want {
		t.Errorf("reports %s, want %s", got, want)
	}
}

// queued is how many of c's NOTIFYs wait to be reported.
func queued(c *call) int {
	c.notifyMu.Lock()
	defer c.notifyMu.Unlock()
	return len(c.notified)
}
