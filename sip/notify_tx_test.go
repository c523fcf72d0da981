package sip

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/emiago/sipgo/sip"

	"github.com/voicedock/voicedock/core"
)

// TestNotifyRetransmissionAnsweredOnce: over UDP a NOTIFY's server
// transaction ends once the NOTIFY is answered in a live call, instead of
// being kept for Timer J: its retransmission reaches the handler again
// (sipgo's transaction would have answered it itself), is answered 200
// again and is not reported twice while the call lives. After the call
// ended, the same NOTIFY is answered 200 still (the ended dialog is
// remembered); that report is for a call the core no longer holds.
func TestNotifyRetransmissionAnsweredOnce(t *testing.T) {
	t.Parallel()
	rec := newRecorder()
	var answered atomic.Int64 // 200s to NOTIFYs built by the handler
	h := startUA(t, rec, func(c *Config) {
		c.OnMessage = func(in bool, method string, response bool) {
			if !in && response && method == string(sip.NOTIFY) {
				answered.Add(1)
			}
		}
	})
	caller := startSipp(t, "uac_notify_retransmit.xml", h.addr, "-s", "100", "-nr")
	id := rec.expect(t, "answered").callID
	refer(t, h, id, "sip:+31207654321@127.0.0.1:9")
	rec.expectProgress(t, id, 100, "")
	rec.expectProgress(t, id, 200, "OK")
	// The handler answered the retransmission (the third 200) before
	// sipp, which waits for that answer, goes on; the BYE comes after.
	waitTrue(t, func() bool { return answered.Load() >= 3 }, "the retransmitted NOTIFY to reach the handler")
	if err := h.ua.Hangup(context.Background(), id); err != nil {
		t.Fatalf("Hangup: %v", err)
	}
	// Nothing was reported for the retransmission: the next report is the
	// end of the call.
	rec.expectEnded(t, id, core.EndAssistantHangup)
	caller.Wait(t)
	if n := answered.Load(); n != 4 {
		t.Errorf("the handler answered %d NOTIFYs, want 4 (every NOTIFY, its retransmissions included)", n)
	}
}
