package sip

import (
	"testing"

	"github.com/voicedock/voicedock/core"
)

func TestInboundCallCallerHangsUp(t *testing.T) {
	t.Parallel()
	rec := newRecorder()
	h := startUA(t, rec, nil)
	s := startSipp(t, "uac_call_hangup.xml", h.addr, "-s", "+31201234567", "-d", "200")
	inv := rec.offer(t)
	if inv.Called != "+31201234567" || inv.Caller != "+15550100001" || inv.Source.String() != s.addr() || inv.SIPCallID == "" {
		t.Errorf("offer = %+v, want called +31201234567, caller +15550100001, source %s", inv, s.addr())
	}
	id := rec.expect(t, "answered").callID
	rec.expectEnded(t, id, core.EndCallerHangup)
	s.wait(t)
	if n := h.ua.ports.inUseCount(); n != 0 {
		t.Errorf("%d RTP ports still reserved", n)
	}
}
