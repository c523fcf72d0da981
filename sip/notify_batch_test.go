package sip

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/voicedock/voicedock/core"
)

// TestNotifiesArrivingMeanwhileReportedTogether: NOTIFYs that arrive
// while the call's previous one is being reported (each is answered
// first, so the far side sends the next at once) are reported together
// next, in order, so that the core can store their steps in one write.
// Each is reported only after its answer: the completed transfer's BYE
// (the test hangs up on the final step) reaches the caller after the 200
// to its last NOTIFY, or sipp aborts on it.
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
			// Held until the 180 and the 200 have arrived, been answered
			// and queued.
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

// queued is how many of c's NOTIFYs have been answered and wait to be
// reported.
func queued(c *call) int {
	c.notifyMu.Lock()
	defer c.notifyMu.Unlock()
	n := 0
	for _, s := range c.notified {
		if s.answered {
			n++
		}
	}
	return n
}

// TestNotifyAnsweredKeepsItsPlace: a NOTIFY's handler that is held up
// between its answer and its report (a loaded machine: a CI run) does not
// lose its step to the NOTIFY that the far side sent on getting that
// answer. The handler of the "100 Trying" is held once its 200 is out
// until the final step has been reported; both steps are reported, in
// order. When a NOTIFY took its place in the order only after it was
// answered, the final step took it first and the 100 was dropped as stale.
func TestNotifyAnsweredKeepsItsPlace(t *testing.T) {
	t.Parallel()
	rec := newRecorder()
	finalReported := make(chan struct{})
	var answered atomic.Int64 // 200s to NOTIFYs sent by the handler
	h := startUA(t, rec, func(c *Config) {
		c.OnMessage = func(in bool, method string, response bool) {
			if in || !response || method != string(sip.NOTIFY) || answered.Add(1) != 1 {
				return
			}
			select {
			case <-finalReported:
			case <-time.After(10 * time.Second):
			}
		}
	})
	var once sync.Once
	rec.mu.Lock()
	rec.onProgress = func(_ string, p core.ReferProgress) {
		if p.Status >= 200 {
			once.Do(func() { close(finalReported) })
		}
	}
	rec.mu.Unlock()
	caller := startSipp(t, "uac_notify_retransmit.xml", h.addr, "-s", "100", "-nr")
	id := rec.expect(t, "answered").callID
	refer(t, h, id, "sip:+31207654321@127.0.0.1:9")
	rec.expectProgress(t, id, 100, "")
	rec.expectProgress(t, id, 200, "OK")
	// The scenario sends its final NOTIFY again before it takes our BYE.
	waitTrue(t, func() bool { return answered.Load() >= 3 }, "the retransmitted NOTIFY to be answered")
	if err := h.ua.Hangup(context.Background(), id); err != nil {
		t.Fatalf("Hangup: %v", err)
	}
	rec.expectEndedPastLateFinal(t, id, core.EndAssistantHangup)
	caller.Wait(t)
	// The held handler's step was reported with the final one, by the
	// handler of the final NOTIFY. A report may be added: the final NOTIFY
	// the scenario sends once more on our BYE's 200 is reported, for a
	// call the core ignores, if our end of the call is gone by then (just
	// before or after the end is reported: a CI run had it before), and
	// is stale otherwise (TestNotifyRetransmissionAnsweredOnce).
	rec.mu.Lock()
	got := append([][]int(nil), rec.reports[id]...)
	rec.mu.Unlock()
	if len(got) == 0 || fmt.Sprint(got[0]) != "[100 200]" || len(got) > 2 || (len(got) == 2 && fmt.Sprint(got[1]) != "[200]") {
		t.Errorf("reports %v, want [[100 200]], then perhaps [200] for the NOTIFY after the call's end", got)
	}
}
