package sip

import (
	"context"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/voicedock/voicedock/core"
)

// TestNotifyRetransmissionAnsweredOnce: over UDP a NOTIFY's server
// transaction ends as the NOTIFY is answered in a live call, instead of
// being kept for Timer J: its retransmission reaches the handler again
// (sipgo's transaction would have answered it itself), is answered 200
// again and is not reported twice while the call lives. After the call
// ended, the same NOTIFY is answered 200 still (the ended dialog is
// remembered); that report is for a call the core no longer holds.
//
// The final step's report waits until the handler has answered the
// retransmission, which sipp sends as soon as it has the 200: a
// transaction ended only once the handler returned (after its report)
// was still there for it, and sipgo answered it instead (a fresh clone's
// test run found that window by chance).
func TestNotifyRetransmissionAnsweredOnce(t *testing.T) {
	t.Parallel()
	rec := newRecorder()
	var answered atomic.Int64 // 200s to NOTIFYs sent by the handler
	retransmissionAnswered := make(chan struct{})
	h := startUA(t, rec, func(c *Config) {
		c.OnMessage = func(in bool, method string, response bool) {
			if !in && response && method == string(sip.NOTIFY) && answered.Add(1) == 3 {
				close(retransmissionAnswered)
			}
		}
	})
	held := make(chan bool, 1)
	rec.mu.Lock()
	rec.onProgress = func(_ string, p core.ReferProgress) {
		if p.Status < 200 {
			return
		}
		select {
		case <-retransmissionAnswered:
			held <- true
		case <-time.After(10 * time.Second):
			held <- false
		}
	}
	rec.mu.Unlock()
	caller := startSipp(t, "uac_notify_retransmit.xml", h.addr, "-s", "100", "-nr")
	id := rec.expect(t, "answered").callID
	refer(t, h, id, "sip:+31207654321@127.0.0.1:9")
	rec.expectProgress(t, id, 100, "")
	rec.expectProgress(t, id, 200, "OK")
	if !<-held {
		t.Fatalf("the retransmitted NOTIFY did not reach the handler while the final step was reported (%d NOTIFYs answered by it)", answered.Load())
	}
	if err := h.ua.Hangup(context.Background(), id); err != nil {
		t.Fatalf("Hangup: %v", err)
	}
	// Nothing was reported for the retransmission: the next report is the
	// end of the call, or the final NOTIFY the scenario sends once more on
	// our BYE's 200, reported if our end of the call is gone by then (it
	// may be just before the end is reported). Either way at most one
	// report follows the final step's.
	rec.expectEndedPastLateFinal(t, id, core.EndAssistantHangup)
	caller.Wait(t)
	rec.mu.Lock()
	var statuses []int // reported, in order, whichever shared a report
	for _, r := range rec.reports[id] {
		statuses = append(statuses, r...)
	}
	rec.mu.Unlock()
	if !slices.Equal(statuses, []int{100, 200}) && !slices.Equal(statuses, []int{100, 200, 200}) {
		t.Errorf("statuses reported %v, want 100 and 200, and perhaps 200 for the NOTIFY after our BYE", statuses)
	}
	// sipp may end on the last 200 before the handler's OnMessage for it
	// has run: OnMessage hears of an answer once it is sent.
	waitTrue(t, func() bool { return answered.Load() >= 4 }, "the last NOTIFY's answer to be counted")
	if n := answered.Load(); n != 4 {
		t.Errorf("the handler answered %d NOTIFYs, want 4 (every NOTIFY, its retransmissions included)", n)
	}
}
