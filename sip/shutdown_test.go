package sip

import (
	"context"
	"testing"
	"time"

	"github.com/voicedock/voicedock/core"
)

// TestShutdownByesLiveCalls: Shutdown sends BYE in every answered call,
// reports each ended with server_shutdown, frees the ports and stops.
func TestShutdownByesLiveCalls(t *testing.T) {
	t.Parallel()
	rec := newRecorder()
	h := startUA(t, rec, nil)
	a := startSipp(t, "uac_wait_bye.xml", h.addr, "-s", "100")
	b := startSipp(t, "uac_wait_bye.xml", h.addr, "-s", "101")
	ids := map[string]bool{rec.expect(t, "answered").callID: true, rec.expect(t, "answered").callID: true}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := h.ua.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	for range 2 {
		e := rec.expect(t, "ended")
		if !ids[e.callID] || e.reason != core.EndShutdown {
			t.Fatalf("got %s, want ended(..., %s) for one of %v", e, core.EndShutdown, ids)
		}
		delete(ids, e.callID)
	}
	a.Wait(t)
	b.Wait(t)
	if n := h.ua.ports.inUseCount(); n != 0 {
		t.Errorf("%d RTP ports still reserved", n)
	}
	// A second Shutdown returns at once; nothing can be dialled any more.
	if err := h.ua.Shutdown(ctx); err != nil {
		t.Errorf("second Shutdown: %v", err)
	}
	if err := h.ua.Dial(ctx, core.OutboundDial{CallID: "late", To: "sip:1@127.0.0.1:9"}); !core.HasCode(err, core.CodeUnavailable) {
		t.Errorf("Dial after Shutdown = %v, want unavailable", err)
	}
}

// TestShutdownWhileRinging: a call that rings when the server stops is
// refused with 503 and reported ended with server_shutdown.
func TestShutdownWhileRinging(t *testing.T) {
	t.Parallel()
	rec := newRecorder()
	h := startUA(t, rec, func(c *Config) { c.AnswerDelay = 20 * time.Second })
	s := startSipp(t, "uac_expect_reject.xml", h.addr, "-s", "100", "-set", "expect", "503")
	rec.offer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := h.ua.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	rec.expectEnded(t, "call-1", core.EndShutdown)
	s.Wait(t)
}
