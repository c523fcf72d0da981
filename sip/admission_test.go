package sip

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/voicedock/voicedock/core"
)

// gatedHandler is the recorder with the core's say on admission.
type gatedHandler struct {
	*recorder
	admit atomic.Bool
}

func (g *gatedHandler) AdmitCall() bool { return g.admit.Load() }

// TestCoreRefusesNewCalls: while the core refuses new calls
// (core.CallAdmitter), an INVITE gets 503 with Retry-After before the core
// is asked about it, well under MaxCalls, and a call answered before then
// stays up; once the core admits again, a new call is answered.
func TestCoreRefusesNewCalls(t *testing.T) {
	t.Parallel()
	rec := newRecorder()
	g := &gatedHandler{recorder: rec}
	g.admit.Store(true)
	ua, logs := serveUA(t, g, nil)
	h := &harness{ua: ua, rec: rec, addr: ua.LocalAddr().String(), logs: logs}

	held := startSipp(t, "uac_wait_bye.xml", h.addr, "-s", "100")
	rec.offer(t)
	id := rec.expect(t, "answered").callID

	g.admit.Store(false)
	refused := startSipp(t, "uac_expect_reject.xml", h.addr, "-s", "100", "-set", "expect", "503", "-set", "retry_after", "yes")
	refused.Wait(t)
	if !strings.Contains(refused.Traces(), "Retry-After: 5") {
		t.Errorf("the 503 did not carry Retry-After: 5\n%s", refused.Traces())
	}
	select {
	case inv := <-rec.offers:
		t.Fatalf("the core was asked about an INVITE it refuses: %+v", inv)
	default:
	}
	if b := h.ua.Stats().Busy; b != 1 {
		t.Errorf("Stats.Busy = %d, want 1", b)
	}

	// The call answered before the core started refusing is untouched.
	if err := h.ua.Hangup(context.Background(), id); err != nil {
		t.Fatalf("Hangup of the call answered before: %v", err)
	}
	rec.expectEnded(t, id, core.EndAssistantHangup)
	held.Wait(t)

	g.admit.Store(true)
	next := startSipp(t, "uac_call_hangup.xml", h.addr, "-s", "100")
	id2 := rec.expect(t, "answered").callID
	rec.expectEnded(t, id2, core.EndCallerHangup)
	next.Wait(t)
}
