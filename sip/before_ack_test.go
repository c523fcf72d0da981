package sip

import (
	"testing"
	"time"

	"github.com/voicedock/voicedock/core"
)

// TestReInviteBeforeAck: the caller's hold re-INVITE reaches the UA before
// the ACK of its 200 OK. The re-INVITE's higher CSeq proves the 200
// arrived, so it is answered (not 491) and the call is answered once.
func TestReInviteBeforeAck(t *testing.T) {
	t.Parallel()
	rec := newRecorder()
	h := startUA(t, rec, nil)
	s := startSipp(t, "uac_reinvite_before_ack.xml", h.addr, "-s", "100")
	id := rec.expect(t, "answered").callID
	rec.expectEnded(t, id, core.EndCallerHangup)
	s.Wait(t)
	rec.expectQuiet(t, 100*time.Millisecond)
	if n := rec.endedCount(id); n != 1 {
		t.Errorf("CallEnded reported %d times", n)
	}
	if n := h.ua.ports.inUseCount(); n != 0 {
		t.Errorf("%d RTP ports still reserved", n)
	}
}

// TestByeBeforeAck: the caller's BYE reaches the UA before the ACK of its
// 200 OK. Once the 2xx is out the call was answered: it is reported
// answered, then ended by the caller, each once, and not as canceled.
func TestByeBeforeAck(t *testing.T) {
	t.Parallel()
	rec := newRecorder()
	h := startUA(t, rec, nil)
	s := startSipp(t, "uac_bye_before_ack.xml", h.addr, "-s", "100")
	id := rec.expect(t, "answered").callID
	rec.expectEnded(t, id, core.EndCallerHangup)
	s.Wait(t)
	rec.expectQuiet(t, 100*time.Millisecond)
	if n := rec.endedCount(id); n != 1 {
		t.Errorf("CallEnded reported %d times", n)
	}
	if n := h.ua.ports.inUseCount(); n != 0 {
		t.Errorf("%d RTP ports still reserved", n)
	}
}
